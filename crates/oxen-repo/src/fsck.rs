//! Integrity check: re-hash every object reachable from refs, HEAD and the
//! index, and report what is missing or corrupt.

use std::collections::{HashSet, VecDeque};

use oxen_hash::ContentId;
use oxen_object::{EntryKind, Tree};
use oxen_store::{StoreError, Table};
use rayon::prelude::*;

use crate::{Repo, RepoError, Result};

/// One problem found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FsckProblem {
    /// An object that something points at is not stored.
    Missing { kind: &'static str, id: ContentId, from: String },
    /// An object whose bytes no longer hash to its id (or do not decode).
    Corrupt { kind: &'static str, id: ContentId, detail: String },
}

impl std::fmt::Display for FsckProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FsckProblem::Missing { kind, id, from } => write!(f, "missing {kind} {id} (referenced by {from})"),
            FsckProblem::Corrupt { kind, id, detail } => write!(f, "corrupt {kind} {id}: {detail}"),
        }
    }
}

/// What fsck checked and found.
#[derive(Clone, Debug, Default)]
pub struct FsckReport {
    /// Commits verified.
    pub commits: usize,
    /// Tree nodes verified.
    pub trees: usize,
    /// File contents re-hashed.
    pub blobs: usize,
    /// Problems, in discovery order.
    pub problems: Vec<FsckProblem>,
}

/// Check everything reachable from refs, HEAD and the index.
pub fn fsck(repo: &Repo) -> Result<FsckReport> {
    let mut report = FsckReport::default();
    let mut queue: VecDeque<(ContentId, String)> = VecDeque::new();
    for (name, id) in repo.refs().list("")? {
        queue.push_back((id, name));
    }
    if let Some(h) = repo.head_commit()? {
        queue.push_back((h, "HEAD".into()));
    }
    let mut seen_commits = HashSet::new();
    let mut trees: VecDeque<(ContentId, String)> = VecDeque::new();
    while let Some((id, from)) = queue.pop_front() {
        if !seen_commits.insert(id) {
            continue;
        }
        match repo.db.get_object(Table::Commits, &id) {
            Ok(bytes) => match oxen_object::Commit::decode(&bytes) {
                Ok(c) => {
                    report.commits += 1;
                    trees.push_back((c.tree, format!("commit {id}")));
                    for p in c.parents {
                        queue.push_back((p, format!("commit {id}")));
                    }
                }
                Err(e) => report.problems.push(FsckProblem::Corrupt { kind: "commit", id, detail: e.to_string() }),
            },
            Err(e) => report.problems.push(store_problem("commit", id, from, e)?),
        }
    }
    let mut seen_trees = HashSet::new();
    let mut blobs: Vec<(ContentId, String)> = Vec::new();
    let mut seen_blobs = HashSet::new();
    while let Some((id, from)) = trees.pop_front() {
        if !seen_trees.insert(id) {
            continue;
        }
        match repo.db.get_object(Table::Trees, &id) {
            Ok(bytes) => match Tree::decode(&bytes) {
                Ok(Tree::Entries(es)) => {
                    report.trees += 1;
                    for e in es {
                        match e.kind {
                            EntryKind::Dir => trees.push_back((e.id, format!("tree {id}"))),
                            EntryKind::File => {
                                if seen_blobs.insert(e.id) {
                                    blobs.push((e.id, format!("{} in tree {id}", e.name)));
                                }
                            }
                        }
                    }
                }
                Ok(Tree::Buckets { buckets, .. }) => {
                    report.trees += 1;
                    for (_, b) in buckets {
                        trees.push_back((b, format!("tree {id}")));
                    }
                }
                Err(e) => report.problems.push(FsckProblem::Corrupt { kind: "tree", id, detail: e.to_string() }),
            },
            Err(e) => report.problems.push(store_problem("tree", id, from, e)?),
        }
    }
    for (path, e) in repo.index()?.entries {
        if seen_blobs.insert(e.id) {
            blobs.push((e.id, format!("index entry {path}")));
        }
    }
    report.blobs = blobs.len();
    let results: Vec<Option<FsckProblem>> = blobs
        .par_iter()
        .map(|(id, from)| match repo.versions.verify(id) {
            Ok(None) => None,
            Ok(Some(actual)) => {
                Some(FsckProblem::Corrupt { kind: "blob", id: *id, detail: format!("contents hash to {actual}") })
            }
            Err(StoreError::MissingObject(_)) => {
                Some(FsckProblem::Missing { kind: "blob", id: *id, from: from.clone() })
            }
            Err(e) => Some(FsckProblem::Corrupt { kind: "blob", id: *id, detail: e.to_string() }),
        })
        .collect();
    report.problems.extend(results.into_iter().flatten());
    Ok(report)
}

fn store_problem(kind: &'static str, id: ContentId, from: String, e: StoreError) -> Result<FsckProblem> {
    match e {
        StoreError::MissingObject(_) => Ok(FsckProblem::Missing { kind, id, from }),
        StoreError::Corrupt(_, actual) => {
            Ok(FsckProblem::Corrupt { kind, id, detail: format!("bytes hash to {actual}") })
        }
        other => Err(RepoError::Store(other)),
    }
}
