//! `oxen tag`

use oxen_refs::{Expect, TagName};
use std::io::Write;

use crate::{user_error, CommandResult};

/// List tags, or create a tag at a revision.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Delete the tag.
    #[arg(short = 'd', long)]
    pub delete: bool,
    /// Tag name.
    pub name: Option<String>,
    /// Revision to tag (default HEAD).
    pub rev: Option<String>,
}

pub fn run(a: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let repo = super::open()?;
    let Some(name) = a.name else {
        for (t, _) in repo.refs().tags()? {
            writeln!(out, "{t}")?;
        }
        return Ok(());
    };
    if a.delete {
        let not_found = || user_error(format!("tag '{name}' not found"));
        let r = TagName::new(name.as_str()).map_err(|_| not_found())?.to_ref();
        let id = repo.refs().get(&r)?.ok_or_else(not_found)?;
        repo.refs().update(&r, None, Expect::Is(id), "tag: deleted")?;
        writeln!(out, "Deleted tag '{name}' (was {})", id.short())?;
        return Ok(());
    }
    let r = TagName::new(name.as_str())?.to_ref();
    let id = repo.resolve_commit(a.rev.as_deref().unwrap_or("HEAD"))?;
    repo.refs().update(&r, Some(id), Expect::Absent, "tag: created").map_err(|e| match e {
        oxen_refs::RefError::Stale { .. } => user_error(format!("tag '{name}' already exists")),
        other => other.into(),
    })?;
    Ok(())
}
