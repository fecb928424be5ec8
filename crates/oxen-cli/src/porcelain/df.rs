//! `oxen df`

use std::io::Write;
use std::path::PathBuf;

use oxen_object::EntryKind;
use oxen_path::RepoPath;
use oxen_tabular::df::{DfOutput, DfQuery};
use oxen_tabular::TabularFormat;

use crate::{user_error, CommandResult};

/// Look at a table (CSV, TSV, JSONL, Parquet) at any revision without
/// checking it out: rows (head, slice, columns, filter) or its schema, as
/// a text table, JSON lines or CSV. Without --rev the work-tree file is
/// read when present, else HEAD's version; stored versions are streamed
/// from the versions store.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The table's path.
    pub path: PathBuf,
    /// Read the version at this revision.
    #[arg(long)]
    pub rev: Option<String>,
    /// Only the first N (matching) rows.
    #[arg(long, value_name = "N")]
    pub head: Option<u64>,
    /// Rows A..B (0-based, B excluded) of the matching rows.
    #[arg(long, value_name = "A..B")]
    pub slice: Option<String>,
    /// Only these columns, in this order (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
    /// Keep rows matching EXPR, e.g. `price > 10 && name != "x"`
    /// (==, !=, <, <=, >, >=, &&, ||, parentheses).
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Print column names, types and the row count instead of rows.
    #[arg(long)]
    pub schema: bool,
    /// One JSON object per row (the table's own values).
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV with a header.
    #[arg(long)]
    pub csv: bool,
}

fn parse_slice(s: &str) -> CommandResult<(u64, u64)> {
    let bad = || user_error(format!("--slice '{s}': expected A..B with A <= B"));
    let (a, b) = s.split_once("..").ok_or_else(bad)?;
    let (a, b): (u64, u64) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
    if a > b {
        return Err(bad());
    }
    Ok((a, b))
}

pub fn run(a: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let repo = super::open()?;
    let path = RepoPath::from_user(&repo.layout.work, &crate::cwd()?, &a.path)?;
    let format = TabularFormat::from_name(path.as_bytes())
        .ok_or_else(|| user_error(format!("{path}: not a table (by its extension: .csv, .tsv, .jsonl, .parquet)")))?;
    let in_work = a.rev.is_none() && repo.worktree.lstat(&path)?.is_some_and(|m| !m.is_dir());
    let source = match &a.rev {
        None if in_work => {
            let side = oxen_repo::diff::DiffSide::Work(path.clone(), oxen_object::mode::FILE);
            repo.side_source(&side)?
        }
        rev => {
            let rev = rev.as_deref().unwrap_or("HEAD");
            let tree = repo.resolve_tree(rev)?;
            let e = repo
                .tree_entry_at(&tree, &path)?
                .filter(|e| e.kind == EntryKind::File)
                .ok_or_else(|| user_error(format!("{path}: no such table in {rev}")))?;
            repo.stored_source(&e.id)?
        }
    };
    let output = if a.json {
        DfOutput::Json
    } else if a.csv {
        DfOutput::Csv
    } else {
        DfOutput::Table
    };
    let shown = path.quoted();
    let mut out = std::io::BufWriter::new(out);
    if a.schema {
        let s = oxen_tabular::schema(&shown, format, &source)?;
        oxen_tabular::df::write_schema(&s, output, &mut out)?;
    } else {
        let query = DfQuery {
            head: a.head,
            slice: a.slice.as_deref().map(parse_slice).transpose()?,
            columns: (!a.columns.is_empty()).then_some(a.columns),
            filter: a.filter,
        };
        oxen_tabular::df::df(&shown, format, &source, &query, output, &mut out)?;
    }
    out.flush()?;
    Ok(())
}
