//! `oxen gc`

use std::io::Write;

use oxen_store::{GcReport, Prune, SegmentAction};

use crate::CommandResult;

/// Remove contents no ref reaches, and reclaim the space they and
/// interrupted writes leave. First, reflog entries are expired as `oxen
/// reflog expire --all` does: those older than `gc.reflogExpire` (default
/// 90d) and those naming a commit their ref no longer reaches older than
/// `gc.reflogExpireUnreachable` (default 30d; a deleted branch's entries
/// are all unreachable), set with `oxen config`. `--prune=now` does not
/// shorten these (as in git): a branch deleted today is kept by its reflog
/// until it expires, or until `oxen reflog expire --expire-unreachable=now
/// --all`. Live: everything reachable from every
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
    s.parse()
}

pub fn run(a: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let repo = super::open()?;
    let reflog = oxen_repo::reach::reflog_policy(&repo)?;
    let report = oxen_repo::reach::gc(&repo, a.prune, &reflog, a.dry_run)?;
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
    let expired = if dry_run { "would expire" } else { "expired" };
    writeln!(
        out,
        "{prefix}gc: {} unreachable contents {removed} ({} segment records of {} bytes, {} loose files of {} bytes), \
         {} kept as younger than the grace period, {} commits and {} trees {removed}; \
         {} segments scanned, {} deleted, {} compacted, {verb} {} bytes; {} temp files ({} bytes) removed; \
         {} reflog entries {expired}",
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
        r.tmp.bytes,
        r.reflog_expired
    )?;
    if r.uploads_aborted > 0 {
        let aborted = if dry_run { "would be aborted" } else { "aborted" };
        writeln!(out, "{prefix}gc: {} abandoned multipart uploads {aborted}", r.uploads_aborted)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
