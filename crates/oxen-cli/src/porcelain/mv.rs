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
    // Only the rows that move: the one at `src`, or the range below it
    // (one transaction, so a directory moves whole or not at all).
    let mut moved: Vec<(RepoPath, RepoPath, oxen_index::IndexEntry)> = Vec::new();
    match oxen_index::Index::entry(&repo.db, &src)? {
        Some(e) => moved.push((src.clone(), dst.clone(), e)),
        None => {
            for row in oxen_index::IndexIter::from(&repo.db, &src).take_while_under(&src) {
                let (p, e) = row?;
                if let Some(new) = p.rebase(&src, &dst) {
                    moved.push((p, new, e));
                }
            }
        }
    }
    if moved.is_empty() {
        return Err(user_error(format!("'{src}' is not under version control")));
    }
    // With the monitor, the next status re-checks only these paths.
    let carry = repo.carry_over_start(&[src.clone(), dst.clone()])?;
    wt.rename(&src, &dst).map_err(|e| user_error(format!("cannot move '{src}' to '{dst}': {e}")))?;
    let mut changes = Vec::new();
    for (old, new, e) in moved {
        // The old stat is kept on purpose: the rename changed ctime, so the
        // next status re-hashes and still sees any unstaged edits.
        changes.push((old, None));
        changes.push((new, Some(e)));
    }
    oxen_index::Index::apply(&repo.db, &changes)?;
    repo.carry_over(carry);
    Ok(())
}
