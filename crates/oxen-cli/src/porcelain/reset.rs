//! `oxen reset`

use oxen_refs::Head;
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

pub fn run(a: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let repo = super::open()?;
    if !a.paths.is_empty() {
        return super::shared::restore_paths(&repo, &a.paths, a.rev.as_deref(), true, false);
    }
    let target = repo.resolve_commit(a.rev.as_deref().unwrap_or("HEAD"))?;
    let head = repo.head()?;
    let old = repo.head_commit()?;
    let message = format!("reset: moving to {}", a.rev.as_deref().unwrap_or("HEAD"));
    if a.hard {
        repo.reset_hard(&target, &oxen_store::NoProgress)?;
    } else if !a.soft {
        repo.reset_index(Some(&target))?;
    }
    match &head {
        Head::Branch(b) => {
            repo.refs().update(
                &b.to_ref(),
                Some(target),
                match old {
                    Some(o) => oxen_refs::Expect::Is(o),
                    None => oxen_refs::Expect::Absent,
                },
                &message,
            )?;
        }
        Head::Detached(_) => repo.refs().set_head(&Head::Detached(target), Some(&head), &message)?,
    }
    repo.set_merge_state(None)?;
    if a.hard {
        let c = repo.read_commit(&target)?;
        writeln!(out, "HEAD is now at {} {}", target.short(), c.summary())?;
    }
    Ok(())
}
