//! `oxen remote`

use oxen_store::Config;
use std::io::Write;

use crate::{user_error, CommandResult};

/// List, add or remove remotes (named URLs: http://host:port/<RepoName>,
/// or the path of another repository).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show URLs too.
    #[arg(short, long)]
    pub verbose: bool,
    #[command(subcommand)]
    pub cmd: Option<RemoteCmd>,
}

/// `oxen remote` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum RemoteCmd {
    /// Add a remote.
    Add {
        /// Its name, e.g. origin.
        name: String,
        /// http://host:port/<RepoName> or a repository path.
        url: String,
    },
    /// Remove a remote and its remote-tracking refs.
    #[command(alias = "rm")]
    Remove {
        /// Its name.
        name: String,
    },
}

pub fn run(a: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let repo = super::open()?;
    let path = repo.layout.config_file();
    // Only the repository's own config is edited, never the layered view.
    let mut cfg = Config::load(&path)?;
    match a.cmd {
        None => {
            for (name, r) in &repo.config()?.remote {
                if a.verbose {
                    writeln!(out, "{name}\t{} (fetch)", r.url)?;
                    writeln!(out, "{name}\t{} (push)", r.url)?;
                } else {
                    writeln!(out, "{name}")?;
                }
            }
        }
        Some(RemoteCmd::Add { name, url }) => oxen_remote::add_remote(&repo, &name, &url)?,
        Some(RemoteCmd::Remove { name }) => {
            if cfg.remote.remove(&name).is_none() {
                return Err(user_error(format!("no such remote: {name}")));
            }
            cfg.upstream.retain(|_, r| *r != name);
            cfg.save(&path)?;
            let gone: Vec<oxen_refs::RefUpdate> = repo
                .refs()
                .remote_tracking(Some(&name))?
                .into_iter()
                .map(|(n, _)| oxen_refs::RefUpdate { name: n, new: None, expect: oxen_refs::Expect::Any })
                .collect();
            repo.refs().update_all(&gone, &format!("remote: {name} removed"))?;
        }
    }
    Ok(())
}
