//! Making the work tree and index match a commit: checkout, reset --hard,
//! restore. Only files that differ are written; an existing file is
//! replaced via a temp file and rename, so an interrupted checkout never
//! leaves a half-overwritten file.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use oxen_hash::ContentId;
use oxen_index::{FileStat, Index, IndexEntry};
use oxen_object::mode;
use oxen_path::RepoPath;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};

use oxen_store::{Progress, StoreError};
use rayon::prelude::*;

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

/// Make `rel` (a directory of the work tree `work`) exist as a directory,
/// removing files or symlinks that stand where one of its components must be.
fn ensure_dir(work: &Path, rel: &RepoPath) -> Result<()> {
    if rel.is_root() {
        return Ok(());
    }
    let abs = rel.abs(work);
    if std::fs::create_dir_all(&abs).is_ok() {
        return Ok(());
    }
    let mut cur = work.to_path_buf();
    for comp in rel.components() {
        cur.push(OsStr::from_bytes(comp));
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => continue,
            Ok(_) => std::fs::remove_file(&cur).map_err(|e| StoreError::io(&cur, e))?,
            Err(_) => {}
        }
        match std::fs::create_dir(&cur) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(StoreError::io(&cur, e).into()),
        }
    }
    Ok(())
}

fn parent_of(path: &RepoPath) -> RepoPath {
    path.parent().unwrap_or_default()
}

/// Remove a directory that a file must replace, but only if it is empty:
/// whatever is left in it after tracked files were removed is untracked
/// work that must not be deleted.
fn remove_empty_dir(abs: &Path) -> Result<()> {
    std::fs::remove_dir(abs).map_err(|_| {
        RepoError::Refused(format!(
            "cannot replace directory {} with a file: it holds untracked files; move them away and retry",
            abs.display()
        ))
    })
}

/// Write one file of the versions store into the work tree.
pub fn materialize(repo: &Repo, path: &RepoPath, e: &FlatEntry) -> Result<FileStat> {
    ensure_dir(&repo.layout.work, &parent_of(path))?;
    write_file_at(repo, path, e)
}

/// Write contents at `path`, whose parent directory exists. A new file is
/// written in place (create, write, close: what `cp` costs) and removed
/// again if writing fails; an existing one is replaced via a temp file and
/// rename, so its old contents are never half-overwritten. Either way a
/// file is left in place only once all its bytes were read from the store
/// and verified against their id (the store's reads verify as they
/// stream), so corrupt contents never reach the work tree.
fn write_file_at(repo: &Repo, path: &RepoPath, e: &FlatEntry) -> Result<FileStat> {
    use std::os::unix::fs::OpenOptionsExt;
    let abs = path.abs(&repo.layout.work);
    let io = |err| StoreError::io(&abs, err);
    if e.mode == mode::SYMLINK {
        // A link target is bytes too: restored exactly, UTF-8 or not.
        let target = repo.versions.read_all(&e.id).map_err(|err| err.reading_for(&abs))?;
        let target = OsStr::from_bytes(&target);
        match std::fs::symlink_metadata(&abs) {
            Ok(m) if m.is_dir() => remove_empty_dir(&abs)?,
            Ok(_) => std::fs::remove_file(&abs).map_err(io)?,
            Err(_) => {}
        }
        std::os::unix::fs::symlink(target, &abs).map_err(io)?;
        let m = std::fs::symlink_metadata(&abs).map_err(io)?;
        return Ok(FileStat::from_metadata(&m));
    }
    let perm = if e.mode == mode::EXEC { 0o755 } else { 0o644 };
    let mut src = repo.versions.open(&e.id)?;
    let fresh = std::fs::OpenOptions::new().write(true).create_new(true).mode(perm).open(&abs);
    match fresh {
        Ok(mut f) => {
            let m = std::io::copy(&mut src, &mut f).and_then(|_| f.metadata());
            return match m {
                Ok(m) => Ok(FileStat::from_metadata(&m)),
                Err(err) => {
                    drop(f);
                    // Nothing was there before; nothing half-written stays.
                    let _ = std::fs::remove_file(&abs);
                    Err(io(err).into())
                }
            };
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(io(err).into()),
    }
    if std::fs::symlink_metadata(&abs).map(|m| m.is_dir()).unwrap_or(false) {
        remove_empty_dir(&abs)?;
    }
    let parent = abs.parent().unwrap_or(&repo.layout.work).to_path_buf();
    let mut tmp = tempfile::Builder::new()
        .prefix(".oxen-tmp-")
        .tempfile_in(&parent)
        .map_err(|err| StoreError::io(&parent, err))?;
    std::io::copy(&mut src, tmp.as_file_mut()).map_err(io)?;
    tmp.as_file_mut().flush().map_err(io)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(perm)).map_err(io)?;
    tmp.persist(&abs).map_err(|err| StoreError::io(&abs, err.error))?;
    // Stat after the rename: it changes ctime, which the stat cache compares.
    let m = std::fs::symlink_metadata(&abs).map_err(io)?;
    Ok(FileStat::from_metadata(&m))
}

/// Remove a work-tree file and any directories it leaves empty.
pub fn remove_work_file(work: &Path, path: &RepoPath) -> Result<()> {
    let abs = path.abs(work);
    match std::fs::remove_file(&abs) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(&abs, e).into()),
    }
    let mut dir = abs.parent();
    while let Some(d) = dir {
        if d == work {
            break;
        }
        if std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

fn entry_for(e: &FlatEntry, stat: FileStat) -> IndexEntry {
    let tracking = if e.tabular.is_some() { oxen_index::Tracking::Tabular } else { oxen_index::Tracking::Regular };
    IndexEntry { id: e.id, stat, tracking, tabular: e.tabular.clone() }
}

/// The index entry that stages `e` at `path` without touching the work
/// tree: the current stat is kept when the contents are the same (so the
/// stat cache stays warm), else an empty stat forces a re-hash on the next
/// status.
pub fn staged_entry(index: &Index, path: &RepoPath, e: &FlatEntry) -> IndexEntry {
    let stat = match index.entries.get(path) {
        Some(ie) if ie.id == e.id => ie.stat,
        _ => FileStat { mode: e.mode, size: e.size, ..Default::default() },
    };
    entry_for(e, stat)
}

impl Repo {
    /// Paths whose work-tree file differs from the index, or whose index
    /// entry differs from `head`: the local changes a checkout must not
    /// clobber. Only `paths` are examined.
    fn dirty_among(
        &self,
        index: &Index,
        head: &BTreeMap<RepoPath, FlatEntry>,
        paths: &BTreeSet<RepoPath>,
    ) -> Result<Vec<RepoPath>> {
        let work = &self.layout.work;
        let dirty: Vec<Option<RepoPath>> = paths
            .par_iter()
            .map(|p| -> Result<Option<RepoPath>> {
                let in_head = head.get(p);
                let in_index = index.entries.get(p);
                let staged_differs = match (in_head, in_index) {
                    (None, None) => false,
                    (Some(h), Some(i)) => h.id != i.id,
                    _ => true,
                };
                if staged_differs {
                    return Ok(Some(p.clone()));
                }
                let meta = std::fs::symlink_metadata(p.abs(work)).ok().filter(|m| !m.is_dir());
                match (in_index, meta) {
                    (None, None) => Ok(None),
                    // Untracked file in the way of a file the target has.
                    (None, Some(_)) => Ok(Some(p.clone())),
                    // Deleted locally: nothing to lose.
                    (Some(_), None) => Ok(None),
                    (Some(e), Some(m)) => {
                        let st = FileStat::from_metadata(&m);
                        if index.is_clean(e, &st) {
                            return Ok(None);
                        }
                        let h = oxen_index::hash_file(&self.versions, work, p, &st, false)?;
                        Ok(if h.id == e.id { None } else { Some(p.clone()) })
                    }
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(dirty.into_iter().flatten().collect())
    }

    /// Make the work tree and index match `target`, starting from the
    /// current HEAD commit: only paths that differ between the two commits
    /// are touched (found by comparing trees, skipping equal subtrees).
    /// Without `force`, refuses, changing nothing, if any of those paths has
    /// local changes. HEAD is not moved.
    pub fn checkout_commit(&self, target: &ContentId, force: bool, progress: &dyn Progress) -> Result<CheckoutReport> {
        let current = self.head_commit()?;
        let cur_tree = match current {
            Some(c) => Some(self.read_commit(&c)?.tree),
            None => None,
        };
        let new_tree = self.read_commit(target)?.tree;
        let changes = self.diff_trees(cur_tree.as_ref(), Some(&new_tree))?;
        let index = self.index()?;
        if !force {
            let paths: BTreeSet<RepoPath> = changes.iter().map(|c| c.path.clone()).collect();
            let head_entries: BTreeMap<RepoPath, FlatEntry> =
                changes.iter().filter_map(|c| c.old.clone().map(|o| (c.path.clone(), o))).collect();
            let dirty = self.dirty_among(&index, &head_entries, &paths)?;
            if !dirty.is_empty() {
                let shown: Vec<String> = dirty.iter().take(5).map(RepoPath::to_string).collect();
                let more = if dirty.len() > 5 { format!(" and {} more", dirty.len() - 5) } else { String::new() };
                return Err(RepoError::Refused(format!(
                    "your local changes to {}{more} would be overwritten; commit, stash or restore them first (or use --force)",
                    shown.join(", ")
                )));
            }
        }
        // A file that must take the place of a directory holding untracked
        // files would cost the user that work: refuse before touching anything.
        for c in changes.iter().filter(|c| c.new.is_some() && c.old.is_none()) {
            if c.path.abs(&self.layout.work).is_dir() {
                let inside = oxen_index::walk_work_tree(
                    &self.layout.work,
                    &c.path,
                    oxen_index::WalkOptions { honor_ignore: false },
                )?
                .files;
                if let Some(u) = inside.iter().find(|f| !index.entries.contains_key(&f.path)) {
                    return Err(RepoError::Refused(format!(
                        "untracked file '{}' is in the way of '{}'; move it away and retry",
                        u.path, c.path
                    )));
                }
            }
        }
        let target_files: BTreeMap<RepoPath, FlatEntry> =
            changes.iter().filter_map(|c| c.new.clone().map(|n| (c.path.clone(), n))).collect();
        let removed: Vec<RepoPath> = changes.iter().filter(|c| c.new.is_none()).map(|c| c.path.clone()).collect();
        self.apply_to_worktree(&target_files, &removed, progress)
    }

    /// Write `files` into the work tree and index and remove `removed`, in
    /// parallel, then commit all index changes in one transaction.
    /// `progress` hears the number of files to write and each one written.
    pub fn apply_to_worktree(
        &self,
        files: &BTreeMap<RepoPath, FlatEntry>,
        removed: &[RepoPath],
        progress: &dyn Progress,
    ) -> Result<CheckoutReport> {
        for p in removed {
            remove_work_file(&self.layout.work, p)?;
        }
        progress.start(files.len() as u64);
        let done = AtomicU64::new(0);
        // Each directory is made once, up front, rather than checked per file.
        let dirs: BTreeSet<RepoPath> = files.keys().map(parent_of).collect();
        for d in &dirs {
            ensure_dir(&self.layout.work, d)?;
        }
        let written: Vec<Result<(RepoPath, Option<IndexEntry>)>> = files
            .par_iter()
            .map(|(p, e)| {
                let st = write_file_at(self, p, e)?;
                progress.update(done.fetch_add(1, Ordering::Relaxed) + 1, 0);
                Ok((p.clone(), Some(entry_for(e, st))))
            })
            .collect();
        let mut changes: Vec<(RepoPath, Option<IndexEntry>)> = Vec::with_capacity(written.len() + removed.len());
        for w in written {
            changes.push(w?);
        }
        for p in removed {
            changes.push((p.clone(), None));
        }
        Index::apply(&self.db, &changes)?;
        Ok(CheckoutReport { written: files.len(), removed: removed.len() })
    }

    /// `reset --hard`: index and work tree become exactly `target` for every
    /// tracked path; untracked files are left alone.
    pub fn reset_hard(&self, target: &ContentId, progress: &dyn Progress) -> Result<CheckoutReport> {
        let want = self.flatten_commit(Some(target))?;
        let index = self.index()?;
        let work = &self.layout.work;
        let mut to_write = BTreeMap::new();
        for (p, e) in &want {
            let keep = match index.entries.get(p) {
                Some(ie) if ie.id == e.id => match std::fs::symlink_metadata(p.abs(work)) {
                    Ok(m) => {
                        let st = FileStat::from_metadata(&m);
                        index.is_clean(ie, &st)
                            || oxen_index::hash_file(&self.versions, work, p, &st, false)
                                .map(|h| h.id == e.id)
                                .unwrap_or(false)
                    }
                    Err(_) => false,
                },
                _ => false,
            };
            if !keep {
                to_write.insert(p.clone(), e.clone());
            }
        }
        let removed: Vec<RepoPath> = index.entries.keys().filter(|p| !want.contains_key(*p)).cloned().collect();
        self.apply_to_worktree(&to_write, &removed, progress)
    }

    /// Set the index (only) to `target`'s tree, keeping stat info for
    /// entries whose content is unchanged (`reset --mixed`).
    pub fn reset_index(&self, target: Option<&ContentId>) -> Result<()> {
        let want = self.flatten_commit(target)?;
        let index = self.index()?;
        let mut entries = BTreeMap::new();
        for (p, e) in want {
            let ie = staged_entry(&index, &p, &e);
            entries.insert(p, ie);
        }
        Index::replace(&self.db, &entries)?;
        Ok(())
    }
}
