//! `oxen-ls-tree`: list a tree.

use std::io::Write;

use std::process::ExitCode;

use clap::Parser;
use oxen_object::EntryKind;

use crate::CommandResult;

/// List the contents of a tree (or of a commit's tree), one entry per line:
/// `<mode> <type> <id>\t<name>`.
#[derive(Parser, Debug)]
#[command(name = "oxen-ls-tree", version)]
pub struct Args {
    /// Recurse into subdirectories, listing files with full paths.
    #[arg(short = 'r')]
    pub recursive: bool,
    /// Show sizes.
    #[arg(short = 'l', long = "long")]
    pub long: bool,
    /// Show only names.
    #[arg(long)]
    pub name_only: bool,
    /// Tree, commit or revision (e.g. HEAD, main, HEAD~2, <id>).
    pub tree_ish: String,
}

/// Entry point.
pub fn main() -> ExitCode {
    crate::run_main(run)
}

/// Run with parsed arguments.
pub fn run(args: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let repo = super::repo()?;
    let tree = repo.resolve_tree(&args.tree_ish)?;
    let mut stack = vec![(tree, String::new())];
    let mut lines: Vec<(String, String)> = Vec::new();
    while let Some((t, prefix)) = stack.pop() {
        for e in repo.dir_entries(&t)? {
            let path = if prefix.is_empty() { e.name.clone() } else { format!("{prefix}/{}", e.name) };
            if args.recursive && e.kind == EntryKind::Dir {
                stack.push((e.id, path));
                continue;
            }
            let kind = if e.kind == EntryKind::Dir { "tree" } else { "blob" };
            let line = if args.name_only {
                path.clone()
            } else if args.long {
                format!("{:06o} {kind} {} {:>10}\t{path}", e.mode, e.id, e.size)
            } else {
                format!("{:06o} {kind} {}\t{path}", e.mode, e.id)
            };
            lines.push((path, line));
        }
    }
    lines.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    for (_, l) in lines {
        writeln!(out, "{l}")?;
    }
    Ok(())
}
