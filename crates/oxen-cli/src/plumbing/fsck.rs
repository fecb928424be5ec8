//! `oxen-fsck`: verify the repository.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::{user_error, CommandResult};

/// Re-hash every object reachable from refs, HEAD and the index (commits,
/// trees and file contents) and report missing or corrupt ones. Exits
/// non-zero if any problem is found.
#[derive(Parser, Debug)]
#[command(name = "oxen-fsck", version)]
pub struct Args {}

/// Entry point.
pub fn main() -> ExitCode {
    crate::run_main(run)
}

/// Run with parsed arguments.
pub fn run(_args: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let repo = super::repo()?;
    check(&repo, out)
}

/// Shared by `oxen-fsck` and `oxen fsck`.
pub fn check(repo: &oxen_repo::Repo, out: &mut dyn Write) -> CommandResult {
    let report = oxen_repo::fsck(repo)?;
    for p in &report.problems {
        writeln!(out, "{p}")?;
    }
    writeln!(out, "checked {} commits, {} trees, {} files", report.commits, report.trees, report.blobs)?;
    if report.not_fetched > 0 {
        writeln!(
            out,
            "{} file contents not fetched (partial clone: the promisor remote has them)",
            report.not_fetched
        )?;
    }
    if !report.problems.is_empty() {
        return Err(user_error(format!("fsck found {} problem(s)", report.problems.len())));
    }
    Ok(())
}
