//! `pyoxen.Repo` and the plain objects it returns.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use oxen_hash::ContentId;
use oxen_index::{Change, StageOptions};
use oxen_object::mode;
use oxen_path::RepoPath;
use oxen_refs::{BranchName, Head};
use oxen_repo::diff::{DiffDocument, DiffRequest, DiffSide};
use oxen_repo::MergeOutcome;
use pyo3::prelude::*;

use crate::blob::BlobReader;
use crate::{merge_conflict, refused, Error, PyProgress};

/// A path as Python sees it: `str`, with bytes that are not UTF-8 kept by
/// surrogateescape (as `os.fsdecode`), so any name round-trips.
fn py_path(p: &RepoPath) -> OsString {
    OsStr::from_bytes(p.as_bytes()).to_os_string()
}

/// One commit.
#[pyclass(module = "pyoxen._native", get_all, frozen)]
#[derive(Clone)]
pub struct Commit {
    /// Full commit id (32 hex characters).
    id: String,
    /// Parent ids, first parent first.
    parents: Vec<String>,
    /// Author name.
    author: String,
    /// Author email.
    email: String,
    /// Author time, seconds since the Unix epoch.
    time: i64,
    /// Author time zone offset in minutes east of UTC.
    tz_minutes: i32,
    /// The message (normalised, ending with a newline).
    message: String,
}

#[pymethods]
impl Commit {
    fn __repr__(&self) -> String {
        format!("Commit(id={:?}, message={:?})", self.id, self.message.lines().next().unwrap_or(""))
    }
}

/// What `Repo.status()` found.
#[pyclass(module = "pyoxen._native", get_all, frozen)]
pub struct Status {
    /// Paths whose index entry differs from HEAD (added, modified, deleted or renamed).
    staged: Vec<OsString>,
    /// Tracked paths changed in the work tree and not staged.
    modified: Vec<OsString>,
    /// Tracked paths missing from the work tree and not staged.
    deleted: Vec<OsString>,
    /// Files not tracked (every file, not collapsed to directories).
    untracked: Vec<OsString>,
}

#[pymethods]
impl Status {
    /// Nothing staged, modified, deleted or untracked.
    fn is_clean(&self) -> bool {
        self.staged.is_empty() && self.modified.is_empty() && self.deleted.is_empty() && self.untracked.is_empty()
    }

    fn __repr__(&self) -> String {
        format!(
            "Status(staged={:?}, modified={:?}, deleted={:?}, untracked={:?})",
            self.staged, self.modified, self.deleted, self.untracked
        )
    }
}

/// One file of a revision.
#[pyclass(module = "pyoxen._native", get_all, frozen)]
#[derive(Clone)]
pub struct Entry {
    /// Path from the repository root.
    path: OsString,
    /// Size in bytes.
    size: u64,
    /// Content id.
    id: String,
    /// `"file"`, `"executable"` or `"symlink"`.
    kind: &'static str,
}

#[pymethods]
impl Entry {
    fn __repr__(&self) -> String {
        format!("Entry(path={:?}, size={}, kind={:?})", self.path, self.size, self.kind)
    }
}

/// Decoded directories by tree id, so reading many files of a revision
/// (`Repo.read` in a loop, `iter_files`, fsspec) decodes each directory
/// once instead of once per file. Tree nodes are immutable (named by their
/// contents), so entries never go stale; the cache is dropped whole past
/// [`DIR_CACHE_ENTRIES`] entries to bound memory.
#[derive(Default)]
struct DirCache {
    dirs: HashMap<ContentId, Arc<Vec<oxen_object::TreeEntry>>>,
    entries: usize,
}

/// About 100 bytes each: the cache stays under ~50 MB.
const DIR_CACHE_ENTRIES: usize = 500_000;

/// A repository opened from Python.
#[pyclass(module = "pyoxen._native", frozen)]
pub struct Repo {
    inner: Arc<oxen_repo::Repo>,
    dirs: Mutex<DirCache>,
}

impl Repo {
    fn wrap(inner: oxen_repo::Repo) -> Repo {
        Repo { inner: Arc::new(inner), dirs: Mutex::default() }
    }

    fn dir(&self, id: &ContentId) -> crate::Result<Arc<Vec<oxen_object::TreeEntry>>> {
        if let Some(d) = self.dirs.lock().ok().and_then(|c| c.dirs.get(id).cloned()) {
            return Ok(d);
        }
        let d = Arc::new(self.inner.dir_entries(id)?);
        if let Ok(mut c) = self.dirs.lock() {
            if c.entries + d.len() > DIR_CACHE_ENTRIES {
                c.dirs.clear();
                c.entries = 0;
            }
            c.entries += d.len();
            c.dirs.insert(*id, d.clone());
        }
        Ok(d)
    }

    /// The entry at `path` in `tree` (as `oxen_repo::Repo::tree_entry_at`,
    /// through the directory cache; entries are sorted by name bytes).
    fn lookup(&self, tree: &ContentId, path: &RepoPath) -> crate::Result<Option<oxen_object::TreeEntry>> {
        let comps: Vec<&[u8]> = path.components().collect();
        let mut cur = *tree;
        for (i, comp) in comps.iter().enumerate() {
            let d = self.dir(&cur)?;
            let Ok(at) = d.binary_search_by(|e| e.name.as_slice().cmp(comp)) else { return Ok(None) };
            let e = &d[at];
            if i + 1 == comps.len() {
                return Ok(Some(e.clone()));
            }
            if e.kind != oxen_object::EntryKind::Dir {
                return Ok(None);
            }
            cur = e.id;
        }
        Ok(None)
    }

    /// Complete an interrupted checkout first, as every CLI command that
    /// touches the work tree does.
    fn worktree(&self) -> crate::Result<&oxen_repo::Repo> {
        self.inner.resume_transition(&oxen_store::NoProgress)?;
        Ok(&self.inner)
    }

    /// User paths: relative ones are from the repository root.
    fn specs(&self, paths: &[PathBuf]) -> crate::Result<Vec<RepoPath>> {
        let work = &self.inner.layout.work;
        Ok(paths.iter().map(|p| RepoPath::from_user(work, work, p)).collect::<Result<_, _>>()?)
    }

    fn entry_at(&self, path: &Path, rev: &str) -> crate::Result<oxen_object::TreeEntry> {
        let tree = self.inner.resolve_tree(rev)?;
        let shown = path.to_string_lossy().into_owned();
        let no_such = || Error::from(oxen_repo::RepoError::NoSuchPath(rev.to_string(), shown.clone()));
        let rp = RepoPath::new(path.as_os_str().as_bytes()).map_err(|_| no_such())?;
        match self.lookup(&tree, &rp)? {
            Some(e) if e.kind != oxen_object::EntryKind::Dir => Ok(e),
            Some(_) => Err(Error::from(oxen_repo::RepoError::WrongKind(format!("{rev}:{shown}"), "tree", "blob"))),
            None => Err(no_such()),
        }
    }
}

fn commit_of(id: &ContentId, c: &oxen_object::Commit) -> Commit {
    Commit {
        id: id.to_hex(),
        parents: c.parents.iter().map(|p| p.to_hex()).collect(),
        author: c.author.name.clone(),
        email: c.author.email.clone(),
        time: c.author.time,
        tz_minutes: c.author.tz_minutes,
        message: c.message.clone(),
    }
}

fn kind_of(m: u32) -> &'static str {
    if m == mode::SYMLINK {
        "symlink"
    } else if m == mode::EXEC {
        "executable"
    } else {
        "file"
    }
}

/// Create an empty repository in `path` (created if missing).
#[pyfunction]
#[pyo3(signature = (path, branch="main"))]
pub fn init(path: PathBuf, branch: &str) -> PyResult<Repo> {
    let b = BranchName::new(branch).map_err(Error::from)?;
    Ok(Repo::wrap(oxen_repo::Repo::init(&path, &b).map_err(Error::from)?))
}

/// Clone `url` (an oxen-server URL or a repository path) into `path`.
#[pyfunction]
#[pyo3(signature = (url, path, branch=None, progress=None))]
pub fn clone(
    py: Python<'_>,
    url: &str,
    path: PathBuf,
    branch: Option<&str>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Repo> {
    let p = PyProgress::new(progress);
    let r = py.allow_threads(|| oxen_remote::clone(url, Some(&path), branch, &p)).map_err(Error::from)?;
    p.finish()?;
    Ok(Repo::wrap(oxen_repo::Repo::open(&r.dir).map_err(Error::from)?))
}

#[pymethods]
impl Repo {
    /// Open the repository containing `path` (any directory inside it).
    #[new]
    fn new(path: PathBuf) -> PyResult<Repo> {
        let abs = std::path::absolute(&path).map_err(Error::from)?;
        let repo = oxen_repo::Repo::discover(&abs).map_err(Error::from)?;
        // As the CLI: a garbage config is an error now, not halfway through.
        repo.config().map_err(Error::from)?;
        Ok(Repo::wrap(repo))
    }

    /// The work tree's root directory.
    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.layout.work.clone()
    }

    /// Stage files and directories (recursively, honouring .oxenignore);
    /// relative paths are from the repository root. Returns nothing;
    /// `progress(done, total)` is called as files are staged.
    #[pyo3(signature = (*paths, progress=None))]
    fn add(&self, py: Python<'_>, paths: Vec<PathBuf>, progress: Option<Py<PyAny>>) -> PyResult<()> {
        let specs = self.specs(&paths)?;
        if specs.is_empty() {
            return Err(refused("nothing specified, nothing added (try `oxen add .`)".into()).into());
        }
        let p = PyProgress::new(progress);
        py.allow_threads(|| -> crate::Result<()> {
            let repo = self.worktree()?;
            let opts = StageOptions { honor_ignore: true, update_only: false, partial: repo.partial_set()? };
            oxen_index::stage_paths(&repo.worktree, &repo.db, &repo.versions, &specs, opts, &p)?;
            repo.resolve_conflicts(&specs)?;
            Ok(())
        })?;
        p.finish()
    }

    /// Remove tracked files from the index and (unless `cached`) the work
    /// tree; directories are removed recursively. Returns the removed paths.
    #[pyo3(signature = (*paths, cached=false, force=false))]
    fn rm(&self, py: Python<'_>, paths: Vec<PathBuf>, cached: bool, force: bool) -> PyResult<Vec<OsString>> {
        let specs = self.specs(&paths)?;
        let (done, failure) =
            py.allow_threads(|| -> crate::Result<_> { Ok(self.worktree()?.remove(&specs, cached, true, force)?) })?;
        if let Some(e) = failure {
            return Err(Error::from(e).into());
        }
        Ok(done.iter().map(py_path).collect())
    }

    /// Commit what is staged; returns the new commit's id.
    #[pyo3(signature = (message, allow_empty=false))]
    fn commit(&self, py: Python<'_>, message: &str, allow_empty: bool) -> PyResult<String> {
        let out =
            py.allow_threads(|| -> crate::Result<_> { Ok(self.worktree()?.commit_index(message, allow_empty)?) })?;
        Ok(out.id.to_hex())
    }

    /// Staged, modified, deleted and untracked paths.
    fn status(&self, py: Python<'_>) -> PyResult<Status> {
        let st = py.allow_threads(|| -> crate::Result<_> { Ok(self.worktree()?.status()?) })?;
        let mut s = Status { staged: vec![], modified: vec![], deleted: vec![], untracked: vec![] };
        for e in &st.entries {
            if e.staged.is_some() {
                s.staged.push(py_path(&e.path));
            }
            match e.unstaged {
                Some(Change::Deleted) => s.deleted.push(py_path(&e.path)),
                Some(_) => s.modified.push(py_path(&e.path)),
                None => {}
            }
        }
        s.untracked = st.untracked.iter().map(py_path).collect();
        Ok(s)
    }

    /// Commits reachable from `rev`, newest first, at most `n`.
    #[pyo3(signature = (rev="HEAD", n=None))]
    fn log(&self, py: Python<'_>, rev: &str, n: Option<usize>) -> PyResult<Vec<Commit>> {
        py.allow_threads(|| -> crate::Result<_> {
            let start = if rev == "HEAD" {
                self.inner
                    .head_commit()?
                    .ok_or_else(|| refused("your current branch does not have any commits yet".into()))?
            } else {
                self.inner.resolve_commit(rev)?
            };
            let mut out = Vec::new();
            self.inner.walk_log(start, n.unwrap_or(usize::MAX), |id, c| -> crate::Result<()> {
                out.push(commit_of(id, c));
                Ok(())
            })?;
            Ok(out)
        })
        .map_err(PyErr::from)
    }

    /// Create branch `name` at `rev`; returns the commit id it points at.
    #[pyo3(signature = (name, rev="HEAD"))]
    fn branch(&self, name: &str, rev: &str) -> PyResult<String> {
        Ok(self.inner.create_branch(name, Some(rev)).map_err(Error::from)?.1.to_hex())
    }

    /// Local branch names.
    fn branches(&self) -> PyResult<Vec<String>> {
        let bs = self.inner.refs().branches().map_err(Error::from)?;
        Ok(bs.into_iter().map(|(b, _)| b.to_string()).collect())
    }

    /// The current branch, or `None` when HEAD is detached.
    fn current_branch(&self) -> PyResult<Option<String>> {
        Ok(match self.inner.head().map_err(Error::from)? {
            Head::Branch(b) => Some(b.to_string()),
            Head::Detached(_) => None,
        })
    }

    /// Switch to a branch, or detach at any other revision, updating the
    /// work tree (refused when local changes would be lost, unless `force`).
    #[pyo3(signature = (rev, force=false, progress=None))]
    fn checkout(&self, py: Python<'_>, rev: &str, force: bool, progress: Option<Py<PyAny>>) -> PyResult<()> {
        let p = PyProgress::new(progress);
        py.allow_threads(|| -> crate::Result<_> { Ok(self.worktree()?.switch(rev, force, true, &p)?) })?;
        p.finish()
    }

    /// Merge `rev` into the current branch (tables by `keys` when given).
    /// Returns `{"outcome": "up-to-date"|"fast-forward"|"merged", "commit": id|None}`;
    /// conflicts raise `MergeConflictError` and are left to resolve.
    #[pyo3(signature = (rev, keys=None))]
    fn merge(&self, py: Python<'_>, rev: &str, keys: Option<Vec<String>>) -> PyResult<(String, Option<String>)> {
        let keys = keys.unwrap_or_default();
        let outcome = py.allow_threads(|| -> crate::Result<_> {
            let repo = self.worktree()?;
            let theirs = repo.resolve_commit(rev)?;
            Ok(repo.merge_commit_with(&theirs, &format!("'{rev}'"), &keys)?)
        })?;
        outcome_tuple(outcome)
    }

    /// Files of a revision under `prefix` (a directory path; `""` for all).
    #[pyo3(signature = (rev="HEAD", prefix=""))]
    fn ls(&self, py: Python<'_>, rev: &str, prefix: &str) -> PyResult<Vec<Entry>> {
        py.allow_threads(|| -> crate::Result<_> {
            let tree = self.inner.resolve_tree(rev)?;
            let pre = prefix.as_bytes();
            let pre = pre.strip_suffix(b"/").unwrap_or(pre);
            let under = if pre.is_empty() { None } else { Some(RepoPath::new(pre).map_err(Error::from)?) };
            let flat = self.inner.flatten_tree(&tree)?;
            Ok(flat
                .into_iter()
                .filter(|(p, _)| under.as_ref().is_none_or(|u| p.is_under(u)))
                .map(|(p, e)| Entry { path: py_path(&p), size: e.size, id: e.id.to_hex(), kind: kind_of(e.mode) })
                .collect())
        })
        .map_err(PyErr::from)
    }

    /// The whole contents of `path` at `rev`.
    #[pyo3(signature = (path, rev="HEAD"))]
    fn read<'py>(&self, py: Python<'py>, path: PathBuf, rev: &str) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
        let bytes = py.allow_threads(|| -> crate::Result<Vec<u8>> {
            let e = self.entry_at(&path, rev)?;
            let mut b = self.inner.versions.open(&e.id)?;
            let mut out = Vec::with_capacity(e.size as usize);
            std::io::Read::read_to_end(&mut b, &mut out).map_err(|err| b.store_error(err))?;
            Ok(out)
        })?;
        Ok(pyo3::types::PyBytes::new(py, &bytes))
    }

    /// A raw streaming reader over `path` at `rev` (see `pyoxen.Repo.open`).
    #[pyo3(signature = (path, rev="HEAD"))]
    fn open_raw(&self, path: PathBuf, rev: &str) -> PyResult<BlobReader> {
        let e = self.entry_at(&path, rev)?;
        Ok(BlobReader::new(self.inner.clone(), e.id, e.size))
    }

    /// `{"path", "size", "id", "kind"}` of one file at `rev`, or `None`.
    #[pyo3(signature = (path, rev="HEAD"))]
    fn stat(&self, path: PathBuf, rev: &str) -> PyResult<Option<Entry>> {
        let tree = self.inner.resolve_tree(rev).map_err(Error::from)?;
        let Ok(rp) = RepoPath::new(path.as_os_str().as_bytes()) else { return Ok(None) };
        let e = self.lookup(&tree, &rp)?;
        Ok(e.filter(|e| e.kind != oxen_object::EntryKind::Dir).map(|e| Entry {
            path: py_path(&rp),
            size: e.size,
            id: e.id.to_hex(),
            kind: kind_of(e.mode),
        }))
    }

    /// The `oxen diff --json A B` document, as a JSON string.
    #[pyo3(signature = (a, b, keys=None, paths=None))]
    fn diff_json(
        &self,
        py: Python<'_>,
        a: &str,
        b: &str,
        keys: Option<Vec<String>>,
        paths: Option<Vec<PathBuf>>,
    ) -> PyResult<String> {
        let specs = self.specs(&paths.unwrap_or_default())?;
        py.allow_threads(|| -> crate::Result<String> {
            let repo = &self.inner;
            let (t1, t2) = (repo.resolve_tree(a)?, repo.resolve_tree(b)?);
            let req = DiffRequest { keys: keys.unwrap_or_default(), row_limit: None, unified: false };
            let mut doc = DiffDocument::default();
            for c in repo.diff_trees(Some(&t1), Some(&t2))? {
                if !specs.is_empty() && !specs.iter().any(|s| c.path.is_under(s)) {
                    continue;
                }
                let (o, n) = (c.old.map(DiffSide::Stored), c.new.map(DiffSide::Stored));
                doc.files.push(repo.diff_file(&c.path, o.as_ref(), n.as_ref(), &req)?);
            }
            serde_json::to_string(&doc).map_err(|e| Error::from(std::io::Error::other(e)))
        })
        .map_err(PyErr::from)
    }

    /// Add remote `name` at `url` (an oxen-server URL or a repository path).
    fn remote_add(&self, name: &str, url: &str) -> PyResult<()> {
        Ok(oxen_remote::add_remote(&self.inner, name, url).map_err(Error::from)?)
    }

    /// Remote names and URLs.
    fn remotes(&self) -> PyResult<Vec<(String, String)>> {
        let cfg = self.inner.config().map_err(Error::from)?;
        Ok(cfg.remote.iter().map(|(n, r)| (n.clone(), r.url.clone())).collect())
    }

    /// Push `branch` (default: the current one) to `remote`.
    #[pyo3(signature = (remote="origin", branch=None, force=false, progress=None))]
    fn push(
        &self,
        py: Python<'_>,
        remote: &str,
        branch: Option<String>,
        force: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        let branch = match branch {
            Some(b) => b,
            None => self.current_or("push")?,
        };
        let p = PyProgress::new(progress);
        py.allow_threads(|| -> crate::Result<()> {
            let (name, url) = oxen_remote::resolve_remote(&self.inner, remote)?;
            let r = oxen_remote::Remote::open(&url)?;
            oxen_remote::push(&self.inner, &r, name.as_deref(), std::slice::from_ref(&branch), force, &p)?;
            Ok(())
        })?;
        p.finish()
    }

    /// Fetch every branch of `remote` into its remote-tracking refs.
    #[pyo3(signature = (remote="origin", progress=None))]
    fn fetch(&self, py: Python<'_>, remote: &str, progress: Option<Py<PyAny>>) -> PyResult<()> {
        let p = PyProgress::new(progress);
        py.allow_threads(|| -> crate::Result<()> {
            let (name, url) = oxen_remote::resolve_remote(&self.inner, remote)?;
            let r = oxen_remote::Remote::open(&url)?;
            oxen_remote::fetch(&self.inner, &r, name.as_deref(), &oxen_remote::FetchOptions::default(), &p)?;
            Ok(())
        })?;
        p.finish()
    }

    /// Fetch `remote`, then merge its `branch` (default: the current
    /// branch's name) into the current branch. Returns as `merge`.
    #[pyo3(signature = (remote="origin", branch=None, progress=None))]
    fn pull(
        &self,
        py: Python<'_>,
        remote: &str,
        branch: Option<String>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<(String, Option<String>)> {
        let branch = match branch {
            Some(b) => b,
            None => self.current_or("pull into")?,
        };
        let p = PyProgress::new(progress);
        let outcome = py.allow_threads(|| -> crate::Result<_> {
            let repo = self.worktree()?;
            let (name, url) = oxen_remote::resolve_remote(repo, remote)?;
            let Some(rn) = name else {
                return Err(refused("pull needs a remote name (add one with `oxen remote add`)".into()));
            };
            let r = oxen_remote::Remote::open(&url)?;
            oxen_remote::fetch(repo, &r, Some(&rn), &oxen_remote::FetchOptions::default(), &p)?;
            let tracking = oxen_refs::RefName::remote_tracking(&rn, &BranchName::new(branch.as_str())?)?;
            let theirs =
                repo.refs().get(&tracking)?.ok_or_else(|| refused(format!("remote {rn} has no branch {branch}")))?;
            Ok(repo.merge_commit(&theirs, &format!("{rn}/{branch}"))?)
        })?;
        p.finish()?;
        outcome_tuple(outcome)
    }

    fn __repr__(&self) -> String {
        format!("Repo({:?})", self.inner.layout.work)
    }
}

impl Repo {
    fn current_or(&self, what: &str) -> PyResult<String> {
        match self.inner.head().map_err(Error::from)? {
            Head::Branch(b) => Ok(b.to_string()),
            Head::Detached(_) => Err(refused(format!("HEAD is detached; name a branch to {what}")).into()),
        }
    }
}

fn outcome_tuple(outcome: MergeOutcome) -> PyResult<(String, Option<String>)> {
    Ok(match outcome {
        MergeOutcome::UpToDate => ("up-to-date".into(), None),
        MergeOutcome::FastForward(id) => ("fast-forward".into(), Some(id.to_hex())),
        MergeOutcome::Merged(id) => ("merged".into(), Some(id.to_hex())),
        MergeOutcome::Conflicts(c) => return Err(merge_conflict(oxen_repo::conflicts_message(c.len())).into()),
    })
}
