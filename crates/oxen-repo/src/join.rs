//! The one merge-join of two path-ordered streams: a tree's files
//! ([`Repo::tree_files`]) and the index ([`IndexIter`]). Diff, the
//! discarding transition and `reset --mixed` walk their two sides through
//! it, so what "the same path on both sides" means is decided once.

use std::cmp::Ordering;
use std::iter::Peekable;

use oxen_index::{IndexEntry, IndexIter};
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
}
