//! `oxen commit`

use oxen_object::Commit;
use oxen_refs::Head;
use std::io::Write;

use crate::{user_error, CommandResult};

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
    let message = oxen_repo::normalize_message(&a.message.join("\n\n"))
        .ok_or_else(|| user_error("aborting commit due to empty commit message"))?;
    let merge = repo.merge_state()?;
    if let Some(m) = &merge {
        if !m.conflicts.is_empty() {
            return Err(user_error(format!(
                "cannot commit: {} unresolved conflict(s), e.g. '{}'; fix them and `oxen add` them",
                m.conflicts.len(),
                m.conflicts[0]
            )));
        }
    }
    let head = repo.head()?;
    let parent = repo.head_commit()?;
    let tree = repo.write_tree()?;
    if merge.is_none() && !a.allow_empty {
        let unchanged = match parent {
            Some(p) => repo.read_commit(&p)?.tree == tree,
            None => repo.index()?.entries.is_empty(),
        };
        if unchanged {
            return Err(user_error("nothing to commit (use `oxen add` to stage changes, or --allow-empty)"));
        }
    }
    let mut parents: Vec<_> = parent.into_iter().collect();
    if let Some(m) = &merge {
        parents.push(m.theirs);
    }
    let author = oxen_repo::signature(&repo.config()?)?;
    let id = repo.write_commit(&Commit { tree, parents, author, message: message.clone() })?;
    let kind = match (&merge, parent) {
        (Some(_), _) => "commit (merge)",
        (None, None) => "commit (initial)",
        (None, Some(_)) => "commit",
    };
    let summary = message.lines().next().unwrap_or("");
    repo.move_head_to(&head, parent, &id, &format!("{kind}: {summary}")).map_err(|e| match e {
        // Another command moved the branch (or HEAD) since we read it:
        // the commit is stored but not on any branch; committing again
        // from the new state is the only safe way on.
        oxen_repo::RepoError::Ref(oxen_refs::RefError::Stale { .. } | oxen_refs::RefError::HeadMoved { .. }) => {
            user_error(format!(
                "the branch moved while committing; your commit {} is stored but not on any branch: run `oxen status` and commit again",
                id.short()
            ))
        }
        other => other.into(),
    })?;
    if merge.is_some() {
        repo.set_merge_state(None)?;
    }
    let where_ = match &head {
        Head::Branch(b) => b.to_string(),
        Head::Detached(_) => "detached HEAD".into(),
    };
    let root = if parent.is_none() { " (root-commit)" } else { "" };
    writeln!(out, "[{where_}{root} {}] {}", id.short(), message.lines().next().unwrap_or(""))?;
    Ok(())
}
