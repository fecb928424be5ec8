//! `oxen-write-tree`: turn the index into trees.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::CommandResult;

/// Build tree objects from the current index and print the root tree id.
/// Only directories that changed are written; large directories are split
/// into hash buckets.
#[derive(Parser, Debug)]
#[command(name = "oxen-write-tree", version)]
pub struct Args {}

/// Entry point.
pub fn main() -> ExitCode {
    crate::run_main(run)
}

/// Run with parsed arguments.
pub fn run(_args: Args, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let repo = super::repo()?;
    // A checkout writes the index in batches under its record: completed
    // first, the index is never seen half way.
    crate::porcelain::finish_interrupted(&repo, err)?;
    writeln!(out, "{}", repo.write_tree()?)?;
    Ok(())
}
