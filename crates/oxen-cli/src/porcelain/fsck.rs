//! `oxen fsck`

use std::io::Write;

use crate::CommandResult;

/// Verify every object reachable from refs, HEAD and the index; exit
/// non-zero if anything is missing or corrupt.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// `oxen fsck` is `oxen-fsck`: one check, one output format.
pub fn run(_a: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    crate::plumbing::fsck::check(&super::open()?, out)
}
