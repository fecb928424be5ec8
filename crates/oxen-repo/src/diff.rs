//! The diff document: what changed in each file, as `oxen diff --json`
//! prints it (and the Python package will return it).
//!
//! ```json
//! {"files": [{"path": "p.csv", "status": "modified",
//!             "tabular": { ...oxen_tabular::diff::TabularDiff... },
//!             "binary": false, "text": null}]}
//! ```
//!
//! Every changed file is listed. A table (by its name) whose versions parse
//! gets `tabular`, with no size limit (the engine streams). Anything else,
//! including a table that does not parse (then `note` says why), gets
//! `binary` (a NUL byte or invalid UTF-8 in either side) and, for text,
//! `text: {"added": lines, "removed": lines}`. Text above
//! [`MAX_TEXT_DIFF`] bytes is not line-diffed: `text` is null and `note`
//! says so.

use serde::Serialize;

use oxen_path::RepoPath;
use oxen_tabular::diff::{DiffOptions, FileStatus, TabularDiff};
use oxen_tabular::{Limits, Source, TabularError, TabularFormat};

use oxen_hash::ContentId;
use oxen_index::{Index, IndexEntry, IndexIter};

use crate::join::MergeJoin;
use crate::{FlatEntry, Repo, Result};

/// Text diffs (not tables) are skipped above this size.
pub const MAX_TEXT_DIFF: u64 = 16 << 20;

/// One side of a changed file.
#[derive(Clone, Debug)]
pub enum DiffSide {
    /// Contents in the versions store.
    Stored(FlatEntry),
    /// A work-tree file with its mode (read through the work-tree handle,
    /// never through a symlinked directory).
    Work(RepoPath, u32),
}

impl DiffSide {
    /// The git-style mode.
    pub fn mode(&self) -> u32 {
        match self {
            DiffSide::Stored(e) => e.mode,
            DiffSide::Work(_, m) => *m,
        }
    }

    fn is_symlink(&self) -> bool {
        self.mode() == oxen_object::mode::SYMLINK
    }
}

/// Line counts of a text diff.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TextCounts {
    /// Lines only in the new version.
    pub added: u64,
    /// Lines only in the old version.
    pub removed: u64,
}

/// The diff of one file.
#[derive(Clone, Debug, Serialize)]
pub struct FileReport {
    /// Path (as printed: quoted when not plain).
    pub path: String,
    /// Added, removed or modified.
    pub status: FileStatus,
    /// The table diff, when the file is a table whose versions parse.
    pub tabular: Option<TabularDiff>,
    /// Not text (and not a parsed table).
    pub binary: bool,
    /// Line counts, for text.
    pub text: Option<TextCounts>,
    /// Why the file was not diffed as a table or as text, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The unified diff of a text file (text output only).
    #[serde(skip)]
    pub unified: Option<String>,
    /// Sizes of the two sides (0 when absent).
    #[serde(skip)]
    pub sizes: (u64, u64),
}

impl FileReport {
    /// The file diff as the table engine renders it, when tabular.
    pub fn file_diff(&self) -> Option<oxen_tabular::diff::FileDiff> {
        self.tabular.as_ref().map(|t| oxen_tabular::diff::FileDiff {
            path: self.path.clone(),
            status: self.status,
            tabular: t.clone(),
        })
    }

    /// True when the contents are equal as tables (bytes may still differ).
    pub fn is_empty_table(&self) -> bool {
        self.file_diff().is_some_and(|d| d.is_empty())
    }
}

/// The whole diff.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DiffDocument {
    /// Changed files, in path order.
    pub files: Vec<FileReport>,
}

/// How to diff.
#[derive(Clone, Debug, Default)]
pub struct DiffRequest {
    /// Key columns for every table; empty uses `tabular-keys.<path>` from
    /// the config, else rows match by content.
    pub keys: Vec<String>,
    /// Rows kept per kind in a table diff (counts stay exact).
    pub row_limit: Option<usize>,
    /// Compute the unified diff of text files.
    pub unified: bool,
}

impl Repo {
    /// One side as a table source (a work-tree file through the work-tree
    /// handle, stored contents through the verified reader).
    pub fn side_source(&self, side: &DiffSide) -> Result<Source> {
        match side {
            DiffSide::Work(p, _) => {
                // Opened once through the work-tree handle; each reopening of
                // the source reads that open file from its start with its own
                // position (positioned reads, so readers never share an offset).
                let abs = self.worktree.abs(p);
                let f = self.worktree.open_file(p).map_err(|e| oxen_store::StoreError::io(&abs, e))?;
                let f = f.ok_or_else(|| {
                    oxen_store::StoreError::io(&abs, std::io::Error::new(std::io::ErrorKind::NotFound, "vanished"))
                })?;
                let f = std::sync::Arc::new(f);
                Ok(Source::reader(move || {
                    Ok(Box::new(AtReader { f: f.clone(), pos: 0 }) as Box<dyn std::io::Read + Send>)
                }))
            }
            DiffSide::Stored(e) => self.stored_source(&e.id),
        }
    }

    /// Stored contents as a table source: a re-openable reader of the
    /// versions store, verified as it streams like every stored read (so
    /// no random access: rows to print are fetched in one more pass).
    pub fn stored_source(&self, id: &oxen_hash::ContentId) -> Result<Source> {
        if !self.versions.has(id) {
            return Err(oxen_store::StoreError::MissingObject(*id).into());
        }
        let (v, id) = (self.versions.clone(), *id);
        Ok(Source::reader(move || {
            v.open(&id).map(|b| Box::new(b) as Box<dyn std::io::Read + Send>).map_err(std::io::Error::other)
        }))
    }

    /// Limits for the table engine: spill files go under `.oxen/tmp`.
    pub(crate) fn table_limits(&self) -> Limits {
        Limits { temp_dir: Some(self.layout.tmp_dir()), ..Limits::default() }
    }

    fn side_size(&self, side: &DiffSide) -> u64 {
        match side {
            DiffSide::Stored(e) => self.versions.size(&e.id).unwrap_or(e.size),
            DiffSide::Work(p, _) => self.worktree.lstat(p).ok().flatten().map(|m| m.stat.size).unwrap_or(0),
        }
    }

    fn side_bytes(&self, side: &DiffSide) -> Result<Vec<u8>> {
        Ok(match side {
            DiffSide::Stored(e) => self.versions.read_all(&e.id)?,
            DiffSide::Work(p, m) if *m == oxen_object::mode::SYMLINK => {
                self.worktree.read_link(p).map_err(|e| oxen_store::StoreError::io(self.worktree.abs(p), e))?
            }
            DiffSide::Work(p, _) => {
                let abs = self.worktree.abs(p);
                let b = self.worktree.read(p).map_err(|e| oxen_store::StoreError::io(&abs, e))?;
                b.ok_or_else(|| {
                    oxen_store::StoreError::io(&abs, std::io::Error::new(std::io::ErrorKind::NotFound, "vanished"))
                })?
            }
        })
    }

    /// Diff one file: as a table when its name says so and both versions
    /// parse (any size), else as text or binary.
    pub fn diff_file(
        &self,
        path: &RepoPath,
        old: Option<&DiffSide>,
        new: Option<&DiffSide>,
        req: &DiffRequest,
    ) -> Result<FileReport> {
        let status = match (old, new) {
            (None, _) => FileStatus::Added,
            (_, None) => FileStatus::Removed,
            _ => FileStatus::Modified,
        };
        let sizes = (old.map(|s| self.side_size(s)).unwrap_or(0), new.map(|s| self.side_size(s)).unwrap_or(0));
        let mut report = FileReport {
            path: path.quoted().into_owned(),
            status,
            tabular: None,
            binary: false,
            text: None,
            note: None,
            unified: None,
            sizes,
        };
        let symlink = old.is_some_and(DiffSide::is_symlink) || new.is_some_and(DiffSide::is_symlink);
        if let (Some(format), false) = (TabularFormat::from_name(path.as_bytes()), symlink) {
            let keys = if req.keys.is_empty() {
                let cfg = self.config()?;
                path.to_str().and_then(|p| cfg.tabular_keys.get(p)).cloned().unwrap_or_default()
            } else {
                req.keys.clone()
            };
            let os = old.map(|s| self.side_source(s)).transpose()?;
            let ns = new.map(|s| self.side_source(s)).transpose()?;
            let opts = DiffOptions { keys, row_limit: req.row_limit, limits: self.table_limits() };
            match oxen_tabular::diff::diff(&report.path, format, os.as_ref(), ns.as_ref(), &opts) {
                Ok(d) => {
                    report.tabular = Some(d.tabular);
                    return Ok(report);
                }
                Err(TabularError::NotParsable(np)) => {
                    report.note = Some(format!("{np}; diffed as text"));
                }
                Err(e) => return Err(e.into()),
            }
        }
        if sizes.0 > MAX_TEXT_DIFF || sizes.1 > MAX_TEXT_DIFF {
            let note = format!("larger than {} MiB: not diffed as text", MAX_TEXT_DIFF >> 20);
            report.note = Some(match report.note.take() {
                Some(n) => format!("{n}; {note}"),
                None => note,
            });
            return Ok(report);
        }
        let ob = old.map(|s| self.side_bytes(s)).transpose()?.unwrap_or_default();
        let nb = new.map(|s| self.side_bytes(s)).transpose()?.unwrap_or_default();
        let (Some(o), Some(n)) = (as_text(&ob), as_text(&nb)) else {
            report.binary = true;
            return Ok(report);
        };
        let td = similar::TextDiff::from_lines(o, n);
        let mut counts = TextCounts::default();
        for c in td.iter_all_changes() {
            match c.tag() {
                similar::ChangeTag::Insert => counts.added += 1,
                similar::ChangeTag::Delete => counts.removed += 1,
                similar::ChangeTag::Equal => {}
            }
        }
        report.text = Some(counts);
        if req.unified {
            let a = if old.is_some() { side_label("a/", path) } else { "/dev/null".into() };
            let b = if new.is_some() { side_label("b/", path) } else { "/dev/null".into() };
            report.unified = Some(td.unified_diff().context_radius(3).header(&a, &b).to_string());
        }
        Ok(report)
    }
}

/// A reader of a shared open file with its own position.
struct AtReader {
    f: std::sync::Arc<std::fs::File>,
    pos: u64,
}

impl std::io::Read for AtReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = std::os::unix::fs::FileExt::read_at(&*self.f, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// `prefix` + `path` as git prints it in diff headers: the whole thing
/// quoted when the path needs it (`"a/caf\351"`).
pub fn side_label(prefix: &str, path: &RepoPath) -> String {
    let mut b = prefix.as_bytes().to_vec();
    b.extend_from_slice(path.as_bytes());
    oxen_path::quote(&b, oxen_path::Quote::C).into_owned()
}

fn as_text(b: &[u8]) -> Option<&str> {
    if b[..b.len().min(8000)].contains(&0) {
        return None;
    }
    std::str::from_utf8(b).ok()
}

/// One path that differs, with its old and new sides (`None` where the
/// path is absent), as the streaming comparisons below hand them out.
#[derive(Clone, Debug)]
pub struct Changed {
    /// The path.
    pub path: RepoPath,
    /// The old side.
    pub old: Option<DiffSide>,
    /// The new side.
    pub new: Option<DiffSide>,
}

impl From<crate::TreeChange> for Changed {
    fn from(c: crate::TreeChange) -> Changed {
        Changed { path: c.path, old: c.old.map(DiffSide::Stored), new: c.new.map(DiffSide::Stored) }
    }
}

fn flat_index(e: IndexEntry) -> FlatEntry {
    let mode = if e.stat.mode == 0 { oxen_object::mode::FILE } else { e.stat.mode };
    FlatEntry { id: e.id, mode, size: e.stat.size, tabular: e.tabular }
}

fn same(a: Option<&FlatEntry>, b: Option<&FlatEntry>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.id == b.id && a.mode == b.mode,
        (None, None) => true,
        _ => false,
    }
}

impl Repo {
    /// The index against `base` (a tree; `None` for an unborn branch), what
    /// `diff --staged` shows: the index ([`IndexIter`]) and the tree's files
    /// ([`Repo::tree_files`]) merged in path order as they are read. When the
    /// index is known to produce `base` (its cached tree), nothing is read.
    pub fn staged_changes(&self, base: Option<&ContentId>) -> Result<Box<dyn Iterator<Item = Result<Changed>> + '_>> {
        let header = Index::load_header(&self.db)?;
        if base.is_some() && header.cached_tree(&self.db)?.as_ref() == base {
            return Ok(Box::new(std::iter::empty()));
        }
        let tree: PathStream<'_, FlatEntry> = match base {
            Some(t) => Box::new(self.tree_files(t)),
            None => Box::new(std::iter::empty()),
        };
        let index = self.index_rows().map(|r| r.map(|(p, e)| (p, flat_index(e))));
        let joined = MergeJoin::new(tree, index);
        Ok(Box::new(joined.filter_map(|r| match r {
            Err(e) => Some(Err(e)),
            Ok((path, o, n)) if !same(o.as_ref(), n.as_ref()) => {
                Some(Ok(Changed { path, old: o.map(DiffSide::Stored), new: n.map(DiffSide::Stored) }))
            }
            Ok(_) => None,
        })))
    }

    /// The work tree's tracked files against the index, what a plain `diff`
    /// shows. This is status's merge-join of the work-tree walk and the
    /// index ([`oxen_index::status_streaming`], nothing staged asked):
    /// files the stat cache vouches for are not read, and what is held is
    /// what changed (and the untracked paths status lists). Refreshed stat
    /// entries are dropped (a diff does not write the index).
    pub fn unstaged_changes(&self) -> Result<Vec<Changed>> {
        let changes = self.unstaged_status()?;
        let mut out = Vec::with_capacity(changes.len());
        for (path, deleted) in changes {
            let old = Index::entry(&self.db, &path)?.map(|e| DiffSide::Stored(flat_index(e)));
            let new = if deleted { None } else { self.work_side(&path)? };
            if old.is_some() || new.is_some() {
                out.push(Changed { path, old, new });
            }
        }
        Ok(out)
    }

    /// The work tree's tracked files against a tree (`diff <rev>`): the
    /// tree's files, the index and status's unstaged changes merged in path
    /// order. A tracked path the work tree holds unchanged from the index
    /// is compared by the index's id, without being read.
    pub fn worktree_changes(&self, base: &ContentId) -> Result<Box<dyn Iterator<Item = Result<Changed>> + '_>> {
        let mut unstaged = self.unstaged_status()?.into_iter().peekable();
        let joined = MergeJoin::new(self.tree_files(base), self.index_rows());
        Ok(Box::new(joined.filter_map(move |r| {
            let (path, o, i) = match r {
                Ok(row) => row,
                Err(e) => return Some(Err(e)),
            };
            while unstaged.next_if(|(p, _)| *p < path).is_some() {}
            let change = unstaged.next_if(|(p, _)| *p == path).map(|(_, deleted)| deleted);
            let new = match (i, change) {
                // Untracked: not compared, as git does.
                (None, _) => None,
                (Some(_), Some(true)) => None,
                (Some(_), Some(false)) => match self.lstat_hash(&path) {
                    Ok(n) => n,
                    Err(e) => return Some(Err(e)),
                },
                (Some(e), None) => Some(flat_index(e)),
            };
            if same(o.as_ref(), new.as_ref()) {
                return None;
            }
            let new = new.map(|n| DiffSide::Work(path.clone(), n.mode));
            Some(Ok(Changed { path, old: o.map(DiffSide::Stored), new }))
        })))
    }

    /// Status's unstaged changes alone, sorted: path and whether deleted.
    fn unstaged_status(&self) -> Result<Vec<(RepoPath, bool)>> {
        let header = Index::load_header(&self.db)?;
        let mut entries = IndexIter::new(&self.db);
        let mut drop_refreshed = |_: Vec<(RepoPath, IndexEntry)>| -> oxen_index::Result<()> { Ok(()) };
        let st = oxen_index::status_streaming(
            &self.worktree,
            &self.versions,
            header.written_ns,
            &mut entries,
            None,
            Some(&mut drop_refreshed),
        )?;
        Ok(st
            .entries
            .into_iter()
            .filter_map(|e| e.unstaged.map(|c| (e.path, c == oxen_index::Change::Deleted)))
            .collect())
    }

    /// A work-tree file as a diff side: `None` when it is gone or a directory.
    fn work_side(&self, path: &RepoPath) -> Result<Option<DiffSide>> {
        Ok(self.worktree.lstat(path)?.filter(|m| !m.is_dir()).map(|m| DiffSide::Work(path.clone(), m.stat.mode)))
    }

    /// A work-tree file's id and mode, hashed (not stored).
    fn lstat_hash(&self, path: &RepoPath) -> Result<Option<FlatEntry>> {
        let Some(m) = self.worktree.lstat(path)?.filter(|m| !m.is_dir()) else { return Ok(None) };
        let h = oxen_index::hash_file(&self.versions, &self.worktree, path, &m.stat, false)?;
        Ok(Some(FlatEntry { id: h.id, mode: m.stat.mode, size: m.stat.size, tabular: None }))
    }
}

/// Rows in path byte order.
type PathStream<'r, T> = Box<dyn Iterator<Item = Result<(RepoPath, T)>> + 'r>;
