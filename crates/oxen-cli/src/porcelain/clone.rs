//! `oxen clone`

use crate::progress::{human_bytes, Bar};
use crate::CommandResult;
use std::io::Write;

/// Copy a repository: a new repository in DIR with remote `origin` set to
/// URL, every remote branch as origin/<branch>, every remote tag, and the
/// remote's default branch (or --branch) checked out and tracking origin.
/// URL is http://host:port/<RepoName> or the path of another repository.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Branch to check out instead of the remote's default.
    #[arg(short, long)]
    pub branch: Option<String>,
    /// What to clone.
    pub url: String,
    /// Where (default: the repository's name).
    #[arg(value_name = "DIR")]
    pub directory: Option<std::path::PathBuf>,
}

pub fn run(a: Args, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let bar = Bar::objects("Receiving");
    let r = oxen_remote::clone(&a.url, a.directory.as_deref(), a.branch.as_deref(), &bar)?;
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
