//! Writing trees into the work tree and index: the file-level steps that
//! checkout, reset, merge and restore share. Every write goes through the
//! repository's [`oxen_index::WorkTree`] handle, so nothing is written
//! through a symlink and nothing outside the work tree is touched. Only
//! files that differ are written; an existing file is replaced via a temp
//! file and rename, so its old contents are never half-overwritten.

use oxen_index::{FileStat, Index, IndexEntry};
use oxen_object::mode;
use oxen_path::RepoPath;
use oxen_store::StoreError;

use crate::join::{Files, MergeJoin};
use crate::tree::FlatEntry;
use crate::{Repo, RepoError, Result};

/// What a checkout did.
#[derive(Clone, Debug, Default)]
pub struct CheckoutReport {
    /// Files written.
    pub written: usize,
    /// Files removed.
    pub removed: usize,
}

/// A work-tree I/O error, named by the file's path. A directory that must
/// give way to a file but still holds the user's files is a refusal, not an
/// I/O failure.
pub(crate) fn wt_error(repo: &Repo, path: &RepoPath, e: std::io::Error) -> RepoError {
    if e.kind() == std::io::ErrorKind::DirectoryNotEmpty {
        return RepoError::Refused(e.to_string());
    }
    StoreError::io(repo.worktree.abs(path), e).into()
}

/// Write one file of the versions store into the work tree (creating its
/// directories): a symlink as a link to its stored target bytes.
pub fn materialize(repo: &Repo, path: &RepoPath, e: &FlatEntry) -> Result<FileStat> {
    if e.mode == mode::SYMLINK {
        // A link target is bytes too: restored exactly, UTF-8 or not.
        let target = repo.versions.read_all(&e.id).map_err(|err| err.reading_for(repo.worktree.abs(path)))?;
        return repo.worktree.write_symlink(path, &target).map_err(|err| wt_error(repo, path, err));
    }
    let mut src = repo.versions.open(&e.id)?;
    repo.worktree.write_file(path, &mut src, e.mode == mode::EXEC).map_err(|err| wt_error(repo, path, err))
}

/// Remove a work-tree file (a symlink itself, never what it points at) and
/// any directories it leaves empty. A path beyond a symlink is not in the
/// work tree, so nothing is removed there.
pub fn remove_work_file(repo: &Repo, path: &RepoPath) -> Result<bool> {
    let removed = repo.worktree.remove_file(path).map_err(|e| wt_error(repo, path, e))?;
    if removed {
        repo.worktree.prune_empty_dirs(path);
    }
    Ok(removed)
}

pub(crate) fn entry_for(e: &FlatEntry, stat: FileStat) -> IndexEntry {
    let tracking = if e.tabular.is_some() { oxen_index::Tracking::Tabular } else { oxen_index::Tracking::Regular };
    IndexEntry { id: e.id, stat, tracking, tabular: e.tabular.clone() }
}

/// The index entry that stages `e` at `path` without touching the work
/// tree: the current stat is kept when the contents are the same (so the
/// stat cache stays warm), else an empty stat forces a re-hash on the next
/// status.
pub fn staged_entry(index: &Index, path: &RepoPath, e: &FlatEntry) -> IndexEntry {
    staged_entry_over(index.entries.get(path), e)
}

/// [`staged_entry`] given the path's current index entry (a point lookup
/// rather than the whole index).
pub(crate) fn staged_entry_over(current: Option<&IndexEntry>, e: &FlatEntry) -> IndexEntry {
    let stat = match current {
        Some(ie) if ie.id == e.id => ie.stat,
        _ => FileStat { mode: e.mode, size: e.size, ..Default::default() },
    };
    entry_for(e, stat)
}

impl Repo {
    /// Whether the work-tree file at `path` already holds `want`: its index
    /// entry `have` names the same contents and mode (or no mode yet), and
    /// the file still holds what that entry records. A transition or a
    /// restore leaves such a file alone (same inode, same mtime).
    pub(crate) fn already_in_place(
        &self,
        index: &Index,
        path: &RepoPath,
        want: &FlatEntry,
        have: &IndexEntry,
    ) -> Result<bool> {
        if have.id != want.id || (have.stat.mode != 0 && have.stat.mode != want.mode) {
            return Ok(false);
        }
        self.work_file_matches(index, path, have)
    }

    /// Whether the work-tree file at `path` still holds what index entry
    /// `e` records (by the stat cache, else by hashing it). A file that is
    /// not there (deleted, or beyond a symlink) is not clean.
    pub(crate) fn work_file_matches(&self, index: &Index, path: &RepoPath, e: &IndexEntry) -> Result<bool> {
        let Some(m) = self.worktree.lstat(path).map_err(|err| wt_error(self, path, err))? else { return Ok(false) };
        if m.is_dir() {
            return Ok(false);
        }
        if index.is_clean(e, &m.stat) {
            return Ok(true);
        }
        if e.stat.mode != 0 && m.stat.mode != e.stat.mode {
            return Ok(false);
        }
        Ok(oxen_index::hash_file(&self.versions, &self.worktree, path, &m.stat, false)
            .map(|h| h.id == e.id)
            .unwrap_or(false))
    }

    /// Set the index (only) to `target`'s tree, keeping stat info for
    /// entries whose content is unchanged (`reset --mixed`). A merge-join
    /// of the target's files and the index, both in path order: only the
    /// rows that change are held, and they are committed in one
    /// transaction, so an interrupted reset leaves the index as it was.
    pub fn reset_index(&self, target: Option<&oxen_hash::ContentId>) -> Result<()> {
        let tree = match target {
            Some(c) => Some(self.read_commit(c)?.tree),
            None => None,
        };
        let want: Files<'_> = match &tree {
            Some(t) => Box::new(self.tree_files(t)),
            None => Box::new(std::iter::empty()),
        };
        let mut changes: Vec<(RepoPath, Option<IndexEntry>)> = Vec::new();
        for row in MergeJoin::new(want, self.index_rows()) {
            match row? {
                (p, Some(e), None) => changes.push((p, Some(staged_entry_over(None, &e)))),
                (p, None, Some(_)) => changes.push((p, None)),
                (p, Some(e), Some(cur)) => {
                    let ie = staged_entry_over(Some(&cur), &e);
                    if ie != cur {
                        changes.push((p, Some(ie)));
                    }
                }
                (_, None, None) => unreachable!("a joined row has a side"),
            }
        }
        Index::apply(&self.db, &changes)?;
        Ok(())
    }
}
