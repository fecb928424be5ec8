//! `oxen checkout`

use crate::{user_error, CommandResult};
use std::io::Write;

/// Switch branches or detach at a commit, updating the work tree. With
/// `-- <paths>`, restore those paths from the index instead (from a
/// revision given before `--`: in the index and the work tree).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Create a new branch and switch to it.
    #[arg(short = 'b', value_name = "NEW")]
    pub new_branch: Option<String>,
    /// Discard local changes that would be overwritten.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// With paths during a merge: take our version (HEAD's) of each.
    #[arg(long, conflicts_with = "theirs", requires = "paths")]
    pub ours: bool,
    /// With paths during a merge: take their version (the commit being
    /// merged) of each.
    #[arg(long, requires = "paths")]
    pub theirs: bool,
    /// Complete a checkout (or reset, merge) that was interrupted.
    #[arg(long = "continue", conflicts_with_all = ["new_branch", "force", "target", "paths"])]
    pub continue_: bool,
    /// Branch or commit to check out.
    pub target: Option<String>,
    /// Paths to restore (after `--`).
    #[arg(last = true)]
    pub paths: Vec<std::path::PathBuf>,
}

pub fn run(a: Args, _out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    if a.continue_ {
        let repo = super::open()?;
        if !super::finish_interrupted(&repo, err)? {
            return Err(user_error("no interrupted checkout to continue"));
        }
        return Ok(());
    }
    let repo = super::open_worktree(err)?;
    if a.ours || a.theirs {
        let m = repo.merge_state()?.ok_or_else(|| user_error("--ours/--theirs need a merge in progress"))?;
        let head = repo.head_commit()?.ok_or_else(|| user_error("no commit to take our version from"))?;
        let side = if a.theirs { m.theirs } else { head };
        return super::shared::restore_paths(&repo, &a.paths, Some(&side.to_hex()), false, true, true);
    }
    if !a.paths.is_empty() {
        // As git's: from a revision, index and work tree both take its
        // versions (overlay: what it lacks stays); from the index, the
        // work tree only.
        let source = a.target.clone();
        let staged = source.is_some();
        return super::shared::restore_paths(&repo, &a.paths, source.as_deref(), staged, true, true);
    }
    if let Some(nb) = &a.new_branch {
        return super::shared::create_and_switch(&repo, nb, a.target.as_deref(), a.force, err);
    }
    let target = a.target.ok_or_else(|| user_error("nothing to check out: name a branch or commit"))?;
    super::shared::switch_to(&repo, &target, a.force, true, err)
}
