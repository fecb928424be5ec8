//! Questions about history (ancestry, merge base, ahead/behind), all
//! answered by the one ancestor walk in `oxen_object::graph`.

use std::collections::HashSet;

use oxen_hash::ContentId;
use oxen_object::graph::ancestors;

use crate::{Repo, Result};

impl Repo {
    /// A commit's parents, as the ancestor walk reads them.
    fn parents_of(&self, c: &ContentId) -> Result<Vec<ContentId>> {
        Ok(self.read_commit(c)?.parents)
    }

    /// Whether `a` is an ancestor of (or equal to) `b`.
    pub fn is_ancestor(&self, a: &ContentId, b: &ContentId) -> Result<bool> {
        for c in ancestors([*b], |c| self.parents_of(c)) {
            if c? == *a {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A best common ancestor of two commits: the nearest ancestor of `b`
    /// that is also an ancestor of `a`.
    pub fn merge_base(&self, a: &ContentId, b: &ContentId) -> Result<Option<ContentId>> {
        let of_a: HashSet<ContentId> = ancestors([*a], |c| self.parents_of(c)).collect::<Result<_>>()?;
        for c in ancestors([*b], |c| self.parents_of(c)) {
            let c = c?;
            if of_a.contains(&c) {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    /// Commits reachable from `local` but not `upstream`, and the reverse:
    /// how far ahead and behind a branch is of its remote-tracking ref.
    pub fn ahead_behind(&self, local: &ContentId, upstream: &ContentId) -> Result<(usize, usize)> {
        let reach =
            |start: &ContentId| -> Result<HashSet<ContentId>> { ancestors([*start], |c| self.parents_of(c)).collect() };
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
    }
}
