//! Walking commit history. One breadth-first ancestor walk serves every
//! question about ancestry (is-ancestor, merge base, ahead/behind, what a
//! peer lacks, fsck), generic over how a commit's parents are read, so the
//! pack code can use it without a repository and fsck can record problems
//! instead of failing.

use std::collections::{HashSet, VecDeque};

use oxen_hash::ContentId;

/// Every commit reachable from some tips (the tips included), each once,
/// nearest first. A commit's parents are read only when the walk moves past
/// it, so a caller that stops at a commit never reads it.
pub struct Ancestors<F> {
    queue: VecDeque<ContentId>,
    seen: HashSet<ContentId>,
    expand: Option<ContentId>,
    parents: F,
}

/// Walk the ancestors of `tips`, reading parents with `parents`.
pub fn ancestors<F, E>(tips: impl IntoIterator<Item = ContentId>, parents: F) -> Ancestors<F>
where
    F: FnMut(&ContentId) -> Result<Vec<ContentId>, E>,
{
    Ancestors { queue: tips.into_iter().collect(), seen: HashSet::new(), expand: None, parents }
}

impl<F, E> Iterator for Ancestors<F>
where
    F: FnMut(&ContentId) -> Result<Vec<ContentId>, E>,
{
    type Item = Result<ContentId, E>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(c) = self.expand.take() {
            match (self.parents)(&c) {
                Ok(ps) => self.queue.extend(ps.into_iter().filter(|p| !self.seen.contains(p))),
                Err(e) => return Some(Err(e)),
            }
        }
        while let Some(c) = self.queue.pop_front() {
            if self.seen.insert(c) {
                self.expand = Some(c);
                return Some(Ok(c));
            }
        }
        None
    }
}

impl<F, E> Ancestors<F>
where
    F: FnMut(&ContentId) -> Result<Vec<ContentId>, E>,
{
    /// Every ancestor, as a set.
    pub fn collect_set(self) -> Result<HashSet<ContentId>, E> {
        self.collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn walks_each_commit_once_nearest_first_and_stops_lazily() {
        let id = |n: u8| ContentId([n; 16]);
        // 4 -> 3 -> 1, 4 -> 2 -> 1
        let graph: HashMap<ContentId, Vec<ContentId>> =
            HashMap::from([(id(4), vec![id(3), id(2)]), (id(3), vec![id(1)]), (id(2), vec![id(1)]), (id(1), vec![])]);
        let mut reads = 0;
        let order: Vec<ContentId> = ancestors([id(4)], |c| {
            reads += 1;
            graph.get(c).cloned().ok_or(())
        })
        .collect::<Result<_, _>>()
        .unwrap();
        assert_eq!(order, vec![id(4), id(3), id(2), id(1)]);
        assert_eq!(reads, 4);
        // Finding the tip itself reads nothing, even for an unknown commit.
        let mut walk = ancestors([id(9)], |_| Err("read"));
        assert_eq!(walk.next(), Some(Ok(id(9))));
        assert_eq!(walk.next(), Some(Err("read")));
    }
}
