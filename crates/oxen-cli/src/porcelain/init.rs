//! `oxen init`

use crate::CommandResult;
use std::io::Write;

/// Create an empty repository (a `.oxen` directory) in DIR or the current
/// directory.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory to create the repository in (created if missing).
    pub dir: Option<std::path::PathBuf>,
    /// Name of the initial branch.
    #[arg(short = 'b', long, default_value = "main")]
    pub initial_branch: String,
    /// Make a bare repository, one to push to: pushes may then move its
    /// checked-out branch, which a repository that is worked in refuses
    /// (its work tree and index would no longer match the branch).
    #[arg(long)]
    pub bare: bool,
}

pub fn run(a: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let dir = match a.dir {
        Some(d) => d,
        None => crate::cwd()?,
    };
    let branch = oxen_refs::BranchName::new(a.initial_branch)?;
    let repo = if a.bare { oxen_repo::Repo::init_bare(&dir, &branch)? } else { oxen_repo::Repo::init(&dir, &branch)? };
    writeln!(out, "Initialized empty Oxen repository in {}", repo.layout.dot.display())?;
    Ok(())
}
