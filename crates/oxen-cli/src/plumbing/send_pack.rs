//! `oxen-send-pack`: push refs to a remote, sending only missing objects.

use std::io::Write;

use std::process::ExitCode;

use clap::Parser;
use oxen_remote::{PushOutcome, PushReport, Remote};

use crate::progress::human_bytes;
use crate::CommandResult;

/// Push refs to a remote: learn the remote's tips, walk the local history
/// down to them (skipping subtrees the remote already has by id), ask the
/// remote which of the remaining objects it lacks, stream exactly those as
/// one pack, then update the remote refs with compare-and-swap. REMOTE is a
/// configured remote name, an http://host:port/<RepoName> URL or the path
/// of another repository. Prints one line per ref: `<old>..<new> <ref>`,
/// `new <id> <ref>` or `up-to-date <ref>`.
#[derive(Parser, Debug)]
#[command(name = "oxen-send-pack", version)]
pub struct Args {
    /// Overwrite remote refs even when that loses commits.
    #[arg(short, long)]
    pub force: bool,
    /// Remote name, URL or repository path.
    pub remote: String,
    /// Refs to push: branch names, heads/<b> or tags/<t>.
    #[arg(required = true)]
    pub refs: Vec<String>,
}

/// Entry point.
pub fn main() -> ExitCode {
    crate::run_main(run)
}

/// Run with parsed arguments.
pub fn run(args: Args, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let repo = super::repo()?;
    let (name, url) = oxen_remote::resolve_remote(&repo, &args.remote)?;
    let remote = Remote::open(&url)?;
    let bar = crate::progress::Bar::objects("Sending");
    let report = oxen_remote::push(&repo, &remote, name.as_deref(), &args.refs, args.force, &bar)?;
    bar.finish();
    print_push(&report, out, err)?;
    Ok(())
}

/// Print a push report, one line per ref.
pub(crate) fn print_push(report: &PushReport, out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<()> {
    for c in &report.changes {
        let new = c.new.map(|i| i.to_hex()).unwrap_or_default();
        let short_new = c.new.map(|i| i.short()).unwrap_or_default();
        match (c.outcome, c.old) {
            (PushOutcome::UpToDate, _) => writeln!(out, "up-to-date {}", c.name)?,
            (PushOutcome::Deleted, _) => writeln!(out, " - [deleted]         {}", c.name)?,
            (PushOutcome::Created, _) | (_, None) => writeln!(out, "new {new} {}", c.name)?,
            (PushOutcome::Forced, Some(o)) => writeln!(out, "{}...{} {} (forced)", o.short(), short_new, c.name)?,
            (_, Some(o)) => writeln!(out, "{}..{} {}", o.short(), short_new, c.name)?,
        }
    }
    if report.objects > 0 {
        writeln!(err, "sent {} objects, {}", report.objects, human_bytes(report.bytes))?;
    }
    if report.bytes > 0 {
        // Exact and stable: benchmarks and tests parse `sent N bytes`.
        writeln!(err, "sent {} bytes ({} chunks, {} reused)", report.bytes, report.chunks, report.reused)?;
    }
    Ok(())
}
