//! `oxen merge`

use std::io::Write;

use crate::{user_error, CommandResult};

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

pub fn run(a: Args, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let repo = super::open_worktree(err)?;
    if a.abort {
        if repo.merge_state()?.is_none() {
            return Err(user_error("no merge in progress"));
        }
        let head = repo.head_commit()?.ok_or_else(|| user_error("no commit to return to"))?;
        let t = oxen_repo::Transition {
            op: "merge --abort".into(),
            target: repo.read_commit(&head)?.tree,
            local: oxen_repo::LocalChanges::Discard,
            head: oxen_repo::HeadMove::Keep,
            message: String::new(),
        };
        repo.transition(&t, &oxen_store::NoProgress)?;
        repo.set_merge_state(None)?;
        writeln!(out, "Merge aborted.")?;
        return Ok(());
    }
    let rev = a.rev.unwrap_or_default();
    let theirs = repo.resolve_commit(&rev)?;
    let label = format!("'{rev}'");
    super::shared::report(repo.merge_commit_with(&theirs, &label, &a.keys)?, out)
}
