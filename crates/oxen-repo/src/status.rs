//! Status of a repository: the comparison itself is `oxen_index::status`;
//! this adds what makes the next one cheaper, so every caller (the CLI,
//! bindings) gets the same behaviour.

use std::collections::BTreeMap;

use oxen_index::{Index, Status};

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
        let mut st =
            oxen_index::status(&self.worktree, &self.versions, &index, if unchanged { None } else { Some(&flat) })?;
        if let Some(set) = self.partial_set()? {
            // A partial clone's paths outside its set are absent from the
            // work tree on purpose: not deleted (git's skip-worktree).
            for e in &mut st.entries {
                if e.unstaged == Some(oxen_index::Change::Deleted) && !set.contains(&e.path) {
                    e.unstaged = None;
                }
            }
            st.entries.retain(|e| e.staged.is_some() || e.unstaged.is_some());
        }
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
        Ok((st, index))
    }
}
