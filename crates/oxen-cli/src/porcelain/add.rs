//! `oxen add`, `oxen rm`, `oxen mv`

use std::sync::Arc;

use oxen_index::{repo_path, stage_paths, StageOptions};

use crate::progress::Progress;
use crate::{fail, CliResult};

/// Stage files: hash new and changed files into the versions store and
/// record them in the index. Directories are added recursively (honoring
/// .oxenignore), and files deleted under an added directory are staged as
/// deletions. Unchanged files are recognised by their stat and not read.
#[derive(clap::Args, Debug)]
pub struct AddArgs {
    /// Stage all changes in the whole work tree.
    #[arg(short = 'A', long)]
    pub all: bool,
    /// Only update files already tracked.
    #[arg(short = 'u', long)]
    pub update: bool,
    /// Paths (files or directories) to add; `.` is the current directory.
    pub paths: Vec<String>,
}

/// Stage paths in-process, with a progress bar on a terminal.
pub(crate) fn stage(repo: &oxen_repo::Repo, paths: &[String], update_only: bool) -> CliResult<oxen_index::StageReport> {
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let total = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let _bar = Progress::start("Adding", done.clone(), total.clone());
    let opts = StageOptions { honor_ignore: true, update_only, progress: Some(done), total: Some(total) };
    Ok(stage_paths(&repo.layout.work, &repo.db, &repo.versions, paths, opts)?)
}

pub fn add(a: AddArgs) -> CliResult {
    let repo = super::open()?;
    let cwd = crate::cwd()?;
    let mut paths = Vec::new();
    if a.all || (a.update && a.paths.is_empty()) {
        paths.push(String::new());
    }
    for p in &a.paths {
        paths.push(repo_path(&repo.layout.work, &cwd, p)?);
    }
    if paths.is_empty() {
        return Err(fail("nothing specified, nothing added (try `oxen add .`)"));
    }
    stage(&repo, &paths, a.update)?;
    resolve_conflicts(&repo, &paths)?;
    Ok(())
}

/// Adding a conflicted path marks it resolved.
fn resolve_conflicts(repo: &oxen_repo::Repo, paths: &[String]) -> CliResult {
    if let Some(mut st) = repo.merge_state()? {
        let before = st.conflicts.len();
        st.conflicts.retain(|c| !paths.iter().any(|p| oxen_index::path_is_under(c, p)));
        if st.conflicts.len() != before {
            repo.set_merge_state(Some(&st))?;
        }
    }
    Ok(())
}

/// Remove files from the index and (without --cached) the work tree.
#[derive(clap::Args, Debug)]
pub struct RmArgs {
    /// Only remove from the index; keep the files.
    #[arg(long)]
    pub cached: bool,
    /// Allow recursive removal of directories.
    #[arg(short = 'r')]
    pub recursive: bool,
    /// Remove even if the files have local changes.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Paths to remove.
    #[arg(required = true)]
    pub paths: Vec<String>,
}

pub fn rm(a: RmArgs) -> CliResult {
    let repo = super::open()?;
    let cwd = crate::cwd()?;
    let paths: Vec<String> = a.paths.iter().map(|p| repo_path(&repo.layout.work, &cwd, p)).collect::<Result<_, _>>()?;
    // Check first, so a refusal changes nothing.
    let index = repo.index()?;
    if !a.cached && !a.force {
        let head = repo.flatten_commit(repo.head_commit()?.as_ref())?;
        for (p, e) in &index.entries {
            if !paths.iter().any(|q| oxen_index::path_is_under(p, q)) {
                continue;
            }
            let staged_differs = head.get(p).is_none_or(|h| h.id != e.id);
            let abs = repo.layout.work.join(p);
            let modified = match std::fs::symlink_metadata(&abs) {
                Ok(m) => {
                    let st = oxen_index::FileStat::from_metadata(&m);
                    !index.is_clean(e, &st)
                        && oxen_index::hash_file(&repo.versions, &repo.layout.work, p, &st, false)?.id != e.id
                }
                Err(_) => false,
            };
            if staged_differs || modified {
                return Err(fail(format!(
                    "'{p}' has local changes; use --cached to keep the file, or -f to force removal"
                )));
            }
        }
    }
    let removed = oxen_index::remove_paths(&repo.db, &paths, a.recursive)?;
    for p in &removed {
        if !a.cached {
            oxen_repo::remove_work_file(&repo.layout.work, p)?;
        }
        println!("rm '{p}'");
    }
    Ok(())
}

/// Move or rename a tracked file or directory, in the work tree and index.
#[derive(clap::Args, Debug)]
pub struct MvArgs {
    /// Source path.
    pub source: String,
    /// Destination path (an existing directory receives the source inside it).
    pub dest: String,
}

pub fn mv(a: MvArgs) -> CliResult {
    let repo = super::open()?;
    let cwd = crate::cwd()?;
    let work = repo.layout.work.clone();
    let src = repo_path(&work, &cwd, &a.source)?;
    let mut dst = repo_path(&work, &cwd, &a.dest)?;
    if src.is_empty() {
        return Err(fail("cannot move the repository root"));
    }
    if work.join(&dst).is_dir() {
        let name = src.rsplit('/').next().unwrap_or(&src);
        dst = if dst.is_empty() { name.to_string() } else { format!("{dst}/{name}") };
    }
    if std::fs::symlink_metadata(work.join(&dst)).is_ok() {
        return Err(fail(format!("destination '{dst}' exists")));
    }
    let index = repo.index()?;
    let moved: Vec<(String, String)> = index
        .entries
        .keys()
        .filter(|p| oxen_index::path_is_under(p, &src))
        .map(|p| (p.clone(), format!("{dst}{}", &p[src.len()..])))
        .collect();
    if moved.is_empty() {
        return Err(fail(format!("'{}' is not under version control", a.source)));
    }
    if let Some(parent) = work.join(&dst).parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::rename(work.join(&src), work.join(&dst))
        .map_err(|e| fail(format!("cannot move '{src}' to '{dst}': {e}")))?;
    let mut changes = Vec::new();
    for (old, new) in moved {
        // The old stat is kept on purpose: the rename changed ctime, so the
        // next status re-hashes and still sees any unstaged edits.
        let e = index.entries[&old].clone();
        changes.push((old, None));
        changes.push((new, Some(e)));
    }
    oxen_index::Index::apply(&repo.db, &changes)?;
    Ok(())
}
