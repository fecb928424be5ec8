//! The `oxen` command: everyday version control, composed in-process from
//! the same library calls as the plumbing.

mod add;
mod branch;
mod checkout;
mod commit;
mod config;
mod df;
mod diff;
mod fsck;
mod fsmonitor;
pub(crate) mod gc;
mod init;
mod kvdb_inspect;
mod log;
mod merge;
pub(crate) mod migrate;
mod mv;
mod reflog;
mod reset;
mod restore;
mod rm;
mod show;
mod status;
mod switch;
mod tag;
// Sync.
mod clone;
mod fetch;
mod pull;
mod push;
mod remote;
// Helpers several commands use.
mod shared;

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Subcommand};

use crate::{CommandResult, Exit};

/// Data version control: git's ideas for datasets of millions of files and
/// files of many gigabytes.
#[derive(clap::Parser, Debug)]
#[command(
    name = "oxen",
    version,
    propagate_version = true,
    after_long_help = "Environment:\n  \
    OXEN_HOME          where the global config lives (default ~/.oxen)\n  \
    OXEN_TOKEN         bearer token sent to whatever server a command talks to, overriding the\n                     \
    per-server tokens of ~/.oxen/user_config.toml ([host.\"<origin>\"] token = ...)\n  \
    OXEN_HTTP_TIMEOUT  seconds to wait for a server to connect, take or send data (default 120)"
)]
pub struct Cli {
    /// Run as if started in this directory.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub change_dir: Option<std::path::PathBuf>,
    /// The subcommand to run.
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// Subcommands, one module (and file) each.
#[derive(Subcommand, Debug)]
#[allow(missing_docs)] // clap takes each variant's help from its Args' doc comment
pub enum Cmd {
    Init(init::Args),
    Config(config::Args),
    Add(add::Args),
    Rm(rm::Args),
    Mv(mv::Args),
    Status(status::Args),
    Commit(commit::Args),
    Log(log::Args),
    Show(show::Args),
    Branch(branch::Args),
    Checkout(checkout::Args),
    Switch(switch::Args),
    Tag(tag::Args),
    Restore(restore::Args),
    Reset(reset::Args),
    Reflog(reflog::Args),
    Diff(diff::Args),
    Df(df::Args),
    Merge(merge::Args),
    Remote(remote::Args),
    Push(push::Args),
    Fetch(fetch::Args),
    Pull(pull::Args),
    Clone(clone::Args),
    KvdbInspect(kvdb_inspect::Args),
    Fsck(fsck::Args),
    Gc(gc::Args),
    Migrate(migrate::Args),
    Fsmonitor(fsmonitor::Args),
    #[command(name = "fsmonitor--daemon", hide = true)]
    FsmonitorDaemon(fsmonitor::DaemonArgs),
}

/// The clap definition of `oxen`.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Entry point of the `oxen` binary.
pub fn main() -> ExitCode {
    crate::run_main(run)
}

/// Run a parsed command line, writing to `out` and `err`.
pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult<Exit> {
    if let Some(d) = &cli.change_dir {
        std::env::set_current_dir(d)
            .map_err(|e| crate::user_error(format!("cannot change to {}: {e}", d.display())))?;
    }
    match cli.cmd {
        Cmd::Init(a) => init::run(a, out, err),
        Cmd::Config(a) => config::run(a, out, err),
        Cmd::Add(a) => add::run(a, out, err),
        Cmd::Rm(a) => rm::run(a, out, err),
        Cmd::Mv(a) => mv::run(a, out, err),
        Cmd::Status(a) => status::run(a, out, err),
        Cmd::Commit(a) => commit::run(a, out, err),
        Cmd::Log(a) => log::run(a, out, err),
        Cmd::Show(a) => show::run(a, out, err),
        Cmd::Branch(a) => branch::run(a, out, err),
        Cmd::Checkout(a) => checkout::run(a, out, err),
        Cmd::Switch(a) => switch::run(a, out, err),
        Cmd::Tag(a) => tag::run(a, out, err),
        Cmd::Restore(a) => restore::run(a, out, err),
        Cmd::Reset(a) => reset::run(a, out, err),
        Cmd::Reflog(a) => reflog::run(a, out, err),
        Cmd::Diff(a) => return diff::run(a, out, err),
        Cmd::Df(a) => df::run(a, out, err),
        Cmd::Merge(a) => merge::run(a, out, err),
        Cmd::Remote(a) => remote::run(a, out, err),
        Cmd::Push(a) => push::run(a, out, err),
        Cmd::Fetch(a) => fetch::run(a, out, err),
        Cmd::Pull(a) => pull::run(a, out, err),
        Cmd::Clone(a) => clone::run(a, out, err),
        Cmd::KvdbInspect(a) => kvdb_inspect::run(a, out, err),
        Cmd::Fsck(a) => fsck::run(a, out, err),
        Cmd::Gc(a) => gc::run(a, out, err),
        Cmd::Migrate(a) => migrate::run(a, out, err),
        Cmd::Fsmonitor(a) => fsmonitor::run(a, out, err),
        Cmd::FsmonitorDaemon(a) => fsmonitor::run_daemon(a, out, err),
    }?;
    Ok(Exit::Success)
}

/// Open the repository containing the current directory, and parse its
/// config (over the global one) before the command prints anything:
/// several commands read it only halfway through their output (status for
/// upstreams, commit for the author, diff for table keys), and a garbage
/// config must be one error line, not half an output and then an error.
pub(crate) fn open() -> CommandResult<oxen_repo::Repo> {
    let repo = oxen_repo::Repo::discover(&crate::cwd()?)?;
    repo.config()?;
    oxen_remote::install_promisor(&repo)?;
    Ok(repo)
}

/// Open the repository for a command that reads or writes the work tree
/// or index, first completing a checkout (or reset, merge, clone) that was
/// interrupted, so the command sees the state that checkout left.
pub(crate) fn open_worktree(err: &mut dyn Write) -> CommandResult<oxen_repo::Repo> {
    let repo = open()?;
    finish_interrupted(&repo, err)?;
    Ok(repo)
}

/// Complete an interrupted transition, saying so on `err`; whether there was one.
pub(crate) fn finish_interrupted(repo: &oxen_repo::Repo, err: &mut dyn Write) -> CommandResult<bool> {
    let bar = crate::progress::Bar::files("Completing checkout");
    let done = repo.resume_transition(&bar)?;
    bar.finish();
    let Some(r) = done else { return Ok(false) };
    writeln!(
        err,
        "completed an interrupted {} ({} written, {} removed)",
        r.transition.op, r.report.written, r.report.removed
    )?;
    if let Some(n) = r.note {
        writeln!(err, "warning: {n}")?;
    }
    Ok(true)
}
