//! `oxen fetch`

use std::io::Write;

use crate::{user_error, CommandResult};

/// Download a remote's branches and tags: receive the objects you lack,
/// move the remote-tracking refs (remotes/<remote>/<branch>) and create
/// the remote's tags that point into the history fetched (git's
/// auto-follow; --tags takes every tag, so a tag on a commit outside every
/// branch arrives with its history; --no-tags or `oxen config
/// remote.<name>.tagOpt --no-tags` takes none). Your own branches and work
/// tree are not touched; merge or pull to use what arrived. A local tag
/// that points elsewhere is kept and reported as "[rejected] ... (would
/// clobber existing tag)" (a failure only with --tags, as git); --force
/// replaces it. --prune (or `oxen config fetch.prune true`) removes
/// remote-tracking refs whose branch is gone on the remote. In a shallow
/// clone (`clone --depth`), --deepen N fetches N more commits below the
/// boundary and --unshallow all the rest; --depth N limits what a fetch
/// takes to N commits from each remote tip.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Remove remote-tracking refs whose branch no longer exists on the remote.
    #[arg(short, long)]
    pub prune: bool,
    /// Replace local tags that point elsewhere than the remote's.
    #[arg(short, long)]
    pub force: bool,
    /// Fetch every tag, with its history, and fail when one cannot be
    /// updated (as git's --tags).
    #[arg(short, long, conflicts_with = "no_tags")]
    pub tags: bool,
    /// Fetch no tags.
    #[arg(long)]
    pub no_tags: bool,
    /// At most N commits from each remote tip (the result is shallow).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), conflicts_with_all = ["deepen", "unshallow"])]
    pub depth: Option<u32>,
    /// N more commits below a shallow clone's boundary.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), conflicts_with = "unshallow")]
    pub deepen: Option<u32>,
    /// All the history below a shallow clone's boundary: the clone is
    /// complete afterwards.
    #[arg(long)]
    pub unshallow: bool,
    /// Remote name, URL or repository path (default: the upstream, else origin).
    pub remote: Option<String>,
}

pub fn run(a: Args, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let repo = super::open()?;
    let remote_arg = super::shared::default_remote(&repo, a.remote)?;
    let opts = oxen_remote::FetchOptions {
        prune: super::shared::fetch_prune(&repo, a.prune)?,
        force: a.force,
        tags: super::shared::tag_mode(a.tags, a.no_tags),
        depth: a.depth,
        deepen: a.deepen,
        unshallow: a.unshallow,
    };
    let report = super::shared::fetch_remote(&repo, &remote_arg, &opts)?;
    super::shared::print_fetch(&report, out, err)?;
    let rejected = super::shared::rejected_tags(&report);
    if a.tags && rejected > 0 {
        return Err(user_error(format!(
            "{rejected} local tag(s) could not be updated: they point elsewhere (fetch --force replaces them)"
        )));
    }
    Ok(())
}
