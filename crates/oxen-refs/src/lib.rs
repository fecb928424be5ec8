//! References: the `HEAD` file and the `refs` table (`heads/<branch>`,
//! `tags/<tag>`, `remotes/<remote>/<branch>`), updated with compare-and-swap
//! inside one LMDB write transaction so concurrent writers cannot lose an
//! update.

mod name;

pub use name::{BranchName, RefName, TagName};

use oxen_hash::ContentId;
use oxen_store::{Db, Layout, StoreError, Table};

/// Errors from reference operations.
#[derive(Debug, thiserror::Error)]
pub enum RefError {
    /// A name that breaks git's check-ref-format rules, refused before it reaches the table.
    #[error("invalid ref name '{0}': {1}")]
    BadName(String, &'static str),
    /// Compare-and-swap lost: the ref moved since the caller looked, so nothing was written.
    #[error("ref {name} is at {actual}, expected {expected}")]
    Stale {
        /// The ref.
        name: String,
        /// The value the caller expected.
        expected: String,
        /// The value it has.
        actual: String,
    },
    /// `.oxen/HEAD` holds neither `ref: heads/<branch>` nor a commit id.
    #[error("HEAD is malformed: '{0}'")]
    BadHead(String),
    /// The stores failed underneath.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Result alias.
pub type Result<T> = std::result::Result<T, RefError>;

/// What HEAD points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Head {
    /// A branch, which may not exist yet (an unborn branch).
    Branch(BranchName),
    /// A commit, detached from any branch.
    Detached(ContentId),
}

impl Head {
    /// The branch's full ref name when on a branch.
    pub fn branch_ref(&self) -> Option<RefName> {
        match self {
            Head::Branch(b) => Some(b.to_ref()),
            Head::Detached(_) => None,
        }
    }
}

/// Create a new repository in `work` whose HEAD is the (unborn) branch
/// `initial`. HEAD is written last: its presence is what marks a
/// repository as complete.
pub fn init(work: &std::path::Path, initial: &BranchName) -> Result<Layout> {
    let layout = Layout::create(work)?;
    write_head(&layout, &Head::Branch(initial.clone()))?;
    Ok(layout)
}

/// Read `.oxen/HEAD` (`ref: heads/<branch>` or a commit id).
pub fn read_head(layout: &Layout) -> Result<Head> {
    let p = layout.head_file();
    let bytes = std::fs::read(&p).map_err(|e| StoreError::io(&p, e))?;
    let text = String::from_utf8_lossy(&bytes);
    let t = text.trim();
    // Garbage is shown briefly and escaped: the message stays one line.
    let bad = || {
        let mut shown: String = t.chars().take(64).flat_map(char::escape_debug).collect();
        if t.chars().count() > 64 {
            shown.push_str("...");
        }
        RefError::BadHead(shown)
    };
    if let Some(r) = t.strip_prefix("ref: ") {
        let branch = RefName::new(r).ok().and_then(|r| r.as_branch()).ok_or_else(bad)?;
        return Ok(Head::Branch(branch));
    }
    ContentId::from_hex(t).map(Head::Detached).map_err(|_| bad())
}

/// Write `.oxen/HEAD` atomically.
pub fn write_head(layout: &Layout, head: &Head) -> Result<()> {
    let text = match head {
        Head::Branch(b) => format!("ref: {}\n", b.to_ref()),
        Head::Detached(id) => format!("{id}\n"),
    };
    oxen_store::write_atomic(&layout.tmp_dir(), &layout.head_file(), text.as_bytes())?;
    Ok(())
}

/// Expected current value for a compare-and-swap update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Do not check.
    Any,
    /// The ref must not exist.
    Absent,
    /// The ref must be exactly this.
    Is(ContentId),
}

/// One ref change within an atomic batch.
#[derive(Clone, Debug)]
pub struct RefUpdate {
    /// The ref.
    pub name: RefName,
    /// New value; `None` deletes.
    pub new: Option<ContentId>,
    /// What the ref must be now.
    pub expect: Expect,
}

/// Typed access to the `refs` table.
pub struct Refs<'a> {
    db: &'a Db,
}

impl<'a> Refs<'a> {
    /// Wrap an open database.
    pub fn new(db: &'a Db) -> Refs<'a> {
        Refs { db }
    }

    /// Current value of a ref.
    pub fn get(&self, name: &RefName) -> Result<Option<ContentId>> {
        Ok(self.db.get(Table::Refs, name.as_str().as_bytes())?.and_then(|v| ContentId::from_slice(&v)))
    }

    /// The ref a name typed by a person reads as (see
    /// [`RefName::candidates`]), with its value: the first that exists.
    pub fn resolve(&self, shorthand: &str) -> Result<Option<(RefName, ContentId)>> {
        for cand in RefName::candidates(shorthand) {
            if let Some(id) = self.get(&cand)? {
                return Ok(Some((cand, id)));
            }
        }
        Ok(None)
    }

    /// Remote-tracking refs of any remote for branch `b`
    /// (`remotes/*/<b>`): what `checkout <b>` can start a local branch from.
    pub fn remote_branches_named(&self, b: &BranchName) -> Result<Vec<(RefName, ContentId)>> {
        Ok(self
            .remote_tracking(None)?
            .into_iter()
            .filter(|(r, _)| r.as_remote_tracking().is_some_and(|(_, rb)| rb == *b))
            .collect())
    }

    /// Apply several updates atomically: either every expectation holds and
    /// all are written, or nothing changes.
    pub fn update_all(&self, updates: &[RefUpdate]) -> Result<()> {
        let mut txn = self.db.begin_write()?;
        for u in updates {
            let key = u.name.as_str().as_bytes();
            let cur = txn.get(Table::Refs, key)?.and_then(|v| ContentId::from_slice(&v));
            let ok = match u.expect {
                Expect::Any => true,
                Expect::Absent => cur.is_none(),
                Expect::Is(id) => cur == Some(id),
            };
            if !ok {
                let show = |o: Option<ContentId>| o.map(|i| i.to_hex()).unwrap_or_else(|| "(none)".into());
                let expected = match u.expect {
                    Expect::Is(id) => id.to_hex(),
                    _ => "(none)".into(),
                };
                return Err(RefError::Stale { name: u.name.to_string(), expected, actual: show(cur) });
            }
            match u.new {
                Some(id) => txn.put(Table::Refs, key, id.as_bytes())?,
                None => {
                    txn.delete(Table::Refs, key)?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Update one ref with compare-and-swap.
    pub fn update(&self, name: &RefName, new: Option<ContentId>, expect: Expect) -> Result<()> {
        self.update_all(&[RefUpdate { name: name.clone(), new, expect }])
    }

    fn list(&self, prefix: &str) -> Result<Vec<(RefName, ContentId)>> {
        Ok(self
            .db
            .scan_prefix(Table::Refs, prefix.as_bytes())?
            .into_iter()
            .filter_map(|(k, v)| Some((RefName::new(String::from_utf8(k).ok()?).ok()?, ContentId::from_slice(&v)?)))
            .collect())
    }

    /// Every ref, sorted by name.
    pub fn all(&self) -> Result<Vec<(RefName, ContentId)>> {
        self.list("")
    }

    /// Local branches, sorted.
    pub fn branches(&self) -> Result<Vec<(BranchName, ContentId)>> {
        Ok(self.list(name::HEADS)?.into_iter().filter_map(|(r, id)| Some((r.as_branch()?, id))).collect())
    }

    /// Tags, sorted.
    pub fn tags(&self) -> Result<Vec<(TagName, ContentId)>> {
        Ok(self.list(name::TAGS)?.into_iter().filter_map(|(r, id)| Some((r.as_tag()?, id))).collect())
    }

    /// Remote-tracking refs of one remote, or of all with `None`, sorted.
    pub fn remote_tracking(&self, remote: Option<&str>) -> Result<Vec<(RefName, ContentId)>> {
        match remote {
            Some(r) => self.list(&RefName::remote_prefix(r)),
            None => self.list(name::REMOTES),
        }
    }

    /// The commit HEAD resolves to, if any (none on an unborn branch).
    pub fn head_commit(&self, layout: &Layout) -> Result<Option<ContentId>> {
        match read_head(layout)? {
            Head::Detached(id) => Ok(Some(id)),
            Head::Branch(b) => self.get(&b.to_ref()),
        }
    }
}
