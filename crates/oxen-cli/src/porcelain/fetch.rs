//! `oxen fetch`

use oxen_remote::{FetchReport, PushOutcome, Remote};

use crate::plumbing::send_pack::{human_bytes, PackBar};
use crate::CliResult;

/// Download a remote's branches: receive the objects you lack and move the
/// remote-tracking refs (remotes/<remote>/<branch>). Your own branches and
/// work tree are not touched; merge or pull to use what arrived.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Remote name, URL or repository path (default: the upstream, else origin).
    pub remote: Option<String>,
}

pub fn run(a: Args) -> CliResult {
    let repo = super::open()?;
    let remote_arg = super::remote::default_remote(&repo, a.remote)?;
    let report = fetch_remote(&repo, &remote_arg)?;
    print_fetch(&report);
    Ok(())
}

/// Fetch by name or URL; returns the remote name used for tracking refs.
pub(crate) fn fetch_remote(repo: &oxen_repo::Repo, remote_arg: &str) -> CliResult<FetchReport> {
    let (name, url) = oxen_remote::resolve_remote(repo, remote_arg)?;
    let remote = Remote::open(&url)?;
    let bar = PackBar::new("Receiving");
    let report = oxen_remote::fetch(repo, &remote, name.as_deref(), &bar)?;
    bar.finish();
    Ok(report)
}

pub(crate) fn print_fetch(report: &FetchReport) {
    for c in &report.changes {
        let short = |i: Option<oxen_hash::ContentId>| i.map(|i| i.short()).unwrap_or_default();
        match c.outcome {
            PushOutcome::Created => println!(" * [new branch] {}", c.name),
            PushOutcome::Forced => println!(" + {}...{} {} (forced update)", short(c.old), short(c.new), c.name),
            _ => println!("   {}..{} {}", short(c.old), short(c.new), c.name),
        }
    }
    if report.objects > 0 {
        eprintln!("received {} objects, {}", report.objects, human_bytes(report.bytes));
    }
}
