//! `oxen-write-tree`: turn the index into trees.

use clap::Parser;

use crate::CliResult;

/// Build tree objects from the current index and print the root tree id.
/// Only directories that changed are written; large directories are split
/// into hash buckets.
#[derive(Parser, Debug)]
#[command(name = "oxen-write-tree", version)]
pub struct Args {}

/// Entry point.
pub fn main() -> ! {
    crate::exit_with(run(Args::parse()))
}

/// Run with parsed arguments.
pub fn run(_args: Args) -> CliResult {
    let repo = super::repo()?;
    println!("{}", repo.write_tree()?);
    Ok(())
}
