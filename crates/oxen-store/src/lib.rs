//! The on-disk layout of an Oxen repository.
//!
//! ```text
//! .oxen/
//!   HEAD          "ref: heads/main" or a detached commit id
//!   config.toml   user name/email, remotes, core.bare
//!   db/           one LMDB environment; named databases refs, index, commits, trees, meta, blobs, reflog
//!   versions/     file contents by content id, 2-hex-char shards
//!   tmp/          scratch space for temp-file-then-rename writes
//! ```

pub mod blockstore;
mod config;
mod db;
mod envcheck;
pub mod faults;
pub mod format;
pub mod gc;
mod migrate;
mod objects;
pub mod pg;
pub mod progress;
mod shallow;
#[cfg(test)]
mod testutil;
mod tmp;
mod versions;

pub use blockstore::{ContentStore, LocalStore, S3Store, S3Url};
pub use config::{
    global_config, global_config_dir, repo_config, server_origin, Config, CoreConfig, FetchConfig, GcConfig,
    HostConfig, PartialConfig, RemoteConfig, UserConfig,
};
pub use db::{dump_env, Db, DumpedTable, KvStore, Table, WriteTxn};
pub use envcheck::DbDamage;
pub use gc::{gc_repo, GcReport, Prune, SegmentAction, SweepReport, COMPACT_DEAD_SHARE};
pub use migrate::MigrateReport;
pub use objects::{ObjectKind, ObjectSink, ObjectSource};
pub use oxen_chunk::{ChunkList, ChunkListError, ChunkRef, Codec};
pub use progress::{NoProgress, Progress};
pub use shallow::{read_shallow, write_shallow};
pub use tmp::{sweep_scratch_blocks, sweep_tmp, temp_file, Swept};
pub use versions::{
    Blob, BlockRecord, BlockScan, CorruptContent, Mismatch, Promisor, Versions, BLOCK_MAX, CHUNK_THRESHOLD, SMALL_MAX,
};

use std::path::{Path, PathBuf};

/// Name of the repository directory inside a work tree.
pub const DOT_DIR: &str = ".oxen";

/// Errors from the stores.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No `.oxen` with a HEAD from here up: the command needs a repository.
    #[error("not an oxen repository (or any parent up to /): {0}")]
    NotARepo(PathBuf),
    /// `init` refuses to reuse an existing repository.
    #[error("repository already exists at {0}")]
    AlreadyExists(PathBuf),
    /// A file operation failed; the path says which file, which io::Error alone does not.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The filesystem holding `path` is full (ENOSPC) or the user's quota
    /// is used up (EDQUOT): said in words, where the raw error would read
    /// "Input/output error" or worse after passing through a library.
    #[error("no space left on {path}{}", if *.quota { " (disk quota exceeded)" } else { "" })]
    NoSpace {
        /// The file being written.
        path: PathBuf,
        /// EDQUOT rather than ENOSPC.
        quota: bool,
    },
    /// The database failed (map full, locks, ...).
    #[error("database error: {0}")]
    Db(DbError),
    /// An LMDB file that must not be opened: missing, empty, cut short or
    /// not LMDB at all. Checked before LMDB maps it, because LMDB reading a
    /// page past the end of a truncated file dies of SIGBUS, and LMDB given
    /// an empty file silently starts a new, empty database.
    #[error("{what} {path} is damaged: {damage}")]
    DamagedDb {
        /// "repository database", or "database" for stores outside a repository.
        what: &'static str,
        /// The `data.mdb` file.
        path: PathBuf,
        /// What is wrong with it.
        damage: DbDamage,
    },
    /// PostgreSQL (the metadata of `oxen-server --db`) failed or refused.
    #[error("postgresql: {0}")]
    Postgres(pg::PgError),
    /// An operation this repository's kind of metadata store does not offer.
    #[error("{0}")]
    Unsupported(String),
    /// Something refers to an object that is not stored.
    #[error("object {0} not found")]
    MissingObject(oxen_hash::ContentId),
    /// A partial clone's content that is not here, and fetching it from
    /// the promisor remote failed.
    #[error("{} is not fetched and remote '{remote}' cannot be reached: {cause}", match .path { Some(p) => format!("'{}'", p.display()), None => format!("content {id}") })]
    NotFetched {
        /// The content.
        id: oxen_hash::ContentId,
        /// What it was being read for (a repository path), when known.
        path: Option<PathBuf>,
        /// The promisor remote's name.
        remote: String,
        /// Why fetching failed.
        cause: String,
    },
    /// An object's bytes no longer hash to its id (expected, actual): never served on.
    #[error("object {0} is corrupt: its bytes hash to {1}")]
    Corrupt(oxen_hash::ContentId, oxen_hash::ContentId),
    /// Stored file contents failed verification while being read; `path`
    /// is what was being made from them (a work-tree file, an object name),
    /// when known.
    #[error("{}{content}", match .path { Some(p) => format!("{}: ", p.display()), None => String::new() })]
    CorruptContent {
        /// What the contents were being read for.
        path: Option<PathBuf>,
        /// Which contents, where they are stored and how they are wrong.
        content: CorruptContent,
    },
    /// The repository records a store format this build does not know.
    #[error("{}: repository format {} is newer than this oxen understands (format {known}); upgrade oxen", .path.display(), match .found { Some(v) => v.to_string(), None => "(unreadable)".to_string() })]
    NewerFormat {
        /// The database directory.
        path: PathBuf,
        /// The recorded version (`None`: not a number).
        found: Option<u32>,
        /// The newest this build knows.
        known: u32,
    },
    /// A config file does not parse or cannot be written.
    #[error("config {path}: {msg}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// The parser's or writer's complaint.
        msg: String,
    },
    /// Contents this operation wrote (or relied on while another
    /// operation's write of them was pending) were dropped when a block
    /// holding them failed to be stored, by this operation or a concurrent
    /// one: nothing may name them until they are written again.
    #[error("{count} stored contents of this operation (first {first}) were lost with a block that failed to be stored ({cause}); retry")]
    Unrecorded {
        /// One of them.
        first: oxen_hash::ContentId,
        /// How many.
        count: usize,
        /// Why the last block that failed was not stored.
        cause: String,
    },
}

/// An LMDB failure, kept opaque so that no crate but this one depends on
/// LMDB's types.
#[derive(Debug)]
pub struct DbError(lmdb::Error);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for DbError {}

impl DbError {
    /// The operating system's error number behind the failure (a full
    /// disk is ENOSPC), when it is one rather than an LMDB condition.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self.0 {
            lmdb::Error::Other(code) => Some(code),
            _ => None,
        }
    }
}

/// The one place LMDB errors enter the rest of the code. Callers that know
/// the database's path map a full disk with [`StoreError::db`] instead.
impl From<lmdb::Error> for StoreError {
    fn from(e: lmdb::Error) -> StoreError {
        StoreError::Db(DbError(e))
    }
}

impl StoreError {
    /// Attach a path to an I/O error so the message names the file. This
    /// is also where two errors are recognised for what they are: a full
    /// disk or quota ([`StoreError::NoSpace`]), and a verified read of
    /// stored contents that found them corrupt ([`StoreError::CorruptContent`],
    /// which travels through `Read` as an `io::Error`).
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> StoreError {
        let path = path.into();
        if let Some(quota) = no_space(&source) {
            return StoreError::NoSpace { path, quota };
        }
        match CorruptContent::from_io(&source) {
            Some(content) => StoreError::CorruptContent { path: Some(path), content: content.clone() },
            None => StoreError::Io { path, source },
        }
    }

    /// An LMDB error of the database in `dir`: as `From`, but a full disk
    /// names the database.
    pub(crate) fn db(dir: &Path, e: lmdb::Error) -> StoreError {
        if let lmdb::Error::Other(code) = e {
            let path = dir.join("data.mdb");
            if let Some(quota) = no_space(&std::io::Error::from_raw_os_error(code)) {
                return StoreError::NoSpace { path, quota };
            }
            // LMDB reports a short write as EIO ("TODO: Use which error
            // code?" in mdb_page_flush), which is what a full disk gives it.
            if code == rustix::io::Errno::IO.raw_os_error() && fs_is_full(dir) {
                return StoreError::NoSpace { path, quota: false };
            }
        }
        e.into()
    }

    /// Say what corrupt contents were being read for (a work-tree file, an
    /// object name), unless that is already said; other errors pass unchanged.
    pub fn reading_for(self, what: impl Into<PathBuf>) -> StoreError {
        match self {
            StoreError::CorruptContent { path: None, content } => {
                StoreError::CorruptContent { path: Some(what.into()), content }
            }
            StoreError::NotFetched { id, path: None, remote, cause } => {
                StoreError::NotFetched { id, path: Some(what.into()), remote, cause }
            }
            other => other,
        }
    }

    /// The corrupt contents this error is about, if it is a verified read
    /// that failed.
    pub fn corrupt_content(&self) -> Option<&CorruptContent> {
        match self {
            StoreError::CorruptContent { content, .. } => Some(content),
            _ => None,
        }
    }
}

/// Whether the filesystem holding `dir` has (next to) no space left for
/// us: less than a megabyte available.
fn fs_is_full(dir: &Path) -> bool {
    rustix::fs::statvfs(dir).is_ok_and(|s| s.f_bavail.saturating_mul(s.f_frsize) < 1 << 20)
}

/// `Some(quota?)` when an I/O error says the disk (or quota) is full.
fn no_space(e: &std::io::Error) -> Option<bool> {
    let code = e.raw_os_error()?;
    if code == rustix::io::Errno::NOSPC.raw_os_error() {
        Some(false)
    } else if code == rustix::io::Errno::DQUOT.raw_os_error() {
        Some(true)
    } else {
        None
    }
}

/// Result alias for the stores.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Where a repository lives: its work tree and its `.oxen` directory.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The work tree root (the directory that holds `.oxen`).
    pub work: PathBuf,
    /// The `.oxen` directory.
    pub dot: PathBuf,
}

impl Layout {
    /// Layout for a work tree root, without checking anything exists.
    pub fn at(work: impl Into<PathBuf>) -> Layout {
        let work = work.into();
        let dot = work.join(DOT_DIR);
        Layout { work, dot }
    }

    /// Walk up from `start` to the nearest directory holding `.oxen`.
    pub fn discover(start: &Path) -> Result<Layout> {
        let start = start.canonicalize().map_err(|e| StoreError::io(start, e))?;
        let mut cur: &Path = &start;
        loop {
            if cur.join(DOT_DIR).join("HEAD").is_file() {
                return Ok(Layout::at(cur));
            }
            match cur.parent() {
                Some(p) => cur = p,
                None => return Err(StoreError::NotARepo(start)),
            }
        }
    }

    /// Open the repository whose work tree root is exactly `work`.
    pub fn open_exact(work: &Path) -> Result<Layout> {
        let work = work.canonicalize().map_err(|e| StoreError::io(work, e))?;
        if work.join(DOT_DIR).join("HEAD").is_file() {
            Ok(Layout::at(work))
        } else {
            Err(StoreError::NotARepo(work))
        }
    }

    /// Create the `.oxen` directory, its stores and config in `work`
    /// (creating the directory), everything but HEAD: the caller writes
    /// HEAD last (`oxen_refs::init`), so a half-made `.oxen` is never
    /// mistaken for a repository.
    pub fn create(work: &Path) -> Result<Layout> {
        std::fs::create_dir_all(work).map_err(|e| StoreError::io(work, e))?;
        let work = work.canonicalize().map_err(|e| StoreError::io(work, e))?;
        let layout = Layout::at(&work);
        if layout.head_file().exists() {
            return Err(StoreError::AlreadyExists(layout.dot.clone()));
        }
        for d in [layout.dot.clone(), layout.db_dir(), layout.versions_dir(), layout.tmp_dir()] {
            std::fs::create_dir_all(&d).map_err(|e| StoreError::io(&d, e))?;
        }
        // Creating the named databases needs a write lock; do it once here so
        // readers can always open them.
        Db::create(&layout)?;
        if !layout.config_file().exists() {
            Config::default().save(&layout.config_file())?;
        }
        Ok(layout)
    }

    /// Whether this is a bare repository (`core.bare` in its own config):
    /// one that is only pushed to and fetched from, whose work tree (if
    /// any) is not used, such as every repository an `oxen-server` serves.
    /// Pushing to the checked-out branch is allowed only into these.
    pub fn is_bare(&self) -> Result<bool> {
        Ok(Config::load(&self.config_file())?.core.bare)
    }

    /// Mark the repository bare (see [`Layout::is_bare`]); its other
    /// settings are kept.
    pub fn set_bare(&self) -> Result<()> {
        let path = self.config_file();
        let mut cfg = Config::load(&path)?;
        if !cfg.core.bare {
            cfg.core.bare = true;
            cfg.save(&path)?;
        }
        Ok(())
    }

    /// `.oxen/HEAD`
    pub fn head_file(&self) -> PathBuf {
        self.dot.join("HEAD")
    }
    /// `.oxen/config.toml`
    pub fn config_file(&self) -> PathBuf {
        self.dot.join("config.toml")
    }
    /// `.oxen/db`
    pub fn db_dir(&self) -> PathBuf {
        self.dot.join("db")
    }
    /// `.oxen/versions`
    pub fn versions_dir(&self) -> PathBuf {
        self.dot.join("versions")
    }
    /// `.oxen/tmp`
    pub fn tmp_dir(&self) -> PathBuf {
        self.dot.join("tmp")
    }
    /// The versions (file contents) store, packing small contents into
    /// segments indexed in `db`. Opening it sweeps `.oxen/tmp` of temp
    /// files whose writers died (killed mid-`add`, say): one readdir of a
    /// directory that is nearly always empty.
    ///
    /// Sealed blocks go where `.oxen/storage` says (see
    /// [`blockstore::configured_storage`]), by default the local segments
    /// directory. A storage file that does not parse, or an S3 client that
    /// cannot be built, makes every block read and write fail with that
    /// error (never a silent fall back to the local disk).
    pub fn versions(&self, db: &Db) -> Versions {
        sweep_tmp(&self.tmp_dir());
        let store = blockstore::open_configured(&self.dot);
        Versions::with_segments(self.versions_dir(), self.tmp_dir(), db.clone(), store)
    }

    /// [`Layout::versions`] with sealed blocks going to `store`, whatever
    /// `.oxen/storage` says (tests inject a failing store this way).
    pub fn versions_in(&self, db: &Db, store: std::sync::Arc<dyn ContentStore>) -> Versions {
        sweep_tmp(&self.tmp_dir());
        Versions::with_segments(self.versions_dir(), self.tmp_dir(), db.clone(), Some(store))
    }
}

/// Write a small file atomically: temp file in `tmp_dir` (made again if
/// it went missing), then rename.
pub fn write_atomic(tmp_dir: &Path, dest: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    faults::write_point();
    let mut tmp = tmp::temp_file(tmp_dir)?;
    tmp.write_all(bytes).map_err(|e| StoreError::io(dest, e))?;
    tmp.as_file().sync_all().map_err(|e| StoreError::io(dest, e))?;
    tmp.persist(dest).map_err(|e| StoreError::io(dest, e.error))?;
    Ok(())
}

/// The file system's clock: the modification time (ns since the epoch) of a
/// file written now in `dir`. Timestamps the index write, so the racy-clean
/// rule compares file mtimes with a time from the same clock, at the same
/// granularity: a file is racy only when it was written in the same clock
/// tick as the index (git takes the index file's own mtime for the same
/// reason).
pub fn fs_clock_now(dir: &Path) -> Result<i64> {
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;
    let p = dir.join("index-stamp");
    let mut f = std::fs::File::create(&p).map_err(|e| StoreError::io(&p, e))?;
    f.write_all(b"stamp\n").map_err(|e| StoreError::io(&p, e))?;
    let m = f.metadata().map_err(|e| StoreError::io(&p, e))?;
    Ok(m.mtime() * 1_000_000_000 + m.mtime_nsec())
}
