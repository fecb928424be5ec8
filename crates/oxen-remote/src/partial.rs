//! Partial clones on the client: fetching contents by id from the
//! promisor remote (lazily, when a read finds one missing, or in a batch
//! when the set of paths widens).

use std::path::PathBuf;
use std::sync::Arc;

use oxen_hash::ContentId;
use oxen_pack::ReceiveStats;
use oxen_path::RepoPath;
use oxen_repo::Repo;
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

/// Fetch the contents `files` need from the promisor remote `name` in one
/// round (`remote`: the connection, opened on the first round that finds
/// a content missing and kept for the next); a failure names the first
/// path whose content could not come.
pub fn prefetch(
    repo: &Repo,
    name: &str,
    remote: &mut Option<Remote>,
    files: &[(RepoPath, ContentId)],
    progress: &dyn Progress,
) -> Result<ReceiveStats> {
    let ids: Vec<ContentId> = files.iter().map(|(_, id)| *id).collect();
    let missing = repo.versions.missing(&ids)?;
    if missing.is_empty() {
        return Ok(ReceiveStats::default());
    }
    let mut go = || -> Result<ReceiveStats> {
        let r = match remote {
            Some(r) => r,
            None => {
                let (_, url) = crate::resolve_remote(repo, name)?;
                remote.insert(Remote::open(&url)?)
            }
        };
        fetch_contents(repo, r, &missing, progress)
    };
    go().map_err(|e| {
        let path = files.iter().find(|(_, id)| *id == missing[0]).map(|(p, _)| p.to_string());
        let err = oxen_store::StoreError::NotFetched {
            id: missing[0],
            path: None,
            remote: name.to_string(),
            cause: e.to_string(),
        };
        RemoteError::Store(match path {
            Some(p) => err.reading_for(p),
            None => err,
        })
    })
}

/// Widen a partial clone to `paths` too (`oxen fetch -- <path>`): fetch
/// the contents HEAD has under them, a batch per round, record the wider
/// set, and write those files into the work tree (a file already there is
/// left as it is); see [`Repo::widen_partial`].
pub fn widen(repo: &Repo, paths: &[RepoPath], progress: &dyn Progress) -> Result<WidenReport> {
    let Some(name) = repo.promisor_remote()? else {
        return Err(RemoteError::Other("not a partial clone: every path is here already".into()));
    };
    let mut remote = None;
    let mut stats = ReceiveStats::default();
    let report = repo.widen_partial(paths, |batch: &[(RepoPath, ContentId)]| -> Result<()> {
        let s = prefetch(repo, &name, &mut remote, batch, progress)?;
        stats.objects += s.objects;
        stats.stored += s.stored;
        stats.bytes += s.bytes;
        stats.chunks += s.chunks;
        Ok(())
    })?;
    Ok(WidenReport { written: report.written, stats })
}
