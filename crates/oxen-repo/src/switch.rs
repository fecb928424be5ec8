//! Moving HEAD to a branch or commit with the work tree (`oxen checkout`,
//! `oxen switch`, `pyoxen.Repo.checkout`), and removing tracked files
//! (`oxen rm`, `pyoxen.Repo.rm`): one implementation for every caller.

use oxen_hash::ContentId;
use oxen_path::RepoPath;
use oxen_refs::{BranchName, Expect, Head};
use oxen_store::Progress;

use crate::{CheckoutReport, HeadMove, LocalChanges, Repo, RepoError, Result, Transition};

/// What [`Repo::switch`] did.
#[derive(Clone, Debug)]
pub struct Switched {
    /// HEAD before.
    pub old_head: Head,
    /// HEAD now.
    pub new_head: Head,
    /// Files written and removed.
    pub report: CheckoutReport,
}

impl Repo {
    /// Move HEAD to `target` (a branch name or, when `allow_detach`, any
    /// revision), updating the work tree. A name only a remote has creates
    /// a local tracking branch, as git does. `force` discards local changes
    /// in every tracked path, as `reset --hard` does.
    pub fn switch(&self, target: &str, force: bool, allow_detach: bool, progress: &dyn Progress) -> Result<Switched> {
        let old_head = self.head()?;
        let branch = BranchName::new(target).ok();
        let local = match &branch {
            Some(b) => self.refs().get(&b.to_ref())?,
            None => None,
        };
        let remote_hits = match (&branch, local) {
            (Some(b), None) => self.refs().remote_branches_named(b)?,
            _ => Vec::new(),
        };
        let (new_head, id) = match (branch, local) {
            (Some(b), Some(id)) => (Head::Branch(b), id),
            (branch, _) => {
                if let (Some(b), [(_, id)]) = (branch, remote_hits.as_slice()) {
                    self.refs().update(
                        &b.to_ref(),
                        Some(*id),
                        Expect::Absent,
                        &format!("branch: Created from {target}"),
                    )?;
                    (Head::Branch(b), *id)
                } else {
                    if !allow_detach {
                        return Err(RepoError::Refused(format!(
                            "'{target}' is not a branch (use --detach to check out a commit)"
                        )));
                    }
                    let id = self.resolve_commit(target)?;
                    (Head::Detached(id), id)
                }
            }
        };
        let local = if force { LocalChanges::Discard } else { LocalChanges::Refuse };
        let t = Transition {
            op: "checkout".into(),
            target: self.read_commit(&id)?.tree,
            local,
            head: HeadMove::Set(new_head.clone()),
            message: format!("checkout: moving from {old_head} to {target}"),
            overlay: vec![],
        };
        let report = self.transition(&t, progress)?;
        Ok(Switched { old_head, new_head, report })
    }

    /// Commits that moving HEAD from `old` to `new` leaves unreachable from
    /// any ref (only when `old` was detached), newest first.
    pub fn left_behind(&self, old: &Head, new: &Head) -> Result<Vec<ContentId>> {
        let Head::Detached(left) = old else { return Ok(vec![]) };
        if let Head::Detached(now) = new {
            if self.is_ancestor(left, now)? {
                return Ok(vec![]);
            }
        }
        self.unreachable_from_refs(left)
    }

    /// Remove the tracked files under `paths` from the index and (unless
    /// `cached`) the work tree. Without `force`, a path with staged or
    /// unstaged changes refuses the whole removal before anything changes.
    /// Returns the paths removed and, when a work-tree file could not be
    /// removed, the error that stopped it (the paths before it are removed
    /// and unstaged; the rest stay staged).
    pub fn remove(
        &self,
        paths: &[RepoPath],
        cached: bool,
        recursive: bool,
        force: bool,
    ) -> Result<(Vec<RepoPath>, Option<RepoError>)> {
        let index = self.index()?;
        if !cached && !force {
            let head = self.flatten_commit(self.head_commit()?.as_ref())?;
            for (p, e) in &index.entries {
                if !paths.iter().any(|q| p.is_under(q)) {
                    continue;
                }
                let staged_differs = head.get(p).is_none_or(|h| h.id != e.id);
                // Through the work-tree handle: a path beyond a symlink is not
                // there (and nothing there will be removed).
                let modified = match self.worktree.lstat(p)? {
                    Some(m) if !m.is_dir() => {
                        !index.is_clean(e, &m.stat)
                            && oxen_index::hash_file(&self.versions, &self.worktree, p, &m.stat, false)?.id != e.id
                    }
                    _ => false,
                };
                if staged_differs || modified {
                    return Err(RepoError::Refused(format!(
                        "'{p}' has local changes; use --cached to keep the file, or -f to force removal"
                    )));
                }
            }
        }
        let targets = oxen_index::paths_to_remove(&index, paths, recursive)?;
        let mut done = Vec::with_capacity(targets.len());
        let mut failure = None;
        if cached {
            done.clone_from(&targets);
        } else {
            for p in &targets {
                match crate::remove_work_file(self, p) {
                    Ok(_) => done.push(p.clone()),
                    Err(e) => {
                        failure = Some(RepoError::Refused(format!("cannot remove {e}; it stays staged")));
                        break;
                    }
                }
            }
        }
        oxen_index::remove_paths(&self.db, &done, false)?;
        Ok((done, failure))
    }
}
