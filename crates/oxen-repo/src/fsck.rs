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
    /// File contents a partial clone has not fetched (not problems: the
    /// promisor remote has them).
    pub not_fetched: usize,
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
    // Trees breadth first (the order problems have always been reported
    // in), each node once: the have-set of tree ids is the one thing that
    // grows with the repository (one id a directory node, ~40 bytes with
    // the set's overhead: ~0.4 MB per million files at 100 files a
    // directory), and the queue holds at most the directories not yet read.
    // Contents are verified as the walk finds them, in batches on every core.
    let mut seen_trees = HashSet::new();
    let mut blobs = BlobCheck::new(repo);
    while let Some((id, from)) = trees.pop_front() {
        if !seen_trees.insert(id) {
            continue;
        }
        if seen_trees.len().is_multiple_of(32) {
            // The tree pages read so far need not stay resident.
            repo.db.release_mapped_pages();
        }
        match repo.db.get_object(Table::Trees, &id) {
            Ok(bytes) => match Tree::decode(&bytes) {
                Ok(Tree::Entries(es)) => {
                    report.trees += 1;
                    for e in es {
                        match e.kind {
                            EntryKind::Dir => trees.push_back((e.id, format!("tree {id}"))),
                            EntryKind::File => blobs.push(e.id, || {
                                let name = oxen_path::quote(&e.name, oxen_path::Quote::C);
                                format!("{name} in tree {id}")
                            })?,
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
    drop(seen_trees);
    for (id, from) in extra_blobs {
        blobs.push(id, || from)?;
    }
    // The index, read in order: an entry naming what HEAD's tree holds at
    // the same path was verified with that tree (and when the index is
    // known to produce HEAD's tree, none needs a look).
    let head_tree = match repo.head_commit() {
        Ok(Some(c)) => repo.read_commit(&c).ok().map(|c| c.tree),
        _ => None,
    };
    let header = oxen_index::Index::load_header(&repo.db)?;
    if head_tree.is_none() || header.cached_tree(&repo.db)? != head_tree {
        let mut head = head_tree.as_ref().map(|t| repo.tree_files(t).peekable());
        for row in oxen_index::IndexIter::new(&repo.db) {
            let (path, e) = row?;
            let mut in_head = false;
            if let Some(h) = head.as_mut() {
                loop {
                    match h.peek() {
                        Some(Ok((hp, _))) if *hp < path => {
                            h.next();
                        }
                        Some(Ok((hp, he))) => {
                            in_head = *hp == path && he.id == e.id;
                            break;
                        }
                        // HEAD's tree is damaged (reported above): check
                        // the rest of the index without it.
                        Some(Err(_)) => {
                            head = None;
                            break;
                        }
                        None => break,
                    }
                }
            }
            if !in_head {
                blobs.push(e.id, || format!("index entry {path}"))?;
            }
        }
    }
    blobs.flush()?;
    report.blobs = blobs.count;
    report.not_fetched = blobs.not_fetched;
    report.problems.append(&mut blobs.problems);
    Ok(report)
}

/// File contents verified together, on every core. Each lookup of a
/// content's location faults in a page of the database at random, and the
/// kernel maps up to 64 KiB around it (fault-around); those stay resident
/// until the batch is done and they are let go: a batch costs up to 4 MiB
/// of resident memory whatever the repository's size (at 1024 it was 11
/// MiB already at 100k files, and would be 64 MiB at scale).
const BLOB_BATCH: usize = 64;

/// Contents up to this size are verified by reading a batch of them
/// together ([`oxen_store::Versions::read_small`]), at most
/// [`SMALL_BATCH_BYTES`] a batch.
const SMALL_CONTENT: u64 = 64 << 10;

/// The bytes of small contents a batch holds at once.
const SMALL_BATCH_BYTES: u64 = 4 << 20;

/// Content ids remembered so that a content referenced from several
/// places is verified (and counted) once. Past this many the set starts
/// over, so memory stays bounded: in a larger repository a content
/// referenced from directories far apart in the walk may be verified again
/// (and counted again in "files"), never skipped.
const BLOB_SEEN_MAX: usize = 1 << 16;

/// The contents still to verify, and what verifying found.
struct BlobCheck<'r> {
    repo: &'r Repo,
    /// A partial clone: a content that is not here is "not fetched".
    partial: bool,
    pending: Vec<(ContentId, String)>,
    seen: HashSet<ContentId>,
    /// Contents verified (or queued).
    count: usize,
    problems: Vec<FsckProblem>,
    not_fetched: usize,
}

impl<'r> BlobCheck<'r> {
    fn new(repo: &'r Repo) -> Self {
        BlobCheck {
            repo,
            partial: repo.partial_set().ok().flatten().is_some(),
            pending: Vec::with_capacity(BLOB_BATCH),
            seen: HashSet::new(),
            count: 0,
            problems: Vec::new(),
            not_fetched: 0,
        }
    }

    /// Queue a content, with who refers to it (made only when queued).
    fn push(&mut self, id: ContentId, from: impl FnOnce() -> String) -> Result<()> {
        if self.seen.contains(&id) {
            return Ok(());
        }
        if self.seen.len() >= BLOB_SEEN_MAX {
            self.seen.clear();
        }
        self.seen.insert(id);
        self.count += 1;
        self.pending.push((id, from()));
        if self.pending.len() >= BLOB_BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// Verify what is queued; problems keep the order contents were found in.
    fn flush(&mut self) -> Result<()> {
        let repo = self.repo;
        // Small contents are read and hashed a batch at a time (each block
        // opened once, not a look for a loose file, an open, a seek and a
        // close per content); the rest, and any that did not verify that
        // way, through `verify`, which says what is wrong.
        let ids: Vec<ContentId> = self.pending.iter().map(|(id, _)| *id).collect();
        // A failed lookup here is left for `verify` to report per content.
        let verified: Vec<bool> = match repo.versions.read_small(&ids, SMALL_CONTENT, SMALL_BATCH_BYTES) {
            Ok(read) => read.into_iter().map(|b| b.is_some()).collect(),
            Err(_) => vec![false; ids.len()],
        };
        let results: Vec<Option<FsckProblem>> = self
            .pending
            .par_iter()
            .zip(verified)
            .map(|((id, from), ok)| match if ok { Ok(None) } else { repo.versions.verify(id) } {
                Ok(None) => None,
                Ok(Some(how)) => Some(FsckProblem::Corrupt { kind: "blob", id: *id, detail: how.to_string() }),
                Err(StoreError::MissingObject(_)) => {
                    Some(FsckProblem::Missing { kind: "blob", id: *id, from: from.clone() })
                }
                Err(e) => Some(FsckProblem::Corrupt { kind: "blob", id: *id, detail: e.to_string() }),
            })
            .collect();
        self.pending.clear();
        // Small contents live in the database: the pages just read need
        // not stay resident.
        repo.db.release_mapped_pages();
        for p in results.into_iter().flatten() {
            match p {
                // A partial clone fetches contents on demand: one that is not
                // here is not damage (a missing content of a full clone is).
                FsckProblem::Missing { kind: "blob", .. } if self.partial => self.not_fetched += 1,
                p => self.problems.push(p),
            }
        }
        Ok(())
    }
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
