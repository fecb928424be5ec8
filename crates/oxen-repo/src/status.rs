//! Status of a repository: the comparison itself is `oxen_index::status`;
//! this adds what makes the next one cheaper, so every caller (the CLI,
//! bindings) gets the same behaviour.

use std::collections::BTreeMap;

use oxen_index::{Index, Status};

use crate::monitored::{MonitorOutcome, Monitored};
use crate::{Repo, Result};

impl Repo {
    /// Staged and unstaged changes and untracked files against HEAD, with
    /// the index they were computed from (for `Status::untracked_collapsed`).
    ///
    /// Two caches are refreshed on the way, best effort (a concurrent writer
    /// holding the lock is not an error): index entries of files that were
    /// touched but not changed get their new stat, so the next status does
    /// not read them again; and when nothing is staged the index is recorded
    /// as producing HEAD's tree, so the next status skips reading that tree.
    pub fn status(&self) -> Result<(Status, Index)> {
        self.status_with_outcome().map(|(s, i, _)| (s, i))
    }

    /// [`Repo::status`], saying how it was computed (with `core.fsmonitor`,
    /// from the monitor's changed paths or by a full scan, and why).
    pub fn status_with_outcome(&self) -> Result<(Status, Index, MonitorOutcome)> {
        // With `core.fsmonitor`, only what changed since the last status is
        // looked at, when the monitor can vouch for it (crate::monitored).
        let (pending, why) = match self.status_from_monitor()? {
            Monitored::Done(done, n) => return Ok((done.0, done.1, MonitorOutcome::Fast { changed: n })),
            Monitored::Scan(p, why) => (p, why),
        };
        let index = self.index()?;
        let head_tree = match self.head_commit()? {
            Some(c) => Some(self.read_commit(&c)?.tree),
            None => None,
        };
        // When the index is known to produce HEAD's tree, nothing is staged and
        // HEAD's tree need not be read at all.
        let unchanged = head_tree.is_some() && index.cached_tree(&self.db)? == head_tree;
        let flat: BTreeMap<oxen_path::RepoPath, (oxen_hash::ContentId, u32)> = match head_tree {
            Some(t) if !unchanged => self.flatten_tree(&t)?.into_iter().map(|(p, e)| (p, (e.id, e.mode))).collect(),
            _ => BTreeMap::new(),
        };
        let st =
            oxen_index::status(&self.worktree, &self.versions, &index, if unchanged { None } else { Some(&flat) })?;
        let mut stamp = Some(index.written_ns);
        if !st.refreshed.is_empty() {
            // Remember the new stat of files that were touched but not changed,
            // so the next status does not read them again. Best effort: a
            // concurrent writer holding the lock is not an error here.
            let changes: Vec<(oxen_path::RepoPath, Option<oxen_index::IndexEntry>)> =
                st.refreshed.iter().map(|(p, e)| (p.clone(), Some(e.clone()))).collect();
            stamp = Index::apply(&self.db, &changes).ok();
        }
        if let (Some(tree), Some(stamp), false) = (head_tree, stamp, st.has_staged()) {
            let _ = Index::set_cached_tree(&self.db, &tree, stamp);
        }
        let outcome = if pending.is_some() || why != "off" { MonitorOutcome::Full(why) } else { MonitorOutcome::Off };
        if let (Some(p), Some(stamp)) = (pending, stamp) {
            self.save_monitored(p, &st, stamp, head_tree);
        }
        Ok((st, index, outcome))
    }
}
