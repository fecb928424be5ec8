//! `oxen rm`

use std::io::Write;
use std::path::PathBuf;

use crate::CommandResult;

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
    // Each removed path is printed as its batch is done: nothing is held.
    let mut write_failed = None;
    let failure = repo.remove_each(&paths, a.cached, a.recursive, a.force, &mut |p| {
        if write_failed.is_none() {
            write_failed = writeln!(out, "rm '{p}'").err();
        }
    })?;
    if let Some(e) = write_failed {
        return Err(e.into());
    }
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}
