//! The one merge-join of two path-ordered streams: a tree's files
//! ([`Repo::tree_files`]), the index ([`IndexIter`]) or either restricted
//! to the paths under a pathspec. Diff, the discarding transition, `reset
//! --mixed`, restore and rm all walk their two sides through it, so what
//! "the same path on both sides" means is decided once.

use std::cmp::Ordering;
use std::iter::Peekable;

use oxen_hash::ContentId;
use oxen_index::{IndexEntry, IndexIter};
use oxen_object::EntryKind;
use oxen_path::RepoPath;

use crate::tree::FlatEntry;
use crate::{Repo, RepoError, Result};

/// Two path-ordered streams joined by path: each path once, with what each
/// side holds for it. Holds one row of each side.
pub(crate) struct MergeJoin<A: Iterator, B: Iterator> {
    a: Peekable<A>,
    b: Peekable<B>,
}

impl<A: Iterator, B: Iterator> MergeJoin<A, B> {
    pub(crate) fn new(a: A, b: B) -> Self {
        MergeJoin { a: a.peekable(), b: b.peekable() }
    }
}

impl<A, B, X, Y> Iterator for MergeJoin<A, B>
where
    A: Iterator<Item = Result<(RepoPath, X)>>,
    B: Iterator<Item = Result<(RepoPath, Y)>>,
{
    type Item = Result<(RepoPath, Option<X>, Option<Y>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let order = match (self.a.peek(), self.b.peek()) {
            (None, None) => return None,
            (Some(Err(_)), _) => return self.a.next().map(|r| r.map(|_| unreachable!("peeked an error"))),
            (_, Some(Err(_))) => return self.b.next().map(|r| r.map(|_| unreachable!("peeked an error"))),
            (Some(Ok((pa, _))), Some(Ok((pb, _)))) => pa.cmp(pb),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
        };
        Some(match order {
            Ordering::Less => self.a.next()?.map(|(p, a)| (p, Some(a), None)),
            Ordering::Greater => self.b.next()?.map(|(p, b)| (p, None, Some(b))),
            Ordering::Equal => {
                let (p, a) = match self.a.next()? {
                    Ok(x) => x,
                    Err(e) => return Some(Err(e)),
                };
                self.b.next()?.map(|(_, b)| (p, Some(a), Some(b)))
            }
        })
    }
}

/// A stream of files in path byte order.
pub(crate) type Files<'r> = Box<dyn Iterator<Item = Result<(RepoPath, FlatEntry)>> + 'r>;

/// A stream of index rows in path byte order.
pub(crate) type Rows<'r> = Box<dyn Iterator<Item = Result<(RepoPath, IndexEntry)>> + 'r>;

impl Repo {
    /// The whole index in path order, page by page.
    pub(crate) fn index_rows(&self) -> Rows<'_> {
        Box::new(IndexIter::new(&self.db).map(|r| r.map_err(RepoError::from)))
    }

    /// The index rows at `spec` or below it, in path order: a range of the
    /// index, nothing before or after it read.
    pub(crate) fn index_rows_under<'r>(&'r self, spec: &'r RepoPath) -> Rows<'r> {
        if spec.is_root() {
            return self.index_rows();
        }
        Box::new(IndexIter::from(&self.db, spec).take_while_under(spec).map(|r| r.map_err(RepoError::from)))
    }

    /// The files of `tree` (`None`: the empty tree) at `spec` or below it,
    /// in path order: only the subtree `spec` names is read.
    pub(crate) fn tree_files_under<'r>(&'r self, tree: Option<&ContentId>, spec: &RepoPath) -> Result<Files<'r>> {
        let Some(tree) = tree else { return Ok(Box::new(std::iter::empty())) };
        if spec.is_root() {
            return Ok(Box::new(self.tree_files(tree)));
        }
        let Some(e) = self.tree_entry_at(tree, spec)? else { return Ok(Box::new(std::iter::empty())) };
        Ok(match e.kind {
            EntryKind::File => {
                let file = FlatEntry { id: e.id, mode: e.mode, size: e.size, tabular: e.tabular };
                Box::new(std::iter::once(Ok((spec.clone(), file))))
            }
            EntryKind::Dir => Box::new(self.tree_files_at(&e.id, spec.clone())),
        })
    }
}

/// Pathspecs as disjoint subtrees in path order: duplicates and paths
/// below another one dropped (the root covers everything), and each
/// ordered by where its rows sort, so that reading the specs one after
/// another reads their rows in path byte order (`a.txt` sorts before the
/// directory `a`'s files, which sort as `a/`). `is_file` says whether a
/// spec names a file rather than a directory.
pub(crate) fn disjoint_specs(
    specs: &[RepoPath],
    mut is_file: impl FnMut(&RepoPath) -> Result<bool>,
) -> Result<Vec<RepoPath>> {
    let mut sorted: Vec<&RepoPath> = specs.iter().collect();
    sorted.sort();
    sorted.dedup();
    if sorted.iter().any(|s| s.is_root()) {
        return Ok(vec![RepoPath::root()]);
    }
    // Sorted, an ancestor comes before the paths below it.
    let mut seen: std::collections::HashSet<&[u8]> = std::collections::HashSet::new();
    let mut kept: Vec<&RepoPath> = Vec::new();
    for s in sorted {
        if !s.ancestors().any(|a| seen.contains(a)) {
            seen.insert(s.as_bytes());
            kept.push(s);
        }
    }
    let mut keyed = Vec::with_capacity(kept.len());
    for s in kept {
        let mut key = s.as_bytes().to_vec();
        if !is_file(s)? {
            key.push(b'/');
        }
        keyed.push((key, s.clone()));
    }
    keyed.sort();
    Ok(keyed.into_iter().map(|(_, s)| s).collect())
}
