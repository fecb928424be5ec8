//! Committing the index, creating branches and walking history: what the
//! `oxen commit`, `oxen branch` and `oxen log` commands and the Python
//! package (`pyoxen`) share, so that both make the same commit from the
//! same inputs and refuse with the same messages.

use std::collections::{BinaryHeap, HashMap, HashSet};

use oxen_hash::ContentId;
use oxen_object::Commit;
use oxen_path::RepoPath;
use oxen_refs::{BranchName, Expect, Head, RefError};

use crate::{Repo, RepoError, Result};

/// What [`Repo::commit_index`] made.
#[derive(Clone, Debug)]
pub struct CommitOutcome {
    /// The new commit.
    pub id: ContentId,
    /// Where HEAD was (and still is: a branch moved, or a detached HEAD).
    pub head: Head,
    /// Whether it is the first commit of its branch.
    pub root: bool,
    /// The normalised message.
    pub message: String,
}

impl Repo {
    /// Commit the index on HEAD with `raw_message` (normalised as git does),
    /// concluding a merge in progress. Refuses an empty message, unresolved
    /// conflicts and (unless `allow_empty` or merging) a commit that changes
    /// nothing. The author comes from the config or `OXEN_AUTHOR_*`.
    pub fn commit_index(&self, raw_message: &str, allow_empty: bool) -> Result<CommitOutcome> {
        let refused = |m: String| RepoError::Refused(m);
        let message = crate::normalize_message(raw_message)
            .ok_or_else(|| refused("aborting commit due to empty commit message".into()))?;
        let merge = self.merge_state()?;
        if let Some(m) = &merge {
            if !m.conflicts.is_empty() {
                return Err(refused(format!(
                    "cannot commit: {} unresolved conflict(s), e.g. '{}'; fix them and `oxen add` them",
                    m.conflicts.len(),
                    m.conflicts[0]
                )));
            }
        }
        let head = self.head()?;
        let parent = self.head_commit()?;
        let old_tree = self.head_tree()?;
        let tree = self.write_tree()?;
        if merge.is_none() && !allow_empty {
            let unchanged = match parent {
                Some(p) => self.read_commit(&p)?.tree == tree,
                None => oxen_index::IndexIter::new(&self.db).next().transpose()?.is_none(),
            };
            if unchanged {
                return Err(refused("nothing to commit (use `oxen add` to stage changes, or --allow-empty)".into()));
            }
        }
        let mut parents: Vec<_> = parent.into_iter().collect();
        if let Some(m) = &merge {
            parents.push(m.theirs);
        }
        let author = crate::signature(&self.config()?)?;
        let id = self.write_commit(&Commit { tree, parents, author, message: message.clone() })?;
        let kind = match (&merge, parent) {
            (Some(_), _) => "commit (merge)",
            (None, None) => "commit (initial)",
            (None, Some(_)) => "commit",
        };
        let summary = message.lines().next().unwrap_or("");
        self.move_head_to(&head, parent, &id, &format!("{kind}: {summary}")).map_err(|e| match e {
            // Another command moved the branch (or HEAD) since we read it:
            // the commit is stored but not on any branch; committing again
            // from the new state is the only safe way on.
            RepoError::Ref(RefError::Stale { .. } | RefError::HeadMoved { .. }) => refused(format!(
                "the branch moved while committing; your commit {} is stored but not on any branch: run `oxen status` and commit again",
                id.short()
            )),
            other => other,
        })?;
        if merge.is_some() {
            self.set_merge_state(None)?;
        }
        // With the monitor, the next status starts from the last one
        // instead of scanning because HEAD moved.
        if self.monitor_enabled() {
            self.carry_over_commit(old_tree, &tree);
        }
        Ok(CommitOutcome { id, head, root: parent.is_none(), message })
    }

    /// Adding a conflicted path marks it resolved: drop the merge's
    /// conflicts under any of `paths`.
    pub fn resolve_conflicts(&self, paths: &[RepoPath]) -> Result<()> {
        if let Some(mut st) = self.merge_state()? {
            let before = st.conflicts.len();
            st.conflicts.retain(|c| !paths.iter().any(|p| c.is_under(p)));
            if st.conflicts.len() != before {
                self.set_merge_state(Some(&st))?;
            }
        }
        Ok(())
    }

    /// Create branch `name` at `start` (default HEAD), refusing an existing one.
    pub fn create_branch(&self, name: &str, start: Option<&str>) -> Result<(BranchName, ContentId)> {
        let branch = BranchName::new(name)?;
        let id = self
            .resolve_commit(start.unwrap_or("HEAD"))
            .map_err(|e| RepoError::Refused(format!("cannot create branch '{name}': {e}")))?;
        let message = format!("branch: Created from {}", start.unwrap_or("HEAD"));
        self.refs().update(&branch.to_ref(), Some(id), Expect::Absent, &message).map_err(|e| match e {
            RefError::Stale { .. } => RepoError::Refused(format!("a branch named '{name}' already exists")),
            other => other.into(),
        })?;
        Ok((branch, id))
    }

    /// Commits reachable from `start`, newest first (by author time; ties go
    /// to the commit queued first, so children still come before parents),
    /// at most `limit`, each handed to `f`.
    pub fn walk_log<E: From<RepoError>>(
        &self,
        start: ContentId,
        limit: usize,
        mut f: impl FnMut(&ContentId, &Commit) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let mut heap: BinaryHeap<(i64, std::cmp::Reverse<u64>, ContentId)> = BinaryHeap::new();
        let mut commits = HashMap::new();
        let mut seen = HashSet::new();
        let mut seq = 0u64;
        // A shallow clone's log ends at its boundary, as git's does.
        let boundaries = self.shallow_boundaries()?;
        let c = self.read_commit(&start)?;
        heap.push((c.author.time, std::cmp::Reverse(seq), start));
        commits.insert(start, c);
        seen.insert(start);
        let mut n = 0;
        while let Some((_, _, id)) = heap.pop() {
            if n >= limit {
                break;
            }
            let Some(c) = commits.remove(&id) else { continue };
            f(&id, &c)?;
            n += 1;
            let parents: &[ContentId] = if boundaries.contains(&id) { &[] } else { &c.parents };
            for p in parents {
                if seen.insert(*p) {
                    let pc = self.read_commit(p)?;
                    seq += 1;
                    heap.push((pc.author.time, std::cmp::Reverse(seq), *p));
                    commits.insert(*p, pc);
                }
            }
        }
        Ok(())
    }
}
