//! `oxen-rev-parse`: resolve names to ids.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use oxen_refs::Head;

use crate::{user_error, CommandResult};

/// Print the full id of each revision: HEAD, a branch, tag or
/// remote-tracking ref, a full id, a unique id prefix (4+ hex chars),
/// <rev>~N, <rev>^N or <rev>:<path>.
#[derive(Parser, Debug)]
#[command(name = "oxen-rev-parse", version)]
pub struct Args {
    /// Print a short (abbreviated) id.
    #[arg(long)]
    pub short: bool,
    /// Print the branch name HEAD points at instead of an id.
    #[arg(long)]
    pub abbrev_ref: bool,
    /// Print the work tree root.
    #[arg(long)]
    pub show_toplevel: bool,
    /// Revisions to resolve.
    pub revs: Vec<String>,
}

/// Entry point.
pub fn main() -> ExitCode {
    crate::run_main(run)
}

/// Run with parsed arguments.
pub fn run(args: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let repo = super::repo()?;
    if args.show_toplevel {
        writeln!(out, "{}", repo.layout.work.display())?;
    }
    if args.revs.is_empty() && !args.show_toplevel {
        return Err(user_error("no revision given"));
    }
    for r in &args.revs {
        if args.abbrev_ref {
            match (r.as_str(), repo.head()?) {
                ("HEAD", Head::Branch(b)) => writeln!(out, "{b}")?,
                ("HEAD", Head::Detached(_)) => writeln!(out, "HEAD")?,
                _ => {
                    repo.resolve(r)?;
                    writeln!(out, "{r}")?;
                }
            }
            continue;
        }
        let t = repo.resolve(r)?;
        if args.short {
            writeln!(out, "{}", t.id.short())?;
        } else {
            writeln!(out, "{}", t.id)?;
        }
    }
    Ok(())
}
