//! `oxen gc`

use std::io::Write;
use std::time::Duration;

use oxen_store::{GcReport, Prune, SegmentAction};

use crate::CommandResult;

/// Remove contents no ref reaches, and reclaim the space they and
/// interrupted writes leave. Live: everything reachable from every
/// branch, tag and remote-tracking ref, HEAD (detached too), every reflog
/// entry, the index (staged contents), a merge in progress and an
/// interrupted checkout; from a commit its parents, trees and file contents,
/// from a chunked content its chunks. Anything else older than the grace
/// period (`--prune`, default one day; the age of a segment record is its
/// segment's name time or last write, of a loose file its mtime) is removed,
/// so a concurrent add or push whose contents are stored but not yet
/// committed is never robbed. With `--prune=now`, unreachable commits and
/// trees are removed too (they carry no write time for a grace period).
/// Then segments whose writer is gone are scanned: one with nothing live is removed, one more than 25% dead is
/// rewritten with its live records only; temp files of dead writers are
/// removed. Segments still being written by a live process are not touched.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print what would be done, and change nothing.
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Remove unreachable contents older than this: `now` (all of them),
    /// `never` (none), or a duration such as `30m`, `12h`, `1d`, `2w`
    /// (units s, m, h, d, w).
    #[arg(long, value_name = "DURATION|now|never", default_value = "1d", value_parser = parse_prune)]
    pub prune: Prune,
}

/// `--prune`'s value (see [`Args::prune`]).
pub(crate) fn parse_prune(s: &str) -> Result<Prune, String> {
    match s {
        "now" => return Ok(Prune::Now),
        "never" => return Ok(Prune::Never),
        _ => {}
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| format!("'{s}' is not a duration: use now, never, or e.g. 12h, 1d, 2w"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("'{s}' has no known unit: use s, m, h, d or w (e.g. 12h, 1d, 2w)")),
    };
    n.checked_mul(secs).map(|t| Prune::OlderThan(Duration::from_secs(t))).ok_or_else(|| format!("'{s}' is too long"))
}

pub fn run(a: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let repo = super::open()?;
    let report = oxen_repo::reach::gc(&repo, a.prune, a.dry_run)?;
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
    let s = &r.sweep;
    let removed = if dry_run { "would be removed" } else { "removed" };
    let verb = if dry_run { "would reclaim" } else { "reclaimed" };
    writeln!(
        out,
        "{prefix}gc: {} unreachable contents {removed} ({} segment records of {} bytes, {} loose files of {} bytes), \
         {} kept as younger than the grace period, {} commits and {} trees {removed}; \
         {} segments scanned, {} deleted, {} compacted, {verb} {} bytes; {} temp files ({} bytes) removed",
        s.records + s.loose,
        s.records,
        s.record_bytes,
        s.loose,
        s.loose_bytes,
        s.young,
        s.commits,
        s.trees,
        r.scanned,
        r.deleted,
        r.compacted,
        r.bytes_reclaimed,
        r.tmp.files,
        r.tmp.bytes
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_values() {
        assert_eq!(parse_prune("now"), Ok(Prune::Now));
        assert_eq!(parse_prune("never"), Ok(Prune::Never));
        assert_eq!(parse_prune("2w"), Ok(Prune::OlderThan(Duration::from_secs(14 * 86_400))));
        assert_eq!(parse_prune("90s"), Ok(Prune::OlderThan(Duration::from_secs(90))));
        for bad in ["", "d", "1", "1y", "-1d", "1.5d", "99999999999999999999w", "1dd"] {
            assert!(parse_prune(bad).is_err(), "{bad}");
        }
    }
}
