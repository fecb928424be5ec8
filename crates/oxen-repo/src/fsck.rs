//! Integrity check: validate HEAD, every ref name and reflog entry, re-hash
//! every object reachable from refs, reflogs, HEAD, the index, a merge in
//! progress and an interrupted checkout (the roots gc keeps, see
//! [`crate::reach`]), and report what is missing, corrupt or malformed.

use std::collections::{HashMap, HashSet, VecDeque};

use oxen_object::graph::ancestors as oxen_graph_walk;

use oxen_hash::ContentId;
use oxen_object::{EntryKind, Tree};
use oxen_refs::RefError;
use oxen_store::{StoreError, Table};
use rayon::prelude::*;

use crate::{Repo, RepoError, Result};

/// One problem found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FsckProblem {
    /// An object that something points at is not stored.
    Missing {
        /// `commit`, `tree` or `blob`.
        kind: &'static str,
        /// The missing object.
        id: ContentId,
        /// What refers to it, so the damage can be traced.
        from: String,
    },
    /// A repository file that cannot be read or parsed (HEAD, config).
    Damaged {
        /// The file.
        file: std::path::PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// A ref (or reflog entry) that should not exist: an invalid or
    /// over-long name, a name outside heads/, tags/ and remotes/, a value
    /// that is not a commit id, an entry that does not decode.
    BadRef {
        /// The name, escaped and cut short.
        name: String,
        /// What is wrong with it.
        detail: String,
    },
    /// An object whose bytes no longer hash to its id (or do not decode).
    Corrupt {
        /// `commit`, `tree` or `blob`.
        kind: &'static str,
        /// The corrupt object.
        id: ContentId,
        /// What is wrong with it.
        detail: String,
    },
}

impl std::fmt::Display for FsckProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FsckProblem::Missing { kind, id, from } => write!(f, "missing {kind} {id} (referenced by {from})"),
            FsckProblem::Corrupt { kind, id, detail } => write!(f, "corrupt {kind} {id}: {detail}"),
            FsckProblem::Damaged { file, detail } => write!(f, "damaged {}: {detail}", file.display()),
            FsckProblem::BadRef { name, detail } => write!(f, "bad ref {name}: {detail}"),
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

/// Check HEAD, the refs and reflogs, and everything reachable from refs,
/// reflogs, HEAD and the index.
pub fn fsck(repo: &Repo) -> Result<FsckReport> {
    let mut report = FsckReport::default();
    // Who first referred to each commit, for "missing ... (referenced by ...)".
    let mut from: HashMap<ContentId, String> = HashMap::new();
    let mut tips = Vec::new();
    for p in repo.refs().verify()? {
        report.problems.push(FsckProblem::BadRef { name: p.name, detail: p.detail });
    }
    for (name, id) in repo.refs().all()? {
        from.entry(id).or_insert(name.to_string());
        tips.push(id);
    }
    // Reflog entries are roots too (what gc will keep): what they name
    // must be there.
    for (name, id) in repo.refs().reflog_ids()? {
        from.entry(id).or_insert(format!("reflog {name}"));
        tips.push(id);
    }
    // A merge in progress and an interrupted checkout are roots for gc
    // too: what they name must be there.
    let mut extra_trees = Vec::new();
    let mut extra_blobs = Vec::new();
    if let Ok(Some(st)) = repo.merge_state() {
        from.entry(st.theirs).or_insert_with(|| "MERGE_HEAD".into());
        tips.push(st.theirs);
    }
    if let Ok(Some(t)) = repo.pending_transition() {
        extra_trees.push((t.target, "CHECKOUT".to_string()));
        if let crate::HeadMove::Advance { new, .. } = &t.head {
            from.entry(*new).or_insert_with(|| "CHECKOUT".into());
            tips.push(*new);
        }
        extra_blobs.extend(t.overlay.iter().map(|o| (o.contents, format!("CHECKOUT overlay {}", o.path))));
    }
    // A damaged HEAD or config is reported, and the objects checked anyway.
    match repo.head_commit() {
        Ok(Some(h)) => {
            from.entry(h).or_insert_with(|| "HEAD".into());
            tips.push(h);
        }
        Ok(None) => {}
        Err(RepoError::Ref(e @ (RefError::BadHead(_) | RefError::Store(StoreError::Io { .. })))) => {
            report.problems.push(FsckProblem::Damaged { file: repo.layout.head_file(), detail: e.to_string() })
        }
        Err(e) => return Err(e),
    }
    if let Err(RepoError::Store(StoreError::Config { path, msg })) = repo.config() {
        report.problems.push(FsckProblem::Damaged { file: path, detail: msg });
    }
    // A shallow clone's boundary commits are stored without their parents
    // by design: their parents are not missing, just not fetched.
    let boundaries = match repo.shallow_boundaries() {
        Ok(b) => b,
        Err(RepoError::Store(StoreError::Config { path, msg })) => {
            report.problems.push(FsckProblem::Damaged { file: path, detail: msg });
            Default::default()
        }
        Err(e) => return Err(e),
    };
    let mut trees: VecDeque<(ContentId, String)> = extra_trees.into_iter().collect();
    // A commit that cannot be read is a problem to report, not a reason to
    // stop: the walk just does not go past it.
    let mut failure = None;
    let walk = oxen_graph_walk(tips, |id: &ContentId| -> std::result::Result<Vec<ContentId>, ()> {
        match repo.db.get_object(Table::Commits, id) {
            Ok(bytes) => match oxen_object::Commit::decode(&bytes) {
                Ok(c) => {
                    report.commits += 1;
                    trees.push_back((c.tree, format!("commit {id}")));
                    if boundaries.contains(id) {
                        return Ok(vec![]);
                    }
                    for p in &c.parents {
                        from.entry(*p).or_insert_with(|| format!("commit {id}"));
                    }
                    Ok(c.parents)
                }
                Err(e) => {
                    report.problems.push(FsckProblem::Corrupt { kind: "commit", id: *id, detail: e.to_string() });
                    Ok(vec![])
                }
            },
            Err(e) => {
                let by = from.get(id).cloned().unwrap_or_default();
                match store_problem("commit", *id, by, e) {
                    Ok(p) => report.problems.push(p),
                    Err(e) => failure = Some(e),
                }
                if failure.is_some() {
                    Err(())
                } else {
                    Ok(vec![])
                }
            }
        }
    });
    for c in walk {
        if c.is_err() {
            break;
        }
    }
    if let Some(e) = failure {
        return Err(e);
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
                                    let name = oxen_path::quote(&e.name, oxen_path::Quote::C);
                                    blobs.push((e.id, format!("{name} in tree {id}")));
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
    for (id, from) in extra_blobs {
        if seen_blobs.insert(id) {
            blobs.push((id, from));
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
            Ok(Some(how)) => Some(FsckProblem::Corrupt { kind: "blob", id: *id, detail: how.to_string() }),
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
