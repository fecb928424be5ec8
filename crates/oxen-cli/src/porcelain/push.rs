//! `oxen push`

use oxen_remote::Remote;
use oxen_store::Config;
use std::io::Write;

use crate::plumbing::send_pack::print_push;
use crate::progress::Bar;
use crate::{user_error, CommandResult};

/// Send a branch to a remote. Only objects the remote lacks travel (a
/// second push of the same data sends nothing). Refused when the remote
/// has commits you do not ("fetch first": pull, then push again) or when
/// it is not a fast-forward, unless --force. Pushing to an oxen-server
/// repository that does not exist fails: create it first with
/// `POST /api/repos`. Pushing to the checked-out branch of a repository
/// with a work tree is refused, even with --force ("refusing to update
/// checked out branch ... of a non-bare repository", as git's
/// receive.denyCurrentBranch): its work tree would no longer match the
/// branch. Push another branch, or push to a bare repository (`oxen init
/// --bare`, `oxen config core.bare true`; server repositories are bare).
/// --tags also pushes every local tag (only the tags when no branch is
/// named); a tag the remote has at another commit is refused unless
/// --force. --delete (or a `:<ref>` refspec) deletes a remote branch or
/// tag, only if it still is where you last fetched it; the remote's HEAD
/// (default) branch cannot be deleted.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Push every local tag too.
    #[arg(long, conflicts_with = "delete")]
    pub tags: bool,
    /// Delete BRANCH (a branch or tag) on the remote.
    #[arg(short, long, conflicts_with_all = ["set_upstream", "force"])]
    pub delete: bool,
    /// Remember REMOTE as the branch's upstream (for pull, push and status).
    #[arg(short = 'u', long = "set-upstream")]
    pub set_upstream: bool,
    /// Overwrite the remote branch even if that loses commits.
    #[arg(short, long)]
    pub force: bool,
    /// Remote name, URL or repository path (default: the upstream, else origin).
    pub remote: Option<String>,
    /// Branch or tag to push (default: the current branch); `:<ref>` deletes it.
    pub branch: Option<String>,
}

pub fn run(a: Args, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let repo = super::open()?;
    let remote_arg = super::shared::default_remote(&repo, a.remote)?;
    let refspec_delete = a.branch.as_deref().and_then(|b| b.strip_prefix(':')).map(str::to_string);
    if a.delete || refspec_delete.is_some() {
        let target = match (refspec_delete, a.branch) {
            (Some(t), _) | (None, Some(t)) if !t.is_empty() => t,
            _ => return Err(user_error("--delete needs the branch or tag to delete")),
        };
        let (name, url) = oxen_remote::resolve_remote(&repo, &remote_arg)?;
        let remote = Remote::open(&url)?;
        let report = oxen_remote::delete_remote_refs(&repo, &remote, name.as_deref(), &[target])?;
        print_push(&report, out, err)?;
        return Ok(());
    }
    let mut refs = Vec::new();
    if !a.tags || a.branch.is_some() {
        refs.push(super::shared::current_branch(&repo, a.branch, "push")?);
    }
    if a.tags {
        refs.extend(repo.refs().tags()?.into_iter().map(|(t, _)| t.to_ref().to_string()));
        if refs.is_empty() {
            writeln!(err, "Everything up-to-date (no tags to push)")?;
            return Ok(());
        }
    }
    let branch = refs.first().cloned().unwrap_or_default();
    let (name, url) = oxen_remote::resolve_remote(&repo, &remote_arg)?;
    let remote = Remote::open(&url)?;
    let bar = Bar::objects("Sending");
    let report = oxen_remote::push(&repo, &remote, name.as_deref(), &refs, a.force, &bar)?;
    bar.finish();
    print_push(&report, out, err)?;
    if a.set_upstream {
        // A tag (`--tags` alone, or a plain name that is a tag) has no upstream.
        if !matches!(report.changes.first(), Some(c) if c.name.as_branch().is_some()) {
            return Err(user_error("-u needs a branch to push"));
        }
        let Some(rn) = name else { return Err(user_error("-u needs a remote name (add one with `oxen remote add`)")) };
        let path = repo.layout.config_file();
        let mut cfg = Config::load(&path)?;
        cfg.upstream.insert(branch.clone(), rn.clone());
        cfg.save(&path)?;
        writeln!(out, "branch '{branch}' set up to track '{rn}/{branch}'")?;
    }
    Ok(())
}
