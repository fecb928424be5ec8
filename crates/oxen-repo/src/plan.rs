//! The executor of a transition (issue 14): it writes and removes the
//! paths that differ ([`Repo::tree_changes`] hands them out in path order)
//! in bounded batches ([`Applier`]). Together they hold the open
//! directories of the two trees and one batch of planned work, never an
//! entry per file of the repository.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use oxen_hash::ContentId;
use oxen_index::{FileStat, Index, IndexEntry};
use oxen_object::mode;
use oxen_path::{PathSet, RepoPath};
use oxen_store::{Progress, StoreError};
use rayon::prelude::*;

use crate::tree::FlatEntry;
use crate::worktree::{entry_for, materialize, remove_work_file, staged_entry_over, wt_error, CheckoutReport};
use crate::{Repo, Result};

/// Paths planned per batch: written in parallel, then their index rows
/// committed in one transaction. Large enough that both cores stay busy
/// and a transaction's cost is spread over many files, small enough that a
/// batch is a few megabytes: each content lookup maps a page of the blob
/// table (random ids), so a batch maps up to 2,048 pages (8 MB) until the
/// release after it; 8,192 cost four times that.
pub(crate) const BATCH: usize = 2048;

/// Files up to this size are read for a batch together
/// ([`oxen_store::Versions::read_small`]: one open per block rather than
/// four calls per file), up to [`SMALL_BATCH_BYTES`] a batch; the rest are
/// streamed one by one.
const SMALL_FILE: u64 = 64 << 10;

/// The bytes of small files a batch holds at once: bounded whatever the
/// batch's files (2,048 of 64 KiB would be 128 MiB).
const SMALL_BATCH_BYTES: u64 = 8 << 20;

/// The contents of a batch's small regular files, read together (in the
/// order of `inside`; `None` for those to stream: larger, symlinks, or
/// not read by `read_small`, which also keeps the batch's bytes within
/// [`SMALL_BATCH_BYTES`]).
fn read_small(repo: &Repo, inside: &[(RepoPath, FlatEntry)]) -> Result<Vec<Option<Vec<u8>>>> {
    // Files recorded as larger are not even looked up.
    let at: Vec<usize> =
        (0..inside.len()).filter(|&i| inside[i].1.mode != mode::SYMLINK && inside[i].1.size <= SMALL_FILE).collect();
    let mut out = vec![None; inside.len()];
    if at.is_empty() {
        return Ok(out);
    }
    let ids: Vec<ContentId> = at.iter().map(|&i| inside[i].1.id).collect();
    for (i, bytes) in at.into_iter().zip(repo.versions.read_small(&ids, SMALL_FILE, SMALL_BATCH_BYTES)?) {
        out[i] = bytes;
    }
    Ok(out)
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
        let small = read_small(repo, &inside)?;
        let done = &self.done;
        let progress = self.progress;
        let written: Vec<(RepoPath, FlatEntry, Result<FileStat>)> = inside
            .into_par_iter()
            .zip(small)
            .map(|((p, e), bytes)| {
                let st = match bytes {
                    Some(b) => repo
                        .worktree
                        .write_file(&p, &mut b.as_slice(), e.mode == mode::EXEC)
                        .map_err(|err| wt_error(repo, &p, err)),
                    None => materialize(repo, &p, &e),
                };
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
