//! `oxen add`

use std::io::Write;
use std::path::PathBuf;

use oxen_path::RepoPath;

use crate::{user_error, CommandResult};

/// Stage files: hash new and changed files into the versions store and
/// record them in the index. Directories are added recursively (honoring
/// .oxenignore), and files deleted under an added directory are staged as
/// deletions. Unchanged files are recognised by their stat and not read.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Stage all changes in the whole work tree.
    #[arg(short = 'A', long)]
    pub all: bool,
    /// Only update files already tracked.
    #[arg(short = 'u', long)]
    pub update: bool,
    /// Paths (files or directories) to add; `.` is the current directory.
    pub paths: Vec<PathBuf>,
}

pub fn run(a: Args, _out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let repo = super::open_worktree(err)?;
    super::fsmonitor::ensure_running(&repo);
    let mut paths = Vec::new();
    if a.all || (a.update && a.paths.is_empty()) {
        paths.push(RepoPath::root());
    }
    paths.extend(super::shared::user_specs(&repo, &a.paths)?);
    if paths.is_empty() {
        return Err(user_error("nothing specified, nothing added (try `oxen add .`)"));
    }
    super::shared::stage(&repo, &paths, a.update, err)?;
    repo.resolve_conflicts(&paths)?;
    Ok(())
}
