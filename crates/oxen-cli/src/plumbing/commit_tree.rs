//! `oxen-commit-tree`: make a commit object.

use std::io::Read;
use std::io::Write;

use std::process::ExitCode;

use clap::Parser;
use oxen_object::Commit;

use crate::{user_error, CommandResult};

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
pub fn main() -> ExitCode {
    crate::run_main(run)
}

/// Run with parsed arguments.
pub fn run(args: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let repo = super::repo()?;
    let tree = repo.resolve_tree(&args.tree)?;
    let mut parents = Vec::new();
    for p in &args.parents {
        let id = repo.resolve_commit(p)?;
        if parents.contains(&id) {
            return Err(user_error(format!("duplicate parent {id}")));
        }
        parents.push(id);
    }
    let raw = if args.message.is_empty() {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| user_error(format!("reading message from stdin: {e}")))?;
        s
    } else {
        args.message.join("\n\n")
    };
    let message = oxen_repo::normalize_message(&raw).ok_or_else(|| user_error("empty commit message"))?;
    let author = oxen_repo::signature(&repo.config()?)?;
    let id = repo.write_commit(&Commit { tree, parents, author, message })?;
    writeln!(out, "{id}")?;
    Ok(())
}
