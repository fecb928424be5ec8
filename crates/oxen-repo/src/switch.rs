//! Moving HEAD to a branch or commit with the work tree (`oxen checkout`,
//! `oxen switch`, `pyoxen.Repo.checkout`): one implementation for every
//! caller (removing tracked files, `oxen rm`, is in `restore.rs`).

use oxen_hash::ContentId;
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
}
