//! push, fetch and clone.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use oxen_hash::ContentId;
use oxen_pack::chunks::{chunk_ids, plan, ChunkCounts};
use oxen_pack::{Item, ObjRef, PackError, RefUpdateReq};
use oxen_refs::{BranchName, Expect, RefName, RefUpdate, TagName};
use oxen_repo::Repo;
use oxen_store::{Config, NoProgress, ObjectKind, ObjectSource, Progress};

use crate::{Remote, RemoteError, Result};

/// How one ref changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefChange {
    /// The ref (`heads/main`).
    pub name: RefName,
    /// Value before (`None`: it did not exist).
    pub old: Option<ContentId>,
    /// Value after.
    pub new: Option<ContentId>,
    /// What kind of change it was.
    pub outcome: PushOutcome,
}

/// Kinds of ref change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// Already equal.
    UpToDate,
    /// The ref did not exist.
    Created,
    /// Moved forward.
    FastForward,
    /// Overwritten (`--force`), possibly losing commits.
    Forced,
    /// Removed (`push --delete`, `fetch --prune`).
    Deleted,
    /// Left as it was because the change would have overwritten a local
    /// tag that points elsewhere (fetch without `--force`).
    Rejected,
}

/// What a push did.
#[derive(Clone, Debug, Default)]
pub struct PushReport {
    /// Per-ref results.
    pub changes: Vec<RefChange>,
    /// Objects sent (commits, trees, whole blobs, chunk lists).
    pub objects: u64,
    /// Pack bytes sent.
    pub bytes: u64,
    /// Chunks sent.
    pub chunks: u64,
    /// Chunks of the files sent that the remote already had.
    pub reused: u64,
}

/// What a fetch did.
#[derive(Clone, Debug, Default)]
pub struct FetchReport {
    /// Remote-tracking refs changed (`remotes/<remote>/<branch>`), or the
    /// remote's refs when fetching from a URL without a remote name.
    pub changes: Vec<RefChange>,
    /// Objects received (commits, trees, whole blobs, chunk lists).
    pub objects: u64,
    /// Pack bytes received.
    pub bytes: u64,
    /// Chunks received.
    pub chunks: u64,
    /// Chunks of the files received that this repository already had.
    pub reused: u64,
}

/// How to fetch.
#[derive(Clone, Copy, Debug, Default)]
pub struct FetchOptions {
    /// Remove `remotes/<name>/<branch>` refs whose branch is gone on the remote.
    pub prune: bool,
    /// Overwrite local tags that point elsewhere than the remote's tag of
    /// the same name (otherwise they are left alone and reported as rejected).
    pub force: bool,
    /// Which tags to take; `None`: the remote's `tagOpt` config, else
    /// [`TagMode::Follow`].
    pub tags: Option<TagMode>,
    /// Fetch at most this many commits from each remote tip (`--depth`):
    /// the result is a shallow repository (see [`oxen_store::read_shallow`]).
    pub depth: Option<u32>,
    /// Fetch this many more commits below each shallow boundary (`--deepen`).
    pub deepen: Option<u32>,
    /// Fetch all the history below the shallow boundaries (`--unshallow`).
    pub unshallow: bool,
}

/// Which of a remote's tags a fetch takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TagMode {
    /// Tags that point into the history fetched or already here (git's
    /// auto-follow): a tag whose commit is stored after the fetch. Every
    /// stored commit has its history stored (or is a shallow boundary), so
    /// this needs no walk.
    #[default]
    Follow,
    /// Every tag, with its history (`--tags`).
    All,
    /// No tags (`--no-tags`).
    None,
}

/// How to clone.
#[derive(Clone, Copy, Debug, Default)]
pub struct CloneOptions {
    /// Only this many commits of the one branch checked out (`--depth`,
    /// which implies git's `--single-branch`); tags are followed, not all
    /// taken.
    pub depth: Option<u32>,
    /// Take no tags, now or on later fetches (`--no-tags`).
    pub no_tags: bool,
}

/// What a clone did.
#[derive(Clone, Debug)]
pub struct CloneReport {
    /// The new repository's work tree.
    pub dir: PathBuf,
    /// Branch checked out (`None` when the remote is empty).
    pub branch: Option<BranchName>,
    /// Its commit.
    pub commit: Option<ContentId>,
    /// Objects received (commits, trees, whole blobs, chunk lists).
    pub objects: u64,
    /// Pack bytes received.
    pub bytes: u64,
    /// Chunks received.
    pub chunks: u64,
    /// Chunks of the files received that this repository already had.
    pub reused: u64,
}

/// Turn a remote name or URL into `(remote name if it is one, url)`.
/// Local paths in config are relative to the repository's work tree.
pub fn resolve_remote(repo: &Repo, name_or_url: &str) -> Result<(Option<String>, String)> {
    let config = repo.config()?;
    if let Some(r) = config.remote.get(name_or_url) {
        let url = if is_url(&r.url) || Path::new(&r.url).is_absolute() {
            r.url.clone()
        } else {
            repo.layout.work.join(&r.url).to_string_lossy().into_owned()
        };
        return Ok((Some(name_or_url.to_string()), url));
    }
    if is_url(name_or_url) || Path::new(name_or_url).join(".oxen").is_dir() {
        return Ok((None, name_or_url.to_string()));
    }
    Err(RemoteError::Other(format!(
        "no remote named '{name_or_url}' (add one with `oxen remote add {name_or_url} <url>`)"
    )))
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// Push local refs (branch names, `heads/<b>` or `tags/<t>`) to a remote.
/// Only objects the remote lacks are sent: the walk starts from the local
/// tips and stops at anything reachable from the remote's tips, and the
/// remaining candidates are checked against the remote before sending.
/// Without `force`, a ref the remote moved past us is refused (fetch
/// first) and so is a non-fast-forward. When `remote_name` is given, the
/// matching `remotes/<name>/<branch>` refs are updated afterwards.
pub fn push(
    repo: &Repo,
    remote: &Remote,
    remote_name: Option<&str>,
    refs: &[String],
    force: bool,
    progress: &dyn Progress,
) -> Result<PushReport> {
    let remote_refs = remote.list_refs()?;
    let mut tips = Vec::new();
    let mut updates = Vec::new();
    let mut report = PushReport::default();
    for r in refs {
        let mut name = RefName::from_shorthand(r)?;
        // A plain name that is no local branch but a local tag pushes the
        // tag (`push origin v1`), as git's refspec lookup does.
        if repo.refs().get(&name)?.is_none() && name.as_str() == format!("heads/{r}") {
            if let Ok(t) = TagName::new(r) {
                if repo.refs().get(&t.to_ref())?.is_some() {
                    name = t.to_ref();
                }
            }
        }
        if !name.is_pushable() {
            return Err(RemoteError::Other(format!("only branches and tags can be pushed, not '{r}'")));
        }
        let local = repo
            .refs()
            .get(&name)?
            .ok_or_else(|| RemoteError::Other(format!("src refspec '{r}' does not match any local branch or tag")))?;
        let theirs = remote_refs.refs.get(&name).copied();
        let outcome = match theirs {
            None => PushOutcome::Created,
            Some(t) if t == local => PushOutcome::UpToDate,
            // A tag names one commit for good: moving it, even forward, is
            // a replacement (git: "already exists").
            Some(_) if name.as_tag().is_some() && !force => {
                return Err(RemoteError::Other(format!(
                    "rejected {name}: the tag already exists on the remote at another commit (push with --force to replace it)"
                )))
            }
            Some(t) => {
                let known = repo.db.has_object(oxen_store::Table::Commits, &t)?;
                let ff = known && repo.is_ancestor(&t, &local)?;
                match (ff, force) {
                    (true, _) => PushOutcome::FastForward,
                    (false, true) => PushOutcome::Forced,
                    (false, false) if !known => return Err(PackError::FetchFirst(name.to_string()).into()),
                    (false, false) => return Err(PackError::NonFastForward(name.to_string()).into()),
                }
            }
        };
        if outcome != PushOutcome::UpToDate {
            tips.push(local);
            updates.push(RefUpdateReq {
                name: name.to_string(),
                old: theirs.map(|t| t.to_hex()),
                new: Some(local.to_hex()),
            });
        }
        report.changes.push(RefChange { name, old: theirs, new: Some(local), outcome });
    }
    if !tips.is_empty() {
        let haves: Vec<ContentId> = remote_refs.refs.values().copied().collect();
        let candidates = oxen_pack::enumerate(repo, &tips, &haves)?;
        let missing = remote.missing(&candidates)?;
        drop(candidates);
        repo.release_memory();
        let boundaries = repo.shallow_boundaries()?;
        if let Some((_, b)) = missing.iter().find(|(k, id)| *k == ObjectKind::Commit && boundaries.contains(id)) {
            return Err(RemoteError::Other(format!(
                "cannot push from this shallow clone: the remote lacks commit {} at its shallow boundary and the history below it (run `oxen fetch --unshallow` first)",
                b.short()
            )));
        }
        if !missing.is_empty() {
            let (items, counts, stored_chunks) = plan_push(repo, remote, &missing)?;
            let stats = remote.send_items(repo, items, stored_chunks, progress)?;
            report.objects = stats.objects.saturating_sub(counts.sent);
            report.bytes = stats.bytes;
            report.chunks = counts.sent;
            report.reused = counts.reused;
        }
        remote.update_refs(updates, force)?;
    }
    if let Some(rn) = remote_name {
        let mut tracking = Vec::new();
        for c in &report.changes {
            if let (Some(b), Some(new)) = (c.name.as_branch(), c.new) {
                let name = RefName::remote_tracking(rn, &b)?;
                tracking.push(RefUpdate { name, new: Some(new), expect: Expect::Any });
            }
        }
        repo.refs().update_all(&tracking, "update by push")?;
    }
    Ok(report)
}

/// Fetch every branch and tag of a remote: receive the objects we lack,
/// and (when `remote_name` is given) point `remotes/<name>/<branch>` at the
/// remote's tips and create the remote's tags as our `tags/<tag>`. Every
/// tag travels (as git's `--tags`), so a tag on a commit outside every
/// branch arrives with its history. A local tag that points elsewhere is
/// never overwritten unless `opts.force`: it is reported as
/// [`PushOutcome::Rejected`]. Our branches are never touched. With
/// `opts.prune`, remote-tracking refs whose branch is gone on the remote
/// are removed.
pub fn fetch(
    repo: &Repo,
    remote: &Remote,
    remote_name: Option<&str>,
    opts: &FetchOptions,
    progress: &dyn Progress,
) -> Result<FetchReport> {
    let remote_refs = remote.list_refs()?;
    let mut heads: Vec<(BranchName, ContentId)> = remote_refs.branches().collect();
    let remote_cfg = match remote_name {
        Some(rn) => repo.config()?.remote.get(rn).cloned(),
        None => None,
    };
    // A single-branch clone (`clone --depth`) keeps fetching only its branch.
    if let Some(only) = remote_cfg.as_ref().and_then(|r| r.branches.as_ref()) {
        heads.retain(|(b, _)| only.iter().any(|o| o == b.as_str()));
    }
    let tag_mode = match (opts.tags, remote_cfg.as_ref().and_then(|r| r.tag_opt.as_deref())) {
        (Some(m), _) => m,
        (None, Some("--no-tags")) => TagMode::None,
        (None, Some("--tags")) => TagMode::All,
        (None, _) => TagMode::Follow,
    };
    let boundaries = repo.shallow_boundaries()?;
    if (opts.unshallow || opts.deepen.is_some()) && boundaries.is_empty() {
        return Err(RemoteError::Other(
            "--unshallow and --deepen only apply to a shallow repository (this one has its whole history)".into(),
        ));
    }
    // Tags are stored only under a remote name: a fetch from a bare URL
    // records nothing, as before.
    let mut tags = Vec::new();
    if remote_name.is_some() && tag_mode != TagMode::None {
        for (t, id) in remote_refs.tags() {
            let local = repo.refs().get(&t.to_ref())?;
            tags.push((t, id, local));
        }
    }
    let mut wants = Vec::new();
    let tag_tips = tags
        .iter()
        .filter(|(_, id, local)| tag_mode == TagMode::All && (local.is_none() || opts.force || *local == Some(*id)));
    for id in heads.iter().map(|(_, id)| id).chain(tag_tips.map(|(_, id, _)| id)) {
        if !repo.db.has_object(oxen_store::Table::Commits, id)? && !wants.contains(id) {
            wants.push(*id);
        }
    }
    // What lies below the boundaries: their parents, and the history
    // under them (all of it, or `deepen` commits of it).
    let mut below = Vec::new();
    if opts.unshallow || opts.deepen.is_some() {
        for b in &boundaries {
            for p in repo.read_commit(b)?.parents {
                if !repo.db.has_object(oxen_store::Table::Commits, &p)? && !below.contains(&p) {
                    below.push(p);
                }
            }
        }
    }
    let mut report = FetchReport::default();
    let mut add = |(stats, counts): (oxen_pack::ReceiveStats, ChunkCounts)| {
        report.objects += stats.objects.saturating_sub(counts.sent);
        report.bytes += stats.bytes;
        report.chunks += counts.sent;
        report.reused += counts.reused;
    };
    let haves = || -> Result<Vec<ContentId>> { Ok(repo.refs().all()?.into_iter().map(|(_, id)| id).collect()) };
    if !wants.is_empty() {
        add(fetch_objects_shallow(repo, remote, &wants, &haves()?, opts.depth, progress)?);
    }
    if !below.is_empty() {
        // `--unshallow`: all of it (deepen is None then).
        let more = fetch_objects_shallow(repo, remote, &below, &haves()?, opts.deepen, progress).map_err(|e| {
            RemoteError::Other(format!(
                "cannot fetch the history below this clone's shallow boundary (is the remote shallow itself?): {e}"
            ))
        })?;
        add(more);
    }
    if tag_mode == TagMode::Follow {
        // Only tags into history we now hold (git's auto-follow).
        let mut kept = Vec::new();
        for (t, id, local) in tags {
            if repo.db.has_object(oxen_store::Table::Commits, &id)? {
                kept.push((t, id, local));
            }
        }
        tags = kept;
    }
    let mut updates = Vec::new();
    for (b, id) in &heads {
        let name = match remote_name {
            Some(rn) => RefName::remote_tracking(rn, b)?,
            None => b.to_ref(),
        };
        let old = if remote_name.is_some() { repo.refs().get(&name)? } else { None };
        if old == Some(*id) {
            continue;
        }
        let outcome = match old {
            None => PushOutcome::Created,
            Some(o) if repo.is_ancestor(&o, id)? => PushOutcome::FastForward,
            Some(_) => PushOutcome::Forced,
        };
        if remote_name.is_some() {
            updates.push(RefUpdate { name: name.clone(), new: Some(*id), expect: Expect::Any });
        }
        report.changes.push(RefChange { name, old, new: Some(*id), outcome });
    }
    for (t, id, local) in tags {
        let name = t.to_ref();
        let (outcome, expect) = match local {
            Some(l) if l == id => continue,
            None => (PushOutcome::Created, Expect::Absent),
            Some(l) if opts.force => (PushOutcome::Forced, Expect::Is(l)),
            Some(_) => (PushOutcome::Rejected, Expect::Any),
        };
        if outcome != PushOutcome::Rejected {
            updates.push(RefUpdate { name: name.clone(), new: Some(id), expect });
        }
        report.changes.push(RefChange { name, old: local, new: Some(id), outcome });
    }
    if let (Some(rn), true) = (remote_name, opts.prune) {
        for (name, id) in repo.refs().remote_tracking(Some(rn))? {
            let Some((r, b)) = name.as_remote_tracking() else { continue };
            // A listing under our prefix that parses to another remote is
            // not ours to prune (remote names are one path component).
            if r != rn || remote_refs.refs.contains_key(&b.to_ref()) {
                continue;
            }
            updates.push(RefUpdate { name: name.clone(), new: None, expect: Expect::Is(id) });
            report.changes.push(RefChange { name, old: Some(id), new: None, outcome: PushOutcome::Deleted });
        }
    }
    let message = match remote_name {
        Some(rn) => format!("fetch: from {rn}"),
        None => "fetch".to_string(),
    };
    repo.refs().update_all(&updates, &message)?;
    Ok(report)
}

/// Delete refs on a remote (`push --delete`): each name is a branch or a
/// tag (`heads/<b>` or `tags/<t>` when both exist). The deletion is a
/// compare-and-swap against the value we last saw (our
/// `remotes/<name>/<branch>` when we have one, as git's lease, else the
/// value just listed), so a branch someone moved since is not lost. The
/// remote's HEAD branch is refused. Our remote-tracking refs of deleted
/// branches are removed.
pub fn delete_remote_refs(
    repo: &Repo,
    remote: &Remote,
    remote_name: Option<&str>,
    names: &[String],
) -> Result<PushReport> {
    let remote_refs = remote.list_refs()?;
    let mut updates = Vec::new();
    let mut tracking = Vec::new();
    let mut report = PushReport::default();
    for n in names {
        let name = remote_ref_named(&remote_refs, n)?;
        if remote_refs.head.as_ref() == Some(&name) {
            return Err(RemoteError::Other(format!(
                "refusing to delete the remote's current branch '{}': it is the remote's HEAD (its default branch)",
                name.as_branch().map(|b| b.to_string()).unwrap_or_else(|| name.to_string())
            )));
        }
        let theirs = *remote_refs
            .refs
            .get(&name)
            .ok_or_else(|| RemoteError::Other(format!("unable to delete '{n}': remote ref does not exist")))?;
        let tracking_ref = match (remote_name, name.as_branch()) {
            (Some(rn), Some(b)) => Some(RefName::remote_tracking(rn, &b)?),
            _ => None,
        };
        let seen = match &tracking_ref {
            Some(t) => repo.refs().get(t)?,
            None => None,
        };
        if let Some(s) = seen {
            if s != theirs {
                return Err(RemoteError::Other(format!(
                    "rejected {name}: stale info, the remote moved it to {} since you last fetched (at {}); fetch first",
                    theirs.short(),
                    s.short()
                )));
            }
        }
        if let (Some(t), Some(s)) = (tracking_ref, seen) {
            tracking.push(RefUpdate { name: t, new: None, expect: Expect::Is(s) });
        }
        updates.push(RefUpdateReq { name: name.to_string(), old: Some(theirs.to_hex()), new: None });
        report.changes.push(RefChange { name, old: Some(theirs), new: None, outcome: PushOutcome::Deleted });
    }
    remote.update_refs(updates, false)?;
    repo.refs().update_all(&tracking, "update by push")?;
    Ok(report)
}

/// The remote ref a name typed for `push --delete` means: a full
/// `heads/...`/`tags/...` name as it is, else the branch, else the tag.
fn remote_ref_named(remote_refs: &crate::RemoteRefs, n: &str) -> Result<RefName> {
    let explicit = RefName::from_shorthand(n)?;
    if explicit.as_str() != format!("heads/{}", n.strip_prefix("refs/").unwrap_or(n)) {
        if !explicit.is_pushable() {
            return Err(RemoteError::Other(format!("only branches and tags can be deleted, not '{n}'")));
        }
        return Ok(explicit);
    }
    if !remote_refs.refs.contains_key(&explicit) {
        if let Ok(t) = TagName::new(n) {
            if remote_refs.refs.contains_key(&t.to_ref()) {
                return Ok(t.to_ref());
            }
        }
    }
    Ok(explicit)
}

/// Clone `url` into `dir` (default: the repository name, or the last path
/// component of a local path): a new repository with `origin` pointing at
/// `url`, every remote branch as `remotes/origin/<branch>`, every remote
/// tag as `tags/<tag>`, and `branch`
/// (default: the remote's HEAD, else `main`, else its first branch)
/// checked out with `origin` as upstream. A directory created here is
/// removed again if the clone fails.
pub fn clone(url: &str, dir: Option<&Path>, branch: Option<&str>, progress: &dyn Progress) -> Result<CloneReport> {
    clone_with(url, dir, branch, &CloneOptions::default(), progress)
}

/// [`clone`] with options: `--depth` (a shallow clone of the one branch
/// checked out, whose later fetches take only that branch, and only the
/// tags into its history) and `--no-tags` (recorded as the remote's
/// `tagOpt`, so later fetches take none either).
pub fn clone_with(
    url: &str,
    dir: Option<&Path>,
    branch: Option<&str>,
    opts: &CloneOptions,
    progress: &dyn Progress,
) -> Result<CloneReport> {
    clone_partial(url, dir, branch, opts, None, progress)
}

/// [`clone_with`], partial when `filter` is given (`oxen clone --filter`):
/// every commit and tree, but only the contents under `filter`, and only
/// those paths checked out; `origin` is recorded as the promisor remote
/// that later reads fetch the other contents from.
pub fn clone_partial(
    url: &str,
    dir: Option<&Path>,
    branch: Option<&str>,
    opts: &CloneOptions,
    filter: Option<&oxen_path::PathSet>,
    progress: &dyn Progress,
) -> Result<CloneReport> {
    if opts.depth == Some(0) {
        return Err(RemoteError::Other("depth must be a positive number".into()));
    }
    let remote = Remote::open(url)?;
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => {
            let name = url.trim_end_matches('/').rsplit('/').next().unwrap_or("").to_string();
            if name.is_empty() || name == "." || name == ".." {
                return Err(RemoteError::Other(format!("cannot guess a directory name from '{url}'; give one")));
            }
            PathBuf::from(name)
        }
    };
    let existed = dir.exists();
    if existed && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(RemoteError::Other(format!(
            "destination '{}' already exists and is not an empty directory",
            dir.display()
        )));
    }
    let result = clone_into(&remote, url, &dir, branch, opts, filter, progress);
    if result.is_err() && !existed {
        // Leave nothing half-made behind; a retry starts clean.
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn clone_into(
    remote: &Remote,
    url: &str,
    dir: &Path,
    branch: Option<&str>,
    opts: &CloneOptions,
    filter: Option<&oxen_path::PathSet>,
    progress: &dyn Progress,
) -> Result<CloneReport> {
    let remote_refs = remote.list_refs()?;
    let chosen = match branch {
        Some(b) => {
            let b = BranchName::new(b)?;
            if !remote_refs.refs.contains_key(&b.to_ref()) {
                return Err(RemoteError::Other(format!("remote branch '{b}' not found in {url}")));
            }
            Some(b)
        }
        None => remote_refs.default_branch(),
    };
    let initial = match &chosen {
        Some(b) => b.clone(),
        None => BranchName::new("main")?,
    };
    let repo = Repo::init(dir, &initial)?;
    // Store a local remote as an absolute path: the clone's work tree is
    // elsewhere, so a relative one would point at the wrong place.
    let stored_url = if is_url(url) {
        url.to_string()
    } else {
        std::fs::canonicalize(url).map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|_| url.to_string())
    };
    let cfg_path = repo.layout.config_file();
    let mut cfg = Config::load(&cfg_path)?;
    cfg.remote.insert("origin".into(), oxen_store::RemoteConfig { url: stored_url, ..Default::default() });
    if let Some(b) = &chosen {
        cfg.upstream.insert(b.to_string(), "origin".into());
    }
    if let Some(origin) = cfg.remote.get_mut("origin") {
        if let (Some(_), Some(b)) = (opts.depth, &chosen) {
            origin.branches = Some(vec![b.to_string()]);
        }
        if opts.no_tags {
            origin.tag_opt = Some("--no-tags".into());
        }
    }
    cfg.save(&cfg_path)?;
    if let Some(f) = filter {
        // Before the fetch: it asks only for the contents under the set,
        // and the checkout writes only those paths.
        repo.set_partial("origin", f)?;
    }
    // A full clone takes every tag (git's clone); a shallow one only those
    // into the history it gets.
    let tags = match (opts.no_tags, opts.depth) {
        (true, _) => TagMode::None,
        (false, Some(_)) => TagMode::Follow,
        (false, None) => TagMode::All,
    };
    let fetch_opts = FetchOptions { tags: Some(tags), depth: opts.depth, ..FetchOptions::default() };
    let fetched = fetch(&repo, remote, Some("origin"), &fetch_opts, progress)?;
    let mut commit = None;
    if let Some(b) = &chosen {
        let tip = repo
            .refs()
            .get(&RefName::remote_tracking("origin", b)?)?
            .ok_or_else(|| RemoteError::Other(format!("remote branch '{b}' vanished during clone")))?;
        // HEAD is still unborn here, so the checkout writes every file.
        let t = oxen_repo::Transition {
            op: "clone".into(),
            target: repo.read_commit(&tip)?.tree,
            local: oxen_repo::LocalChanges::Discard,
            head: oxen_repo::HeadMove::Advance { head: oxen_refs::Head::Branch(b.clone()), old: None, new: tip },
            message: format!("clone: from {url}"),
            overlay: vec![],
        };
        repo.transition(&t, &NoProgress)?;
        commit = Some(tip);
    }
    Ok(CloneReport {
        dir: repo.layout.work.clone(),
        branch: chosen,
        commit,
        objects: fetched.objects,
        bytes: fetched.bytes,
        chunks: fetched.chunks,
        reused: fetched.reused,
    })
}

/// The frames that give the remote `missing`: blobs stored chunked here
/// travel as the chunks the remote lacks plus their chunk lists; also
/// whether the remote reads chunks in their stored encoding.
fn plan_push(repo: &Repo, remote: &Remote, missing: &[ObjRef]) -> Result<(Vec<Item>, ChunkCounts, bool)> {
    let mut lists = HashMap::new();
    for (kind, id) in missing {
        if *kind == ObjectKind::Blob {
            if let Some(l) = ObjectSource::chunk_list(repo, id)? {
                lists.insert(*id, l);
            }
        }
    }
    let ids = chunk_ids(lists.values());
    let (lacking, stored_chunks) = if ids.is_empty() {
        (HashSet::new(), false)
    } else {
        let (lacking, stored) = remote.missing_chunks(&ids)?;
        (lacking.into_iter().collect(), stored)
    };
    let (items, counts) = plan(missing, &lists, &lacking);
    Ok((items, counts, stored_chunks))
}

/// Receive into `repo` everything reachable from `wants` and not from
/// `haves` that it lacks, at chunk level: the objects the remote would
/// send, less those held here; blobs the remote stores chunked come as the
/// chunks not stored here plus their lists. What fetch, pull, clone and
/// `oxen-fetch-pack` run.
pub fn fetch_objects(
    repo: &Repo,
    remote: &Remote,
    wants: &[ContentId],
    haves: &[ContentId],
    progress: &dyn Progress,
) -> Result<(oxen_pack::ReceiveStats, ChunkCounts)> {
    fetch_objects_shallow(repo, remote, wants, haves, None, progress)
}

/// [`fetch_objects`] with at most `depth` commits from each want. The
/// remote is told this repository's shallow boundaries (so it does not
/// build on history we lack) and answers with the new ones, which are
/// recorded in `.oxen/shallow` before the pack is received: a boundary
/// commit must be known as one when it arrives without its parents, and
/// an entry for a commit that never arrived is harmless. Afterwards
/// boundaries whose parents are all here are dropped (the file goes when
/// none is left).
pub fn fetch_objects_shallow(
    repo: &Repo,
    remote: &Remote,
    wants: &[ContentId],
    haves: &[ContentId],
    depth: Option<u32>,
    progress: &dyn Progress,
) -> Result<(oxen_pack::ReceiveStats, ChunkCounts)> {
    if depth == Some(0) {
        return Err(RemoteError::Other("depth must be a positive number".into()));
    }
    let receiver = repo.shallow_boundaries()?;
    // A partial clone receives contents only under its paths (the filter
    // is not combined with a shallow history yet: that asks for all).
    let filter = repo.partial_set()?;
    let found = match (&filter, depth, receiver.is_empty()) {
        (Some(f), None, true) => {
            oxen_pack::Enumerated { objects: remote.enumerate_filtered(wants, haves, Some(f))?, boundaries: Vec::new() }
        }
        _ => {
            let shallow = oxen_pack::Shallow { receiver: receiver.clone(), depth };
            remote.enumerate_shallow(wants, haves, &shallow)?
        }
    };
    if !found.boundaries.iter().all(|b| receiver.contains(b)) {
        let mut all = receiver;
        all.extend(found.boundaries.iter().copied());
        oxen_store::write_shallow(&repo.layout, &all)?;
    }
    // What is lacking is kept in the enumeration's own list, filtered in
    // place: one list of ids at a time (a clone of a million files held a
    // million in each of two, 17 bytes an id, with the answers between).
    let mut lacking = found.objects;
    let mut has = ObjectSource::has_objects(repo, &lacking)?.into_iter();
    lacking.retain(|_| !has.next().unwrap_or(false));
    drop(has);
    // A fetch that lacks little gives the rest of the list back.
    lacking.shrink_to_fit();
    repo.release_memory();
    let (items, counts) = plan_fetch(repo, remote, &lacking)?;
    drop(lacking);
    let stats = remote.fetch_items(repo, items, progress)?;
    tidy_shallow(repo)?;
    Ok((stats, counts))
}

/// Drop the boundaries that are no longer boundaries: commits not stored
/// (announced, never received) and commits whose parents are all stored
/// (each stored commit brings its history, or is a boundary itself).
fn tidy_shallow(repo: &Repo) -> Result<()> {
    let before = repo.shallow_boundaries()?;
    if before.is_empty() {
        return Ok(());
    }
    let mut after = std::collections::BTreeSet::new();
    for b in &before {
        if !repo.db.has_object(oxen_store::Table::Commits, b)? {
            continue;
        }
        let mut complete = true;
        for p in repo.read_commit(b)?.parents {
            complete &= repo.db.has_object(oxen_store::Table::Commits, &p)?;
        }
        if !complete {
            after.insert(*b);
        }
    }
    if after != before {
        oxen_store::write_shallow(&repo.layout, &after)?;
    }
    Ok(())
}

/// The frames of a pack for a receiver that cannot be asked (the far end
/// of a one-way pipe, `oxen-upload-pack | oxen-receive-pack`), which holds
/// the commits `haves`: blobs stored chunked here travel as their chunks
/// less those of the files in the trees of `haves` (what a one-row edit of
/// a large table shares with the version before it), plus their chunk
/// lists; everything else as is. `haves` not held here are ignored. A
/// receiver that lacks a chunk so left out refuses the list naming it, and
/// nothing of it becomes visible.
pub fn plan_one_way(repo: &Repo, objects: &[ObjRef], haves: &[ContentId]) -> Result<(Vec<Item>, ChunkCounts)> {
    let mut lists = HashMap::new();
    for (kind, id) in objects {
        if *kind == ObjectKind::Blob {
            if let Some(l) = ObjectSource::chunk_list(repo, id)? {
                lists.insert(*id, l);
            }
        }
    }
    let mut known: HashSet<ContentId> = HashSet::new();
    if !lists.is_empty() {
        let mut seen_files = HashSet::new();
        for h in haves {
            if !repo.db.has_object(oxen_store::Table::Commits, h)? {
                continue;
            }
            let tree = repo.read_commit(h)?.tree;
            for e in repo.flatten_tree(&tree)?.into_values() {
                if seen_files.insert(e.id) {
                    if let Some(l) = ObjectSource::chunk_list(repo, &e.id)? {
                        known.extend(l.chunks().iter().map(|c| c.id));
                    }
                }
            }
        }
    }
    let lacking: HashSet<ContentId> = chunk_ids(lists.values()).into_iter().filter(|c| !known.contains(c)).collect();
    Ok(plan(objects, &lists, &lacking))
}

/// The frames to ask the remote for to get `lacking`: blobs the remote
/// stores chunked come as the chunks not stored here plus their lists.
pub(crate) fn plan_fetch(repo: &Repo, remote: &Remote, lacking: &[ObjRef]) -> Result<(Vec<Item>, ChunkCounts)> {
    // The remote is asked about the blobs a batch at a time (the same
    // requests as for one list: it answers 10,000 ids a request), so no
    // second list of every blob id is held beside `lacking`.
    const LIST_BATCH: usize = 50_000;
    let mut lists: HashMap<ContentId, oxen_store::ChunkList> = HashMap::new();
    let mut blobs: Vec<ContentId> = Vec::new();
    let mut blob_ids = lacking.iter().filter(|(k, _)| *k == ObjectKind::Blob).map(|(_, id)| *id).peekable();
    while blob_ids.peek().is_some() {
        blobs.clear();
        blobs.extend(blob_ids.by_ref().take(LIST_BATCH));
        lists.extend(remote.chunk_lists(&blobs)?);
    }
    drop(blobs);
    let ids = chunk_ids(lists.values());
    let have_not: HashSet<ContentId> = repo.missing_contents(&ids)?.into_iter().collect();
    Ok(plan(lacking, &lists, &have_not))
}

/// Add remote `name` at `url` to the repository's own config (`oxen remote
/// add`, `pyoxen.Repo.remote_add`). An HTTP URL must parse; a path must be
/// an existing repository, and is stored absolute so commands run from any
/// directory find it.
pub fn add_remote(repo: &Repo, name: &str, url: &str) -> Result<()> {
    let probe = BranchName::new("x")?;
    RefName::remote_tracking(name, &probe)
        .map_err(|_| RemoteError::Other(format!("'{name}' is not a valid remote name")))?;
    let path = repo.layout.config_file();
    // Only the repository's own config is edited, never the layered view.
    let mut cfg = Config::load(&path)?;
    if cfg.remote.contains_key(name) {
        return Err(RemoteError::Other(format!("remote {name} already exists")));
    }
    let url = if url.starts_with("http://") || url.starts_with("https://") {
        crate::HttpRemote::new(url, None)?;
        url.to_string()
    } else {
        let p = std::fs::canonicalize(url)
            .map_err(|e| RemoteError::Other(format!("'{url}' is not a URL or an existing path: {e}")))?;
        if !p.join(".oxen").join("HEAD").is_file() {
            return Err(RemoteError::Other(format!("'{url}' is not an oxen repository")));
        }
        p.to_string_lossy().into_owned()
    };
    cfg.remote.insert(name.to_string(), oxen_store::RemoteConfig { url, ..Default::default() });
    cfg.save(&path)?;
    Ok(())
}
