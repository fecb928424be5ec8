//! Partial clones on the client: fetching contents by id from the
//! promisor remote (lazily, when a read finds one missing, or in a batch
//! when the set of paths widens).

use std::path::PathBuf;
use std::sync::Arc;

use oxen_hash::ContentId;
use oxen_pack::ReceiveStats;
use oxen_path::{PathSet, RepoPath};
use oxen_repo::{FlatEntry, Repo};
use oxen_store::{NoProgress, ObjectKind, Progress, Promisor};

use crate::{Remote, RemoteError, Result};

/// Receive the file contents `ids` (those not here) from `remote`, at
/// chunk level: what a lazy read and a widening fetch run.
pub fn fetch_contents(
    repo: &Repo,
    remote: &Remote,
    ids: &[ContentId],
    progress: &dyn Progress,
) -> Result<ReceiveStats> {
    let missing = repo.versions.missing(ids)?;
    if missing.is_empty() {
        return Ok(ReceiveStats::default());
    }
    let lacking: Vec<(ObjectKind, ContentId)> = missing.into_iter().map(|id| (ObjectKind::Blob, id)).collect();
    let (items, _) = crate::ops::plan_fetch(repo, remote, &lacking)?;
    remote.fetch_items(repo, items, progress)
}

/// The promisor of a partial clone: a read of a content that is not here
/// opens the remote and fetches it (through a handle of its own on the
/// repository, which has no promisor, so a fetch never recurses).
pub struct RemotePromisor {
    work: PathBuf,
    remote: String,
}

impl Promisor for RemotePromisor {
    fn fetch(&self, ids: &[ContentId]) -> std::result::Result<(), String> {
        let go = || -> Result<()> {
            let repo = Repo::open(&self.work)?;
            let (_, url) = crate::resolve_remote(&repo, &self.remote)?;
            let remote = Remote::open(&url)?;
            fetch_contents(&repo, &remote, ids, &NoProgress)?;
            Ok(())
        };
        go().map_err(|e| e.to_string())
    }

    fn remote(&self) -> String {
        self.remote.clone()
    }
}

/// Make reads of `repo` that find a content missing fetch it from the
/// promisor remote, when `repo` is a partial clone (else nothing).
pub fn install_promisor(repo: &Repo) -> Result<()> {
    if let Some(remote) = repo.promisor_remote()? {
        repo.versions.set_promisor(Arc::new(RemotePromisor { work: repo.layout.work.clone(), remote }));
    }
    Ok(())
}

/// What widening did.
#[derive(Clone, Debug, Default)]
pub struct WidenReport {
    /// Files written into the work tree.
    pub written: usize,
    /// Contents received.
    pub stats: ReceiveStats,
}

/// Fetch the contents `entries` need from the promisor remote in one
/// round; a failure names the first path whose content could not come.
pub fn prefetch(repo: &Repo, entries: &[(&RepoPath, &FlatEntry)], progress: &dyn Progress) -> Result<ReceiveStats> {
    let Some(name) = repo.promisor_remote()? else { return Ok(ReceiveStats::default()) };
    let ids: Vec<ContentId> = entries.iter().map(|(_, e)| e.id).collect();
    let missing = repo.versions.missing(&ids)?;
    if missing.is_empty() {
        return Ok(ReceiveStats::default());
    }
    let go = || -> Result<ReceiveStats> {
        let (_, url) = crate::resolve_remote(repo, &name)?;
        let remote = Remote::open(&url)?;
        fetch_contents(repo, &remote, &missing, progress)
    };
    go().map_err(|e| {
        let path = entries.iter().find(|(_, en)| en.id == missing[0]).map(|(p, _)| p.to_string());
        let err = oxen_store::StoreError::NotFetched {
            id: missing[0],
            path: None,
            remote: name.clone(),
            cause: e.to_string(),
        };
        RemoteError::Store(match path {
            Some(p) => err.reading_for(p),
            None => err,
        })
    })
}

/// Widen a partial clone to `paths` too (`oxen fetch -- <path>`): fetch
/// the contents HEAD has under them in one round, record the wider set,
/// and write those files into the work tree (a file already there is
/// left as it is).
pub fn widen(repo: &Repo, paths: &[RepoPath], progress: &dyn Progress) -> Result<WidenReport> {
    let set = repo
        .partial_set()?
        .ok_or_else(|| RemoteError::Other("not a partial clone: every path is here already".into()))?;
    let remote = repo.promisor_remote()?.unwrap_or_else(|| "origin".into());
    let head = repo.flatten_commit(repo.head_commit()?.as_ref())?;
    let wanted: Vec<(&RepoPath, &FlatEntry)> =
        head.iter().filter(|(p, _)| paths.iter().any(|s| p.is_under(s)) && !set.contains(p)).collect();
    let stats = prefetch(repo, &wanted, progress)?;
    let wider: PathSet = set.widened(paths.iter().cloned());
    repo.set_partial(&remote, &wider)?;
    let mut files = std::collections::BTreeMap::new();
    for (p, e) in wanted {
        if repo.worktree.lstat(p).map_err(oxen_repo::RepoError::from)?.is_none() {
            files.insert(p.clone(), e.clone());
        }
    }
    let report = repo.apply_to_worktree(&files, &[], &NoProgress)?;
    Ok(WidenReport { written: report.written, stats })
}
