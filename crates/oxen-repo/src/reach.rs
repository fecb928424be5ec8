//! Reachability for gc: the set of contents that must be kept.
//!
//! Roots: every ref (branches, tags, remote-tracking), HEAD (detached too),
//! both sides of every reflog entry (as in git, the reflog keeps history
//! alive), the index (staged contents), the merge in progress (MERGE_HEAD)
//! and an interrupted transition (`.oxen/CHECKOUT`: its target tree, the
//! commit HEAD moves to, its merge state and its overlay contents). From a
//! commit: its parents and its tree; from a tree: its subtrees and file
//! contents; from a chunked content: the chunks its list names.
//!
//! A root or reachable commit or tree that cannot be read stops the mark
//! with an error: what it would reach is unknown, so nothing may be swept.

use std::collections::HashSet;

use oxen_hash::ContentId;
use oxen_object::graph::ancestors;
use oxen_object::{Commit, EntryKind, Tree};
use oxen_refs::{ExpirePolicy, LogSelection};
use oxen_store::{GcReport, Prune, StoreError, Table};

use crate::{HeadMove, Repo, RepoError, Result};

/// What the mark found live.
#[derive(Clone, Debug, Default)]
pub struct Marked {
    /// Reachable commits.
    pub commits: HashSet<ContentId>,
    /// Reachable tree nodes.
    pub trees: HashSet<ContentId>,
    /// Reachable file contents and the chunks of the chunked ones.
    pub contents: HashSet<ContentId>,
}

fn unreadable(what: &str, id: &ContentId, e: impl std::fmt::Display) -> RepoError {
    RepoError::Refused(format!("gc: {what} {id} cannot be read ({e}); nothing was removed (run `oxen fsck`)"))
}

/// Mark everything reachable from the roots (see the module docs).
pub fn mark(repo: &Repo) -> Result<Marked> {
    mark_with(repo, None)
}

/// [`mark`], with the reflog's roots given (`None`: as stored).
fn mark_with(repo: &Repo, reflog_roots: Option<Vec<ContentId>>) -> Result<Marked> {
    let mut m = Marked::default();
    let mut tips: Vec<ContentId> = Vec::new();
    let mut trees: Vec<ContentId> = Vec::new();
    tips.extend(repo.refs().all()?.into_iter().map(|(_, id)| id));
    match reflog_roots {
        Some(ids) => tips.extend(ids),
        None => tips.extend(repo.refs().reflog_ids()?.into_iter().map(|(_, id)| id)),
    }
    tips.extend(repo.head_commit()?);
    if let Some(st) = repo.merge_state()? {
        tips.push(st.theirs);
    }
    if let Some(t) = repo.pending_transition()? {
        trees.push(t.target);
        match &t.head {
            HeadMove::Advance { old, new, .. } => {
                tips.push(*new);
                tips.extend(*old);
            }
            HeadMove::BeginMerge(st) => tips.push(st.theirs),
            HeadMove::Set(oxen_refs::Head::Detached(id)) => tips.push(*id),
            HeadMove::Set(_) | HeadMove::Keep => {}
        }
        m.contents.extend(t.overlay.iter().map(|o| o.contents));
    }
    // A shallow clone's boundary commits are kept (they are on the refs'
    // history) and their parents, never fetched, are not looked for.
    let boundaries = repo.shallow_boundaries()?;
    for c in ancestors(tips, |id: &ContentId| -> Result<Vec<ContentId>> {
        let bytes = repo.db.get_object(Table::Commits, id).map_err(|e| unreadable("commit", id, e))?;
        let c = Commit::decode(&bytes).map_err(|e| unreadable("commit", id, e))?;
        trees.push(c.tree);
        Ok(if boundaries.contains(id) { Vec::new() } else { c.parents })
    }) {
        m.commits.insert(c?);
    }
    let index = repo.index()?;
    // The tree the index was last found to produce (status and commit may
    // take it from the cache instead of writing it again).
    if let Some(t) = index.cached_tree(&repo.db)? {
        if repo.db.has_object(Table::Trees, &t)? {
            trees.push(t);
        }
    }
    walk_trees(repo, &mut trees, &mut m)?;
    m.contents.extend(index.entries.values().map(|e| e.id));
    // The chunks of chunked contents. A content that is missing is fsck's
    // to report (nothing to keep); a damaged list hides which chunks it
    // needs, so the mark stops.
    let files: Vec<ContentId> = m.contents.iter().copied().collect();
    for id in files {
        match repo.versions.chunk_list(&id) {
            Ok(Some(list)) => m.contents.extend(list.chunks().iter().map(|c| c.id)),
            Ok(None) | Err(StoreError::MissingObject(_)) => {}
            Err(e) => return Err(unreadable("chunk list of", &id, e)),
        }
    }
    Ok(m)
}

/// Read the trees in `todo` and everything under them into `m`.
fn walk_trees(repo: &Repo, todo: &mut Vec<ContentId>, m: &mut Marked) -> Result<()> {
    while let Some(id) = todo.pop() {
        if !m.trees.insert(id) {
            continue;
        }
        let bytes = repo.db.get_object(Table::Trees, &id).map_err(|e| unreadable("tree", &id, e))?;
        match Tree::decode(&bytes).map_err(|e| unreadable("tree", &id, e))? {
            Tree::Entries(es) => {
                for e in es {
                    match e.kind {
                        EntryKind::Dir => todo.push(e.id),
                        EntryKind::File => {
                            m.contents.insert(e.id);
                        }
                    }
                }
            }
            Tree::Buckets { buckets, .. } => todo.extend(buckets.into_iter().map(|(_, b)| b)),
        }
    }
    Ok(())
}

/// Remove the commits and trees the mark did not reach from their tables,
/// in one transaction; returns how many of each (with `dry_run`, would).
/// Only for `--prune=now`: these records carry no write time, so a grace
/// period cannot protect a commit or `write-tree` in flight.
fn sweep_objects(repo: &Repo, m: &Marked, dry_run: bool) -> Result<(u64, u64)> {
    let commits: Vec<ContentId> = repo
        .db
        .ids_with_prefix(Table::Commits, "", usize::MAX)?
        .into_iter()
        .filter(|c| !m.commits.contains(c))
        .collect();
    let trees: Vec<ContentId> =
        repo.db.ids_with_prefix(Table::Trees, "", usize::MAX)?.into_iter().filter(|t| !m.trees.contains(t)).collect();
    if !dry_run && (!commits.is_empty() || !trees.is_empty()) {
        oxen_store::faults::write_point();
        let mut txn = repo.db.begin_write()?;
        for c in &commits {
            txn.delete(Table::Commits, c.as_bytes())?;
        }
        for t in &trees {
            txn.delete(Table::Trees, t.as_bytes())?;
        }
        txn.commit()?;
    }
    Ok((commits.len() as u64, trees.len() as u64))
}

/// How long gc keeps reflog entries: `gc.reflogExpire` and
/// `gc.reflogExpireUnreachable` from the repository's config (over the
/// global one), else git's 90 and 30 days. A value that does not parse is
/// refused: gc must not guess how much history to let go.
pub fn reflog_policy(repo: &Repo) -> Result<ExpirePolicy> {
    let cfg = repo.config()?.gc;
    let parse = |key: &str, v: Option<String>, default: Prune| -> Result<Prune> {
        match v {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|why| RepoError::Refused(format!("config {key}: {why}"))),
        }
    };
    let d = ExpirePolicy::DEFAULT;
    Ok(ExpirePolicy {
        expire: parse("gc.reflogExpire", cfg.reflog_expire, d.expire)?,
        expire_unreachable: parse("gc.reflogExpireUnreachable", cfg.reflog_expire_unreachable, d.expire_unreachable)?,
    })
}

/// gc of a repository: expire reflog entries by `reflog` (as `oxen
/// reflog expire --all` does), mark, remove the unreachable contents older
/// than `prune` (their locations, and loose files; with [`Prune::Now`]
/// also unreachable commits and trees), then the segment gc (temp files of
/// dead writers, compaction), which reclaims the bytes. `prune` does not
/// shorten the reflog's limits (git's `gc --prune=now` does not either):
/// what a recent reflog entry names stays. A dry run marks from the
/// entries expiry would keep, so it reports what a real run would do.
pub fn gc(repo: &Repo, prune: Prune, reflog: &ExpirePolicy, dry_run: bool) -> Result<GcReport> {
    let expired = repo.refs().expire_reflogs(&LogSelection::All, reflog, dry_run)?;
    let marked = if dry_run { mark_with(repo, Some(expired.kept_ids.clone()))? } else { mark(repo)? };
    let mut sweep = repo.versions.sweep_unreachable(&marked.contents, prune, dry_run)?;
    if prune == Prune::Now {
        (sweep.commits, sweep.trees) = sweep_objects(repo, &marked, dry_run)?;
    }
    let mut report = oxen_store::gc_repo(&repo.layout, &repo.versions, dry_run)?;
    report.sweep = sweep;
    report.reflog_expired = expired.expired() as u64;
    Ok(report)
}
