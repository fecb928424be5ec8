//! `oxen branch`, `oxen checkout`, `oxen switch`, `oxen tag`

use oxen_refs::{Expect, Head};
use oxen_repo::Repo;

use crate::{fail, CliResult};

/// List, create or delete branches.
#[derive(clap::Args, Debug)]
pub struct BranchArgs {
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

pub fn branch(a: BranchArgs) -> CliResult {
    let repo = super::open()?;
    let Some(name) = a.name else {
        let head = repo.head()?;
        for (r, _) in repo.refs().list("heads/")? {
            let b = &r["heads/".len()..];
            let mark = if head == Head::Branch(b.to_string()) { "*" } else { " " };
            println!("{mark} {b}");
        }
        if let Head::Detached(id) = head {
            println!("* (HEAD detached at {})", id.short());
        }
        if a.all {
            for (r, _) in repo.refs().list("remotes/")? {
                println!("  {r}");
            }
        }
        return Ok(());
    };
    if a.delete || a.force_delete {
        let r = format!("heads/{name}");
        let id = repo.refs().get(&r)?.ok_or_else(|| fail(format!("branch '{name}' not found")))?;
        if repo.head()? == Head::Branch(name.clone()) {
            return Err(fail(format!("cannot delete branch '{name}': it is checked out")));
        }
        if !a.force_delete {
            if let Some(h) = repo.head_commit()? {
                if !repo.is_ancestor(&id, &h)? {
                    return Err(fail(format!("branch '{name}' is not fully merged; use -D to delete it anyway")));
                }
            }
        }
        repo.refs().update(&r, None, Expect::Is(id))?;
        println!("Deleted branch {name} (was {}).", id.short());
        return Ok(());
    }
    create_branch(&repo, &name, a.start.as_deref())?;
    Ok(())
}

fn create_branch(repo: &Repo, name: &str, start: Option<&str>) -> CliResult<oxen_hash::ContentId> {
    oxen_refs::validate_branch_name(name)?;
    let id = repo
        .resolve_commit(start.unwrap_or("HEAD"))
        .map_err(|e| fail(format!("cannot create branch '{name}': {e}")))?;
    repo.refs().update(&format!("heads/{name}"), Some(id), Expect::Absent).map_err(|e| match e {
        oxen_refs::RefError::Stale { .. } => fail(format!("a branch named '{name}' already exists")),
        other => other.into(),
    })?;
    Ok(id)
}

/// Switch branches or detach at a commit, updating the work tree. With
/// `-- <paths>`, restore those paths from the index instead.
#[derive(clap::Args, Debug)]
pub struct CheckoutArgs {
    /// Create a new branch and switch to it.
    #[arg(short = 'b', value_name = "NEW")]
    pub new_branch: Option<String>,
    /// Discard local changes that would be overwritten.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Branch or commit to check out.
    pub target: Option<String>,
    /// Paths to restore (after `--`).
    #[arg(last = true)]
    pub paths: Vec<String>,
}

/// Switch branches.
#[derive(clap::Args, Debug)]
pub struct SwitchArgs {
    /// Create the branch first.
    #[arg(short = 'c', long = "create", value_name = "NEW")]
    pub create: Option<String>,
    /// Discard local changes that would be overwritten.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Allow switching to a commit (detached HEAD).
    #[arg(long)]
    pub detach: bool,
    /// Branch to switch to (or start point with -c).
    pub target: Option<String>,
}

/// Move HEAD to `target` (a branch name or a revision), updating the work tree.
fn switch_to(repo: &Repo, target: &str, force: bool, allow_detach: bool) -> CliResult {
    let branch_ref = format!("heads/{target}");
    let (new_head, commit) = match repo.refs().get(&branch_ref)? {
        Some(id) => (Head::Branch(target.to_string()), Some(id)),
        None => {
            // A remote branch name creates a local tracking branch, as git does.
            let remote_hits: Vec<(String, oxen_hash::ContentId)> = repo
                .refs()
                .list("remotes/")?
                .into_iter()
                .filter(|(r, _)| r.split('/').skip(2).collect::<Vec<_>>().join("/") == target)
                .collect();
            if remote_hits.len() == 1 && oxen_refs::validate_branch_name(target).is_ok() {
                let id = remote_hits[0].1;
                repo.refs().update(&branch_ref, Some(id), Expect::Absent)?;
                (Head::Branch(target.to_string()), Some(id))
            } else {
                if !allow_detach {
                    return Err(fail(format!("'{target}' is not a branch (use --detach to check out a commit)")));
                }
                let id = repo.resolve_commit(target)?;
                (Head::Detached(id), Some(id))
            }
        }
    };
    if let Some(id) = commit {
        let done = repo.progress.clone();
        let _bar = crate::progress::Progress::start("Checking out", done, repo.progress_total.clone());
        let r = repo.checkout_commit(&id, force)?;
        if force {
            repo.reset_hard(&id)?;
        }
        oxen_refs::write_head(&repo.layout, &new_head)?;
        match &new_head {
            Head::Branch(b) => eprintln!("Switched to branch '{b}' ({} written, {} removed)", r.written, r.removed),
            Head::Detached(id) => {
                eprintln!("HEAD is now at {} ({} written, {} removed)", id.short(), r.written, r.removed)
            }
        }
    }
    Ok(())
}

/// `checkout -b` / `switch -c`: create a branch at `start` and move to it.
fn create_and_switch(repo: &Repo, name: &str, start: Option<&str>, force: bool) -> CliResult {
    let id = create_branch(repo, name, start)?;
    // Same commit: only HEAD moves, and local changes stay as they are.
    if repo.head_commit()? != Some(id) {
        repo.checkout_commit(&id, force)?;
    }
    oxen_refs::write_head(&repo.layout, &Head::Branch(name.to_string()))?;
    eprintln!("Switched to a new branch '{name}'");
    Ok(())
}

pub fn checkout(a: CheckoutArgs) -> CliResult {
    let repo = super::open()?;
    if !a.paths.is_empty() {
        let source = a.target.clone();
        return super::restore::restore_paths(&repo, &a.paths, source.as_deref(), false, true);
    }
    if let Some(nb) = &a.new_branch {
        return create_and_switch(&repo, nb, a.target.as_deref(), a.force);
    }
    let target = a.target.ok_or_else(|| fail("nothing to check out: name a branch or commit"))?;
    switch_to(&repo, &target, a.force, true)
}

pub fn switch(a: SwitchArgs) -> CliResult {
    let repo = super::open()?;
    if let Some(nb) = &a.create {
        return create_and_switch(&repo, nb, a.target.as_deref(), a.force);
    }
    let target = a.target.ok_or_else(|| fail("missing branch name"))?;
    switch_to(&repo, &target, a.force, a.detach)
}

/// List tags, or create a tag at a revision.
#[derive(clap::Args, Debug)]
pub struct TagArgs {
    /// Delete the tag.
    #[arg(short = 'd', long)]
    pub delete: bool,
    /// Tag name.
    pub name: Option<String>,
    /// Revision to tag (default HEAD).
    pub rev: Option<String>,
}

pub fn tag(a: TagArgs) -> CliResult {
    let repo = super::open()?;
    let Some(name) = a.name else {
        for (r, _) in repo.refs().list("tags/")? {
            println!("{}", &r["tags/".len()..]);
        }
        return Ok(());
    };
    let r = format!("tags/{name}");
    if a.delete {
        let id = repo.refs().get(&r)?.ok_or_else(|| fail(format!("tag '{name}' not found")))?;
        repo.refs().update(&r, None, Expect::Is(id))?;
        println!("Deleted tag '{name}' (was {})", id.short());
        return Ok(());
    }
    let id = repo.resolve_commit(a.rev.as_deref().unwrap_or("HEAD"))?;
    repo.refs().update(&r, Some(id), Expect::Absent).map_err(|e| match e {
        oxen_refs::RefError::Stale { .. } => fail(format!("tag '{name}' already exists")),
        other => other.into(),
    })?;
    Ok(())
}
