//! Helpers that several porcelain commands share: staging with a progress
//! bar, creating and switching branches, restoring paths, printing commit
//! headers and merge outcomes, and picking the remote and branch for sync
//! commands. Each command itself lives in the file named after it.

use std::io::Write;
use std::path::PathBuf;

use oxen_hash::ContentId;
use oxen_index::StageOptions;
use oxen_object::Commit;
use oxen_path::RepoPath;
use oxen_refs::{BranchName, Head};
use oxen_remote::{FetchReport, PushOutcome, Remote};
use oxen_repo::{HeadMove, LocalChanges, MergeOutcome, Repo, RestoreSource, Transition};

use crate::progress::{human_bytes, Bar};
use crate::{user_error, CommandResult};

/// Stage paths in-process, with a progress bar on a terminal; what the walk
/// had to skip is reported on `err`.
pub(crate) fn stage(
    repo: &oxen_repo::Repo,
    paths: &[RepoPath],
    update_only: bool,
    err: &mut dyn Write,
) -> CommandResult<oxen_index::StageReport> {
    let bar = Bar::files("Adding");
    let opts = StageOptions { honor_ignore: true, update_only, partial: repo.partial_set()? };
    // With the monitor, only what changed since the last status is looked
    // at (oxen_repo::Repo::stage).
    let (report, how) = repo.stage(paths, opts, &bar)?;
    bar.finish();
    if std::env::var_os("OXEN_FSMONITOR_TRACE").is_some() {
        super::status::trace(&how, "add", err)?;
    }
    for w in &report.warnings {
        writeln!(err, "warning: {w}")?;
    }
    Ok(report)
}

/// Create branch `name` at `start` (default HEAD), refusing an existing one.
pub(crate) fn create_branch(
    repo: &Repo,
    name: &str,
    start: Option<&str>,
) -> CommandResult<(BranchName, oxen_hash::ContentId)> {
    Ok(repo.create_branch(name, start)?)
}

/// Move HEAD to `target` (a branch name or a revision), updating the work tree.
pub(crate) fn switch_to(
    repo: &Repo,
    target: &str,
    force: bool,
    allow_detach: bool,
    err: &mut dyn Write,
) -> CommandResult {
    let bar = Bar::files("Checking out");
    let s = repo.switch(target, force, allow_detach, &bar)?;
    bar.finish();
    warn_left_behind(repo, &s.old_head, &s.new_head, err)?;
    let r = s.report;
    match &s.new_head {
        Head::Branch(b) => writeln!(err, "Switched to branch '{b}' ({} written, {} removed)", r.written, r.removed)?,
        Head::Detached(id) => {
            writeln!(err, "HEAD is now at {} ({} written, {} removed)", id.short(), r.written, r.removed)?
        }
    }
    Ok(())
}

/// After HEAD moved from `old` to `new`: when HEAD was detached on commits
/// no ref reaches, say so and how to keep them, as git does (the reflog
/// still has them as `HEAD@{1}`).
fn warn_left_behind(repo: &Repo, old: &Head, new: &Head, err: &mut dyn Write) -> CommandResult {
    let lost = repo.left_behind(old, new)?;
    let Head::Detached(left) = old else { return Ok(()) };
    if lost.is_empty() {
        return Ok(());
    }
    let n = lost.len();
    let s = if n == 1 { "" } else { "s" };
    writeln!(err, "Warning: you are leaving {n} commit{s} behind, not connected to any of your branches:")?;
    const SHOWN: usize = 4;
    for id in lost.iter().take(SHOWN) {
        writeln!(err, "  {} {}", id.short(), repo.read_commit(id)?.summary())?;
    }
    if n > SHOWN {
        writeln!(err, "  ... and {} more", n - SHOWN)?;
    }
    let them = if n == 1 { "it" } else { "them" };
    writeln!(err, "to keep {them}: oxen branch <new-branch-name> {}", left.short())?;
    Ok(())
}

/// `checkout -b` / `switch -c`: create a branch at `start` and move to it.
pub(crate) fn create_and_switch(
    repo: &Repo,
    name: &str,
    start: Option<&str>,
    force: bool,
    err: &mut dyn Write,
) -> CommandResult {
    let old_head = repo.head()?;
    let (branch, id) = create_branch(repo, name, start)?;
    // Same commit: only HEAD moves (the transition finds no path that
    // differs), and local changes stay as they are.
    let local = if force && repo.head_commit()? != Some(id) { LocalChanges::Discard } else { LocalChanges::Refuse };
    let t = Transition {
        op: "checkout".into(),
        target: repo.read_commit(&id)?.tree,
        local,
        head: HeadMove::Set(Head::Branch(branch.clone())),
        message: format!("checkout: moving from {old_head} to {name}"),
        overlay: vec![],
    };
    repo.transition(&t, &Bar::files("Checking out"))?;
    warn_left_behind(repo, &old_head, &Head::Branch(branch), err)?;
    writeln!(err, "Switched to a new branch '{name}'")?;
    Ok(())
}

/// `Thu Nov 14 22:13:20 2023 +0000`
pub(crate) fn format_date(c: &Commit) -> String {
    let off = chrono::FixedOffset::east_opt(c.author.tz_minutes * 60)
        .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("zero offset"));
    match chrono::DateTime::from_timestamp(c.author.time, 0) {
        Some(t) => t.with_timezone(&off).format("%a %b %-d %H:%M:%S %Y %z").to_string(),
        None => format!("{} {}", c.author.time, c.author.tz_string()),
    }
}

/// The header `log` and `show` print for a commit.
pub(crate) fn write_header(out: &mut impl Write, id: &ContentId, c: &Commit) -> std::io::Result<()> {
    writeln!(out, "commit {id}")?;
    if c.parents.len() > 1 {
        let ps: Vec<String> = c.parents.iter().map(|p| p.short()).collect();
        writeln!(out, "Merge: {}", ps.join(" "))?;
    }
    writeln!(out, "Author: {} <{}>", c.author.name, c.author.email)?;
    writeln!(out, "Date:   {}\n", format_date(c))?;
    for l in c.message.lines() {
        writeln!(out, "    {l}")?;
    }
    Ok(())
}

/// Commits reachable from `start`, newest first (by author time, then id).
pub(crate) fn walk(
    repo: &Repo,
    start: ContentId,
    limit: usize,
    mut f: impl FnMut(&ContentId, &Commit) -> std::io::Result<()>,
) -> CommandResult {
    repo.walk_log(start, limit, |id, c| f(id, c).map_err(crate::CommandError::from))
}

/// Restore `paths` in the index and/or work tree from `source` (a revision;
/// default: HEAD for the index, the index for the work tree). Streams
/// (`Repo::restore`): only the subtrees the paths name are read.
pub(crate) fn restore_paths(
    repo: &Repo,
    user_paths: &[PathBuf],
    source: Option<&str>,
    staged: bool,
    worktree: bool,
) -> CommandResult {
    let specs = user_specs(repo, user_paths)?;
    let tree_of = |c: Option<ContentId>| -> CommandResult<Option<ContentId>> {
        Ok(match c {
            Some(c) => Some(repo.read_commit(&c)?.tree),
            None => None,
        })
    };
    let from = match (source, staged) {
        (Some(rev), _) => RestoreSource::Tree(tree_of(Some(repo.resolve_commit(rev)?))?),
        (None, true) => RestoreSource::Tree(tree_of(repo.head_commit()?)?),
        (None, false) => RestoreSource::Index,
    };
    repo.restore(&specs, from, staged, worktree, &oxen_store::NoProgress)?;
    Ok(())
}

/// Paths given on the command line (OS strings, any bytes) as repository
/// paths, resolved against the current directory.
pub(crate) fn user_specs(repo: &Repo, user_paths: &[PathBuf]) -> CommandResult<Vec<RepoPath>> {
    let cwd = crate::cwd()?;
    Ok(user_paths.iter().map(|p| RepoPath::from_user(&repo.layout.work, &cwd, p)).collect::<Result<_, _>>()?)
}

/// Cell conflicts printed per table (all are in the conflict file).
const CELL_CONFLICTS_SHOWN: usize = 20;

/// One table conflict in a line: the key, the column and the values.
fn cell_conflict(c: &oxen_tabular::merge::Conflict) -> String {
    use oxen_tabular::merge::ConflictKind as K;
    let v = |x: &Option<serde_json::Value>| match x {
        None => "(deleted)".to_string(),
        Some(serde_json::Value::String(s)) => oxen_tabular::csv_field(s, b','),
        Some(x) => x.to_string(),
    };
    let key: Vec<String> = c.key.0.iter().map(|(k, x)| format!("{k}={}", v(&Some(x.clone())))).collect();
    let what = match c.kind {
        K::Cell => "cell changed on both sides",
        K::ModifyDelete => "row modified by us, deleted by them",
        K::DeleteModify => "row deleted by us, modified by them",
        K::RemovedColumnEdited => "cell edited in a column the other side removed",
        K::DuplicateKey => "rows of a duplicated key changed on both sides (both kept)",
    };
    match &c.column {
        Some(col) => format!("{} column {col}: {what}: ours {}, theirs {}", key.join(","), v(&c.ours), v(&c.theirs)),
        None => format!("{}: {what}", key.join(",")),
    }
}

/// Print how a merge ended (shared by `merge` and `pull`); conflicts are an error.
pub(crate) fn report(outcome: MergeOutcome, out: &mut dyn Write) -> CommandResult {
    match outcome {
        MergeOutcome::UpToDate => writeln!(out, "Already up to date.")?,
        MergeOutcome::FastForward(id) => writeln!(out, "Fast-forward to {}", id.short())?,
        MergeOutcome::Merged(id) => writeln!(out, "Merge made commit {}", id.short())?,
        MergeOutcome::Conflicts(conflicts) => {
            for c in &conflicts {
                writeln!(out, "CONFLICT ({}): {}", c.kind.describe(), c.path)?;
                if c.binary {
                    writeln!(out, "  ours is in the work tree; `oxen checkout --theirs -- {}` takes theirs", c.path)?;
                }
                for cell in c.cells.iter().take(CELL_CONFLICTS_SHOWN) {
                    writeln!(out, "  {}", cell_conflict(cell))?;
                }
                if c.cell_count > CELL_CONFLICTS_SHOWN as u64 {
                    writeln!(
                        out,
                        "  ... {} more (all listed in .oxen/{})",
                        c.cell_count - CELL_CONFLICTS_SHOWN as u64,
                        oxen_repo::TABLE_CONFLICTS_FILE
                    )?;
                }
            }
            return Err(user_error(oxen_repo::conflicts_message(conflicts.len())));
        }
    }
    Ok(())
}

/// Fetch by name or URL; returns the remote name used for tracking refs.
pub(crate) fn fetch_remote(
    repo: &oxen_repo::Repo,
    remote_arg: &str,
    opts: &oxen_remote::FetchOptions,
) -> CommandResult<FetchReport> {
    let (name, url) = oxen_remote::resolve_remote(repo, remote_arg)?;
    let remote = Remote::open(&url)?;
    let bar = Bar::objects("Receiving");
    let report = oxen_remote::fetch(repo, &remote, name.as_deref(), opts, &bar)?;
    bar.finish();
    Ok(report)
}

/// Whether fetch should prune: `--prune` when given, else `fetch.prune`
/// from the repository's config layered over the global one (as git).
pub(crate) fn fetch_prune(repo: &oxen_repo::Repo, flag: bool) -> CommandResult<bool> {
    Ok(flag || repo.config()?.fetch.prune.unwrap_or(false))
}

/// Print a fetch report: one line per changed remote-tracking ref or tag,
/// tags and pruned refs as git prints them.
pub(crate) fn print_fetch(report: &FetchReport, out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<()> {
    for c in &report.changes {
        let short = |i: Option<oxen_hash::ContentId>| i.map(|i| i.short()).unwrap_or_default();
        if let Some(t) = c.name.as_tag() {
            match c.outcome {
                PushOutcome::Created => writeln!(out, " * [new tag]         {t} -> {t}")?,
                PushOutcome::Rejected => writeln!(out, " ! [rejected]        {t} -> {t} (would clobber existing tag)")?,
                _ => writeln!(out, " + {}...{} {t} -> {t} (forced update)", short(c.old), short(c.new))?,
            }
            continue;
        }
        match c.outcome {
            PushOutcome::Created => writeln!(out, " * [new branch] {}", c.name)?,
            PushOutcome::Forced => writeln!(out, " + {}...{} {} (forced update)", short(c.old), short(c.new), c.name)?,
            PushOutcome::Deleted => {
                let shown = c.name.as_str().strip_prefix("remotes/").unwrap_or(c.name.as_str());
                writeln!(out, " - [deleted]         (none) -> {shown}")?
            }
            _ => writeln!(out, "   {}..{} {}", short(c.old), short(c.new), c.name)?,
        }
    }
    if report.objects > 0 {
        writeln!(err, "received {} objects, {}", report.objects, human_bytes(report.bytes))?;
    }
    if report.bytes > 0 {
        // Exact and stable: benchmarks and tests parse `received N bytes`.
        writeln!(err, "received {} bytes ({} chunks, {} reused)", report.bytes, report.chunks, report.reused)?;
    }
    Ok(())
}

/// How many tags a fetch left alone because they would clobber ours.
pub(crate) fn rejected_tags(report: &FetchReport) -> usize {
    report.changes.iter().filter(|c| c.outcome == PushOutcome::Rejected).count()
}

/// The remote named, else the current branch's upstream, else `origin`.
pub(crate) fn default_remote(repo: &oxen_repo::Repo, given: Option<String>) -> CommandResult<String> {
    if let Some(r) = given {
        return Ok(r);
    }
    let cfg = repo.config()?;
    if let oxen_refs::Head::Branch(b) = repo.head()? {
        if let Some(r) = cfg.upstream.get(b.as_str()) {
            return Ok(r.clone());
        }
    }
    Ok("origin".into())
}

/// The branch given, else the current branch, or an error naming `what` needs one.
pub(crate) fn current_branch(repo: &oxen_repo::Repo, given: Option<String>, what: &str) -> CommandResult<String> {
    if let Some(b) = given {
        return Ok(b);
    }
    match repo.head()? {
        oxen_refs::Head::Branch(b) => Ok(b.to_string()),
        oxen_refs::Head::Detached(_) => Err(user_error(format!("HEAD is detached; name a branch to {what}"))),
    }
}

/// The tag mode `--tags`/`--no-tags` ask for (`None`: the remote's
/// `tagOpt`, else auto-follow).
pub(crate) fn tag_mode(tags: bool, no_tags: bool) -> Option<oxen_remote::TagMode> {
    match (tags, no_tags) {
        (true, _) => Some(oxen_remote::TagMode::All),
        (_, true) => Some(oxen_remote::TagMode::None),
        _ => None,
    }
}
