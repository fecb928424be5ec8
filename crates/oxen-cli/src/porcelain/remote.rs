//! `oxen remote`

use oxen_store::{Config, RemoteConfig};

use crate::{fail, CliResult};

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

pub fn run(a: Args) -> CliResult {
    let repo = super::open()?;
    let path = repo.layout.config_file();
    // Only the repository's own config is edited, never the layered view.
    let mut cfg = Config::load(&path)?;
    match a.cmd {
        None => {
            for (name, r) in &repo.config()?.remote {
                if a.verbose {
                    println!("{name}\t{} (fetch)", r.url);
                    println!("{name}\t{} (push)", r.url);
                } else {
                    println!("{name}");
                }
            }
        }
        Some(RemoteCmd::Add { name, url }) => {
            oxen_refs::validate_ref_name(&format!("remotes/{name}/x"))
                .map_err(|_| fail(format!("'{name}' is not a valid remote name")))?;
            if name.contains('/') {
                return Err(fail(format!("'{name}' is not a valid remote name")));
            }
            if cfg.remote.contains_key(&name) {
                return Err(fail(format!("remote {name} already exists")));
            }
            let url = if url.starts_with("http://") || url.starts_with("https://") {
                oxen_remote::HttpRemote::new(&url, None)?;
                url
            } else {
                // Store an absolute path: commands run from any directory.
                let p = std::fs::canonicalize(&url)
                    .map_err(|e| fail(format!("'{url}' is not a URL or an existing path: {e}")))?;
                if !p.join(".oxen").join("HEAD").is_file() {
                    return Err(fail(format!("'{url}' is not an oxen repository")));
                }
                p.to_string_lossy().into_owned()
            };
            cfg.remote.insert(name, RemoteConfig { url });
            cfg.save(&path)?;
        }
        Some(RemoteCmd::Remove { name }) => {
            if cfg.remote.remove(&name).is_none() {
                return Err(fail(format!("no such remote: {name}")));
            }
            cfg.upstream.retain(|_, r| *r != name);
            cfg.save(&path)?;
            let prefix = format!("remotes/{name}/");
            let gone: Vec<oxen_refs::RefUpdate> = repo
                .refs()
                .list(&prefix)?
                .into_iter()
                .map(|(n, _)| oxen_refs::RefUpdate { name: n, new: None, expect: oxen_refs::Expect::Any })
                .collect();
            repo.refs().update_all(&gone)?;
        }
    }
    Ok(())
}

/// The remote named, else the current branch's upstream, else `origin`.
pub(crate) fn default_remote(repo: &oxen_repo::Repo, given: Option<String>) -> CliResult<String> {
    if let Some(r) = given {
        return Ok(r);
    }
    let cfg = repo.config()?;
    if let oxen_refs::Head::Branch(b) = repo.head()? {
        if let Some(r) = cfg.upstream.get(&b) {
            return Ok(r.clone());
        }
    }
    Ok("origin".into())
}

/// The branch given, else the current branch, or an error naming `what` needs one.
pub(crate) fn current_branch(repo: &oxen_repo::Repo, given: Option<String>, what: &str) -> CliResult<String> {
    if let Some(b) = given {
        return Ok(b);
    }
    match repo.head()? {
        oxen_refs::Head::Branch(b) => Ok(b),
        oxen_refs::Head::Detached(_) => Err(fail(format!("HEAD is detached; name a branch to {what}"))),
    }
}
