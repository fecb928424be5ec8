//! `oxen branch`

use oxen_refs::{BranchName, Expect, Head};
use std::io::Write;

use crate::{user_error, CommandResult};

/// List, create or delete branches.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Delete the branch (must be merged into HEAD unless -D).
    #[arg(short = 'd', long)]
    pub delete: bool,
    /// Delete the branch even if unmerged.
    #[arg(short = 'D')]
    pub force_delete: bool,
    /// List remote-tracking branches too.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Branch to create or delete.
    pub name: Option<String>,
    /// Where the new branch starts (default HEAD).
    pub start: Option<String>,
}

pub fn run(a: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let repo = super::open()?;
    let Some(name) = a.name else {
        let head = repo.head()?;
        for (b, _) in repo.refs().branches()? {
            let mark = if head == Head::Branch(b.clone()) { "*" } else { " " };
            writeln!(out, "{mark} {b}")?;
        }
        if let Head::Detached(id) = head {
            writeln!(out, "* (HEAD detached at {})", id.short())?;
        }
        if a.all {
            for (r, _) in repo.refs().remote_tracking(None)? {
                writeln!(out, "  {r}")?;
            }
        }
        return Ok(());
    };
    if a.delete || a.force_delete {
        let not_found = || user_error(format!("branch '{name}' not found"));
        let branch = BranchName::new(name.as_str()).map_err(|_| not_found())?;
        let r = branch.to_ref();
        let id = repo.refs().get(&r)?.ok_or_else(not_found)?;
        if repo.head()? == Head::Branch(branch) {
            return Err(user_error(format!("cannot delete branch '{name}': it is checked out")));
        }
        if !a.force_delete {
            if let Some(h) = repo.head_commit()? {
                if !repo.is_ancestor(&id, &h)? {
                    return Err(user_error(format!("branch '{name}' is not fully merged; use -D to delete it anyway")));
                }
            }
        }
        repo.refs().update(&r, None, Expect::Is(id), "branch: deleted")?;
        writeln!(out, "Deleted branch {name} (was {}).", id.short())?;
        return Ok(());
    }
    super::shared::create_branch(&repo, &name, a.start.as_deref())?;
    Ok(())
}
