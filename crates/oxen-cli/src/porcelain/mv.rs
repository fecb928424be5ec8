//! `oxen mv`

use oxen_index::repo_path;
use std::io::Write;

use crate::{user_error, CommandResult};

/// Move or rename a tracked file or directory, in the work tree and index.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Source path.
    pub source: String,
    /// Destination path (an existing directory receives the source inside it).
    pub dest: String,
}

pub fn run(a: Args, _out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let repo = super::open()?;
    let cwd = crate::cwd()?;
    let work = repo.layout.work.clone();
    let src = repo_path(&work, &cwd, &a.source)?;
    let mut dst = repo_path(&work, &cwd, &a.dest)?;
    if src.is_empty() {
        return Err(user_error("cannot move the repository root"));
    }
    if work.join(&dst).is_dir() {
        let name = src.rsplit('/').next().unwrap_or(&src);
        dst = if dst.is_empty() { name.to_string() } else { format!("{dst}/{name}") };
    }
    if std::fs::symlink_metadata(work.join(&dst)).is_ok() {
        return Err(user_error(format!("destination '{dst}' exists")));
    }
    let index = repo.index()?;
    let moved: Vec<(String, String)> = index
        .entries
        .keys()
        .filter(|p| oxen_index::path_is_under(p, &src))
        .map(|p| (p.clone(), format!("{dst}{}", &p[src.len()..])))
        .collect();
    if moved.is_empty() {
        return Err(user_error(format!("'{}' is not under version control", a.source)));
    }
    if let Some(parent) = work.join(&dst).parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::rename(work.join(&src), work.join(&dst))
        .map_err(|e| user_error(format!("cannot move '{src}' to '{dst}': {e}")))?;
    let mut changes = Vec::new();
    for (old, new) in moved {
        // The old stat is kept on purpose: the rename changed ctime, so the
        // next status re-hashes and still sees any unstaged edits.
        let e = index.entries[&old].clone();
        changes.push((old, None));
        changes.push((new, Some(e)));
    }
    oxen_index::Index::apply(&repo.db, &changes)?;
    Ok(())
}
