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
    let names = repo_names(sync_dir)?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let layout = Layout::at(sync_dir.join(&name));
        // Swept before the store is opened (which sweeps quietly), so the
        // report counts them.
        let tmp = if dry_run { Swept::default() } else { oxen_store::sweep_tmp(&layout.tmp_dir()) };
        let repo = oxen_repo::Repo::open(&layout.work)?;
        let reflog = oxen_repo::reach::reflog_policy(&repo)?;
        let mut report = oxen_repo::reach::gc(&repo, prune, &reflog, dry_run)?;
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
