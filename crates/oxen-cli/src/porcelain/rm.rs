//! `oxen rm`

use std::io::Write;
use std::path::PathBuf;

use crate::{user_error, CommandResult};

/// Remove files from the index and (without --cached) the work tree.
#[derive(clap::Args, Debug)]
pub struct Args {
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
    pub paths: Vec<PathBuf>,
}

pub fn run(a: Args, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let repo = super::open_worktree(err)?;
    let paths = super::shared::user_specs(&repo, &a.paths)?;
    // Check first, so a refusal changes nothing.
    let index = repo.index()?;
    if !a.cached && !a.force {
        let head = repo.flatten_commit(repo.head_commit()?.as_ref())?;
        for (p, e) in &index.entries {
            if !paths.iter().any(|q| p.is_under(q)) {
                continue;
            }
            let staged_differs = head.get(p).is_none_or(|h| h.id != e.id);
            // Through the work-tree handle: a path beyond a symlink is not
            // there (and nothing there will be removed).
            let modified = match repo.worktree.lstat(p)? {
                Some(m) if !m.is_dir() => {
                    !index.is_clean(e, &m.stat)
                        && oxen_index::hash_file(&repo.versions, &repo.worktree, p, &m.stat, false)?.id != e.id
                }
                _ => false,
            };
            if staged_differs || modified {
                return Err(user_error(format!(
                    "'{p}' has local changes; use --cached to keep the file, or -f to force removal"
                )));
            }
        }
    }
    let targets = oxen_index::paths_to_remove(&index, &paths, a.recursive)?;
    // The work tree first, then the index, and the index records only what
    // happened: when a file cannot be removed, the files removed before it
    // are unstaged and the rest stay staged as they were.
    let mut done = Vec::with_capacity(targets.len());
    let mut failure = None;
    if a.cached {
        done.clone_from(&targets);
    } else {
        for p in &targets {
            match oxen_repo::remove_work_file(&repo, p) {
                Ok(_) => done.push(p.clone()),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
    }
    oxen_index::remove_paths(&repo.db, &done, false)?;
    for p in &done {
        writeln!(out, "rm '{p}'")?;
    }
    match failure {
        Some(e) => Err(user_error(format!("cannot remove {e}; it stays staged"))),
        None => Ok(()),
    }
}
