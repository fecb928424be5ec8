//! Where the served repositories live, behind one interface.
//!
//! The handlers ask a [`RepoStore`] for repositories by name and never
//! touch the file system themselves: today [`LocalRepos`] keeps them under
//! `SYNC_DIR`, one directory per repository with the usual `.oxen` layout;
//! a later store can keep metadata in a database and contents in object
//! storage and let several stateless server replicas share them. Nothing
//! here holds state another replica would need: creation is made atomic by
//! the file system (`mkdir`), not by a lock in this process, and the open
//! repositories are only a cache.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use oxen_pack::wire::valid_repo_name;
use oxen_repo::Repo;

use crate::{Result, ServerError};

/// The repositories a server serves.
pub trait RepoStore: Send + Sync {
    /// Names of every repository, sorted.
    fn list(&self) -> Result<Vec<String>>;
    /// Create an empty repository (`Exists` if the name is taken).
    fn create(&self, name: &str) -> Result<()>;
    /// Delete a repository and everything in it.
    fn delete(&self, name: &str) -> Result<()>;
    /// Open a repository for reading and writing objects and refs.
    fn open(&self, name: &str) -> Result<Arc<Repo>>;
    /// Where a repository's data lives, for messages (a full disk names it).
    fn location(&self, name: &str) -> Option<PathBuf>;
    /// Whether the stores answer: the metadata (readable and writable) and
    /// the content storage; the error says which failed and why.
    fn check(&self) -> Result<()>;
}

/// Repositories in directories under one root (`SYNC_DIR`).
pub struct LocalRepos {
    root: PathBuf,
    // LMDB allows one open environment per process, so each repository is
    // opened once and shared by every request; a cache, nothing more.
    open: Mutex<HashMap<String, Arc<Repo>>>,
    /// The bucket and prefix the repositories' blocks go to, if not local.
    storage: Option<oxen_store::S3Url>,
}

impl LocalRepos {
    /// Serve the repositories under `root`.
    pub fn new(root: &Path) -> LocalRepos {
        LocalRepos { root: root.to_path_buf(), open: Mutex::new(HashMap::new()), storage: None }
    }

    /// Keep the blocks of the repositories served (created or opened from
    /// now on) under `PREFIX/<repo>` in `storage`'s bucket. A repository
    /// with local blocks keeps reading them; its new blocks go to the bucket.
    pub fn with_storage(mut self, storage: Option<oxen_store::S3Url>) -> LocalRepos {
        self.storage = storage;
        self
    }

    /// Record in the repository's `.oxen/storage` where its blocks go,
    /// before anything opens its versions store.
    fn mark_storage(&self, name: &str, dir: &Path) -> Result<()> {
        let Some(url) = &self.storage else { return Ok(()) };
        let layout = oxen_store::Layout::at(dir);
        let want = url.join(name);
        if oxen_store::blockstore::configured_storage(&layout.dot)?.as_ref() != Some(&want) {
            oxen_store::blockstore::set_storage(&layout.dot, &layout.tmp_dir(), &want)?;
        }
        Ok(())
    }

    fn dir(&self, name: &str) -> Result<PathBuf> {
        if !valid_repo_name(name) {
            return Err(ServerError::BadName(name.to_string()));
        }
        Ok(self.root.join(name))
    }

    fn cache(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Arc<Repo>>>> {
        self.open.lock().map_err(|_| ServerError::Other("repository cache lock poisoned".into()))
    }
}

/// Prefix of a deleted repository's directory on its way out (see
/// [`LocalRepos`]'s delete); not a valid repository name.
pub const TOMBSTONE: &str = ".deleted-";

/// The block store at `url` and the names of the blocks in it.
fn list_blocks(url: &oxen_store::S3Url) -> Result<(oxen_store::S3Store, Vec<String>)> {
    use oxen_store::ContentStore;
    let store = oxen_store::S3Store::from_env(url).map_err(|e| ServerError::Other(format!("storage {url}: {e}")))?;
    let blocks = store.list().map_err(|e| ServerError::Other(format!("storage {url}: {e}")))?;
    Ok((store, blocks.into_iter().map(|(n, _)| n).collect()))
}

/// Delete the blocks of a repository that is already gone. Best effort:
/// what fails to go is garbage of a repository that no longer exists,
/// which `oxen-server gc --storage` reclaims; the delete itself succeeded.
fn delete_blocks(name: &str, store: &oxen_store::S3Store, blocks: &[String]) {
    use oxen_store::ContentStore;
    for b in blocks {
        oxen_store::faults::write_point();
        if let Err(e) = store.delete(b) {
            tracing::warn!(repo = %name, block = %b, error = %e, "block of a deleted repository left for gc");
            return;
        }
    }
}

/// Whether `dir` holds a complete repository (HEAD is written last).
fn is_repo(dir: &Path) -> bool {
    dir.join(".oxen").join("HEAD").is_file()
}

impl RepoStore for LocalRepos {
    fn list(&self) -> Result<Vec<String>> {
        let rd = std::fs::read_dir(&self.root).map_err(|e| ServerError::Io(self.root.clone(), e))?;
        let mut names: Vec<String> = rd
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| valid_repo_name(n) && is_repo(&self.root.join(n)))
            .collect();
        names.sort();
        Ok(names)
    }

    fn create(&self, name: &str) -> Result<()> {
        let dir = self.dir(name)?;
        // mkdir either creates or fails: two creators (threads, processes
        // or replicas on a shared disk) cannot both win.
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(ServerError::Exists(name.into())),
            Err(e) => return Err(ServerError::Io(dir, e)),
        }
        let main = oxen_refs::BranchName::new("main")?;
        // Bare: pushes move its branches, and nobody works in it.
        if let Err(e) = oxen_refs::init_bare(&dir, &main) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e.into());
        }
        self.mark_storage(name, &dir)
    }

    fn delete(&self, name: &str) -> Result<()> {
        let dir = self.dir(name)?;
        if !is_repo(&dir) {
            return Err(ServerError::NotFound(name.into()));
        }
        // Its blocks in a bucket, listed while the directory still takes
        // the name: no new repository of that name wrote any of them.
        let layout = oxen_store::Layout::at(&dir);
        let remote = match oxen_store::blockstore::configured_storage(&layout.dot)? {
            Some(url) => Some(list_blocks(&url)?),
            None => None,
        };
        self.cache()?.remove(name);
        // Invisible in one step (a rename), then removed: a crash mid-way
        // leaves a tombstone no listing shows (its name is not a valid
        // repository name), removed at the next start, never a half-removed
        // repository.
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let tomb = self.root.join(format!("{TOMBSTONE}{name}-{nanos:x}"));
        oxen_store::faults::write_point();
        std::fs::rename(&dir, &tomb).map_err(|e| ServerError::Io(dir.clone(), e))?;
        oxen_store::faults::write_point();
        std::fs::remove_dir_all(&tomb).map_err(|e| ServerError::Io(tomb, e))?;
        if let Some((store, blocks)) = remote {
            delete_blocks(name, &store, &blocks);
        }
        Ok(())
    }

    fn open(&self, name: &str) -> Result<Arc<Repo>> {
        let dir = self.dir(name)?;
        let mut cache = self.cache()?;
        if let Some(r) = cache.get(name) {
            if is_repo(&dir) {
                return Ok(Arc::clone(r));
            }
            cache.remove(name);
        }
        if !is_repo(&dir) {
            return Err(ServerError::NotFound(name.into()));
        }
        self.mark_storage(name, &dir)?;
        let repo = Arc::new(Repo::open(&dir)?);
        // Every repository the server serves is bare (pushes may move its
        // checked-out branch); those created before `core.bare` existed
        // are marked on first use.
        if !repo.layout.is_bare()? {
            repo.layout.set_bare()?;
        }
        cache.insert(name.to_string(), Arc::clone(&repo));
        Ok(repo)
    }

    fn location(&self, name: &str) -> Option<PathBuf> {
        self.dir(name).ok()
    }

    fn check(&self) -> Result<()> {
        let fail = |what: &str, e: std::io::Error| {
            ServerError::Other(format!("metadata: SYNC_DIR {} {what}: {e}", self.root.display()))
        };
        std::fs::read_dir(&self.root).map_err(|e| fail("is not readable", e))?;
        // A file written and removed where the server keeps its own state
        // (a full or read-only disk fails here, not in a push).
        let dir = self.root.join(".oxen-server");
        std::fs::create_dir_all(&dir).map_err(|e| fail("is not writable", e))?;
        static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let probe = dir.join(format!(".health.{}.{n}", std::process::id()));
        std::fs::write(&probe, b"ok").map_err(|e| fail("is not writable", e))?;
        std::fs::remove_file(&probe).map_err(|e| fail("is not writable", e))?;
        if let Some(url) = &self.storage {
            crate::check_storage(url)?;
        }
        Ok(())
    }
}

/// The meta-table key under which a PostgreSQL repository records where
/// its blocks live (the S3 URL it was created with): every replica reads
/// it from there, whatever its own `--storage` says.
pub(crate) const STORAGE_KEY: &[u8] = b"storage";

/// Repositories whose metadata (refs, commits, trees, reflog, block index,
/// HEAD, where the blocks are) is in PostgreSQL and whose contents are in
/// an S3 bucket, so that any number of server replicas serve the same
/// repositories. A replica's `SYNC_DIR/<name>/.oxen` holds only scratch
/// (temp files, the block being written before its upload, a HEAD and
/// config written from the database on open), rebuilt when missing.
pub struct PgRepos {
    pg: oxen_store::pg::Pg,
    root: PathBuf,
    storage: oxen_store::S3Url,
    /// Open repositories by name with their database id: only a cache (an
    /// entry is used only while the database still has that id under
    /// that name).
    open: Mutex<OpenRepos>,
}

/// Open repositories by name, with the database id each was opened under.
type OpenRepos = HashMap<String, (i64, Arc<Repo>)>;

impl PgRepos {
    /// Serve the repositories in `pg`, blocks of new ones under
    /// `storage`'s `PREFIX/<repo>`, scratch under `root`.
    pub fn new(pg: oxen_store::pg::Pg, root: &Path, storage: oxen_store::S3Url) -> PgRepos {
        PgRepos { pg, root: root.to_path_buf(), storage, open: Mutex::new(HashMap::new()) }
    }

    fn dir(&self, name: &str) -> Result<PathBuf> {
        if !valid_repo_name(name) {
            return Err(ServerError::BadName(name.to_string()));
        }
        Ok(self.root.join(name))
    }

    fn cache(&self) -> Result<std::sync::MutexGuard<'_, OpenRepos>> {
        self.open.lock().map_err(|_| ServerError::Other("repository cache lock poisoned".into()))
    }

    /// Lay out the local scratch `.oxen` of a repository from what the
    /// database says (HEAD, bare), and open it on the database.
    fn materialize(&self, row: &oxen_store::pg::PgRepo) -> Result<Repo> {
        let dir = self.dir(&row.name)?;
        let layout = oxen_store::Layout::at(&dir);
        for d in [layout.dot.clone(), layout.versions_dir(), layout.tmp_dir()] {
            std::fs::create_dir_all(&d).map_err(|e| ServerError::Io(d.clone(), e))?;
        }
        let cfg = oxen_store::Config {
            core: oxen_store::CoreConfig { bare: true, ..Default::default() },
            ..Default::default()
        };
        cfg.save(&layout.config_file())?;
        oxen_store::write_atomic(&layout.tmp_dir(), &layout.head_file(), format!("{}\n", row.head).as_bytes())?;
        // The unsealed block of a writer killed here (a replica killed
        // mid-push): nothing names it, and it is on this disk only.
        let swept = oxen_store::sweep_scratch_blocks(&layout.versions_dir().join("segments"));
        if swept.files > 0 {
            tracing::info!(repo = %row.name, files = swept.files, bytes = swept.bytes, "removed blocks of interrupted writes");
        }
        let layout = oxen_store::Layout::open_exact(&dir)?;
        let db = oxen_store::Db::open_pg(&layout, &self.pg, row.id)?;
        let url = match db.get(oxen_store::Table::Meta, STORAGE_KEY)? {
            Some(v) => String::from_utf8(v).ok().and_then(|s| oxen_store::S3Url::parse(&s)),
            None => None,
        }
        .ok_or_else(|| ServerError::Other(format!("repository '{}' records no valid storage URL", row.name)))?;
        let store =
            oxen_store::S3Store::from_env(&url).map_err(|e| ServerError::Other(format!("storage {url}: {e}")))?;
        Ok(Repo::with_db(layout, db, Arc::new(store))?)
    }
}

impl RepoStore for PgRepos {
    fn list(&self) -> Result<Vec<String>> {
        Ok(self.pg.repo_names()?.into_iter().filter(|n| valid_repo_name(n)).collect())
    }

    fn create(&self, name: &str) -> Result<()> {
        self.dir(name)?;
        let main = oxen_refs::BranchName::new("main")?;
        let head = format!("ref: {}", main.to_ref());
        let storage = self.storage.join(name).to_string();
        let format = oxen_store::format::FORMAT.to_string();
        // The row and its format and storage entries in one transaction;
        // the unique name decides between creators on any replica.
        let rows: [(oxen_store::Table, &[u8], &[u8]); 2] = [
            (oxen_store::Table::Meta, oxen_store::format::FORMAT_KEY, format.as_bytes()),
            (oxen_store::Table::Meta, STORAGE_KEY, storage.as_bytes()),
        ];
        match self.pg.create_repo_with(name, &head, &rows)? {
            Some(_) => Ok(()),
            None => Err(ServerError::Exists(name.into())),
        }
    }

    fn delete(&self, name: &str) -> Result<()> {
        let dir = self.dir(name)?;
        let Some(row) = self.pg.repo(name)? else {
            return Err(ServerError::NotFound(name.into()));
        };
        // Its blocks, listed while its row still takes the name: no new
        // repository of that name can have written any of them.
        let url = self.pg.repo_meta(row.id, STORAGE_KEY)?;
        let url = url.and_then(|v| String::from_utf8(v).ok()).and_then(|s| oxen_store::S3Url::parse(&s));
        let remote = match &url {
            Some(url) => Some(list_blocks(url)?),
            None => None,
        };
        // Invisible to every replica at once (rows go with it); then the
        // blocks. A crash in between leaves blocks of a repository that is
        // gone, which `oxen-server gc` reclaims.
        oxen_store::faults::write_point();
        if !self.pg.delete_repo_id(row.id)? {
            return Err(ServerError::NotFound(name.into()));
        }
        if let Some((store, blocks)) = remote {
            delete_blocks(name, &store, &blocks);
        }
        self.cache()?.remove(name);
        // Scratch only; what another process of this replica still has
        // open there is unlinked, not lost to it.
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    fn open(&self, name: &str) -> Result<Arc<Repo>> {
        self.dir(name)?;
        // One lookup per request: a repository deleted (or deleted and
        // made again) through another replica is not served from the cache.
        let Some(row) = self.pg.repo(name)? else {
            self.cache()?.remove(name);
            return Err(ServerError::NotFound(name.into()));
        };
        let mut cache = self.cache()?;
        if let Some((id, r)) = cache.get(name) {
            if *id == row.id {
                return Ok(Arc::clone(r));
            }
        }
        let repo = Arc::new(self.materialize(&row)?);
        cache.insert(name.to_string(), (row.id, Arc::clone(&repo)));
        Ok(repo)
    }

    fn location(&self, name: &str) -> Option<PathBuf> {
        self.dir(name).ok()
    }

    fn check(&self) -> Result<()> {
        self.pg.check().map_err(|e| ServerError::Other(format!("metadata: {e}")))?;
        crate::check_storage(&self.storage)
    }
}
