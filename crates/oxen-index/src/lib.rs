//! The staging index: what the next commit will hold.
//!
//! Each entry records the content id of a path plus the stat fields seen
//! when it was hashed (the stat cache). A file whose stat still matches is
//! known unchanged without reading it; an entry whose mtime is not older
//! than the index write time is "racily clean" and is re-hashed, as in git.

mod entry;
mod stage;
mod status;
mod walk;
mod worktree;

pub use entry::{FileStat, IndexEntry, Tracking};
pub use stage::{
    absent_on_purpose, hash_file, paths_to_remove, remove_paths, stage_cacheinfo, stage_paths, tabular_meta,
    tracking_for, HashedFile, StageOptions, StageReport,
};
pub use status::{
    stat_clean, status, status_streaming, Change, HeadFile, RefreshSink, Status, StatusEntry, REFRESH_BATCH,
};
pub use walk::{is_ignored, walk_work_tree, Walk, WalkIter, WalkOptions, WorkFile};
pub use worktree::{tmp_name, Kind, Meta, Parent, WorkTree};

use std::borrow::Cow;
use std::collections::BTreeMap;

use oxen_path::{PathError, RepoPath};
use oxen_store::{Db, StoreError, Table, WriteTxn};

/// Errors from index operations.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A path outside the work tree, or one holding a name no tree can
    /// hold (`.oxen` in any case).
    #[error(transparent)]
    Path(#[from] PathError),
    /// A pathspec matched nothing: an error, as in git, so typos are not silently ignored.
    #[error("pathspec '{0}' did not match any files")]
    NoMatch(RepoPath),
    /// Removing a directory needs `-r`, so one typo does not unstage a whole tree.
    #[error("not removing '{0}' recursively without -r")]
    NeedRecursive(RepoPath),
    /// A path whose parent chain holds a symlink is not in the work tree
    /// (the link is versioned as a link; what it points at is not ours).
    #[error("pathspec '{0}' is beyond a symbolic link")]
    BeyondSymlink(RepoPath),
    /// An index row that does not decode: the index is damaged.
    #[error("index entry {0} is malformed")]
    BadEntry(String),
    /// The stores failed underneath.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading HEAD's tree failed (for status, which is handed the tree's
    /// files by the caller).
    #[error("reading HEAD's tree: {0}")]
    Tree(String),
    /// Reading a table for its schema failed (I/O; a table that does not
    /// parse is staged as plain bytes, not an error).
    #[error(transparent)]
    Tabular(#[from] oxen_tabular::TabularError),
}

/// Result alias.
pub type Result<T> = std::result::Result<T, IndexError>;

/// Paths up to this many bytes are their own index key, as they always
/// were (LMDB keys are at most 511 bytes).
pub const SHORT_KEY_MAX: usize = 500;

/// A longer path is keyed by its first `LONG_KEY_PREFIX` bytes, a NUL
/// (which no path holds, so the two kinds of key never meet), and the
/// xxh3-128 of the whole path; the row's value starts with the full path.
/// Keys then stay near their path's place in byte order, and existing
/// indexes (short paths only) read as before.
const LONG_KEY_PREFIX: usize = 480;

/// The LMDB key of `path`'s index row.
fn index_key(path: &RepoPath) -> Cow<'_, [u8]> {
    let p = path.as_bytes();
    if p.len() <= SHORT_KEY_MAX {
        return Cow::Borrowed(p);
    }
    let mut k = Vec::with_capacity(LONG_KEY_PREFIX + 17);
    k.extend_from_slice(&p[..LONG_KEY_PREFIX]);
    k.push(0);
    k.extend_from_slice(oxen_hash::ContentId::of(p).as_bytes());
    Cow::Owned(k)
}

/// The value of `path`'s index row: the entry, preceded for a long path
/// by the path itself (length-prefixed).
fn index_value(path: &RepoPath, e: &IndexEntry) -> Vec<u8> {
    let p = path.as_bytes();
    if p.len() <= SHORT_KEY_MAX {
        return e.encode();
    }
    let mut v = Vec::with_capacity(4 + p.len() + 64);
    v.extend_from_slice(&(p.len() as u32).to_le_bytes());
    v.extend_from_slice(p);
    v.extend_from_slice(&e.encode());
    v
}

/// An index row (LMDB key and value) back into its path and entry;
/// `Ok(None)` for a value that is not an entry (skipped, as before). Public
/// for debugging dumps (`oxen kvdb-inspect`).
pub fn decode_index_row(k: &[u8], v: &[u8]) -> Result<Option<(RepoPath, IndexEntry)>> {
    let bad = |k: &[u8]| IndexError::BadEntry(oxen_path::quote(k, oxen_path::Quote::C).into_owned());
    let (path, entry) = if k.contains(&0) {
        let n = v.get(..4).ok_or_else(|| bad(k))?;
        let n = u32::from_le_bytes(n.try_into().map_err(|_| bad(k))?) as usize;
        let path = v.get(4..4 + n).ok_or_else(|| bad(k))?;
        let path = RepoPath::new(path)?;
        if index_key(&path).as_ref() != k {
            return Err(bad(k));
        }
        (path, &v[4 + n..])
    } else {
        (RepoPath::new(k)?, v)
    };
    Ok(IndexEntry::decode(entry).map(|e| (path, e)))
}

/// Rows read from LMDB per page by [`IndexIter`]: enough that a page's
/// read transaction costs nothing next to decoding it, few enough that a
/// page is a few hundred kilobytes.
const PAGE_ROWS: usize = 4096;

/// The index entries in path byte order, read page by page (a bounded
/// number of rows in memory at a time, however large the index).
///
/// Rows come from LMDB in key order, which is path order except among
/// long paths (keyed by a 480-byte prefix and a hash): the keys longer
/// than the prefix that share it sit together, and are sorted by path
/// before they are handed out. Each page is its own snapshot: a writer
/// that commits between two pages is seen from the next one on.
pub struct IndexIter<'a> {
    db: &'a Db,
    /// Where the next page starts (`None`: the table is exhausted).
    next_from: Option<Vec<u8>>,
    page: std::collections::VecDeque<(Vec<u8>, Vec<u8>)>,
    /// Decoded rows ready to hand out (a sorted group of long paths).
    ready: std::collections::VecDeque<(RepoPath, IndexEntry)>,
    /// Pages read so far.
    pages: u64,
}

impl<'a> IndexIter<'a> {
    /// Iterate over the whole index.
    pub fn new(db: &'a Db) -> IndexIter<'a> {
        Self::from(db, &RepoPath::root())
    }

    /// Iterate over the entries at `start` and after, in path order
    /// (`RepoPath::root()` for all).
    pub fn from(db: &'a Db, start: &RepoPath) -> IndexIter<'a> {
        let from = start.as_bytes();
        let from = from[..from.len().min(LONG_KEY_PREFIX)].to_vec();
        IndexIter { db, next_from: Some(from), page: Default::default(), ready: Default::default(), pages: 0 }
    }

    fn raw_next(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        if self.page.is_empty() {
            let Some(from) = self.next_from.take() else { return Ok(None) };
            self.pages += 1;
            if self.pages.is_multiple_of(4) {
                // The database pages read so far need not stay resident.
                self.db.release_mapped_pages();
            }
            let rows = self.db.scan_page(Table::Index, &from, PAGE_ROWS)?;
            if rows.len() == PAGE_ROWS {
                // The smallest key after the last one: the last key plus a NUL.
                let mut next = rows[rows.len() - 1].0.clone();
                next.push(0);
                self.next_from = Some(next);
            }
            self.page = rows.into();
        }
        Ok(self.page.pop_front())
    }

    fn raw_peek(&mut self) -> Result<Option<&(Vec<u8>, Vec<u8>)>> {
        if self.page.is_empty() && self.next_from.is_some() {
            if let Some(row) = self.raw_next()? {
                self.page.push_front(row);
            }
        }
        Ok(self.page.front())
    }

    /// The next entry, or `None` at the end.
    pub fn next_entry(&mut self) -> Result<Option<(RepoPath, IndexEntry)>> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                return Ok(Some(e));
            }
            let Some((k, v)) = self.raw_next()? else { return Ok(None) };
            if k.len() <= LONG_KEY_PREFIX {
                match decode_index_row(&k, &v)? {
                    Some(row) => return Ok(Some(row)),
                    None => continue,
                }
            }
            // A key past the prefix: gather every key sharing its prefix
            // (they are contiguous) and sort them by path.
            let mut group = Vec::new();
            group.extend(decode_index_row(&k, &v)?);
            let prefix = k[..LONG_KEY_PREFIX].to_vec();
            while let Some((nk, _)) = self.raw_peek()? {
                if nk.len() <= LONG_KEY_PREFIX || nk[..LONG_KEY_PREFIX] != prefix[..] {
                    break;
                }
                let (nk, nv) = self.raw_next()?.expect("peeked");
                group.extend(decode_index_row(&nk, &nv)?);
            }
            group.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            self.ready = group.into();
        }
    }
}

impl Iterator for IndexIter<'_> {
    type Item = Result<(RepoPath, IndexEntry)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_entry().transpose()
    }
}

/// `dir/` (empty for the root): the key prefix of everything below `dir`.
fn dir_prefix(dir: &RepoPath) -> Vec<u8> {
    let mut p = dir.as_bytes().to_vec();
    if !p.is_empty() {
        p.push(b'/');
    }
    p
}

const WRITTEN_KEY: &[u8] = b"index-written-ns";
const TREE_CACHE_KEY: &[u8] = b"index-tree";

/// The index, loaded in memory (one entry per tracked path). The hot
/// paths (status, add, commit) read it through [`IndexIter`] instead, in
/// bounded memory; a loaded index is for commands that need it whole.
#[derive(Clone, Debug, Default)]
pub struct Index {
    /// Entries by repository path, in byte order.
    pub entries: BTreeMap<RepoPath, IndexEntry>,
    /// When the index was last written (ns since epoch), for the racy rule.
    pub written_ns: i64,
}

impl Index {
    /// Load every entry.
    pub fn load(db: &Db) -> Result<Index> {
        // LMDB returns keys sorted (long paths' keys only nearly so), and
        // collecting sorts what is left and builds the map in bulk instead
        // of inserting (and comparing paths) one by one.
        let mut rows = Vec::new();
        for (k, v) in db.scan(Table::Index)? {
            if let Some(row) = decode_index_row(&k, &v)? {
                rows.push(row);
            }
        }
        let entries: BTreeMap<RepoPath, IndexEntry> = rows.into_iter().collect();
        Ok(Index { entries, written_ns: Self::read_written_ns(db)? })
    }

    /// The index's write time alone, without its entries: what the
    /// streaming readers ([`IndexIter`]) need besides the rows.
    pub fn load_header(db: &Db) -> Result<Index> {
        Ok(Index { entries: BTreeMap::new(), written_ns: Self::read_written_ns(db)? })
    }

    /// One path's entry, by a point lookup (no load of the whole index).
    pub fn entry(db: &Db, path: &RepoPath) -> Result<Option<IndexEntry>> {
        let Some(v) = db.get(Table::Index, &index_key(path))? else { return Ok(None) };
        Ok(decode_index_row(&index_key(path), &v)?.map(|(_, e)| e))
    }

    /// The entries below directory `dir`, by a range scan of the index.
    pub fn entries_under(db: &Db, dir: &RepoPath) -> Result<Vec<(RepoPath, IndexEntry)>> {
        let prefix = dir_prefix(dir);
        let mut out = Vec::new();
        for (k, v) in db.scan_prefix(Table::Index, &prefix[..prefix.len().min(LONG_KEY_PREFIX)])? {
            if let Some((p, e)) = decode_index_row(&k, &v)? {
                if p.as_bytes().starts_with(&prefix) {
                    out.push((p, e));
                }
            }
        }
        Ok(out)
    }

    /// Whether any tracked path lies below directory `dir` (one seek).
    pub fn tracks_under(db: &Db, dir: &RepoPath) -> Result<bool> {
        let prefix = dir_prefix(dir);
        if prefix.len() > LONG_KEY_PREFIX {
            return Ok(!Self::entries_under(db, dir)?.is_empty());
        }
        Ok(db.first_with_prefix(Table::Index, &prefix)?.is_some())
    }

    /// When the index was last written (ns since epoch), read alone: the
    /// one reader of the header, which [`Index::load`] and
    /// [`Index::load_header`] use too. 0 when the index was never written.
    pub fn read_written_ns(db: &Db) -> Result<i64> {
        Ok(db.get(Table::Meta, WRITTEN_KEY)?.and_then(|v| v.try_into().ok().map(i64::from_le_bytes)).unwrap_or(0))
    }

    /// Whether the stat cache proves `path` unchanged given its current stat.
    pub fn is_clean(&self, entry: &IndexEntry, now: &FileStat) -> bool {
        status::stat_clean(self.written_ns, entry, now)
    }

    /// The root tree id the index was last found to produce, valid only
    /// while the index has not been written since (`written_ns` matches).
    /// Lets status skip comparing the index with HEAD path by path when
    /// nothing is staged.
    pub fn cached_tree(&self, db: &Db) -> Result<Option<oxen_hash::ContentId>> {
        let Some(v) = db.get(Table::Meta, TREE_CACHE_KEY)? else { return Ok(None) };
        if v.len() != 24 {
            return Ok(None);
        }
        let stamp = i64::from_le_bytes(v[16..24].try_into().expect("8 bytes"));
        Ok(if stamp == self.written_ns { oxen_hash::ContentId::from_slice(&v[..16]) } else { None })
    }

    /// Remember that the index as written at `written_ns` produces `tree`.
    pub fn set_cached_tree(db: &Db, tree: &oxen_hash::ContentId, written_ns: i64) -> Result<()> {
        let mut v = tree.as_bytes().to_vec();
        v.extend_from_slice(&written_ns.to_le_bytes());
        db.put(Table::Meta, TREE_CACHE_KEY, &v)?;
        Ok(())
    }

    /// Apply changes (`None` removes) in one write transaction and record the
    /// write time, which is returned. Interrupted, it leaves the index as it was.
    pub fn apply(db: &Db, changes: &[(RepoPath, Option<IndexEntry>)]) -> Result<i64> {
        let mut txn = db.begin_write()?;
        for (path, e) in changes {
            match e {
                Some(e) => txn.put(Table::Index, &index_key(path), &index_value(path, e))?,
                None => {
                    txn.delete(Table::Index, &index_key(path))?;
                }
            }
        }
        let stamp = Self::stamp(db, &mut txn)?;
        txn.commit()?;
        Ok(stamp)
    }

    /// Replace the whole index (checkout, reset) in one transaction.
    pub fn replace(db: &Db, entries: &BTreeMap<RepoPath, IndexEntry>) -> Result<()> {
        let mut txn = db.begin_write()?;
        txn.clear(Table::Index)?;
        for (path, e) in entries {
            txn.put(Table::Index, &index_key(path), &index_value(path, e))?;
        }
        Self::stamp(db, &mut txn)?;
        txn.commit()?;
        Ok(())
    }

    fn stamp(db: &Db, txn: &mut WriteTxn<'_>) -> Result<i64> {
        // The stamp comes from the file system's clock (the mtime of a file
        // written now), as git takes its index file's mtime: the files
        // whose stat this write records were written before it, so they
        // carry an earlier mtime unless they were written in the same clock
        // tick; only those are racy. A stamp from the system clock would
        // need a margin for the file system's coarser clock, and every file
        // written within that margin would be re-read by the next status.
        let now = db.fs_clock_now()?;
        txn.put(Table::Meta, WRITTEN_KEY, &now.to_le_bytes())?;
        Ok(now)
    }
}
