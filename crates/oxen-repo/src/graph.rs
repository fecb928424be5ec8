//! Questions about history (ancestry, merge base, ahead/behind), all
//! answered by the one ancestor walk in `oxen_object::graph`.

use std::collections::{BTreeSet, HashSet};

use oxen_hash::ContentId;
use oxen_object::graph::ancestors;

use crate::{Repo, RepoError, Result};

/// How the walks read parents: a shallow clone's boundary commits
/// (`.oxen/shallow`) are parentless, everywhere.
pub(crate) struct Parents<'r> {
    repo: &'r Repo,
    boundaries: BTreeSet<ContentId>,
}

impl Parents<'_> {
    /// `c`'s parents, none for a boundary commit.
    pub(crate) fn of(&self, c: &ContentId) -> Result<Vec<ContentId>> {
        if self.boundaries.contains(c) {
            return Ok(Vec::new());
        }
        Ok(self.repo.read_commit(c)?.parents)
    }

    /// Whether `c` is a boundary commit.
    pub(crate) fn is_boundary(&self, c: &ContentId) -> bool {
        self.boundaries.contains(c)
    }
}

impl Repo {
    /// The parent reader every history walk uses.
    pub(crate) fn parents(&self) -> Result<Parents<'_>> {
        Ok(Parents { repo: self, boundaries: oxen_store::read_shallow(&self.layout)? })
    }

    /// The boundary commits of a shallow clone (empty when the history is
    /// complete).
    pub fn shallow_boundaries(&self) -> Result<BTreeSet<ContentId>> {
        Ok(oxen_store::read_shallow(&self.layout)?)
    }

    /// Whether `a` is an ancestor of (or equal to) `b` (in a shallow
    /// clone: within the history it has).
    pub fn is_ancestor(&self, a: &ContentId, b: &ContentId) -> Result<bool> {
        let p = self.parents()?;
        for c in ancestors([*b], |c| p.of(c)) {
            if c? == *a {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A best common ancestor of two commits: the nearest ancestor of `b`
    /// that is also an ancestor of `a`. In a shallow clone, finding none
    /// after a walk reached a boundary is [`RepoError::BeyondShallow`]:
    /// the base may be in the history not fetched, and merging as if the
    /// histories were unrelated would be wrong.
    pub fn merge_base(&self, a: &ContentId, b: &ContentId) -> Result<Option<ContentId>> {
        let p = self.parents()?;
        let mut hit_boundary = false;
        let of_a: HashSet<ContentId> = ancestors([*a], |c| p.of(c))
            .inspect(|c| hit_boundary |= c.as_ref().is_ok_and(|c| p.is_boundary(c)))
            .collect::<Result<_>>()?;
        for c in ancestors([*b], |c| p.of(c)) {
            let c = c?;
            if of_a.contains(&c) {
                return Ok(Some(c));
            }
            hit_boundary |= p.is_boundary(&c);
        }
        if hit_boundary {
            return Err(RepoError::BeyondShallow(format!("the merge base of {} and {}", a.short(), b.short())));
        }
        Ok(None)
    }

    /// Commits reachable from `start` but from no ref (branch, tag or
    /// remote-tracking ref), nearest first: what moving a detached HEAD
    /// away from `start` leaves behind (the reflog still names them).
    pub fn unreachable_from_refs(&self, start: &ContentId) -> Result<Vec<ContentId>> {
        let tips: Vec<ContentId> = self.refs().all()?.into_iter().map(|(_, id)| id).collect();
        // The usual case, HEAD detached at a branch or tag: no walk at all.
        if tips.contains(start) {
            return Ok(Vec::new());
        }
        let p = self.parents()?;
        let reachable: HashSet<ContentId> = ancestors(tips, |c| p.of(c)).collect::<Result<_>>()?;
        let mut lost = Vec::new();
        // Not read past a reachable commit: this walk only covers the lost ones.
        let walk = ancestors([*start], |c| if reachable.contains(c) { Ok(Vec::new()) } else { p.of(c) });
        for c in walk {
            let c = c?;
            if !reachable.contains(&c) {
                lost.push(c);
            }
        }
        Ok(lost)
    }

    /// Commits reachable from `local` but not `upstream`, and the reverse:
    /// how far ahead and behind a branch is of its remote-tracking ref.
    pub fn ahead_behind(&self, local: &ContentId, upstream: &ContentId) -> Result<(usize, usize)> {
        let p = self.parents()?;
        let reach = |start: &ContentId| -> Result<HashSet<ContentId>> { ancestors([*start], |c| p.of(c)).collect() };
        let (a, b) = (reach(local)?, reach(upstream)?);
        Ok((a.difference(&b).count(), b.difference(&a).count()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use oxen_object::{Commit, Signature};
    use oxen_refs::BranchName;

    use super::*;

    fn commit(repo: &Repo, parents: Vec<ContentId>, msg: &str) -> ContentId {
        let tree = repo.write_tree_from(&BTreeMap::new()).unwrap();
        let author = Signature { name: "T".into(), email: "t@x".into(), time: 1, tz_minutes: 0 };
        repo.write_commit(&Commit { tree, parents, author, message: format!("{msg}\n") }).unwrap()
    }

    #[test]
    fn ancestry_merge_base_and_ahead_behind() {
        let d = tempfile::tempdir().unwrap();
        let repo = Repo::init(d.path(), &BranchName::new("main").unwrap()).unwrap();
        // base <- a1 <- a2 (ours), base <- b1 (theirs)
        let base = commit(&repo, vec![], "base");
        let a1 = commit(&repo, vec![base], "a1");
        let a2 = commit(&repo, vec![a1], "a2");
        let b1 = commit(&repo, vec![base], "b1");
        assert!(repo.is_ancestor(&base, &a2).unwrap());
        assert!(repo.is_ancestor(&a2, &a2).unwrap());
        assert!(!repo.is_ancestor(&b1, &a2).unwrap());
        assert_eq!(repo.merge_base(&a2, &b1).unwrap(), Some(base));
        assert_eq!(repo.ahead_behind(&a2, &b1).unwrap(), (2, 1));
        assert_eq!(repo.ahead_behind(&a1, &a2).unwrap(), (0, 1));
        // Only b1 and base are on refs: a1 and a2 would be left behind.
        let refs = repo.refs();
        refs.update(&BranchName::new("b").unwrap().to_ref(), Some(b1), oxen_refs::Expect::Absent, "t").unwrap();
        assert_eq!(repo.unreachable_from_refs(&a2).unwrap(), vec![a2, a1]);
        assert_eq!(repo.unreachable_from_refs(&b1).unwrap(), vec![]);
        assert_eq!(repo.unreachable_from_refs(&base).unwrap(), vec![]);
    }

    #[test]
    fn boundary_commits_are_parentless_and_a_base_beyond_them_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let repo = Repo::init(d.path(), &BranchName::new("main").unwrap()).unwrap();
        // base <- a1 <- a2, base <- b1; a1 and b1 are boundaries.
        let base = commit(&repo, vec![], "base");
        let a1 = commit(&repo, vec![base], "a1");
        let a2 = commit(&repo, vec![a1], "a2");
        let b1 = commit(&repo, vec![base], "b1");
        oxen_store::write_shallow(&repo.layout, &[a1, b1].into()).unwrap();
        assert!(!repo.is_ancestor(&base, &a2).unwrap());
        assert!(repo.is_ancestor(&a1, &a2).unwrap());
        assert_eq!(repo.merge_base(&a2, &a1).unwrap(), Some(a1));
        let e = repo.merge_base(&a2, &b1).unwrap_err();
        assert!(matches!(e, RepoError::BeyondShallow(_)), "{e}");
        assert!(e.to_string().contains("oxen fetch --unshallow"), "{e}");
        assert_eq!(repo.ahead_behind(&a2, &b1).unwrap(), (2, 1));
        let mut log = Vec::new();
        repo.walk_log(a2, usize::MAX, |id, _| -> Result<()> {
            log.push(*id);
            Ok(())
        })
        .unwrap();
        assert_eq!(log, vec![a2, a1]);
        // Complete again: the base is found.
        oxen_store::write_shallow(&repo.layout, &Default::default()).unwrap();
        assert_eq!(repo.merge_base(&a2, &b1).unwrap(), Some(base));
    }

    #[test]
    fn duplicate_or_too_many_parents_and_empty_authors_are_not_written() {
        let d = tempfile::tempdir().unwrap();
        let repo = Repo::init(d.path(), &BranchName::new("main").unwrap()).unwrap();
        let base = commit(&repo, vec![], "base");
        let tree = repo.read_commit(&base).unwrap().tree;
        let author = Signature { name: "T".into(), email: "t@x".into(), time: 1, tz_minutes: 0 };
        let c = |parents: Vec<ContentId>, author: Signature| Commit { tree, parents, author, message: "m\n".into() };
        assert!(repo.write_commit(&c(vec![base, base], author.clone())).is_err());
        for (name, email) in [("", "t@x"), ("  ", "t@x"), ("T", "")] {
            let who = Signature { name: name.into(), email: email.into(), ..author.clone() };
            let e = repo.write_commit(&c(vec![base], who)).unwrap_err();
            assert!(e.to_string().contains("oxen config user."), "{e}");
        }
        assert!(repo.write_commit(&c(vec![base], author)).is_ok());
    }
}
