//! The staging index: what the next commit will hold.
//!
//! Each entry records the content id of a path plus the stat fields seen
//! when it was hashed (the stat cache). A file whose stat still matches is
//! known unchanged without reading it; an entry whose mtime is not older
//! than the index write time is "racily clean" and is re-hashed, as in git.

mod entry;
mod paths;
mod stage;
mod status;
mod walk;

pub use entry::{FileStat, IndexEntry, Tracking};
pub use paths::{path_is_under, quote_path, repo_path, validate_path};
pub use stage::{
    hash_file, remove_paths, stage_cacheinfo, stage_paths, tracking_for, HashedFile, StageOptions, StageReport,
};
pub use status::{status, Change, Status, StatusEntry};
pub use walk::{walk_work_tree, Walk, WalkOptions, WorkFile};

use std::collections::BTreeMap;

use oxen_store::{Db, StoreError, Table, WriteTxn};

/// Errors from index operations.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A path given on the command line resolves outside the work tree.
    #[error("path '{0}' is outside the repository")]
    OutsideRepo(String),
    /// A pathspec matched nothing: an error, as in git, so typos are not silently ignored.
    #[error("pathspec '{0}' did not match any files")]
    NoMatch(String),
    /// Paths are stored as UTF-8; others cannot be tracked.
    #[error("path '{0}' is not valid UTF-8")]
    NotUtf8(String),
    /// LMDB keys are bounded, so the index caps path length.
    #[error("path '{0}' is too long for the index (max 500 bytes)")]
    TooLong(String),
    /// A path component that no tree could hold (see `oxen_object::validate_name`).
    #[error("invalid path '{0}': {1}")]
    BadPath(String, String),
    /// Removing a directory needs `-r`, so one typo does not unstage a whole tree.
    #[error("not removing '{0}' recursively without -r")]
    NeedRecursive(String),
    /// The stores failed underneath.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A tabular file could not be parsed for its schema while staging.
    #[error(transparent)]
    Tabular(#[from] oxen_tabular::TabularError),
}

/// Result alias.
pub type Result<T> = std::result::Result<T, IndexError>;

/// Longest path the index can key (LMDB keys are at most 511 bytes).
pub const MAX_PATH: usize = 500;

const WRITTEN_KEY: &[u8] = b"index-written-ns";
const TREE_CACHE_KEY: &[u8] = b"index-tree";

/// The index, loaded in memory (one entry per tracked path; tens of bytes
/// each, so millions of files fit comfortably).
#[derive(Clone, Debug, Default)]
pub struct Index {
    /// Entries by repository-relative path (`/`-separated).
    pub entries: BTreeMap<String, IndexEntry>,
    /// When the index was last written (ns since epoch), for the racy rule.
    pub written_ns: i64,
}

impl Index {
    /// Load every entry.
    pub fn load(db: &Db) -> Result<Index> {
        // LMDB returns keys sorted, so collecting builds the map in bulk
        // instead of inserting (and comparing paths) one by one.
        let mut sorted = Vec::new();
        for (k, v) in db.scan(Table::Index)? {
            let path =
                String::from_utf8(k).map_err(|e| IndexError::NotUtf8(String::from_utf8_lossy(e.as_bytes()).into()))?;
            if let Some(e) = IndexEntry::decode(&v) {
                sorted.push((path, e));
            }
        }
        let entries: BTreeMap<String, IndexEntry> = sorted.into_iter().collect();
        let written_ns =
            db.get(Table::Meta, WRITTEN_KEY)?.and_then(|v| v.try_into().ok().map(i64::from_le_bytes)).unwrap_or(0);
        Ok(Index { entries, written_ns })
    }

    /// Whether the stat cache proves `path` unchanged given its current stat.
    pub fn is_clean(&self, entry: &IndexEntry, now: &FileStat) -> bool {
        let s = &entry.stat;
        s.size == now.size
            && s.mtime_ns == now.mtime_ns
            && s.ctime_ns == now.ctime_ns
            && s.inode == now.inode
            && s.mode == now.mode
            && s.mtime_ns < self.written_ns
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
    pub fn apply(db: &Db, changes: &[(String, Option<IndexEntry>)]) -> Result<i64> {
        let mut txn = db.begin_write()?;
        for (path, e) in changes {
            if path.len() > MAX_PATH {
                return Err(IndexError::TooLong(path.clone()));
            }
            match e {
                Some(e) => txn.put(Table::Index, path.as_bytes(), &e.encode())?,
                None => {
                    txn.delete(Table::Index, path.as_bytes())?;
                }
            }
        }
        let stamp = Self::stamp(&mut txn)?;
        txn.commit()?;
        Ok(stamp)
    }

    /// Replace the whole index (checkout, reset) in one transaction.
    pub fn replace(db: &Db, entries: &BTreeMap<String, IndexEntry>) -> Result<()> {
        let mut txn = db.begin_write()?;
        txn.clear(Table::Index)?;
        for (path, e) in entries {
            if path.len() > MAX_PATH {
                return Err(IndexError::TooLong(path.clone()));
            }
            txn.put(Table::Index, path.as_bytes(), &e.encode())?;
        }
        Self::stamp(&mut txn)?;
        txn.commit()?;
        Ok(())
    }

    fn stamp(txn: &mut WriteTxn<'_>) -> Result<i64> {
        // File systems stamp mtimes from a coarse clock that can lag the
        // precise one by a tick (a few ms). A file changed just after this
        // write could then carry an mtime earlier than "now" and pass for
        // clean; backdating the stamp by more than a tick makes such files
        // count as racy (re-hashed) instead.
        const COARSE_CLOCK_MARGIN_NS: i64 = 50_000_000;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64 - COARSE_CLOCK_MARGIN_NS)
            .unwrap_or(0);
        txn.put(Table::Meta, WRITTEN_KEY, &now.to_le_bytes())?;
        Ok(now)
    }
}
