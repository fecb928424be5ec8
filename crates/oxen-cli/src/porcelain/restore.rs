//! `oxen restore`

use std::io::Write;

use crate::CommandResult;

/// Restore work-tree files from the index (default) or from a commit, or
/// unstage them with --staged.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Restore the index (unstage) instead of the work tree.
    #[arg(short = 'S', long)]
    pub staged: bool,
    /// Also restore the work tree (with --staged).
    #[arg(short = 'W', long)]
    pub worktree: bool,
    /// Take contents from this revision.
    #[arg(short = 's', long, value_name = "REV")]
    pub source: Option<String>,
    /// Paths to restore.
    #[arg(required = true)]
    pub paths: Vec<std::path::PathBuf>,
}

pub fn run(a: Args, _out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let repo = super::open_worktree(err)?;
    let worktree = a.worktree || !a.staged;
    super::shared::restore_paths(&repo, &a.paths, a.source.as_deref(), a.staged, worktree, false)
}
