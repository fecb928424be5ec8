//! Path-wise commands in bounded memory: restore (`restore`, `checkout --
//! <path>`, `reset -- <path>`, `restore --staged`, `--source`) and rm.
//! Each reads only the subtrees its pathspecs name: the source tree's
//! files below each spec ([`Repo::tree_files_under`]) merged with the
//! index rows below it ([`Repo::index_rows_under`]), and checks and writes
//! them [`BATCH`] at a time. What is held is the open directories, one
//! batch, and (for the index-only steps, which stay one transaction) the
//! rows that change.

use oxen_hash::ContentId;
use oxen_index::{Index, IndexEntry};
use oxen_path::RepoPath;
use oxen_store::{Progress, StoreError};
use rayon::prelude::*;

use crate::join::{disjoint_specs, Files, MergeJoin};
use crate::plan::{Applier, BATCH};
use crate::tree::FlatEntry;
use crate::worktree::{materialize, staged_entry_over, wt_error};
use crate::{Repo, RepoError, Result};

/// Where restore takes the versions it writes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestoreSource {
    /// The index (`restore <path>`, `checkout -- <path>`).
    Index,
    /// A tree (`None`: the empty tree of an unborn branch): HEAD's for
    /// `restore --staged`, a revision's for `--source`, `reset <rev> --`,
    /// `checkout <rev> --`.
    Tree(Option<ContentId>),
}

/// An index row as the version a path is restored to.
fn flat_index(e: &IndexEntry) -> FlatEntry {
    let mode = if e.stat.mode == 0 { oxen_object::mode::FILE } else { e.stat.mode };
    FlatEntry { id: e.id, mode, size: e.stat.size, tabular: e.tabular.clone() }
}

impl Repo {
    /// Whether the index holds `spec` or anything below it.
    fn index_has_under(&self, spec: &RepoPath) -> Result<bool> {
        if spec.is_root() {
            return Ok(self.index_rows().next().transpose()?.is_some());
        }
        Ok(Index::entry(&self.db, spec)?.is_some() || Index::tracks_under(&self.db, spec)?)
    }

    /// Whether `tree` holds `spec` or anything below it.
    fn tree_has_under(&self, tree: Option<&ContentId>, spec: &RepoPath) -> Result<bool> {
        let Some(t) = tree else { return Ok(false) };
        if spec.is_root() {
            return Ok(!self.dir_entries(t)?.is_empty());
        }
        Ok(self.tree_entry_at(t, spec)?.is_some())
    }

    /// The versions `source` has at `spec` and below, in path order.
    fn source_under<'r>(&'r self, source: RestoreSource, spec: &'r RepoPath) -> Result<Files<'r>> {
        Ok(match source {
            RestoreSource::Index => Box::new(self.index_rows_under(spec).map(|r| r.map(|(p, e)| (p, flat_index(&e))))),
            RestoreSource::Tree(t) => self.tree_files_under(t.as_ref(), spec)?,
        })
    }

    /// Restore the paths under `specs` in the index (`staged`: to the
    /// source's versions) and/or the work tree (`worktree`: files written
    /// from the source's versions). A tracked path (an index row) the
    /// source tree lacks is removed from what is restored (the index row
    /// with `staged`, the work-tree file with `worktree`), as git's
    /// `restore` (no-overlay mode) does; with `overlay` (git's
    /// `checkout <rev> -- <path>`) it is left alone. A pathspec that names
    /// nothing in the source or the index (with `overlay`, in the source
    /// tree) is refused before anything changes.
    ///
    /// Work-tree writes go through the [`Applier`] (the batches of a
    /// transition: never through a symlink, index rows refreshed with the
    /// written file's stat) unless only the work tree is restored from a
    /// tree, which leaves the index as it is. A file that already holds
    /// the version (by the stat cache, else by its hash) is not rewritten.
    /// In a partial clone, the contents come from the promisor remote
    /// first (a batch per round), and only then do the specs outside the
    /// set join it, so a failed fetch leaves the set and work tree as they
    /// were.
    pub fn restore(
        &self,
        specs: &[RepoPath],
        source: RestoreSource,
        staged: bool,
        worktree: bool,
        overlay: bool,
        progress: &dyn Progress,
    ) -> Result<()> {
        let tree = match source {
            RestoreSource::Index => None,
            RestoreSource::Tree(t) => t,
        };
        for s in specs {
            let known = match source {
                RestoreSource::Index => self.index_has_under(s)?,
                RestoreSource::Tree(_) if overlay => self.tree_has_under(tree.as_ref(), s)?,
                RestoreSource::Tree(_) => self.tree_has_under(tree.as_ref(), s)? || self.index_has_under(s)?,
            };
            if !known {
                return Err(RepoError::Refused(format!("pathspec '{s}' did not match any file known to oxen")));
            }
        }
        // In path order, each subtree once: a file spec reads the source's
        // and the index's row for it, a directory spec their rows below it.
        let specs = disjoint_specs(specs, |s| {
            Ok(match source {
                RestoreSource::Tree(Some(t)) => {
                    self.tree_entry_at(&t, s)?.is_some_and(|e| e.kind == oxen_object::EntryKind::File)
                }
                _ => Index::entry(&self.db, s)?.is_some(),
            })
        })?;
        if worktree && !overlay && source != RestoreSource::Index {
            // Before the index rows go (with `staged`): the tracked files
            // the source lacks leave the work tree.
            for s in &specs {
                for row in MergeJoin::new(self.source_under(source, s)?, self.index_rows_under(s)) {
                    if let (p, None, Some(_)) = row? {
                        crate::remove_work_file(self, &p)?;
                    }
                }
            }
        }
        if staged {
            // One transaction, as `reset --mixed`: the rows that change.
            let mut changes: Vec<(RepoPath, Option<IndexEntry>)> = Vec::new();
            for s in &specs {
                for row in MergeJoin::new(self.source_under(source, s)?, self.index_rows_under(s)) {
                    match row? {
                        (p, Some(e), cur) => {
                            let ie = staged_entry_over(cur.as_ref(), &e);
                            if cur.as_ref() != Some(&ie) {
                                changes.push((p, Some(ie)));
                            }
                        }
                        // Staged as new but absent from the source: unstaged
                        // (kept in overlay mode).
                        (_, None, Some(_)) if overlay => {}
                        (p, None, Some(_)) => changes.push((p, None)),
                        (_, None, None) => unreachable!("a joined row has a side"),
                    }
                }
            }
            Index::apply(&self.db, &changes)?;
        }
        if worktree {
            self.widen_for_restore(&specs, source)?;
            // Writing index rows keeps what is staged as it is when the
            // contents come from the index (or were just staged); from a
            // tree alone, the index is left as it is.
            let index_rows = staged || source == RestoreSource::Index;
            let mut out = if index_rows {
                RestoreWriter::Applier(Applier::new(self, progress, None, false)?)
            } else {
                RestoreWriter::Plain(Vec::with_capacity(BATCH))
            };
            let header = Index::load_header(&self.db)?;
            let mut batch: Vec<(RepoPath, FlatEntry, Option<IndexEntry>)> = Vec::with_capacity(BATCH);
            for s in &specs {
                for row in MergeJoin::new(self.source_under(source, s)?, self.index_rows_under(s)) {
                    if let (p, Some(e), cur) = row? {
                        batch.push((p, e, cur));
                    }
                    if batch.len() >= BATCH {
                        self.restore_batch(std::mem::take(&mut batch), &header, &mut out)?;
                    }
                }
            }
            self.restore_batch(batch, &header, &mut out)?;
            match out {
                RestoreWriter::Applier(a) => {
                    a.finish()?;
                }
                RestoreWriter::Plain(files) => self.write_plain(files)?,
            }
        }
        Ok(())
    }

    /// A partial clone restoring paths outside its set: fetch their
    /// contents (a batch per round to the promisor remote), then add the
    /// specs to the set, so they are checked out from now on.
    fn widen_for_restore(&self, specs: &[RepoPath], source: RestoreSource) -> Result<()> {
        let Some(set) = self.partial_set()? else { return Ok(()) };
        let outside: Vec<RepoPath> = specs.iter().filter(|s| !set.contains(s)).cloned().collect();
        if outside.is_empty() {
            return Ok(());
        }
        for s in &outside {
            let mut batch: Vec<(RepoPath, ContentId)> = Vec::with_capacity(BATCH);
            for f in self.source_under(source, s)? {
                let (p, e) = f?;
                batch.push((p, e.id));
                if batch.len() >= BATCH {
                    self.fetch_batch(&std::mem::take(&mut batch))?;
                }
            }
            self.fetch_batch(&batch)?;
        }
        let remote = self.promisor_remote()?.unwrap_or_else(|| "origin".into());
        self.set_partial(&remote, &set.widened(outside))
    }

    /// The contents of `files` not here, from the promisor remote in one
    /// round; a failure names the first path whose content could not come.
    fn fetch_batch(&self, files: &[(RepoPath, ContentId)]) -> Result<()> {
        let ids: Vec<ContentId> = files.iter().map(|(_, id)| *id).collect();
        self.versions.fetch_missing(&ids).map_err(|err| match &err {
            StoreError::NotFetched { id, .. } => match files.iter().find(|(_, i)| i == id) {
                Some((p, _)) => err.reading_for(p.to_string()).into(),
                None => err.into(),
            },
            _ => err.into(),
        })
    }

    /// Check a batch of paths to restore in parallel: those whose index
    /// row and work-tree file already hold the version are left alone
    /// (the rule of [`Repo::transition`]'s discarding step); the others
    /// are written.
    fn restore_batch(
        &self,
        batch: Vec<(RepoPath, FlatEntry, Option<IndexEntry>)>,
        header: &Index,
        out: &mut RestoreWriter<'_>,
    ) -> Result<()> {
        let keep: Vec<bool> = batch
            .par_iter()
            .map(|(p, e, cur)| match cur {
                Some(ie) => self.already_in_place(header, p, e, ie),
                None => Ok(false),
            })
            .collect::<Result<_>>()?;
        self.db.release_mapped_pages();
        for ((p, e, _), keep) in batch.into_iter().zip(keep) {
            if keep {
                continue;
            }
            match out {
                RestoreWriter::Applier(a) => a.write(p, e)?,
                RestoreWriter::Plain(files) => {
                    files.push((p, e));
                    if files.len() >= BATCH {
                        self.write_plain(std::mem::take(files))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Write work-tree files without touching the index, in parallel
    /// (through the work-tree handle, as every write).
    fn write_plain(&self, files: Vec<(RepoPath, FlatEntry)>) -> Result<()> {
        let dirs: std::collections::BTreeSet<RepoPath> =
            files.iter().map(|(p, _)| p.parent().unwrap_or_default()).collect();
        for d in &dirs {
            self.worktree.make_dir(d).map_err(|e| wt_error(self, d, e))?;
        }
        let written: Vec<Result<()>> = files.par_iter().map(|(p, e)| materialize(self, p, e).map(|_| ())).collect();
        self.db.release_mapped_pages();
        written.into_iter().collect()
    }
}

/// Where restore's work-tree writes go.
enum RestoreWriter<'r> {
    /// Written with their index rows.
    Applier(Applier<'r>),
    /// Written alone (a batch at a time).
    Plain(Vec<(RepoPath, FlatEntry)>),
}

impl Repo {
    /// Remove the tracked files under `paths` from the index and (unless
    /// `cached`) the work tree. Without `force`, a path with staged or
    /// unstaged changes refuses the whole removal before anything changes.
    /// Returns the paths removed and, when a work-tree file could not be
    /// removed, the error that stopped it (the paths before it are removed
    /// and unstaged; the rest stay staged). Holds every path removed: for
    /// callers that want the list ([`Repo::remove_each`] streams).
    pub fn remove(
        &self,
        paths: &[RepoPath],
        cached: bool,
        recursive: bool,
        force: bool,
    ) -> Result<(Vec<RepoPath>, Option<RepoError>)> {
        let mut done = Vec::new();
        let failure = self.remove_each(paths, cached, recursive, force, &mut |p| done.push(p.clone()))?;
        Ok((done, failure))
    }

    /// [`Repo::remove`] in bounded memory: the index rows under each path
    /// (and HEAD's files there, for the check) are read in path order and
    /// removed [`BATCH`] at a time, each batch's rows one transaction;
    /// `removed` hears each path once its row is gone, in path order.
    pub fn remove_each(
        &self,
        paths: &[RepoPath],
        cached: bool,
        recursive: bool,
        force: bool,
        removed: &mut dyn FnMut(&RepoPath),
    ) -> Result<Option<RepoError>> {
        let tracked = |s: &RepoPath| -> Result<bool> { Ok(!s.is_root() && Index::entry(&self.db, s)?.is_some()) };
        let specs = disjoint_specs(paths, tracked)?;
        if !cached && !force {
            self.refuse_removing_changes(&specs)?;
        }
        for p in paths {
            if tracked(p)? {
                continue;
            }
            if !self.index_has_under(p)? {
                return Err(oxen_index::IndexError::NoMatch(p.clone()).into());
            }
            if !recursive {
                return Err(oxen_index::IndexError::NeedRecursive(p.clone()).into());
            }
        }
        let mut batch: Vec<RepoPath> = Vec::with_capacity(BATCH);
        let mut failure = None;
        'specs: for s in &specs {
            // A tracked file named is removed alone, as a directory's rows are.
            let rows: Box<dyn Iterator<Item = Result<RepoPath>>> = if tracked(s)? {
                Box::new(std::iter::once(Ok(s.clone())))
            } else {
                Box::new(self.index_rows_under(s).map(|r| r.map(|(p, _)| p)))
            };
            for p in rows {
                let p = p?;
                if !cached {
                    if let Err(e) = crate::remove_work_file(self, &p) {
                        failure = Some(RepoError::Refused(format!("cannot remove {e}; it stays staged")));
                        break 'specs;
                    }
                }
                batch.push(p);
                if batch.len() >= BATCH {
                    self.unstage_removed(std::mem::take(&mut batch), removed)?;
                }
            }
        }
        self.unstage_removed(batch, removed)?;
        Ok(failure)
    }

    fn unstage_removed(&self, batch: Vec<RepoPath>, removed: &mut dyn FnMut(&RepoPath)) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let changes: Vec<(RepoPath, Option<IndexEntry>)> = batch.into_iter().map(|p| (p, None)).collect();
        Index::apply(&self.db, &changes)?;
        self.db.release_mapped_pages();
        for (p, _) in &changes {
            removed(p);
        }
        Ok(())
    }

    /// Refuse (naming the first in path order) when a tracked path under
    /// `specs` (disjoint, in path order) differs from HEAD's or its
    /// work-tree file has changes: checked [`BATCH`] at a time in parallel.
    fn refuse_removing_changes(&self, specs: &[RepoPath]) -> Result<()> {
        let head = self.head_tree()?;
        let header = Index::load_header(&self.db)?;
        let mut batch: Vec<(RepoPath, Option<FlatEntry>, IndexEntry)> = Vec::with_capacity(BATCH);
        for s in specs {
            for row in MergeJoin::new(self.tree_files_under(head.as_ref(), s)?, self.index_rows_under(s)) {
                if let (p, h, Some(ie)) = row? {
                    batch.push((p, h, ie));
                }
                if batch.len() >= BATCH {
                    self.check_removals(&std::mem::take(&mut batch), &header)?;
                }
            }
        }
        self.check_removals(&batch, &header)
    }

    fn check_removals(&self, batch: &[(RepoPath, Option<FlatEntry>, IndexEntry)], header: &Index) -> Result<()> {
        let changed: Vec<Result<bool>> = batch
            .par_iter()
            .map(|(p, h, e)| -> Result<bool> {
                if h.as_ref().is_none_or(|h| h.id != e.id) {
                    return Ok(true);
                }
                // Through the work-tree handle: a path beyond a symlink is
                // not there (and nothing there will be removed).
                Ok(match self.worktree.lstat(p)? {
                    Some(m) if !m.is_dir() => {
                        !header.is_clean(e, &m.stat)
                            && oxen_index::hash_file(&self.versions, &self.worktree, p, &m.stat, false)?.id != e.id
                    }
                    _ => false,
                })
            })
            .collect();
        self.db.release_mapped_pages();
        for ((p, _, _), c) in batch.iter().zip(changed) {
            if c? {
                return Err(RepoError::Refused(format!(
                    "'{p}' has local changes; use --cached to keep the file, or -f to force removal"
                )));
            }
        }
        Ok(())
    }
}
