//! `oxen restore`, `oxen reset`

use std::collections::BTreeMap;

use oxen_index::{path_is_under, repo_path, Index};
use oxen_refs::Head;
use oxen_repo::{FlatEntry, Repo};

use crate::{fail, CliResult};

/// Restore work-tree files from the index (default) or from a commit, or
/// unstage them with --staged.
#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// Restore the index (unstage) instead of the work tree.
    #[arg(short = 'S', long)]
    pub staged: bool,
    /// Also restore the work tree (with --staged).
    #[arg(short = 'W', long)]
    pub worktree: bool,
    /// Take contents from this revision.
    #[arg(short = 's', long, value_name = "REV")]
    pub source: Option<String>,
    /// Paths to restore.
    #[arg(required = true)]
    pub paths: Vec<String>,
}

/// Restore `paths` in the index and/or work tree from `source` (a revision;
/// default: HEAD for the index, the index for the work tree).
pub(crate) fn restore_paths(
    repo: &Repo,
    user_paths: &[String],
    source: Option<&str>,
    staged: bool,
    worktree: bool,
) -> CliResult {
    let cwd = crate::cwd()?;
    let specs: Vec<String> =
        user_paths.iter().map(|p| repo_path(&repo.layout.work, &cwd, p)).collect::<Result<_, _>>()?;
    let index = repo.index()?;
    // The version each path should get.
    let from: BTreeMap<String, FlatEntry> = match (source, staged) {
        (Some(rev), _) => repo.flatten_commit(Some(&repo.resolve_commit(rev)?))?,
        (None, true) => repo.flatten_commit(repo.head_commit()?.as_ref())?,
        (None, false) => index
            .entries
            .iter()
            .map(|(p, e)| {
                (
                    p.clone(),
                    FlatEntry {
                        id: e.id,
                        mode: if e.stat.mode == 0 { oxen_object::mode::FILE } else { e.stat.mode },
                        size: e.stat.size,
                        tabular: e.tabular.clone(),
                    },
                )
            })
            .collect(),
    };
    for s in &specs {
        let known = from.keys().any(|p| path_is_under(p, s)) || index.entries.keys().any(|p| path_is_under(p, s));
        if !known {
            return Err(fail(format!("pathspec '{s}' did not match any file known to oxen")));
        }
    }
    let wanted: BTreeMap<String, FlatEntry> = from
        .iter()
        .filter(|(p, _)| specs.iter().any(|s| path_is_under(p, s)))
        .map(|(p, e)| (p.clone(), e.clone()))
        .collect();
    if staged {
        let mut changes = Vec::new();
        for (p, e) in &wanted {
            changes.push((p.clone(), Some(oxen_repo::staged_entry(&index, p, e))));
        }
        // Paths staged as new but absent from the source are unstaged.
        for p in index.entries.keys() {
            if specs.iter().any(|s| path_is_under(p, s)) && !wanted.contains_key(p) {
                changes.push((p.clone(), None));
            }
        }
        Index::apply(&repo.db, &changes)?;
    }
    if worktree {
        // Writing through apply_to_worktree also refreshes the index entries
        // for these paths; for a plain worktree restore that must not change
        // what is staged, which holds because the contents come from the index.
        if staged || source.is_none() {
            repo.apply_to_worktree(&wanted, &[])?;
        } else {
            for (p, e) in &wanted {
                oxen_repo::materialize(repo, p, e)?;
            }
        }
    }
    Ok(())
}

pub fn restore(a: RestoreArgs) -> CliResult {
    let repo = super::open()?;
    let worktree = a.worktree || !a.staged;
    restore_paths(&repo, &a.paths, a.source.as_deref(), a.staged, worktree)
}

/// Move the current branch to a revision. --soft keeps index and work tree,
/// --mixed (default) resets the index, --hard resets index and work tree.
/// With paths, unstage them instead.
#[derive(clap::Args, Debug)]
pub struct ResetArgs {
    /// Only move the branch.
    #[arg(long, conflicts_with_all = ["hard", "mixed"])]
    pub soft: bool,
    /// Move the branch and reset the index (default).
    #[arg(long, conflicts_with = "hard")]
    pub mixed: bool,
    /// Move the branch and reset index and work tree (discards local changes).
    #[arg(long)]
    pub hard: bool,
    /// Revision to reset to (default HEAD).
    pub rev: Option<String>,
    /// Paths to unstage (after `--`).
    #[arg(last = true)]
    pub paths: Vec<String>,
}

pub fn reset(a: ResetArgs) -> CliResult {
    let repo = super::open()?;
    if !a.paths.is_empty() {
        return restore_paths(&repo, &a.paths, a.rev.as_deref(), true, false);
    }
    let target = repo.resolve_commit(a.rev.as_deref().unwrap_or("HEAD"))?;
    let head = repo.head()?;
    let old = repo.head_commit()?;
    if a.hard {
        repo.reset_hard(&target)?;
    } else if !a.soft {
        repo.reset_index(Some(&target))?;
    }
    match &head {
        Head::Branch(b) => {
            repo.refs().update(
                &format!("heads/{b}"),
                Some(target),
                match old {
                    Some(o) => oxen_refs::Expect::Is(o),
                    None => oxen_refs::Expect::Absent,
                },
            )?;
        }
        Head::Detached(_) => oxen_refs::write_head(&repo.layout, &Head::Detached(target))?,
    }
    repo.set_merge_state(None)?;
    if a.hard {
        let c = repo.read_commit(&target)?;
        println!("HEAD is now at {} {}", target.short(), c.summary());
    }
    Ok(())
}
