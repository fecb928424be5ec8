//! `oxen-ls-files`: list the index.

use std::io::Write;

use std::process::ExitCode;

use clap::Parser;

use crate::CommandResult;

/// List the paths in the staging index. With --stage show
/// `<mode> <id> 0\t<path>` as git does; with --long also the tracking type
/// and size. Paths are quoted as git quotes them (special bytes escaped in
/// double quotes) unless -z is given.
#[derive(Parser, Debug)]
#[command(name = "oxen-ls-files", version)]
pub struct Args {
    /// Show mode and content id.
    #[arg(short = 's', long)]
    pub stage: bool,
    /// Show mode, id, tracking type (regular|tabular) and size.
    #[arg(long)]
    pub long: bool,
    /// Terminate lines with NUL instead of newline and print paths raw (unquoted bytes).
    #[arg(short = 'z')]
    pub nul: bool,
}

/// Entry point.
pub fn main() -> ExitCode {
    crate::run_main(run)
}

/// Run with parsed arguments.
pub fn run(args: Args, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let repo = super::repo()?;
    // A checkout writes the index in batches under its record: completed
    // first, the index is never seen half way.
    crate::porcelain::finish_interrupted(&repo, err)?;
    let mut out = std::io::BufWriter::new(out);
    // Page by page, in path order: nothing held but a page.
    for row in oxen_index::IndexIter::new(&repo.db) {
        let (path, e) = row?;
        let mode = if e.stat.mode == 0 { oxen_object::mode::FILE } else { e.stat.mode };
        if args.long {
            write!(out, "{mode:06o} {} {} {:>10}\t", e.id, e.tracking.as_str(), e.stat.size)?;
        } else if args.stage {
            write!(out, "{mode:06o} {} 0\t", e.id)?;
        }
        if args.nul {
            out.write_all(path.as_bytes())?;
            out.write_all(b"\0")?;
        } else {
            writeln!(out, "{path}")?;
        }
    }
    out.flush()?;
    Ok(())
}
