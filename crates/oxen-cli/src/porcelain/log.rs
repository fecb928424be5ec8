//! `oxen log`

use std::io::Write;

use crate::{user_error, CommandResult};

/// Show commit history, newest first.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// One line per commit: short id and summary.
    #[arg(long)]
    pub oneline: bool,
    /// Show at most N commits.
    #[arg(short = 'n', long = "max-count", value_name = "N")]
    pub max_count: Option<usize>,
    /// Start from this revision instead of HEAD.
    pub rev: Option<String>,
}

pub fn run(a: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let repo = super::open()?;
    let start = match &a.rev {
        Some(r) => repo.resolve_commit(r)?,
        None => repo.head_commit()?.ok_or_else(|| user_error("your current branch does not have any commits yet"))?,
    };
    let mut out = std::io::BufWriter::new(out);
    let mut first = true;
    super::shared::walk(&repo, start, a.max_count.unwrap_or(usize::MAX), |id, c| {
        if a.oneline {
            writeln!(out, "{} {}", id.short(), c.summary())
        } else {
            if !first {
                writeln!(out)?;
            }
            first = false;
            super::shared::write_header(&mut out, id, c)
        }
    })?;
    out.flush()?;
    Ok(())
}
