//! `oxen commit`

use oxen_refs::Head;
use std::io::Write;

use crate::CommandResult;

/// Record the staged changes as a new commit on the current branch.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The commit message (several -m are joined as paragraphs).
    #[arg(short = 'm', long = "message", value_name = "MSG", required = true)]
    pub message: Vec<String>,
    /// Allow a commit that changes nothing.
    #[arg(long)]
    pub allow_empty: bool,
    /// Stage modified and deleted tracked files first.
    #[arg(short = 'a', long)]
    pub all: bool,
}

pub fn run(a: Args, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let repo = super::open_worktree(err)?;
    if a.all {
        super::shared::stage(&repo, &[oxen_path::RepoPath::root()], true, err)?;
    }
    let oxen_repo::CommitOutcome { id, head, root, message } =
        repo.commit_index(&a.message.join("\n\n"), a.allow_empty)?;
    let where_ = match &head {
        Head::Branch(b) => b.to_string(),
        Head::Detached(_) => "detached HEAD".into(),
    };
    let root = if root { " (root-commit)" } else { "" };
    writeln!(out, "[{where_}{root} {}] {}", id.short(), message.lines().next().unwrap_or(""))?;
    Ok(())
}
