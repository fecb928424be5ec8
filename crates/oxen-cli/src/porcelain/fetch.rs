//! `oxen fetch`

use std::io::Write;

use crate::CommandResult;

/// Download a remote's branches: receive the objects you lack and move the
/// remote-tracking refs (remotes/<remote>/<branch>). Your own branches and
/// work tree are not touched; merge or pull to use what arrived.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Remote name, URL or repository path (default: the upstream, else origin).
    pub remote: Option<String>,
}

pub fn run(a: Args, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let repo = super::open()?;
    let remote_arg = super::shared::default_remote(&repo, a.remote)?;
    let report = super::shared::fetch_remote(&repo, &remote_arg)?;
    super::shared::print_fetch(&report, out, err)?;
    Ok(())
}
