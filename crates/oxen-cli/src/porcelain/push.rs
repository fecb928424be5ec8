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
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Remember REMOTE as the branch's upstream (for pull, push and status).
    #[arg(short = 'u', long = "set-upstream")]
    pub set_upstream: bool,
    /// Overwrite the remote branch even if that loses commits.
    #[arg(short, long)]
    pub force: bool,
    /// Remote name, URL or repository path (default: the upstream, else origin).
    pub remote: Option<String>,
    /// Branch to push (default: the current branch).
    pub branch: Option<String>,
}

pub fn run(a: Args, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let repo = super::open()?;
    let remote_arg = super::shared::default_remote(&repo, a.remote)?;
    let branch = super::shared::current_branch(&repo, a.branch, "push")?;
    let (name, url) = oxen_remote::resolve_remote(&repo, &remote_arg)?;
    let remote = Remote::open(&url)?;
    let bar = Bar::objects("Sending");
    let report = oxen_remote::push(&repo, &remote, name.as_deref(), std::slice::from_ref(&branch), a.force, &bar)?;
    bar.finish();
    print_push(&report, out, err)?;
    if a.set_upstream {
        let Some(rn) = name else { return Err(user_error("-u needs a remote name (add one with `oxen remote add`)")) };
        let path = repo.layout.config_file();
        let mut cfg = Config::load(&path)?;
        cfg.upstream.insert(branch.clone(), rn.clone());
        cfg.save(&path)?;
        writeln!(out, "branch '{branch}' set up to track '{rn}/{branch}'")?;
    }
    Ok(())
}
