//! The last step of a push, and ancestry questions.
//!
//! Ref updates are applied with compare-and-swap in one LMDB transaction:
//! every update names the value the client saw, so if another push moved
//! the ref in between, this one is refused ("fetch first") instead of
//! silently discarding the other's commits.

use oxen_hash::ContentId;
use oxen_object::graph::ancestors;
use oxen_refs::{Expect, RefError, RefName, RefUpdate, Refs};
use oxen_store::{ObjectKind, ObjectSource};
use serde::{Deserialize, Serialize};

use crate::{PackError, Result};

/// One requested ref change, as sent over the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefUpdateReq {
    /// Full ref name, `heads/<branch>` or `tags/<tag>`.
    pub name: String,
    /// The value the client believes the ref has now (`None`: absent).
    pub old: Option<String>,
    /// The new value (`None`: delete).
    pub new: Option<String>,
}

/// What happened to one ref.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefUpdateResult {
    /// Full ref name.
    pub name: String,
    /// Value before.
    pub old: Option<String>,
    /// Value after.
    pub new: Option<String>,
}

fn parse_id(s: &Option<String>, what: &str) -> Result<Option<ContentId>> {
    match s {
        None => Ok(None),
        Some(h) if h.is_empty() || h.bytes().all(|b| b == b'0') => Ok(None),
        Some(h) => ContentId::from_hex(h)
            .map(Some)
            .map_err(|_| PackError::BadRequest(format!("{what} '{h}' is not a 32-hex-digit id"))),
    }
}

/// Whether `a` is an ancestor of (or equal to) `b`.
pub fn is_ancestor(objects: &dyn ObjectSource, a: &ContentId, b: &ContentId) -> Result<bool> {
    let boundaries = objects.shallow_boundaries()?;
    let parents =
        |c: &ContentId| if boundaries.contains(c) { Ok(Vec::new()) } else { crate::negotiate::parents(objects, c) };
    for c in ancestors([*b], parents) {
        if c? == *a {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Apply pushed ref updates to `refs` atomically. Only `heads/` and `tags/`
/// may be pushed. Each new value must be a stored commit (and, because
/// [`crate::receive_pack`] stores an object only once its closure is
/// present, that makes the whole history present). Without `force` each
/// update must be a fast-forward from the ref's current value, and `old`
/// must match it; with `force` the ref is overwritten whatever it holds.
/// The branch HEAD is on is refused unless the repository is bare
/// ([`PackError::CheckedOutBranch`]), with or without `force`, and so is
/// deleting the branch HEAD names, bare or not ([`PackError::DeleteCurrent`]).
/// Each move is
/// logged in the reflog as `push`.
pub fn apply_ref_updates(
    objects: &dyn ObjectSource,
    refs: &Refs<'_>,
    updates: &[RefUpdateReq],
    force: bool,
) -> Result<Vec<RefUpdateResult>> {
    let mut batch = Vec::new();
    let mut results = Vec::new();
    // Read once: a damaged HEAD is not on any branch, and an unreadable
    // config is an error rather than a guess that the repository is bare.
    let head_branch = refs.head().ok().and_then(|h| h.branch_ref());
    let checked_out = if refs.is_bare()? { None } else { head_branch.clone() };
    for u in updates {
        let name = RefName::new(u.name.as_str()).map_err(|e| PackError::BadRequest(e.to_string()))?;
        if !name.is_pushable() {
            return Err(PackError::BadRequest(format!("only heads/ and tags/ refs can be pushed, not '{}'", u.name)));
        }
        if checked_out.as_ref() == Some(&name) {
            return Err(PackError::CheckedOutBranch(name.to_string()));
        }
        let old = parse_id(&u.old, "old value")?;
        let new = parse_id(&u.new, "new value")?;
        if new.is_none() && head_branch.as_ref() == Some(&name) {
            return Err(PackError::DeleteCurrent(name.to_string()));
        }
        if let Some(n) = new {
            if !objects.has_object(ObjectKind::Commit, &n)? {
                return Err(PackError::MissingTip(u.name.clone(), n));
            }
        }
        let current = refs.get(&name)?;
        if current == new {
            // Already where the push wants it: the retry of a push whose
            // first attempt moved the ref but never heard back (a killed
            // client, a replica that died after the update) succeeds
            // instead of being told to fetch first.
            results.push(RefUpdateResult {
                name: u.name.clone(),
                old: current.map(|c| c.to_hex()),
                new: u.new.clone(),
            });
            continue;
        }
        if !force {
            if current != old {
                return Err(PackError::FetchFirst(u.name.clone()));
            }
            if let (Some(cur), Some(n)) = (current, new) {
                if !is_ancestor(objects, &cur, &n)? {
                    return Err(PackError::NonFastForward(u.name.clone()));
                }
            }
        }
        let expect = if force {
            Expect::Any
        } else {
            match old {
                Some(o) => Expect::Is(o),
                None => Expect::Absent,
            }
        };
        batch.push(RefUpdate { name, new, expect });
        results.push(RefUpdateResult {
            name: u.name.clone(),
            old: current.map(|c| c.to_hex()),
            new: new.map(|n| n.to_hex()),
        });
    }
    match refs.update_all(&batch, "push") {
        Ok(()) => Ok(results),
        // Someone else moved the ref between our check and the swap.
        Err(RefError::Stale { name, .. }) => Err(PackError::FetchFirst(name)),
        Err(e) => Err(e.into()),
    }
}
