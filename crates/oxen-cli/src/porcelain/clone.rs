//! `oxen clone`

use crate::progress::{human_bytes, Bar};
use crate::CommandResult;
use std::io::Write;

/// Copy a repository: a new repository in DIR with remote `origin` set to
/// URL, every remote branch as origin/<branch>, every remote tag, and the
/// remote's default branch (or --branch) checked out and tracking origin.
/// URL is http://host:port/<RepoName> or the path of another repository.
/// --depth N makes a shallow clone: only the last N commits of the branch
/// checked out (and later fetches take only that branch), only the tags
/// pointing into them; `oxen fetch --deepen N` or `--unshallow` fetches more.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Branch to check out instead of the remote's default.
    #[arg(short, long)]
    pub branch: Option<String>,
    /// Only the last N commits of the branch checked out (a shallow clone).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub depth: Option<u32>,
    /// Take no tags, now or on later fetches from origin.
    #[arg(long)]
    pub no_tags: bool,
    /// What to clone.
    pub url: String,
    /// Where (default: the repository's name).
    #[arg(value_name = "DIR")]
    pub directory: Option<std::path::PathBuf>,
}

pub fn run(a: Args, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let bar = Bar::objects("Receiving");
    let opts = oxen_remote::CloneOptions { depth: a.depth, no_tags: a.no_tags };
    let r = oxen_remote::clone_with(&a.url, a.directory.as_deref(), a.branch.as_deref(), &opts, &bar)?;
    bar.finish();
    writeln!(out, "Cloned into {}", r.dir.display())?;
    match (&r.branch, r.commit) {
        (Some(b), Some(c)) => writeln!(out, "checked out {b} at {}", c.short())?,
        _ => writeln!(out, "warning: the remote repository is empty")?,
    }
    if r.objects > 0 {
        writeln!(err, "received {} objects, {}", r.objects, human_bytes(r.bytes))?;
    }
    if r.bytes > 0 {
        // Exact and stable: benchmarks and tests parse `received N bytes`.
        writeln!(err, "received {} bytes ({} chunks, {} reused)", r.bytes, r.chunks, r.reused)?;
    }
    Ok(())
}
