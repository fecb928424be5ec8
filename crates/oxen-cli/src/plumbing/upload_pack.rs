//! `oxen-upload-pack`: write a pack of what a peer wants to stdout.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::CommandResult;

/// Write to stdout a pack holding everything reachable from the --want
/// revisions that is not reachable from the --have commits (the same
/// enumeration the server's upload-pack endpoint runs: commits down to the
/// haves, each tree compared with its parent's so unchanged subtrees are
/// skipped). Objects come in dependency order, blobs streamed from the
/// versions store. Files stored chunked travel as chunks (pack version 3,
/// compressed chunks in their stored encoding) less the chunks of the
/// files in the --have commits' trees, which the receiver holds: a one-row
/// edit of a large table sends the few chunks around it. Prints `sent N
/// bytes (M chunks, K reused)` on stderr. Pipe it into `oxen-receive-pack`
/// (a receiver lacking a chunk so left out refuses the pack cleanly; send
/// again without --have).
#[derive(Parser, Debug)]
#[command(name = "oxen-upload-pack", version)]
pub struct Args {
    /// A revision whose history to send (repeatable).
    #[arg(long = "want", required = true, value_name = "REV")]
    pub wants: Vec<String>,
    /// A commit the receiver already has (repeatable; unknown ids are ignored).
    #[arg(long = "have", value_name = "COMMIT")]
    pub haves: Vec<String>,
    /// The sending repository.
    pub repo_dir: std::path::PathBuf,
}

/// Entry point.
pub fn main() -> ExitCode {
    crate::run_main(run)
}

/// Run with parsed arguments.
pub fn run(args: Args, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let repo = oxen_repo::Repo::open(&args.repo_dir)?;
    let wants = args.wants.iter().map(|w| repo.resolve_commit(w)).collect::<Result<Vec<_>, _>>()?;
    let mut haves = Vec::new();
    for h in &args.haves {
        if let Ok(id) = repo.resolve_commit(h) {
            haves.push(id);
        }
    }
    let objects = oxen_pack::enumerate(&repo, &wants, &haves)?;
    let (items, counts) = oxen_remote::plan_one_way(&repo, &objects, &haves)?;
    let mut src = oxen_pack::PackSource::from_items(&repo, items).with_stored_chunks(true);
    let bytes = std::io::copy(&mut src, out)?;
    out.flush()?;
    // Exact and stable: tests parse `sent N bytes`.
    writeln!(err, "sent {bytes} bytes ({} chunks, {} reused)", counts.sent, counts.reused)?;
    Ok(())
}
