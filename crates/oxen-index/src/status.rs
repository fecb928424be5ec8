//! Status: HEAD vs index (staged) and index vs work tree (not staged), plus
//! untracked files. Unchanged files are recognised by the stat cache and
//! never read.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bstr::BString;
use oxen_hash::ContentId;
use oxen_path::{PathError, RepoPath};
use oxen_store::Versions;
use rayon::prelude::*;

use crate::entry::{FileStat, IndexEntry};
use crate::stage::hash_file;
use crate::walk::{walk_work_tree, WalkOptions};
use crate::worktree::WorkTree;
use crate::{Index, Result};

/// A change to one path on one side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// New path.
    Added,
    /// Contents or mode changed.
    Modified,
    /// Path gone.
    Deleted,
    /// Staged rename (exact content match) from the given path.
    Renamed(RepoPath),
}

impl Change {
    /// The git porcelain letter.
    pub fn letter(&self) -> char {
        match self {
            Change::Added => 'A',
            Change::Modified => 'M',
            Change::Deleted => 'D',
            Change::Renamed(_) => 'R',
        }
    }
}

/// One tracked path with a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusEntry {
    /// The path.
    pub path: RepoPath,
    /// HEAD vs index.
    pub staged: Option<Change>,
    /// Index vs work tree.
    pub unstaged: Option<Change>,
}

/// The full status.
#[derive(Clone, Debug, Default)]
pub struct Status {
    /// Tracked paths with changes, sorted by path.
    pub entries: Vec<StatusEntry>,
    /// Untracked files, sorted by path bytes.
    pub untracked: Vec<RepoPath>,
    /// Index entries whose stat changed but contents did not; writing them
    /// back makes the next status cheaper.
    pub refreshed: Vec<(RepoPath, IndexEntry)>,
    /// Files read (hashed) to decide their state; 0 on an unchanged tree.
    pub hashed: usize,
    /// Work-tree paths holding a name no tree may hold, which cannot be
    /// versioned: for the caller to show.
    pub refused: Vec<PathError>,
    /// Ignore files that could not be read, for the caller to show.
    pub warnings: Vec<String>,
    /// The collapsed untracked list, when whoever computed this status
    /// (the file-system monitor's path) already knows it without the
    /// whole index.
    pub collapsed: Option<Vec<BString>>,
}

impl Status {
    /// Nothing staged, nothing modified, nothing untracked.
    pub fn is_clean(&self) -> bool {
        self.entries.is_empty() && self.untracked.is_empty()
    }

    /// Whether anything is staged.
    pub fn has_staged(&self) -> bool {
        self.entries.iter().any(|e| e.staged.is_some())
    }

    /// Whether tracked files have unstaged changes.
    pub fn has_unstaged(&self) -> bool {
        self.entries.iter().any(|e| e.unstaged.is_some())
    }

    /// Untracked entries as git shows them by default: a directory holding
    /// no tracked file collapses to `dir/`. Raw bytes, sorted; directories
    /// end in `/` (so these are not `RepoPath`s: quote them for output).
    pub fn untracked_collapsed(&self, index: &Index) -> Vec<BString> {
        if let Some(c) = &self.collapsed {
            return c.clone();
        }
        let mut tracked_dirs: HashSet<&[u8]> = HashSet::new();
        for p in index.entries.keys() {
            for d in p.ancestors() {
                if !tracked_dirs.insert(d) {
                    break;
                }
            }
        }
        let mut out: BTreeSet<BString> = BTreeSet::new();
        for u in &self.untracked {
            let b = u.as_bytes();
            // The outermost directory holding no tracked file stands for all below it.
            let collapsed = b
                .iter()
                .enumerate()
                .filter(|(_, c)| **c == b'/')
                .map(|(i, _)| &b[..i])
                .find(|dir| !tracked_dirs.contains(dir));
            out.insert(match collapsed {
                Some(dir) => {
                    let mut v = dir.to_vec();
                    v.push(b'/');
                    v.into()
                }
                None => b.into(),
            });
        }
        out.into_iter().collect()
    }
}

/// Compute status. `head` maps each path of the HEAD commit to its
/// `(content id, mode)` (empty for an unborn branch); `None` means the
/// caller knows the index matches HEAD (nothing staged), which spares
/// reading HEAD's whole tree.
pub fn status(
    wt: &WorkTree,
    versions: &Versions,
    index: &Index,
    head: Option<&BTreeMap<RepoPath, (ContentId, u32)>>,
) -> Result<Status> {
    let walk = walk_work_tree(wt, &RepoPath::root(), WalkOptions::default())?;
    let files = walk.files;
    let mut st = Status { warnings: walk.warnings, refused: walk.refused, ..Status::default() };
    // Index and walk are both sorted by path bytes: one merge pass pairs
    // them up, with no per-path map lookups.
    let mut work_of: Vec<Option<&FileStat>> = Vec::with_capacity(index.entries.len());
    let mut untracked = Vec::new();
    {
        let mut w = files.iter().peekable();
        for path in index.entries.keys() {
            while let Some(f) = w.peek() {
                if f.path < *path {
                    untracked.push(f.path.clone());
                    w.next();
                } else {
                    break;
                }
            }
            match w.peek() {
                Some(f) if f.path == *path => {
                    work_of.push(Some(&f.stat));
                    w.next();
                }
                _ => work_of.push(None),
            }
        }
        untracked.extend(w.map(|f| f.path.clone()));
    }
    let mut unstaged: BTreeMap<RepoPath, Change> = BTreeMap::new();
    let mut to_hash: Vec<(&RepoPath, &IndexEntry, FileStat)> = Vec::new();
    for ((path, entry), seen) in index.entries.iter().zip(work_of) {
        let stat = match seen {
            Some(s) => *s,
            // Not walked: deleted, or ignored while tracked. A path beyond a
            // symlink counts as deleted: lstat does not look through links.
            None => match wt.lstat(path) {
                Ok(Some(m)) if !m.is_dir() => m.stat,
                _ => {
                    unstaged.insert(path.clone(), Change::Deleted);
                    continue;
                }
            },
        };
        if !index.is_clean(entry, &stat) {
            to_hash.push((path, entry, stat));
        }
    }
    st.hashed = to_hash.len();
    // Per hashed path: `Some(fresh entry)` when only its stat changed,
    // `None` when its contents did.
    type Rehashed = Result<Option<(RepoPath, Option<IndexEntry>)>>;
    let results: Vec<Rehashed> = to_hash
        .par_iter()
        .map(|(path, entry, stat)| {
            if stat.mode != entry.stat.mode && entry.stat.mode != 0 {
                return Ok(Some(((*path).clone(), None)));
            }
            let h = match hash_file(versions, wt, path, stat, false) {
                Ok(h) => h,
                // A file that vanished or became unreadable mid-scan counts as changed.
                Err(_) => return Ok(Some(((*path).clone(), None))),
            };
            if h.id != entry.id {
                return Ok(Some(((*path).clone(), None)));
            }
            let mut fresh = (*entry).clone();
            fresh.stat = *stat;
            Ok(Some(((*path).clone(), Some(fresh))))
        })
        .collect();
    for r in results {
        if let Some((path, fresh)) = r? {
            match fresh {
                Some(e) => st.refreshed.push((path, e)),
                None => {
                    unstaged.insert(path, Change::Modified);
                }
            }
        }
    }

    // HEAD vs index.
    let mut staged: BTreeMap<RepoPath, Change> = BTreeMap::new();
    let mut deleted: Vec<&RepoPath> = Vec::new();
    let empty = BTreeMap::new();
    let compare_head = head.is_some();
    let head = head.unwrap_or(&empty);
    if compare_head {
        let mut h = head.iter().peekable();
        for (path, entry) in &index.entries {
            while let Some((hp, _)) = h.peek() {
                if *hp < path {
                    deleted.push(hp);
                    h.next();
                } else {
                    break;
                }
            }
            match h.peek() {
                Some((hp, (id, mode))) if *hp == path => {
                    if *id != entry.id || (*mode != entry.stat.mode && entry.stat.mode != 0) {
                        staged.insert(path.clone(), Change::Modified);
                    }
                    h.next();
                }
                _ => {
                    staged.insert(path.clone(), Change::Added);
                }
            }
        }
        deleted.extend(h.map(|(p, _)| p));
    }
    // Exact renames: a staged deletion whose contents reappear as a staged addition.
    let mut added_by_id: HashMap<ContentId, Vec<RepoPath>> = HashMap::new();
    for (p, c) in &staged {
        if *c == Change::Added {
            added_by_id.entry(index.entries[p].id).or_default().push(p.clone());
        }
    }
    for d in deleted {
        let id = head[d].0;
        let target = added_by_id.get_mut(&id).and_then(|v| if v.is_empty() { None } else { Some(v.remove(0)) });
        match target {
            Some(newp) => {
                staged.insert(newp, Change::Renamed(d.clone()));
            }
            None => {
                staged.insert(d.clone(), Change::Deleted);
            }
        }
    }

    // BTreeSet order is byte order: the entries come out sorted.
    let mut all: BTreeSet<&RepoPath> = staged.keys().collect();
    all.extend(unstaged.keys());
    st.entries = all
        .into_iter()
        .map(|p| StatusEntry { path: p.clone(), staged: staged.get(p).cloned(), unstaged: unstaged.get(p).cloned() })
        .collect();
    st.untracked = untracked;
    Ok(st)
}
