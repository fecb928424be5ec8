//! `oxen gc`

use std::io::Write;

use oxen_store::{GcReport, SegmentAction};

use crate::CommandResult;

/// Reclaim space that interrupted writes left behind: segment records no
/// location refers to (an `add` or a push killed before recording what it
/// wrote) and temp files of writers that are gone. Segments still being
/// written by a live process are not touched. A segment with nothing live
/// is removed; one more than 25% dead is rewritten with its live records
/// only. Every stored content stays: removing contents that no ref reaches
/// (reachability gc) is not done.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print what would be done, and change nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
}

pub fn run(a: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let repo = super::open()?;
    let report = oxen_store::gc_repo(&repo.layout, &repo.versions, a.dry_run)?;
    write_report(&report, a.dry_run, "", out)
}

/// The report: with `dry_run`, a line per segment acted on, then the summary line.
/// Every line starts with `prefix` (the server names each repository).
pub(crate) fn write_report(r: &GcReport, dry_run: bool, prefix: &str, out: &mut dyn Write) -> CommandResult {
    if dry_run {
        for a in &r.actions {
            match a {
                SegmentAction::Delete { segment, bytes } => {
                    writeln!(out, "{prefix}would delete segment {segment} ({bytes} bytes, nothing live)")?
                }
                SegmentAction::Compact { segment, records, bytes } => writeln!(
                    out,
                    "{prefix}would compact segment {segment} ({records} live records kept, {bytes} bytes freed)"
                )?,
            }
        }
    }
    let verb = if dry_run { "would reclaim" } else { "reclaimed" };
    writeln!(
        out,
        "{prefix}gc: {} segments scanned, {} deleted, {} compacted, {verb} {} bytes; {} temp files ({} bytes) removed",
        r.scanned, r.deleted, r.compacted, r.bytes_reclaimed, r.tmp.files, r.tmp.bytes
    )?;
    Ok(())
}
