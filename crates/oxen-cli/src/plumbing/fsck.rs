//! `oxen-fsck`: verify the repository.

use clap::Parser;

use crate::{fail, CliResult};

/// Re-hash every object reachable from refs, HEAD and the index (commits,
/// trees and file contents) and report missing or corrupt ones. Exits
/// non-zero if any problem is found.
#[derive(Parser, Debug)]
#[command(name = "oxen-fsck", version)]
pub struct Args {}

/// Entry point.
pub fn main() -> ! {
    crate::exit_with(run(Args::parse()))
}

/// Run with parsed arguments.
pub fn run(_args: Args) -> CliResult {
    let repo = super::repo()?;
    check(&repo)
}

/// Shared by `oxen-fsck` and `oxen fsck`.
pub fn check(repo: &oxen_repo::Repo) -> CliResult {
    let report = oxen_repo::fsck(repo)?;
    for p in &report.problems {
        println!("{p}");
    }
    println!("checked {} commits, {} trees, {} files", report.commits, report.trees, report.blobs);
    if !report.problems.is_empty() {
        return Err(fail(format!("fsck found {} problem(s)", report.problems.len())));
    }
    Ok(())
}
