//! `oxen-ls-tree`: list a tree.

use std::io::Write;

use std::process::ExitCode;

use clap::Parser;
use oxen_object::EntryKind;
use oxen_path::{quote, Quote, RepoPath};

use crate::CommandResult;

/// List the contents of a tree (or of a commit's tree), one entry per line:
/// `<mode> <type> <id>\t<name>`. Names are quoted as git quotes them
/// (special bytes escaped in double quotes) unless -z is given.
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
    /// End entries with NUL instead of newline and print names raw (unquoted bytes).
    #[arg(short = 'z')]
    pub nul: bool,
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
    let mut stack = vec![(tree, RepoPath::root())];
    let mut lines: Vec<(RepoPath, Vec<u8>)> = Vec::new();
    while let Some((t, prefix)) = stack.pop() {
        for e in repo.dir_entries(&t)? {
            let path = prefix.join(&e.name)?;
            if args.recursive && e.kind == EntryKind::Dir {
                stack.push((e.id, path));
                continue;
            }
            let kind = if e.kind == EntryKind::Dir { "tree" } else { "blob" };
            let mut line = if args.name_only {
                Vec::new()
            } else if args.long {
                format!("{:06o} {kind} {} {:>10}\t", e.mode, e.id, e.size).into_bytes()
            } else {
                format!("{:06o} {kind} {}\t", e.mode, e.id).into_bytes()
            };
            if args.nul {
                line.extend_from_slice(path.as_bytes());
                line.push(0);
            } else {
                line.extend_from_slice(quote(path.as_bytes(), Quote::C).as_bytes());
                line.push(b'\n');
            }
            lines.push((path, line));
        }
    }
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = std::io::BufWriter::new(out);
    for (_, l) in lines {
        out.write_all(&l)?;
    }
    out.flush()?;
    Ok(())
}
