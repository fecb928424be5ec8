//! Index entries and their compact binary encoding.

use oxen_hash::ContentId;
use oxen_object::TabularMeta;

/// How a file is tracked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tracking {
    /// Plain bytes.
    Regular,
    /// CSV/TSV/JSONL/Parquet: schema and row count are recorded.
    Tabular,
}

impl Tracking {
    /// `regular` / `tabular`
    pub fn as_str(self) -> &'static str {
        match self {
            Tracking::Regular => "regular",
            Tracking::Tabular => "tabular",
        }
    }
}

/// The stat fields the cache compares to decide a file is unchanged
/// without reading it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileStat {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Change time, nanoseconds since the epoch.
    pub ctime_ns: i64,
    /// Inode number.
    pub inode: u64,
    /// git-style mode (regular, executable, symlink).
    pub mode: u32,
}

impl FileStat {
    /// Stat fields from `symlink_metadata`.
    pub fn from_metadata(m: &std::fs::Metadata) -> FileStat {
        use std::os::unix::fs::MetadataExt;
        FileStat {
            size: m.len(),
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            ctime_ns: m.ctime() * 1_000_000_000 + m.ctime_nsec(),
            inode: m.ino(),
            mode: oxen_object::mode::from_st_mode(m.mode()),
        }
    }
}

/// One staged path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// Content id of the staged bytes.
    pub id: ContentId,
    /// Stat of the file when it was staged (zeroed when staged by id only,
    /// e.g. `--cacheinfo`, which forces a re-hash on the next status).
    pub stat: FileStat,
    /// Regular or tabular.
    pub tracking: Tracking,
    /// Schema and row count, for tabular files.
    pub tabular: Option<TabularMeta>,
}

impl IndexEntry {
    /// Compact binary form: id, size, mtime, ctime, inode, mode, tracking, meta.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(64);
        v.extend_from_slice(self.id.as_bytes());
        v.extend_from_slice(&self.stat.size.to_le_bytes());
        v.extend_from_slice(&self.stat.mtime_ns.to_le_bytes());
        v.extend_from_slice(&self.stat.ctime_ns.to_le_bytes());
        v.extend_from_slice(&self.stat.inode.to_le_bytes());
        v.extend_from_slice(&self.stat.mode.to_le_bytes());
        v.push(match self.tracking {
            Tracking::Regular => 0,
            Tracking::Tabular => 1,
        });
        if let Some(m) = &self.tabular {
            v.extend_from_slice(&serde_json::to_vec(m).unwrap_or_default());
        }
        v
    }

    /// Parse the binary form; `None` if it is not one.
    pub fn decode(b: &[u8]) -> Option<IndexEntry> {
        if b.len() < 53 {
            return None;
        }
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8"));
        let id = ContentId::from_slice(&b[0..16])?;
        let stat = FileStat {
            size: u64_at(16),
            mtime_ns: u64_at(24) as i64,
            ctime_ns: u64_at(32) as i64,
            inode: u64_at(40),
            mode: u32::from_le_bytes(b[48..52].try_into().expect("4")),
        };
        let tracking = if b[52] == 1 { Tracking::Tabular } else { Tracking::Regular };
        let tabular = if b.len() > 53 { serde_json::from_slice(&b[53..]).ok() } else { None };
        Some(IndexEntry { id, stat, tracking, tabular })
    }
}
