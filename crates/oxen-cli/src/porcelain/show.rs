//! `oxen show`

use std::io::Write;

use crate::CommandResult;

/// Show a commit: its header, message and changes.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show a diffstat instead of the full diff.
    #[arg(long)]
    pub stat: bool,
    /// The commit (default HEAD).
    pub rev: Option<String>,
}

pub fn run(a: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let repo = super::open()?;
    let id = repo.resolve_commit(a.rev.as_deref().unwrap_or("HEAD"))?;
    let c = repo.read_commit(&id)?;
    let mut out = std::io::BufWriter::new(out);
    super::shared::write_header(&mut out, &id, &c)?;
    writeln!(out)?;
    let parent_tree = match c.parents.first() {
        Some(p) => Some(repo.read_commit(p)?.tree),
        None => None,
    };
    let opts = super::diff::DiffOptions::text(a.stat, vec![]);
    super::diff::print_tree_changes(&repo, parent_tree.as_ref(), Some(&c.tree), &opts, &mut out)?;
    out.flush()?;
    Ok(())
}
