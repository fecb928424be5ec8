//! The `oxen` command: everyday version control, composed in-process from
//! the same library calls as the plumbing.

mod add;
mod branch;
mod commit;
mod config;
mod diff;
mod init;
mod kvdb_inspect;
mod log;
mod merge;
mod restore;
mod status;
// Sync.
mod clone;
mod fetch;
mod pull;
mod push;
mod remote;

use clap::{CommandFactory, Parser, Subcommand};

use crate::CliResult;

/// Data version control: git's ideas for datasets of millions of files and
/// files of many gigabytes.
#[derive(Parser, Debug)]
#[command(name = "oxen", version, propagate_version = true)]
pub struct Cli {
    /// Run as if started in this directory.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub change_dir: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    Init(init::Args),
    Config(config::Args),
    Add(add::AddArgs),
    Rm(add::RmArgs),
    Mv(add::MvArgs),
    Status(status::Args),
    Commit(commit::Args),
    Log(log::LogArgs),
    Show(log::ShowArgs),
    Branch(branch::BranchArgs),
    Checkout(branch::CheckoutArgs),
    Switch(branch::SwitchArgs),
    Tag(branch::TagArgs),
    Restore(restore::RestoreArgs),
    Reset(restore::ResetArgs),
    Diff(diff::Args),
    Merge(merge::Args),
    Remote(remote::Args),
    Push(push::Args),
    Fetch(fetch::Args),
    Pull(pull::Args),
    Clone(clone::Args),
    KvdbInspect(kvdb_inspect::Args),
    Fsck(FsckArgs),
}

/// Verify every object reachable from refs, HEAD and the index; exit
/// non-zero if anything is missing or corrupt.
#[derive(clap::Args, Debug)]
pub struct FsckArgs {}

/// The clap definition of `oxen`.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Entry point of the `oxen` binary.
pub fn main() -> ! {
    let cli = Cli::parse();
    crate::exit_with(run(cli))
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> CliResult {
    if let Some(d) = &cli.change_dir {
        std::env::set_current_dir(d).map_err(|e| crate::fail(format!("cannot change to {}: {e}", d.display())))?;
    }
    match cli.cmd {
        Cmd::Init(a) => init::run(a),
        Cmd::Config(a) => config::run(a),
        Cmd::Add(a) => add::add(a),
        Cmd::Rm(a) => add::rm(a),
        Cmd::Mv(a) => add::mv(a),
        Cmd::Status(a) => status::run(a),
        Cmd::Commit(a) => commit::run(a),
        Cmd::Log(a) => log::log(a),
        Cmd::Show(a) => log::show(a),
        Cmd::Branch(a) => branch::branch(a),
        Cmd::Checkout(a) => branch::checkout(a),
        Cmd::Switch(a) => branch::switch(a),
        Cmd::Tag(a) => branch::tag(a),
        Cmd::Restore(a) => restore::restore(a),
        Cmd::Reset(a) => restore::reset(a),
        Cmd::Diff(a) => diff::run(a),
        Cmd::Merge(a) => merge::run(a),
        Cmd::Remote(a) => remote::run(a),
        Cmd::Push(a) => push::run(a),
        Cmd::Fetch(a) => fetch::run(a),
        Cmd::Pull(a) => pull::run(a),
        Cmd::Clone(a) => clone::run(a),
        Cmd::KvdbInspect(a) => kvdb_inspect::run(a),
        Cmd::Fsck(_) => crate::plumbing::fsck::check(&open()?),
    }
}

/// Open the repository containing the current directory.
pub(crate) fn open() -> CliResult<oxen_repo::Repo> {
    Ok(oxen_repo::Repo::discover(&crate::cwd()?)?)
}
