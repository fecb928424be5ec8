//! `oxen clone`

use crate::plumbing::send_pack::{human_bytes, PackBar};
use crate::CliResult;

/// Copy a repository: a new repository in DIR with remote `origin` set to
/// URL, every remote branch as origin/<branch>, and the remote's default
/// branch (or --branch) checked out and tracking origin. URL is
/// http://host:port/<RepoName> or the path of another repository.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Branch to check out instead of the remote's default.
    #[arg(short, long)]
    pub branch: Option<String>,
    /// What to clone.
    pub url: String,
    /// Where (default: the repository's name).
    #[arg(value_name = "DIR")]
    pub directory: Option<std::path::PathBuf>,
}

pub fn run(a: Args) -> CliResult {
    let bar = PackBar::new("Receiving");
    let r = oxen_remote::clone(&a.url, a.directory.as_deref(), a.branch.as_deref(), &bar)?;
    bar.finish();
    println!("Cloned into {}", r.dir.display());
    match (&r.branch, r.commit) {
        (Some(b), Some(c)) => println!("checked out {b} at {}", c.short()),
        _ => println!("warning: the remote repository is empty"),
    }
    if r.objects > 0 {
        eprintln!("received {} objects, {}", r.objects, human_bytes(r.bytes));
    }
    Ok(())
}
