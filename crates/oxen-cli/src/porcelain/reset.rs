//! `oxen reset`

use oxen_repo::{HeadMove, LocalChanges, Transition};
use std::io::Write;

use crate::CommandResult;

/// Move the current branch to a revision. --soft keeps index and work tree,
/// --mixed (default) resets the index, --hard resets index and work tree.
/// With paths, unstage them instead.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only move the branch.
    #[arg(long, conflicts_with_all = ["hard", "mixed"])]
    pub soft: bool,
    /// Move the branch and reset the index (default).
    #[arg(long, conflicts_with = "hard")]
    pub mixed: bool,
    /// Move the branch and reset index and work tree (discards local changes).
    #[arg(long)]
    pub hard: bool,
    /// Revision to reset to (default HEAD).
    pub rev: Option<String>,
    /// Paths to unstage (after `--`).
    #[arg(last = true)]
    pub paths: Vec<std::path::PathBuf>,
}

pub fn run(a: Args, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let repo = super::open_worktree(err)?;
    if !a.paths.is_empty() {
        return super::shared::restore_paths(&repo, &a.paths, a.rev.as_deref(), true, false, false);
    }
    let target = repo.resolve_commit(a.rev.as_deref().unwrap_or("HEAD"))?;
    let head = repo.head()?;
    let old = repo.head_commit()?;
    let message = format!("reset: moving to {}", a.rev.as_deref().unwrap_or("HEAD"));
    if a.hard {
        // Work tree, index and branch move in one recorded step, so an
        // interrupted reset is completed rather than left half done.
        let t = Transition {
            op: "reset".into(),
            target: repo.read_commit(&target)?.tree,
            local: LocalChanges::Discard,
            head: HeadMove::Advance { head: head.clone(), old, new: target },
            message: message.clone(),
            overlay: vec![],
        };
        repo.transition(&t, &oxen_store::NoProgress)?;
    } else {
        if !a.soft {
            repo.reset_index(Some(&target))?;
        }
        repo.move_head_to(&head, old, &target, &message)?;
    }
    repo.set_merge_state(None)?;
    if a.hard {
        let c = repo.read_commit(&target)?;
        writeln!(out, "HEAD is now at {} {}", target.short(), c.summary())?;
    }
    Ok(())
}
