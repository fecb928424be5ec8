//! `oxen-ls-files`: list the index.

use std::io::Write;

use clap::Parser;

use crate::CliResult;

/// List the paths in the staging index. With --stage show
/// `<mode> <id> 0\t<path>` as git does; with --long also the tracking type
/// and size.
#[derive(Parser, Debug)]
#[command(name = "oxen-ls-files", version)]
pub struct Args {
    /// Show mode and content id.
    #[arg(short = 's', long)]
    pub stage: bool,
    /// Show mode, id, tracking type (regular|tabular) and size.
    #[arg(long)]
    pub long: bool,
    /// Terminate lines with NUL instead of newline.
    #[arg(short = 'z')]
    pub nul: bool,
}

/// Entry point.
pub fn main() -> ! {
    crate::exit_with(run(Args::parse()))
}

/// Run with parsed arguments.
pub fn run(args: Args) -> CliResult {
    let repo = super::repo()?;
    let index = repo.index()?;
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    let end = if args.nul { "\0" } else { "\n" };
    for (path, e) in &index.entries {
        let mode = if e.stat.mode == 0 { oxen_object::mode::FILE } else { e.stat.mode };
        if args.long {
            write!(out, "{mode:06o} {} {} {:>10}\t{path}{end}", e.id, e.tracking.as_str(), e.stat.size)?;
        } else if args.stage {
            write!(out, "{mode:06o} {} 0\t{path}{end}", e.id)?;
        } else {
            write!(out, "{path}{end}")?;
        }
    }
    out.flush()?;
    Ok(())
}
