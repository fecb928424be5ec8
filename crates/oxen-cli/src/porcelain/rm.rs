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

pub fn run(a: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let repo = super::open()?;
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
            let abs = p.abs(&repo.layout.work);
            let modified = match std::fs::symlink_metadata(&abs) {
                Ok(m) => {
                    let st = oxen_index::FileStat::from_metadata(&m);
                    !index.is_clean(e, &st)
                        && oxen_index::hash_file(&repo.versions, &repo.layout.work, p, &st, false)?.id != e.id
                }
                Err(_) => false,
            };
            if staged_differs || modified {
                return Err(user_error(format!(
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
        writeln!(out, "rm '{p}'")?;
    }
    Ok(())
}
