//! `oxen-rev-parse`: resolve names to ids.

use clap::Parser;
use oxen_refs::Head;

use crate::{fail, CliResult};

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
pub fn main() -> ! {
    crate::exit_with(run(Args::parse()))
}

/// Run with parsed arguments.
pub fn run(args: Args) -> CliResult {
    let repo = super::repo()?;
    if args.show_toplevel {
        println!("{}", repo.layout.work.display());
    }
    if args.revs.is_empty() && !args.show_toplevel {
        return Err(fail("no revision given"));
    }
    for r in &args.revs {
        if args.abbrev_ref {
            match (r.as_str(), repo.head()?) {
                ("HEAD", Head::Branch(b)) => println!("{b}"),
                ("HEAD", Head::Detached(_)) => println!("HEAD"),
                _ => {
                    repo.resolve(r)?;
                    println!("{r}");
                }
            }
            continue;
        }
        let t = repo.resolve(r)?;
        if args.short {
            println!("{}", t.id.short());
        } else {
            println!("{}", t.id);
        }
    }
    Ok(())
}
