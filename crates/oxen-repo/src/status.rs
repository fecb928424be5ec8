//! Status of a repository: the comparison itself is `oxen_index::status`;
//! this adds what makes the next one cheaper, so every caller (the CLI,
//! bindings) gets the same behaviour.

use oxen_index::{Index, IndexIter, Status};

use crate::monitored::{MonitorOutcome, Monitored};
use crate::{Repo, Result};

impl Repo {
    /// Staged and unstaged changes and untracked files against HEAD.
    ///
    /// Two caches are refreshed on the way, best effort (a concurrent writer
    /// holding the lock is not an error): index entries of files that were
    /// touched but not changed get their new stat, so the next status does
    /// not read them again; and when nothing is staged the index is recorded
    /// as producing HEAD's tree, so the next status skips reading that tree.
    pub fn status(&self) -> Result<Status> {
        self.status_with_outcome().map(|(s, _)| s)
    }

    /// [`Repo::status`], saying how it was computed (with `core.fsmonitor`,
    /// from the monitor's changed paths or by a full scan, and why).
    pub fn status_with_outcome(&self) -> Result<(Status, MonitorOutcome)> {
        // With `core.fsmonitor`, only what changed since the last status is
        // looked at, when the monitor can vouch for it (crate::monitored).
        let (pending, why) = match self.status_from_monitor()? {
            Monitored::Done(mut st, n) => {
                self.hide_outside_partial(&mut st)?;
                return Ok((*st, MonitorOutcome::Fast { changed: n }));
            }
            Monitored::Scan(p, why) => (p, why),
        };
        let header = Index::load_header(&self.db)?;
        let head_tree = match self.head_commit()? {
            Some(c) => Some(self.read_commit(&c)?.tree),
            None => None,
        };
        // When the index is known to produce HEAD's tree, nothing is staged and
        // HEAD's tree need not be read at all.
        let unchanged = head_tree.is_some() && header.cached_tree(&self.db)? == head_tree;
        // Index, work tree and HEAD are merged in path order as they are
        // read: memory does not grow with the number of files.
        let mut head_files = match head_tree {
            Some(t) if !unchanged => Some(self.tree_files(&t)),
            _ => None,
        };
        let mut head_iter = head_files.as_mut().map(|h| {
            h.map(|r| r.map(|(p, e)| (p, e.id, e.mode)).map_err(|e| oxen_index::IndexError::Tree(e.to_string())))
        });
        let empty_head = &mut std::iter::empty();
        let head: Option<&mut dyn Iterator<Item = oxen_index::Result<oxen_index::HeadFile>>> = match &mut head_iter {
            Some(h) => Some(h),
            None if unchanged => None,
            // An unborn branch: everything in the index is staged.
            None => Some(empty_head),
        };
        let mut stamp = Some(header.written_ns);
        // Remember the new stat of files that were touched but not changed,
        // so the next status does not read them again; in batches, as found.
        // Best effort: a concurrent writer holding the lock is not an error here.
        let mut sink = |batch: Vec<(oxen_path::RepoPath, oxen_index::IndexEntry)>| -> oxen_index::Result<()> {
            let changes: Vec<(oxen_path::RepoPath, Option<oxen_index::IndexEntry>)> =
                batch.into_iter().map(|(p, e)| (p, Some(e))).collect();
            stamp = Index::apply(&self.db, &changes).ok();
            Ok(())
        };
        let mut entries = IndexIter::new(&self.db);
        let mut st = oxen_index::status_streaming(
            &self.worktree,
            &self.versions,
            header.written_ns,
            &mut entries,
            head,
            Some(&mut sink),
        )?;
        self.hide_outside_partial(&mut st)?;
        if let (Some(tree), Some(stamp), false) = (head_tree, stamp, st.has_staged()) {
            let _ = Index::set_cached_tree(&self.db, &tree, stamp);
        }
        let outcome = if pending.is_some() || why != "off" { MonitorOutcome::Full(why) } else { MonitorOutcome::Off };
        if let (Some(p), Some(stamp)) = (pending, stamp) {
            self.save_monitored(p, &st, stamp, head_tree);
        }
        Ok((st, outcome))
    }

    /// A partial clone's paths outside its set are absent from the work
    /// tree on purpose: not deleted (git's skip-worktree).
    fn hide_outside_partial(&self, st: &mut Status) -> Result<()> {
        let Some(set) = self.partial_set()? else { return Ok(()) };
        for e in &mut st.entries {
            if e.unstaged == Some(oxen_index::Change::Deleted) && oxen_index::absent_on_purpose(Some(&set), &e.path) {
                e.unstaged = None;
            }
        }
        st.entries.retain(|e| e.staged.is_some() || e.unstaged.is_some());
        Ok(())
    }
}
