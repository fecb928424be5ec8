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
use crate::walk::{WalkIter, WalkOptions};
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
    /// Directories holding at least one tracked file (one entry per
    /// directory, not per file), for [`Status::untracked_collapsed`].
    pub tracked_dirs: HashSet<BString>,
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
    pub fn untracked_collapsed(&self) -> Vec<BString> {
        if let Some(c) = &self.collapsed {
            return c.clone();
        }
        let tracked_dirs = &self.tracked_dirs;
        let mut out: BTreeSet<BString> = BTreeSet::new();
        for u in &self.untracked {
            let b = u.as_bytes();
            // The outermost directory holding no tracked file stands for all below it.
            let collapsed = b
                .iter()
                .enumerate()
                .filter(|(_, c)| **c == b'/')
                .map(|(i, _)| &b[..i])
                .find(|dir| !tracked_dirs.contains(*dir));
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

/// HEAD's files in path byte order: path, content id, mode.
pub type HeadFile = (RepoPath, ContentId, u32);

/// Files hashed together (in parallel) while status streams: a batch is
/// what status holds of files whose stat changed, however many there are.
const HASH_BATCH: usize = 4096;

/// Refreshed entries handed to the sink at a time.
pub const REFRESH_BATCH: usize = 16384;

/// Compute status. `head` maps each path of the HEAD commit to its
/// `(content id, mode)` (empty for an unborn branch); `None` means the
/// caller knows the index matches HEAD (nothing staged), which spares
/// reading HEAD's whole tree. The refreshed entries are returned in
/// [`Status::refreshed`], for the caller to write back.
pub fn status(
    wt: &WorkTree,
    versions: &Versions,
    index: &Index,
    head: Option<&BTreeMap<RepoPath, (ContentId, u32)>>,
) -> Result<Status> {
    let mut entries = index.entries.iter().map(|(p, e)| Ok((p.clone(), e.clone())));
    let mut head_iter = head.map(|h| h.iter().map(|(p, (id, mode))| Ok((p.clone(), *id, *mode))));
    let head_dyn = head_iter.as_mut().map(|h| h as &mut dyn Iterator<Item = Result<HeadFile>>);
    status_streaming(wt, versions, index.written_ns, &mut entries, head_dyn, None)
}

/// A sink for refreshed index entries: called with at most
/// [`REFRESH_BATCH`] entries at a time while status runs.
pub type RefreshSink<'a> = &'a mut dyn FnMut(Vec<(RepoPath, IndexEntry)>) -> Result<()>;

/// Status in memory bounded by the largest directory and the batch sizes,
/// not by the number of files: one pass merges, in path byte order, the
/// work-tree walk ([`crate::WalkIter`]), the index entries (`index`, e.g.
/// an [`crate::IndexIter`]) and HEAD's files (`head`; `None` when the
/// caller knows nothing is staged). What it keeps is what it reports
/// (changes, untracked files), the files whose stat changed (hashed
/// [`HASH_BATCH`] at a time) and the set of directories holding tracked
/// files. With `refresh`, refreshed entries go to it in batches as they are
/// found instead of piling up in [`Status::refreshed`].
pub fn status_streaming(
    wt: &WorkTree,
    versions: &Versions,
    written_ns: i64,
    index: &mut dyn Iterator<Item = Result<(RepoPath, IndexEntry)>>,
    head: Option<&mut dyn Iterator<Item = Result<HeadFile>>>,
    mut refresh: Option<RefreshSink<'_>>,
) -> Result<Status> {
    let mut walk = WalkIter::new(wt, &RepoPath::root(), WalkOptions::default());
    let mut st = Status::default();
    let mut unstaged: BTreeMap<RepoPath, Change> = BTreeMap::new();
    let mut staged: BTreeMap<RepoPath, Change> = BTreeMap::new();
    let mut added_by_id: HashMap<ContentId, Vec<RepoPath>> = HashMap::new();
    let mut deleted: Vec<(RepoPath, ContentId)> = Vec::new();
    let mut to_hash: Vec<(RepoPath, IndexEntry, FileStat)> = Vec::new();
    let mut tracked_dirs: HashSet<BString> = HashSet::new();
    let mut last_parent: Option<RepoPath> = None;
    let mut head = head.map(|h| h.peekable());
    let mut w = walk.by_ref().peekable();
    let flush = |to_hash: &mut Vec<(RepoPath, IndexEntry, FileStat)>,
                 st: &mut Status,
                 unstaged: &mut BTreeMap<RepoPath, Change>,
                 refresh: &mut Option<RefreshSink<'_>>,
                 last: bool|
     -> Result<()> {
        if !to_hash.is_empty() {
            st.hashed += to_hash.len();
            let results: Vec<(RepoPath, Option<IndexEntry>)> = std::mem::take(to_hash)
                .into_par_iter()
                .map(|(path, entry, stat)| {
                    if stat.mode != entry.stat.mode && entry.stat.mode != 0 {
                        return (path, None);
                    }
                    match hash_file(versions, wt, &path, &stat, false) {
                        Ok(h) if h.id == entry.id => {
                            let mut fresh = entry;
                            fresh.stat = stat;
                            (path, Some(fresh))
                        }
                        // Changed contents; or a file that vanished or
                        // became unreadable mid-scan, which counts as changed.
                        _ => (path, None),
                    }
                })
                .collect();
            for (path, fresh) in results {
                match fresh {
                    Some(e) => st.refreshed.push((path, e)),
                    None => {
                        unstaged.insert(path, Change::Modified);
                    }
                }
            }
        }
        if let Some(sink) = refresh {
            if st.refreshed.len() >= REFRESH_BATCH || (last && !st.refreshed.is_empty()) {
                sink(std::mem::take(&mut st.refreshed))?;
            }
        }
        Ok(())
    };
    for row in index {
        let (path, entry) = row?;
        // Directories holding tracked files, for collapsing untracked ones.
        let parent = path.parent();
        if parent != last_parent {
            if let Some(p) = &parent {
                if !p.is_root() {
                    let mut d = p.as_bytes();
                    loop {
                        if !tracked_dirs.insert(BString::from(d)) {
                            break;
                        }
                        match d.iter().rposition(|c| *c == b'/') {
                            Some(i) => d = &d[..i],
                            None => break,
                        }
                    }
                }
            }
            last_parent = parent;
        }
        // HEAD vs index.
        if let Some(h) = head.as_mut() {
            loop {
                match h.peek() {
                    Some(Ok((hp, _, _))) if *hp < path => {
                        let (hp, id, _) = h.next().expect("peeked")?;
                        deleted.push((hp, id));
                    }
                    Some(Err(_)) => {
                        h.next().expect("peeked")?;
                    }
                    _ => break,
                }
            }
            match h.peek() {
                Some(Ok((hp, id, mode))) if *hp == path => {
                    if *id != entry.id || (*mode != entry.stat.mode && entry.stat.mode != 0) {
                        staged.insert(path.clone(), Change::Modified);
                    }
                    h.next();
                }
                _ => {
                    staged.insert(path.clone(), Change::Added);
                    added_by_id.entry(entry.id).or_default().push(path.clone());
                }
            }
        }
        // Index vs work tree.
        while let Some(f) = w.peek() {
            if f.path < path {
                st.untracked.push(w.next().expect("peeked").path);
            } else {
                break;
            }
        }
        let stat = match w.peek() {
            Some(f) if f.path == path => w.next().expect("peeked").stat,
            // Not walked: deleted, or ignored while tracked. A path beyond a
            // symlink counts as deleted: lstat does not look through links.
            _ => match wt.lstat(&path) {
                Ok(Some(m)) if !m.is_dir() => m.stat,
                _ => {
                    unstaged.insert(path, Change::Deleted);
                    continue;
                }
            },
        };
        if !stat_clean(written_ns, &entry, &stat) {
            to_hash.push((path, entry, stat));
            if to_hash.len() >= HASH_BATCH {
                flush(&mut to_hash, &mut st, &mut unstaged, &mut refresh, false)?;
            }
        }
    }
    st.untracked.extend(w.map(|f| f.path));
    flush(&mut to_hash, &mut st, &mut unstaged, &mut refresh, true)?;
    if let Some(h) = head {
        for r in h {
            let (hp, id, _) = r?;
            deleted.push((hp, id));
        }
    }
    // Exact renames: a staged deletion whose contents reappear as a staged addition.
    for (d, id) in deleted {
        let target = added_by_id.get_mut(&id).and_then(|v| if v.is_empty() { None } else { Some(v.remove(0)) });
        match target {
            Some(newp) => {
                staged.insert(newp, Change::Renamed(d));
            }
            None => {
                staged.insert(d, Change::Deleted);
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
    st.warnings = std::mem::take(&mut walk.warnings);
    st.refused = std::mem::take(&mut walk.refused);
    st.tracked_dirs = tracked_dirs;
    Ok(st)
}

/// Whether the stat cache proves a file unchanged: every stat field as
/// recorded, and the file older than the index write (else it is racily
/// clean and must be read).
pub fn stat_clean(written_ns: i64, entry: &IndexEntry, now: &FileStat) -> bool {
    let s = &entry.stat;
    s.size == now.size
        && s.mtime_ns == now.mtime_ns
        && s.ctime_ns == now.ctime_ns
        && s.inode == now.inode
        && s.mode == now.mode
        && s.mtime_ns < written_ns
}
