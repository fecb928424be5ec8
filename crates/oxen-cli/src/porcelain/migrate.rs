//! `oxen migrate`

use std::io::Write;

use crate::CommandResult;

/// Rewrite contents stored the way older releases stored them (format v1:
/// loose files, and whole uncompressed segment records of 512 KiB or more)
/// into the current encoding: chunked from 512 KiB, one record compressed
/// when that pays below it. Each content is verified against its id as it
/// is rewritten, and its old copy is removed only after the new one is
/// durable and recorded, so a kill at any point loses nothing and a rerun
/// finishes the job. Running it again does nothing. Opening a repository
/// with this release already records the current format (old contents stay
/// readable without migrating).
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_a: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let repo = super::open()?;
    let (m, gc) = repo.versions.migrate()?;
    write_report(&m, &gc, "", out)
}

/// The one line `oxen migrate` prints (and `oxen-server migrate` per
/// repository, after `prefix`).
pub fn write_report(
    m: &oxen_store::MigrateReport,
    gc: &oxen_store::GcReport,
    prefix: &str,
    out: &mut dyn Write,
) -> CommandResult {
    writeln!(
        out,
        "{prefix}migrate: {} contents rewritten ({} loose files, {} segment records, {} bytes); \
         {} old segments deleted, {} compacted, {} bytes reclaimed; format {}",
        m.loose + m.records,
        m.loose,
        m.records,
        m.bytes,
        gc.deleted,
        gc.compacted,
        gc.bytes_reclaimed,
        oxen_store::format::FORMAT
    )?;
    Ok(())
}
