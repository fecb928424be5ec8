//! `oxen fsck`

use std::io::Write;

use crate::CommandResult;

/// Verify every object reachable from refs, HEAD and the index; exit
/// non-zero if anything is missing or corrupt.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// `oxen fsck` is `oxen-fsck`: one check, one output format.
pub fn run(_a: Args, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let repo = super::open()?;
    // Not a problem with any object: the work tree is between two commits
    // until the next command that reads it completes the move.
    if let Some(t) = repo.pending_transition()? {
        writeln!(err, "note: an interrupted {} is pending; `oxen checkout --continue` completes it", t.op)?;
    }
    crate::plumbing::fsck::check(&repo, out)
}
