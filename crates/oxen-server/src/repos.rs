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
        self.cache()?.remove(name);
        std::fs::remove_dir_all(&dir).map_err(|e| ServerError::Io(dir, e))
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
