//! `oxen mv`

use std::io::Write;
use std::path::PathBuf;

use oxen_path::RepoPath;

use crate::{user_error, CommandResult};

/// Move or rename a tracked file or directory, in the work tree and index.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Source path.
    pub source: PathBuf,
    /// Destination path (an existing directory receives the source inside it).
    pub dest: PathBuf,
}

pub fn run(a: Args, _out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let repo = super::open_worktree(err)?;
    let cwd = crate::cwd()?;
    let work = repo.layout.work.clone();
    let wt = &repo.worktree;
    let src = RepoPath::from_user(&work, &cwd, &a.source)?;
    let mut dst = RepoPath::from_user(&work, &cwd, &a.dest)?;
    if src.is_root() {
        return Err(user_error("cannot move the repository root"));
    }
    // Neither side may lie beyond a symlink: that is outside the work tree.
    for p in [&src, &dst] {
        if wt.symlink_leading(p)?.is_some() {
            return Err(oxen_index::IndexError::BeyondSymlink(p.clone()).into());
        }
    }
    if wt.lstat(&dst)?.is_some_and(|m| m.is_dir()) {
        dst = dst.join(src.name())?;
    }
    if wt.lstat(&dst)?.is_some() || wt.blocked_leading(&dst)?.is_some() {
        return Err(user_error(format!("destination '{dst}' exists")));
    }
    if dst.is_under(&src) {
        return Err(user_error(format!("cannot move '{src}' into itself")));
    }
    let index = repo.index()?;
    let moved: Vec<(RepoPath, RepoPath)> =
        index.entries.keys().filter_map(|p| Some((p.clone(), p.rebase(&src, &dst)?))).collect();
    if moved.is_empty() {
        return Err(user_error(format!("'{src}' is not under version control")));
    }
    // With the monitor, the next status re-checks only these paths.
    let carry = repo.carry_over_start(&[src.clone(), dst.clone()])?;
    wt.rename(&src, &dst).map_err(|e| user_error(format!("cannot move '{src}' to '{dst}': {e}")))?;
    let mut changes = Vec::new();
    for (old, new) in moved {
        // The old stat is kept on purpose: the rename changed ctime, so the
        // next status re-hashes and still sees any unstaged edits.
        let e = index.entries[&old].clone();
        changes.push((old, None));
        changes.push((new, Some(e)));
    }
    oxen_index::Index::apply(&repo.db, &changes)?;
    repo.carry_over(carry);
    Ok(())
}
