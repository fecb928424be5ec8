//! Repository operations shared by the plumbing binaries and the `oxen`
//! porcelain: both call these functions in-process, which is why a commit
//! made by a plumbing pipeline and one made by `oxen commit` from the same
//! inputs get the same id.

mod author;
mod commit;
pub mod diff;
mod fsck;
mod graph;
mod join;
mod merge;
mod monitored;
mod objects;
mod partial;
mod plan;
pub mod reach;
mod restore;
mod revision;
mod status;
mod switch;
pub mod text_merge;
mod transition;
mod tree;
mod worktree;

pub use author::{parse_date, signature};
pub use commit::CommitOutcome;
pub use fsck::{fsck, FsckProblem, FsckReport};
pub use merge::{conflicts_message, ConflictKind, MergeOutcome, MergeState, PathConflict, TABLE_CONFLICTS_FILE};
pub use monitored::MonitorOutcome;
pub use objects::RepoOperation;
pub use restore::RestoreSource;
pub use revision::{ObjectKind, Target};
pub use switch::Switched;
pub use transition::{HeadMove, LocalChanges, Overlay, Resumed, Transition};
pub use tree::{FlatEntry, TreeChange, TreeFiles};
pub use worktree::{materialize, remove_work_file, staged_entry, CheckoutReport};

use std::path::Path;

use oxen_hash::ContentId;
use oxen_index::{Index, IndexError, WorkTree};
use oxen_object::{Commit, ObjectError, Tree};
use oxen_refs::{BranchName, Head, RefError, Refs};
use oxen_store::{Config, Db, Layout, StoreError, Table, Versions};

/// Errors from repository operations.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The stores failed underneath.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Staging or reading the index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A ref could not be read or moved.
    #[error(transparent)]
    Ref(#[from] RefError),
    /// A path that cannot be a repository path.
    #[error(transparent)]
    Path(#[from] oxen_path::PathError),
    /// A stored commit or tree does not decode.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// A tabular file could not be parsed (merge and diff read rows).
    #[error(transparent)]
    Tabular(#[from] oxen_tabular::TabularError),
    /// A revision names nothing: no ref, id or prefix matches.
    #[error("unknown revision '{0}'")]
    UnknownRevision(String),
    /// A short id matches several objects; a longer prefix is needed.
    #[error("short id '{0}' is ambiguous")]
    Ambiguous(String),
    /// An object of one kind where another is needed (name, actual, wanted).
    #[error("{0} is a {1}, not a {2}")]
    WrongKind(String, &'static str, &'static str),
    /// `rev:path` names a path the tree does not have (revision, path).
    #[error("path '{1}' does not exist in {0}")]
    NoSuchPath(String, String),
    /// Commits need an author; none is configured.
    #[error("author identity unknown: set it with `oxen config user.name \"Your Name\"` and `oxen config user.email you@example.com`, or OXEN_AUTHOR_NAME/OXEN_AUTHOR_EMAIL")]
    NoAuthor,
    /// An author name or email that is empty (or only spaces), which git
    /// refuses too: `author  <>` names nobody.
    #[error("empty author {0} is not allowed: set it with `oxen config user.{0} {1}`, or OXEN_AUTHOR_{2}")]
    EmptyIdent(&'static str, &'static str, &'static str),
    /// `<ref>@{N}` past the end of the ref's log (log, entries).
    #[error("log for '{0}' only has {1} entries")]
    ReflogTooShort(String, usize),
    /// `<ref>@{N}` names an entry that deleted the ref.
    #[error("'{0}' was deleted at that entry: nothing to name")]
    ReflogDeleted(String),
    /// An author date that none of the accepted forms parses.
    #[error("invalid date '{0}': use '<unix-seconds> <+hhmm>' or RFC 3339")]
    BadDate(String),
    /// An operation refused to run because it would lose work or the state forbids it; the message says why.
    #[error("{0}")]
    Refused(String),
    /// A work-tree read failed (the message is the system's, as the CLI showed it).
    #[error(transparent)]
    WorkTreeIo(#[from] std::io::Error),
    /// The answer lies below a shallow clone's boundary (`clone --depth`),
    /// in history this repository does not have.
    #[error("{0} is beyond the shallow history of this repository: run `oxen fetch --deepen <n>` or `oxen fetch --unshallow` first")]
    BeyondShallow(String),
}

/// Result alias.
pub type Result<T> = std::result::Result<T, RepoError>;

/// An open repository: its layout, its LMDB environment and its versions store.
pub struct Repo {
    /// Where it lives.
    pub layout: Layout,
    /// The LMDB environment (open once per process).
    pub db: Db,
    /// File contents.
    pub versions: Versions,
    /// The work tree, opened as a directory handle: every work-tree read
    /// and write goes through it (never through a symlink).
    pub worktree: WorkTree,
}

impl Repo {
    /// Open the repository containing `cwd`.
    pub fn discover(cwd: &Path) -> Result<Repo> {
        Self::from_layout(Layout::discover(cwd)?)
    }

    /// Open the repository whose work tree is exactly `dir`.
    pub fn open(dir: &Path) -> Result<Repo> {
        Self::from_layout(Layout::open_exact(dir)?)
    }

    /// Create a new repository in `dir`.
    pub fn init(dir: &Path, branch: &BranchName) -> Result<Repo> {
        Self::from_layout(oxen_refs::init(dir, branch)?)
    }

    /// Create a bare repository (`core.bare`): one that others push to,
    /// whose checked-out branch a push may move (see `oxen_refs::init_bare`).
    pub fn init_bare(dir: &Path, branch: &BranchName) -> Result<Repo> {
        Self::from_layout(oxen_refs::init_bare(dir, branch)?)
    }

    /// Open the repository at `layout` whose tables are `db` (a server
    /// replica's repository in PostgreSQL: the local `.oxen` is only its
    /// scratch space).
    /// Sealed blocks go to `store` (not where `.oxen/storage` says).
    pub fn with_db(layout: Layout, db: Db, store: std::sync::Arc<dyn oxen_store::ContentStore>) -> Result<Repo> {
        let versions = layout.versions_in(&db, store);
        let worktree = WorkTree::open(&layout.work).map_err(|e| StoreError::io(&layout.work, e))?;
        Ok(Repo { layout, db, versions, worktree })
    }

    fn from_layout(layout: Layout) -> Result<Repo> {
        let db = Db::open(&layout)?;
        let versions = layout.versions(&db);
        let worktree = WorkTree::open(&layout.work).map_err(|e| StoreError::io(&layout.work, e))?;
        Ok(Repo { layout, db, versions, worktree })
    }

    /// Ref access.
    pub fn refs(&self) -> Refs<'_> {
        Refs::new(&self.db, &self.layout)
    }

    /// HEAD.
    pub fn head(&self) -> Result<Head> {
        Ok(oxen_refs::read_head(&self.layout)?)
    }

    /// The commit HEAD points at, if any.
    pub fn head_commit(&self) -> Result<Option<ContentId>> {
        Ok(self.refs().head_commit()?)
    }

    /// The index, loaded.
    pub fn index(&self) -> Result<Index> {
        Ok(Index::load(&self.db)?)
    }

    /// Repository config layered over the global one.
    pub fn config(&self) -> Result<Config> {
        Ok(oxen_store::repo_config(&self.layout.config_file())?)
    }

    /// Read and verify a commit.
    pub fn read_commit(&self, id: &ContentId) -> Result<Commit> {
        let bytes = self.db.get_object(Table::Commits, id)?;
        Ok(Commit::decode(&bytes)?)
    }

    /// Read and verify a tree node.
    pub fn read_tree_node(&self, id: &ContentId) -> Result<Tree> {
        let bytes = self.db.get_object(Table::Trees, id)?;
        Ok(Tree::decode(&bytes)?)
    }

    /// Store a commit after checking its author is someone, its parents are
    /// distinct and not too many, and its tree and parents exist.
    pub fn write_commit(&self, commit: &Commit) -> Result<ContentId> {
        commit.author.validate()?;
        author::check_not_empty(&commit.author)?;
        commit.validate_parents()?;
        if !self.db.has_object(Table::Trees, &commit.tree)? {
            return Err(RepoError::WrongKind(commit.tree.to_hex(), self.kind_name(&commit.tree)?, "tree"));
        }
        for p in &commit.parents {
            if !self.db.has_object(Table::Commits, p)? {
                return Err(RepoError::WrongKind(p.to_hex(), self.kind_name(p)?, "commit"));
            }
        }
        Ok(self.db.put_object(Table::Commits, &commit.encode())?)
    }

    fn kind_name(&self, id: &ContentId) -> Result<&'static str> {
        Ok(match self.object_kind(id)? {
            Some(k) => k.name(),
            None => "missing object",
        })
    }
}

/// Clean up a commit message the way `git commit` does: trailing whitespace
/// removed from each line, runs of blank lines collapsed, leading and
/// trailing blank lines dropped, one final newline. `None` when nothing is
/// left. Plumbing and porcelain both use this, so the same message gives the
/// same commit id either way.
pub fn normalize_message(raw: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for line in raw.lines() {
        let l = line.trim_end();
        if l.is_empty() && out.last().is_none_or(|p| p.is_empty()) {
            continue;
        }
        out.push(l);
    }
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    if out.is_empty() {
        return None;
    }
    Some(out.join("\n") + "\n")
}
