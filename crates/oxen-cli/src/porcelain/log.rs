//! `oxen log`, `oxen show`

use std::collections::{BinaryHeap, HashSet};
use std::io::Write;

use oxen_hash::ContentId;
use oxen_object::Commit;
use oxen_repo::Repo;

use crate::{fail, CliResult};

/// Show commit history, newest first.
#[derive(clap::Args, Debug)]
pub struct LogArgs {
    /// One line per commit: short id and summary.
    #[arg(long)]
    pub oneline: bool,
    /// Show at most N commits.
    #[arg(short = 'n', long = "max-count", value_name = "N")]
    pub max_count: Option<usize>,
    /// Start from this revision instead of HEAD.
    pub rev: Option<String>,
}

/// Show a commit: its header, message and changes.
#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// Show a diffstat instead of the full diff.
    #[arg(long)]
    pub stat: bool,
    /// The commit (default HEAD).
    pub rev: Option<String>,
}

/// `Thu Nov 14 22:13:20 2023 +0000`
pub(crate) fn format_date(c: &Commit) -> String {
    let off = chrono::FixedOffset::east_opt(c.author.tz_minutes * 60)
        .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("zero offset"));
    match chrono::DateTime::from_timestamp(c.author.time, 0) {
        Some(t) => t.with_timezone(&off).format("%a %b %-d %H:%M:%S %Y %z").to_string(),
        None => format!("{} {}", c.author.time, c.author.tz_string()),
    }
}

pub(crate) fn write_header(out: &mut impl Write, id: &ContentId, c: &Commit) -> std::io::Result<()> {
    writeln!(out, "commit {id}")?;
    if c.parents.len() > 1 {
        let ps: Vec<String> = c.parents.iter().map(|p| p.short()).collect();
        writeln!(out, "Merge: {}", ps.join(" "))?;
    }
    writeln!(out, "Author: {} <{}>", c.author.name, c.author.email)?;
    writeln!(out, "Date:   {}\n", format_date(c))?;
    for l in c.message.lines() {
        writeln!(out, "    {l}")?;
    }
    Ok(())
}

/// Commits reachable from `start`, newest first (by author time, then id).
pub(crate) fn walk(
    repo: &Repo,
    start: ContentId,
    limit: usize,
    mut f: impl FnMut(&ContentId, &Commit) -> std::io::Result<()>,
) -> CliResult {
    // Newest first by author time; ties (common with scripted dates) go to
    // the commit queued first, so children still come before parents.
    let mut heap: BinaryHeap<(i64, std::cmp::Reverse<u64>, ContentId)> = BinaryHeap::new();
    let mut commits = std::collections::HashMap::new();
    let mut seen = HashSet::new();
    let mut seq = 0u64;
    let c = repo.read_commit(&start)?;
    heap.push((c.author.time, std::cmp::Reverse(seq), start));
    commits.insert(start, c);
    seen.insert(start);
    let mut n = 0;
    while let Some((_, _, id)) = heap.pop() {
        if n >= limit {
            break;
        }
        let Some(c) = commits.remove(&id) else { continue };
        f(&id, &c)?;
        n += 1;
        for p in &c.parents {
            if seen.insert(*p) {
                let pc = repo.read_commit(p)?;
                seq += 1;
                heap.push((pc.author.time, std::cmp::Reverse(seq), *p));
                commits.insert(*p, pc);
            }
        }
    }
    Ok(())
}

pub fn log(a: LogArgs) -> CliResult {
    let repo = super::open()?;
    let start = match &a.rev {
        Some(r) => repo.resolve_commit(r)?,
        None => repo.head_commit()?.ok_or_else(|| fail("your current branch does not have any commits yet"))?,
    };
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    let mut first = true;
    walk(&repo, start, a.max_count.unwrap_or(usize::MAX), |id, c| {
        if a.oneline {
            writeln!(out, "{} {}", id.short(), c.summary())
        } else {
            if !first {
                writeln!(out)?;
            }
            first = false;
            write_header(&mut out, id, c)
        }
    })?;
    out.flush()?;
    Ok(())
}

pub fn show(a: ShowArgs) -> CliResult {
    let repo = super::open()?;
    let id = repo.resolve_commit(a.rev.as_deref().unwrap_or("HEAD"))?;
    let c = repo.read_commit(&id)?;
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    write_header(&mut out, &id, &c)?;
    writeln!(out)?;
    let parent_tree = match c.parents.first() {
        Some(p) => Some(repo.read_commit(p)?.tree),
        None => None,
    };
    let changes = repo.diff_trees(parent_tree.as_ref(), Some(&c.tree))?;
    let opts = super::diff::DiffOptions { stat: a.stat, keys: vec![] };
    super::diff::print_tree_changes(&repo, &changes, &opts, &mut out)?;
    out.flush()?;
    Ok(())
}
