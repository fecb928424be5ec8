//! `oxen merge`

use oxen_repo::MergeOutcome;

use crate::{fail, CliResult};

/// Join another branch into the current one: fast-forward when possible,
/// otherwise a three-way merge (line level for text, row level for tabular
/// files with --keys or keys set by `oxen config tabular-keys.<path>`).
/// Conflicts leave both versions in the work tree; resolve with `oxen add`
/// and `oxen commit`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Key columns that identify rows of tabular files (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub keys: Vec<String>,
    /// Abandon a merge in progress, restoring HEAD.
    #[arg(long)]
    pub abort: bool,
    /// Branch or revision to merge.
    #[arg(required_unless_present = "abort")]
    pub rev: Option<String>,
}

pub fn run(a: Args) -> CliResult {
    let repo = super::open()?;
    if a.abort {
        if repo.merge_state()?.is_none() {
            return Err(fail("no merge in progress"));
        }
        let head = repo.head_commit()?.ok_or_else(|| fail("no commit to return to"))?;
        repo.reset_hard(&head)?;
        repo.set_merge_state(None)?;
        println!("Merge aborted.");
        return Ok(());
    }
    let rev = a.rev.unwrap_or_default();
    let theirs = repo.resolve_commit(&rev)?;
    let label = format!("'{rev}'");
    report(repo.merge_commit_with(&theirs, &label, &a.keys)?)
}

/// Print how a merge ended (shared by `merge` and `pull`); conflicts are an error.
pub(crate) fn report(outcome: MergeOutcome) -> CliResult {
    match outcome {
        MergeOutcome::UpToDate => println!("Already up to date."),
        MergeOutcome::FastForward(id) => println!("Fast-forward to {}", id.short()),
        MergeOutcome::Merged(id) => println!("Merge made commit {}", id.short()),
        MergeOutcome::Conflicts(paths) => {
            for p in &paths {
                println!("CONFLICT: {p}");
            }
            return Err(fail(format!(
                "automatic merge failed on {} path(s); fix conflicts, `oxen add` them, then `oxen commit`",
                paths.len()
            )));
        }
    }
    Ok(())
}
