//! The streaming halves of a transition (issue 14): the paths that differ
//! between two trees handed out in path order ([`TreeDiff`]), and the
//! executor that writes and removes them in bounded batches ([`Applier`]).
//! Together they hold the open directories of the two trees and one batch
//! of planned work, never an entry per file of the repository.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use bstr::BString;
use oxen_hash::ContentId;
use oxen_index::{FileStat, Index, IndexEntry};
use oxen_object::{EntryKind, TreeEntry};
use oxen_path::{PathSet, RepoPath};
use oxen_store::{Progress, StoreError};
use rayon::prelude::*;

use crate::tree::FlatEntry;
use crate::worktree::{entry_for, materialize, remove_work_file, staged_entry_over, wt_error, CheckoutReport};
use crate::{Repo, Result, TreeChange};

/// Paths planned per batch: written in parallel, then their index rows
/// committed in one transaction. Large enough that both cores stay busy
/// and a transaction's cost is spread over many files, small enough that a
/// batch is a few megabytes: each content lookup maps a page of the blob
/// table (random ids), so a batch maps up to 2,048 pages (8 MB) until the
/// release after it; 8,192 cost four times that.
pub(crate) const BATCH: usize = 2048;

/// One entry of an open directory pair, keyed for path order (a directory
/// sorts as its name plus `/`, as in the index and the work-tree walk).
enum Item {
    Dir { name: BString, old: Option<ContentId>, new: Option<ContentId> },
    File { name: BString, old: Option<FlatEntry>, new: Option<FlatEntry> },
}

/// The paths that differ between two trees (`None`: the empty tree), one
/// at a time in path byte order, as [`Repo::diff_trees`] lists them.
/// Subtrees with equal ids are skipped without being read; only the
/// directory pairs from the root to the current one are held.
pub(crate) struct TreeDiff<'r> {
    repo: &'r Repo,
    /// Open directory pairs: path and the differing entries still to hand
    /// out, reversed for popping.
    stack: Vec<(RepoPath, Vec<Item>)>,
    root: Option<(Option<ContentId>, Option<ContentId>)>,
    opened: u64,
}

fn as_flat(e: &TreeEntry) -> Option<FlatEntry> {
    (e.kind == EntryKind::File).then(|| FlatEntry { id: e.id, mode: e.mode, size: e.size, tabular: e.tabular.clone() })
}

fn as_dir(e: Option<&TreeEntry>) -> Option<ContentId> {
    e.filter(|e| e.kind == EntryKind::Dir).map(|e| e.id)
}

impl<'r> TreeDiff<'r> {
    pub(crate) fn new(repo: &'r Repo, old: Option<&ContentId>, new: Option<&ContentId>) -> TreeDiff<'r> {
        TreeDiff { repo, stack: Vec::new(), root: Some((old.copied(), new.copied())), opened: 0 }
    }

    fn open(&mut self, old: Option<ContentId>, new: Option<ContentId>, path: RepoPath) -> Result<()> {
        if old == new {
            return Ok(());
        }
        self.opened += 1;
        if self.opened.is_multiple_of(256) {
            self.repo.db.release_mapped_pages();
        }
        let load = |t: Option<ContentId>| -> Result<Vec<TreeEntry>> {
            Ok(match t {
                Some(t) => self.repo.dir_entries(&t)?,
                None => Vec::new(),
            })
        };
        // Both sorted by name: merged in one pass.
        let (a, b) = (load(old)?, load(new)?);
        let mut keyed: Vec<(Vec<u8>, Item)> = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            let (ea, eb) = match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) if x.name == y.name => {
                    i += 1;
                    j += 1;
                    (Some(x), Some(y))
                }
                (Some(x), Some(y)) if x.name < y.name => {
                    i += 1;
                    (Some(x), None)
                }
                (Some(x), None) => {
                    i += 1;
                    (Some(x), None)
                }
                (_, Some(y)) => {
                    j += 1;
                    (None, Some(y))
                }
                (None, None) => break,
            };
            let name = ea.or(eb).map(|e| e.name.clone()).unwrap_or_default();
            let (da, db) = (as_dir(ea), as_dir(eb));
            if da != db {
                let mut k = name.to_vec();
                k.push(b'/');
                keyed.push((k, Item::Dir { name: name.clone(), old: da, new: db }));
            }
            let (fa, fb) = (ea.and_then(as_flat), eb.and_then(as_flat));
            let differs = match (&fa, &fb) {
                (None, None) => false,
                (Some(x), Some(y)) => x.id != y.id || x.mode != y.mode,
                _ => true,
            };
            if differs {
                keyed.push((name.to_vec(), Item::File { name, old: fa, new: fb }));
            }
        }
        keyed.sort_by(|x, y| y.0.cmp(&x.0));
        self.stack.push((path, keyed.into_iter().map(|(_, it)| it).collect()));
        Ok(())
    }

    fn next_change(&mut self) -> Result<Option<TreeChange>> {
        if let Some((old, new)) = self.root.take() {
            self.open(old, new, RepoPath::root())?;
        }
        loop {
            let Some((dir, items)) = self.stack.last_mut() else { return Ok(None) };
            let Some(item) = items.pop() else {
                self.stack.pop();
                continue;
            };
            match item {
                Item::Dir { name, old, new } => {
                    let path = dir.join(&name)?;
                    self.open(old, new, path)?;
                }
                Item::File { name, old, new } => {
                    let path = dir.join(&name)?;
                    return Ok(Some(TreeChange { path, old, new }));
                }
            }
        }
    }
}

impl Iterator for TreeDiff<'_> {
    type Item = Result<TreeChange>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_change().transpose()
    }
}

/// Carries out a transition's writes and removals as they are planned, in
/// batches of [`BATCH`] paths: a batch's removals first, then its
/// directories once each, then its files in parallel, then its index rows
/// in one transaction. Paths come in path order, so a file that gives way
/// to a directory is removed in the same or an earlier batch than the
/// files below it; a file that replaces a directory comes before the
/// directory's files are removed, so its write is deferred to the end
/// (held: one entry per such replacement).
pub(crate) struct Applier<'r> {
    repo: &'r Repo,
    set: Option<PathSet>,
    writes: Vec<(RepoPath, FlatEntry)>,
    removals: Vec<RepoPath>,
    deferred: Vec<(RepoPath, FlatEntry)>,
    progress: &'r dyn Progress,
    done: AtomicU64,
    /// Remove what an interrupted write left at each path first.
    resuming: bool,
    report: CheckoutReport,
}

impl<'r> Applier<'r> {
    /// `total`: the number of files to write when known beforehand (it
    /// starts `progress`).
    pub(crate) fn new(repo: &'r Repo, progress: &'r dyn Progress, total: Option<u64>, resuming: bool) -> Result<Self> {
        if let Some(t) = total {
            progress.start(t);
        }
        Ok(Applier {
            repo,
            set: repo.partial_set()?,
            writes: Vec::new(),
            removals: Vec::new(),
            deferred: Vec::new(),
            progress,
            done: AtomicU64::new(0),
            resuming,
            report: CheckoutReport::default(),
        })
    }

    pub(crate) fn write(&mut self, path: RepoPath, e: FlatEntry) -> Result<()> {
        if self.resuming {
            self.repo.worktree.remove_leftover_tmp(&path);
        }
        self.writes.push((path, e));
        self.maybe_flush()
    }

    pub(crate) fn remove(&mut self, path: RepoPath) -> Result<()> {
        if self.resuming {
            self.repo.worktree.remove_leftover_tmp(&path);
        }
        self.removals.push(path);
        self.maybe_flush()
    }

    fn maybe_flush(&mut self) -> Result<()> {
        if self.writes.len() + self.removals.len() >= BATCH {
            self.flush(false)?;
        }
        Ok(())
    }

    /// Write what is planned, the deferred writes last.
    pub(crate) fn finish(mut self) -> Result<CheckoutReport> {
        self.flush(false)?;
        self.writes = std::mem::take(&mut self.deferred);
        self.flush(true)?;
        Ok(self.report)
    }

    fn flush(&mut self, last: bool) -> Result<()> {
        let repo = self.repo;
        let removals = std::mem::take(&mut self.removals);
        let writes = std::mem::take(&mut self.writes);
        if removals.is_empty() && writes.is_empty() {
            return Ok(());
        }
        let mut changes: Vec<(RepoPath, Option<IndexEntry>)> = Vec::with_capacity(writes.len() + removals.len());
        for p in removals {
            remove_work_file(repo, &p)?;
            self.report.removed += 1;
            changes.push((p, None));
        }
        // A partial clone writes only its paths; the others get their index
        // entry (so commits keep them) and stay out of the work tree.
        let (inside, outside): (Vec<_>, Vec<_>) =
            writes.into_iter().partition(|(p, _)| !Repo::outside(self.set.as_ref(), p));
        for (p, e) in outside {
            let ie = staged_entry_over(Index::entry(&repo.db, &p)?.as_ref(), &e);
            changes.push((p, Some(ie)));
        }
        if repo.versions.has_promisor() && !inside.is_empty() {
            // One round to the promisor remote for the batch's contents not
            // here, rather than one per file from the parallel writers below.
            let ids: Vec<ContentId> = inside.iter().map(|(_, e)| e.id).collect();
            repo.versions.fetch_missing(&ids).map_err(|err| match &err {
                StoreError::NotFetched { id, .. } => match inside.iter().find(|(_, e)| e.id == *id) {
                    Some((p, _)) => err.reading_for(p.to_string()),
                    None => err,
                },
                _ => err,
            })?;
        }
        // Each directory is made once per batch, rather than checked per file.
        let dirs: BTreeSet<RepoPath> = inside.iter().map(|(p, _)| p.parent().unwrap_or_default()).collect();
        for d in &dirs {
            repo.worktree.make_dir(d).map_err(|e| wt_error(repo, d, e))?;
        }
        let done = &self.done;
        let progress = self.progress;
        let written: Vec<(RepoPath, FlatEntry, Result<FileStat>)> = inside
            .into_par_iter()
            .map(|(p, e)| {
                let st = materialize(repo, &p, &e);
                if st.is_ok() {
                    progress.update(done.fetch_add(1, Ordering::Relaxed) + 1, 0);
                }
                (p, e, st)
            })
            .collect();
        let mut failed = None;
        for (p, e, st) in written {
            match st {
                Ok(st) => {
                    self.report.written += 1;
                    changes.push((p.clone(), Some(entry_for(&e, st))));
                }
                Err(err) => {
                    // A directory still standing where the file goes: its
                    // tracked files are removed later in path order.
                    let is_dir = !last && matches!(repo.worktree.lstat(&p), Ok(Some(m)) if m.is_dir());
                    if is_dir {
                        self.deferred.push((p, e));
                    } else if failed.is_none() {
                        failed = Some(err);
                    }
                }
            }
        }
        // The rows of what was done are committed even when a file failed:
        // the transition's record stays, and completing it redoes the rest.
        Index::apply(&repo.db, &changes)?;
        repo.db.release_mapped_pages();
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
