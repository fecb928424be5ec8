//! `oxen-commit-tree`: make a commit object.

use std::io::Read;

use clap::Parser;
use oxen_object::Commit;

use crate::{fail, CliResult};

/// Create a commit from a tree id and parents and print its id. The message
/// comes from -m (several are joined by blank lines) or standard input.
/// Author, email and date come from OXEN_AUTHOR_NAME, OXEN_AUTHOR_EMAIL and
/// OXEN_AUTHOR_DATE when set (so scripted commits are reproducible), else
/// from config and the clock.
#[derive(Parser, Debug)]
#[command(name = "oxen-commit-tree", version)]
pub struct Args {
    /// The root tree (or a revision whose tree to use).
    pub tree: String,
    /// A parent commit; repeat for merges.
    #[arg(short = 'p', value_name = "PARENT")]
    pub parents: Vec<String>,
    /// The commit message.
    #[arg(short = 'm', value_name = "MESSAGE")]
    pub message: Vec<String>,
}

/// Entry point.
pub fn main() -> ! {
    crate::exit_with(run(Args::parse()))
}

/// Run with parsed arguments.
pub fn run(args: Args) -> CliResult {
    let repo = super::repo()?;
    let tree = repo.resolve_tree(&args.tree)?;
    let mut parents = Vec::new();
    for p in &args.parents {
        let id = repo.resolve_commit(p)?;
        if parents.contains(&id) {
            return Err(fail(format!("duplicate parent {id}")));
        }
        parents.push(id);
    }
    let raw = if args.message.is_empty() {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| fail(format!("reading message from stdin: {e}")))?;
        s
    } else {
        args.message.join("\n\n")
    };
    let message = oxen_repo::normalize_message(&raw).ok_or_else(|| fail("empty commit message"))?;
    let author = oxen_repo::signature(&repo.config()?)?;
    let id = repo.write_commit(&Commit { tree, parents, author, message })?;
    println!("{id}");
    Ok(())
}
