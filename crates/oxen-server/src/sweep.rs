//! The start-up sweep: temp files left in the repositories' `.oxen/tmp`
//! by writes that were killed (a server killed mid-push leaves the blob it
//! was receiving, tens of MB). Only files no live process holds are
//! removed (see [`oxen_store::sweep_tmp`]), so a plumbing command writing
//! to a served repository meanwhile is safe.
//!
//! Not swept at start-up: bytes appended to a segment whose location was
//! never recorded (small objects of an interrupted push). They are
//! unreachable and harmless; `oxen-server gc` ([`gc_repos`]) reclaims them.

use std::path::Path;

use oxen_store::{GcReport, Layout, MigrateReport, Swept};

/// Sweep every repository under `sync_dir` (best effort, as each sweep is).
pub fn sweep_repos(sync_dir: &Path) -> Swept {
    let mut all = Swept::default();
    let Ok(entries) = std::fs::read_dir(sync_dir) else { return all };
    for entry in entries.flatten() {
        // A repository whose delete was interrupted (see `LocalRepos`).
        if entry.file_name().to_str().is_some_and(|n| n.starts_with(crate::repos::TOMBSTONE)) {
            let _ = std::fs::remove_dir_all(entry.path());
            continue;
        }
        let layout = Layout::at(entry.path());
        if !layout.head_file().is_file() {
            continue;
        }
        let s = oxen_store::sweep_tmp(&layout.tmp_dir());
        all.files += s.files;
        all.bytes += s.bytes;
    }
    all
}

/// gc of every repository under `sync_dir`, by name in name order (see
/// [`oxen_repo::reach::gc`] and [`oxen_store::GcReport`]): temp files of
/// dead writers, reflog entries past the repository's `gc.reflogExpire*`
/// limits (90 and 30 days by default), contents no ref or reflog entry
/// reaches older than `prune`, then segment bytes no location refers to (the small objects of
/// a push killed before it recorded them). Safe while a server serves
/// them: a push stores its contents before it moves a ref, within the
/// grace period, and segments of live processes are left alone. A
/// repository that fails stops the run.
pub fn gc_repos(sync_dir: &Path, prune: oxen_store::Prune, dry_run: bool) -> crate::Result<Vec<(String, GcReport)>> {
    gc_repos_with(sync_dir, prune, dry_run, oxen_store::gc::REMOTE_GRACE)
}

/// [`gc_repos`] with the grace period of blocks (and multipart uploads)
/// in a remote store given: `oxen-server gc --block-grace`.
pub fn gc_repos_with(
    sync_dir: &Path,
    prune: oxen_store::Prune,
    dry_run: bool,
    block_grace: std::time::Duration,
) -> crate::Result<Vec<(String, GcReport)>> {
    let names = repo_names(sync_dir)?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let layout = Layout::at(sync_dir.join(&name));
        // Swept before the store is opened (which sweeps quietly), so the
        // report counts them.
        let tmp = if dry_run { Swept::default() } else { oxen_store::sweep_tmp(&layout.tmp_dir()) };
        let repo = oxen_repo::Repo::open(&layout.work)?;
        let reflog = oxen_repo::reach::reflog_policy(&repo)?;
        let mut report = oxen_repo::reach::gc_with(&repo, prune, &reflog, dry_run, block_grace)?;
        report.tmp.files += tmp.files;
        report.tmp.bytes += tmp.bytes;
        out.push((name, report));
    }
    Ok(out)
}

/// The repositories under `sync_dir` (directories holding a repository's
/// HEAD), by name in name order.
fn repo_names(sync_dir: &Path) -> crate::Result<Vec<String>> {
    let entries = std::fs::read_dir(sync_dir).map_err(|e| crate::ServerError::Io(sync_dir.to_path_buf(), e))?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| Layout::at(e.path()).head_file().is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    names.sort();
    Ok(names)
}

/// `oxen migrate` of every repository under `sync_dir`, by name in name
/// order, each reported when done through `each` (a long run shows its
/// progress): contents stored the way older releases stored them are
/// rewritten into the current encoding, verified, each old copy removed
/// only after the new one is recorded (see
/// [`oxen_store::Versions::migrate`]). Safe to rerun; a repository that
/// fails stops the run, and the ones before it stay migrated.
pub fn migrate_repos(
    sync_dir: &Path,
    mut each: impl FnMut(&str, &MigrateReport, &GcReport) -> crate::Result<()>,
) -> crate::Result<()> {
    for name in repo_names(sync_dir)? {
        let repo = oxen_repo::Repo::open(&sync_dir.join(&name))?;
        let (m, gc) = repo.versions.migrate()?;
        each(&name, &m, &gc)?;
    }
    Ok(())
}

/// What a gc of the repositories sharing a bucket did.
#[derive(Debug, Default)]
pub struct BucketGc {
    /// Each repository's report, by name in name order.
    pub repos: Vec<(String, GcReport)>,
    /// Blocks of repositories that no longer exist, removed (or, in a dry
    /// run, that would be).
    pub orphan_blocks: u64,
    /// Their bytes.
    pub orphan_bytes: u64,
}

/// `oxen-server gc --db`: gc of every repository in PostgreSQL whose
/// blocks are in S3, safe while replicas on any host serve them (see
/// docs/ARCHITECTURE.md, "gc on PostgreSQL and S3"). Holds the database's
/// gc lock for the run (a second gc is refused); marks each repository from
/// its refs and reflog, sweeps unreachable contents older than `prune`,
/// compacts remote blocks older than `block_grace` that no writer holds a
/// lease on, then removes the blocks under `storage` of repositories that
/// no longer exist. `sync_dir` holds this process's scratch.
pub fn gc_pg(
    pg: &oxen_store::pg::Pg,
    sync_dir: &Path,
    storage: &oxen_store::S3Url,
    prune: oxen_store::Prune,
    dry_run: bool,
    block_grace: std::time::Duration,
) -> crate::Result<BucketGc> {
    use crate::repos::RepoStore;
    let _lock = pg.try_gc_lock()?.ok_or_else(|| {
        crate::ServerError::Other(format!("another oxen-server gc is running on {}; try again later", pg.url()))
    })?;
    // Listed before the repositories are read: a repository's row is
    // written before any of its blocks, so a listed block whose repository
    // is not found afterwards belongs to one that was deleted.
    let root = bucket(storage)?;
    let listed = root.list_repo_blocks().map_err(|e| crate::ServerError::Other(format!("storage {storage}: {e}")))?;
    let repos = crate::repos::PgRepos::new(pg.clone(), sync_dir, storage.clone());
    let mut out = BucketGc::default();
    let mut live = std::collections::HashSet::new();
    for name in repos.list()? {
        let repo = match repos.open(&name) {
            Ok(r) => r,
            // Deleted since the list: its blocks are an orphan's.
            Err(crate::ServerError::NotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        if let Some(url) = repo.db.get(oxen_store::Table::Meta, crate::repos::STORAGE_KEY)? {
            live.insert(String::from_utf8_lossy(&url).into_owned());
        }
        let reflog = oxen_repo::reach::reflog_policy(&repo)?;
        let report = oxen_repo::reach::gc_with(&repo, prune, &reflog, dry_run, block_grace)?;
        out.repos.push((name, report));
    }
    (out.orphan_blocks, out.orphan_bytes) = sweep_orphans(storage, &listed, &live, dry_run)?;
    Ok(out)
}

fn bucket(storage: &oxen_store::S3Url) -> crate::Result<oxen_store::S3Store> {
    oxen_store::S3Store::from_env(storage).map_err(|e| crate::ServerError::Other(format!("storage {storage}: {e}")))
}

/// Remove the listed blocks under `storage` whose repository prefix
/// (`storage/<repo>`) is not in `live` (the storage URLs of the
/// repositories that exist); (blocks, bytes).
fn sweep_orphans(
    storage: &oxen_store::S3Url,
    listed: &[oxen_store::blockstore::RepoBlock],
    live: &std::collections::HashSet<String>,
    dry_run: bool,
) -> crate::Result<(u64, u64)> {
    use oxen_store::ContentStore;
    let (mut n, mut bytes) = (0, 0);
    let mut stores: std::collections::HashMap<&str, oxen_store::S3Store> = Default::default();
    for b in listed {
        let url = storage.join(&b.repo);
        if live.contains(&url.to_string()) {
            continue;
        }
        if !dry_run {
            if !stores.contains_key(b.repo.as_str()) {
                stores.insert(&b.repo, bucket(&url)?);
            }
            oxen_store::faults::write_point();
            stores[b.repo.as_str()]
                .delete(&b.block)
                .map_err(|e| crate::ServerError::Other(format!("storage {url}: {e}")))?;
        }
        n += 1;
        bytes += b.size;
    }
    Ok((n, bytes))
}

/// `oxen-server gc --storage` without `--db`: the blocks under `storage`
/// of repositories no longer under `sync_dir` (a delete interrupted
/// before it removed them); (blocks, bytes). Run after [`gc_repos`].
pub fn gc_orphans_local(sync_dir: &Path, storage: &oxen_store::S3Url, dry_run: bool) -> crate::Result<(u64, u64)> {
    // Listed first: a repository's directory (and its storage file) exist
    // before any block of it.
    let listed = bucket(storage)?
        .list_repo_blocks()
        .map_err(|e| crate::ServerError::Other(format!("storage {storage}: {e}")))?;
    let mut live = std::collections::HashSet::new();
    for name in repo_names(sync_dir)? {
        if let Some(url) = oxen_store::blockstore::configured_storage(&Layout::at(sync_dir.join(&name)).dot)? {
            live.insert(url.to_string());
        }
    }
    sweep_orphans(storage, &listed, &live, dry_run)
}
