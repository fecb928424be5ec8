//! `oxen switch`

use crate::{user_error, CommandResult};
use std::io::Write;

/// Switch branches.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Create the branch first.
    #[arg(short = 'c', long = "create", value_name = "NEW")]
    pub create: Option<String>,
    /// Discard local changes that would be overwritten.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Allow switching to a commit (detached HEAD).
    #[arg(long)]
    pub detach: bool,
    /// Branch to switch to (or start point with -c).
    pub target: Option<String>,
}

pub fn run(a: Args, _out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let repo = super::open_worktree(err)?;
    if let Some(nb) = &a.create {
        return super::shared::create_and_switch(&repo, nb, a.target.as_deref(), a.force, err);
    }
    let target = a.target.ok_or_else(|| user_error("missing branch name"))?;
    super::shared::switch_to(&repo, &target, a.force, a.detach, err)
}
