//! `oxen pull`

use crate::{user_error, CommandResult};
use std::io::Write;

/// Fetch from a remote, then bring its version of the branch into the
/// current branch: fast-forward when possible, otherwise a merge (conflicts
/// are left to resolve with `oxen add` + `oxen commit`). Tags come along
/// as with `oxen fetch` (those pointing into the history fetched).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Remove remote-tracking refs whose branch no longer exists on the
    /// remote (default: the fetch.prune config).
    #[arg(short, long)]
    pub prune: bool,
    /// Fetch every tag, with its history (default: the tags pointing into
    /// the history fetched).
    #[arg(short, long, conflicts_with = "no_tags")]
    pub tags: bool,
    /// Fetch no tags.
    #[arg(long)]
    pub no_tags: bool,
    /// Remote name (default: the upstream, else origin).
    pub remote: Option<String>,
    /// Remote branch to merge (default: the current branch's name).
    pub branch: Option<String>,
}

pub fn run(a: Args, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let repo = super::open_worktree(err)?;
    let remote_arg = super::shared::default_remote(&repo, a.remote)?;
    let branch = super::shared::current_branch(&repo, a.branch, "pull into")?;
    let (name, _) = oxen_remote::resolve_remote(&repo, &remote_arg)?;
    let Some(rn) = name else { return Err(user_error("pull needs a remote name (add one with `oxen remote add`)")) };
    let opts = oxen_remote::FetchOptions {
        prune: super::shared::fetch_prune(&repo, a.prune)?,
        tags: super::shared::tag_mode(a.tags, a.no_tags),
        ..Default::default()
    };
    let report = super::shared::fetch_remote(&repo, &rn, &opts)?;
    super::shared::print_fetch(&report, out, err)?;
    let tracking = oxen_refs::RefName::remote_tracking(&rn, &oxen_refs::BranchName::new(branch.as_str())?)?;
    let theirs =
        repo.refs().get(&tracking)?.ok_or_else(|| user_error(format!("remote {rn} has no branch {branch}")))?;
    super::shared::report(repo.merge_commit(&theirs, &format!("{rn}/{branch}"))?, out)
}
