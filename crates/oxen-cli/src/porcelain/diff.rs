//! `oxen diff`: file-level changes, unified diffs for text, and row-level
//! diffs (rows added/removed/modified, column changes) for tabular files.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use oxen_path::{quote, Quote, RepoPath};
use oxen_repo::{FlatEntry, Repo, TreeChange};

use crate::{user_error, CommandResult};

/// Show changes: work tree vs index (default), index vs HEAD (--staged),
/// work tree vs a revision, or between two revisions.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Compare the index with HEAD (what would be committed).
    #[arg(long, alias = "cached")]
    pub staged: bool,
    /// Show a per-file summary instead of full diffs.
    #[arg(long)]
    pub stat: bool,
    /// Key columns to match rows of tabular files (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub keys: Vec<String>,
    /// Revisions: none, one (vs work tree) or two.
    #[arg(num_args = 0..=2)]
    pub revs: Vec<String>,
    /// Limit to these paths (after `--`).
    #[arg(last = true)]
    pub paths: Vec<std::path::PathBuf>,
}

/// How to print.
pub(crate) struct DiffOptions {
    pub stat: bool,
    pub keys: Vec<String>,
}

/// Text diffs are skipped (shown as a size change) above this size.
const MAX_TEXT_DIFF: u64 = 16 << 20;
/// Rows shown per kind in a tabular diff.
const MAX_ROWS_SHOWN: usize = 20;

/// One changed path: its old and new sides (`None` where absent).
type Change = (RepoPath, Option<Blob>, Option<Blob>);

/// Bytes of one side of a change.
enum Blob {
    Stored(FlatEntry),
    Work(RepoPath, u32),
}

/// `prefix` + `path` as git prints it in diff headers: the whole thing
/// quoted when the path needs it (`"a/caf\351"`).
fn side(prefix: &str, path: &RepoPath) -> String {
    let mut b = prefix.as_bytes().to_vec();
    b.extend_from_slice(path.as_bytes());
    quote(&b, Quote::C).into_owned()
}

fn load(repo: &Repo, b: &Blob) -> CommandResult<Vec<u8>> {
    Ok(match b {
        Blob::Stored(e) => repo.versions.read_all(&e.id)?,
        // Through the work-tree handle: a symlink gives its target bytes
        // (what is versioned), never the contents of what it points at.
        Blob::Work(p, _) => repo
            .worktree
            .read(p)
            .map_err(|e| user_error(format!("{p}: {e}")))?
            .ok_or_else(|| user_error(format!("{p}: vanished while being read")))?,
    })
}

fn mode_of(b: &Blob) -> u32 {
    match b {
        Blob::Stored(e) => e.mode,
        Blob::Work(_, m) => *m,
    }
}

fn size_of(repo: &Repo, b: &Blob) -> u64 {
    match b {
        Blob::Stored(e) => repo.versions.size(&e.id).unwrap_or(e.size),
        Blob::Work(p, _) => repo.worktree.lstat(p).ok().flatten().map(|m| m.stat.size).unwrap_or(0),
    }
}

fn flat_from_index(repo: &Repo) -> CommandResult<BTreeMap<RepoPath, FlatEntry>> {
    Ok(repo
        .index()?
        .entries
        .into_iter()
        .map(|(p, e)| {
            let mode = if e.stat.mode == 0 { oxen_object::mode::FILE } else { e.stat.mode };
            (p, FlatEntry { id: e.id, mode, size: e.stat.size, tabular: e.tabular })
        })
        .collect())
}

/// Compare a stored side with the work tree for every path in `paths`
/// (tracked files only, as git does); unchanged files are found via the
/// stat cache without reading them.
fn vs_worktree(
    repo: &Repo,
    old: &BTreeMap<RepoPath, FlatEntry>,
    tracked: &BTreeSet<RepoPath>,
) -> CommandResult<Vec<Change>> {
    let index = repo.index()?;
    let mut out = Vec::new();
    let all: BTreeSet<&RepoPath> = old.keys().chain(tracked.iter()).collect();
    for p in all {
        let o = old.get(p);
        let meta = repo.worktree.lstat(p)?.filter(|m| !m.is_dir() && tracked.contains(p));
        let new_id = match &meta {
            None => None,
            Some(m) => {
                let st = m.stat;
                match index.entries.get(p) {
                    Some(e) if index.is_clean(e, &st) => Some((e.id, st.mode)),
                    _ => Some((oxen_index::hash_file(&repo.versions, &repo.worktree, p, &st, false)?.id, st.mode)),
                }
            }
        };
        let same = match (o, &new_id) {
            (None, None) => true,
            (Some(o), Some((id, mode))) => o.id == *id && o.mode == *mode,
            _ => false,
        };
        if !same {
            out.push((p.clone(), o.cloned().map(Blob::Stored), new_id.map(|(_, m)| Blob::Work(p.clone(), m))));
        }
    }
    Ok(out)
}

pub fn run(a: Args, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let repo = super::open_worktree(err)?;
    let specs = super::shared::user_specs(&repo, &a.paths)?;
    let keep = |p: &RepoPath| specs.is_empty() || specs.iter().any(|s| p.is_under(s));
    let changes: Vec<Change> = match (a.revs.len(), a.staged) {
        (2, _) => {
            let t1 = repo.resolve_tree(&a.revs[0])?;
            let t2 = repo.resolve_tree(&a.revs[1])?;
            tree_changes_to_blobs(repo.diff_trees(Some(&t1), Some(&t2))?)
        }
        (1, true) | (0, true) => {
            let base = match a.revs.first() {
                Some(r) => repo.flatten_commit(Some(&repo.resolve_commit(r)?))?,
                None => repo.flatten_commit(repo.head_commit()?.as_ref())?,
            };
            let idx = flat_from_index(&repo)?;
            let paths: BTreeSet<&RepoPath> = base.keys().chain(idx.keys()).collect();
            paths
                .into_iter()
                .filter_map(|p| {
                    let (o, n) = (base.get(p), idx.get(p));
                    let same = match (o, n) {
                        (Some(o), Some(n)) => o.id == n.id && o.mode == n.mode,
                        (None, None) => true,
                        _ => false,
                    };
                    (!same).then(|| (p.clone(), o.cloned().map(Blob::Stored), n.cloned().map(Blob::Stored)))
                })
                .collect()
        }
        (1, false) => {
            let base = repo.flatten_commit(Some(&repo.resolve_commit(&a.revs[0])?))?;
            let tracked: BTreeSet<RepoPath> = repo.index()?.entries.into_keys().collect();
            vs_worktree(&repo, &base, &tracked)?
        }
        _ => {
            let idx = flat_from_index(&repo)?;
            let tracked: BTreeSet<RepoPath> = idx.keys().cloned().collect();
            vs_worktree(&repo, &idx, &tracked)?
        }
    };
    let changes: Vec<_> = changes.into_iter().filter(|(p, _, _)| keep(p)).collect();
    let opts = DiffOptions { stat: a.stat, keys: a.keys };
    let mut out = std::io::BufWriter::new(out);
    print_changes(&repo, &changes, &opts, &mut out)?;
    out.flush()?;
    Ok(())
}

fn tree_changes_to_blobs(changes: Vec<TreeChange>) -> Vec<Change> {
    changes.into_iter().map(|c| (c.path, c.old.map(Blob::Stored), c.new.map(Blob::Stored))).collect()
}

/// Print changes between two trees (used by `show`).
pub(crate) fn print_tree_changes(
    repo: &Repo,
    changes: &[TreeChange],
    opts: &DiffOptions,
    out: &mut impl Write,
) -> CommandResult {
    let blobs = tree_changes_to_blobs(changes.to_vec());
    print_changes(repo, &blobs, opts, out)
}

fn is_text(b: &[u8]) -> bool {
    !b[..b.len().min(8000)].contains(&0) && std::str::from_utf8(b).is_ok()
}

fn print_changes(repo: &Repo, changes: &[Change], opts: &DiffOptions, out: &mut impl Write) -> CommandResult {
    let cfg = repo.config()?;
    let (mut files, mut ins, mut del) = (0usize, 0usize, 0usize);
    for (path, old, new) in changes {
        files += 1;
        let big = old.as_ref().is_some_and(|b| size_of(repo, b) > MAX_TEXT_DIFF)
            || new.as_ref().is_some_and(|b| size_of(repo, b) > MAX_TEXT_DIFF);
        let ob = match (old, big) {
            (Some(b), false) => load(repo, b)?,
            _ => Vec::new(),
        };
        let nb = match (new, big) {
            (Some(b), false) => load(repo, b)?,
            _ => Vec::new(),
        };
        let (a_side, b_side) = (side("a/", path), side("b/", path));
        let tabular = oxen_tabular::format_for(&path.to_str_lossy()).filter(|f| *f != "parquet" && !big);
        if let Some(fmt) = tabular {
            let keys = if opts.keys.is_empty() {
                path.to_str().and_then(|p| cfg.tabular_keys.get(p)).cloned().unwrap_or_default()
            } else {
                opts.keys.clone()
            };
            let ot = if old.is_some() { oxen_tabular::load(&ob[..], fmt, &a_side)? } else { Default::default() };
            let nt = if new.is_some() { oxen_tabular::load(&nb[..], fmt, &b_side)? } else { Default::default() };
            let (ot, nt) = match (old.is_some(), new.is_some()) {
                (false, _) => (oxen_tabular::Table { columns: nt.columns.clone(), rows: vec![] }, nt),
                (_, false) => (ot.clone(), oxen_tabular::Table { columns: ot.columns, rows: vec![] }),
                _ => (ot, nt),
            };
            let d = oxen_tabular::diff(&ot, &nt, &keys, &path.to_string())?;
            if opts.stat {
                writeln!(
                    out,
                    " {path} | rows +{} -{} ~{}",
                    d.added_rows.len(),
                    d.removed_rows.len(),
                    d.modified_rows.len()
                )?;
                ins += d.added_rows.len();
                del += d.removed_rows.len();
                continue;
            }
            let kdesc = if keys.is_empty() {
                "rows matched by content".to_string()
            } else {
                format!("keys: {}", keys.join(","))
            };
            writeln!(out, "diff --oxen {a_side} {b_side} (tabular {fmt}, {kdesc})")?;
            header_lines(out, old, new)?;
            let mut col_parts = Vec::new();
            for (o, n) in &d.renamed_columns {
                col_parts.push(format!("renamed '{o}' -> '{n}'"));
            }
            for c in &d.added_columns {
                col_parts.push(format!("added '{c}'"));
            }
            for c in &d.removed_columns {
                col_parts.push(format!("removed '{c}'"));
            }
            if !col_parts.is_empty() {
                writeln!(out, "columns: {}", col_parts.join("; "))?;
            }
            writeln!(
                out,
                "rows: {} added, {} removed, {} modified",
                d.added_rows.len(),
                d.removed_rows.len(),
                d.modified_rows.len()
            )?;
            for r in d.added_rows.iter().take(MAX_ROWS_SHOWN) {
                writeln!(out, "+ {}", r.join(","))?;
            }
            more(out, d.added_rows.len(), "added")?;
            for r in d.removed_rows.iter().take(MAX_ROWS_SHOWN) {
                writeln!(out, "- {}", r.join(","))?;
            }
            more(out, d.removed_rows.len(), "removed")?;
            for m in d.modified_rows.iter().take(MAX_ROWS_SHOWN) {
                let key: Vec<String> = keys.iter().zip(&m.key).map(|(k, v)| format!("{k}={v}")).collect();
                let ch: Vec<String> = m.changes.iter().map(|(c, a, b)| format!("{c}: '{a}' -> '{b}'")).collect();
                writeln!(out, "~ {}: {}", key.join(","), ch.join(", "))?;
            }
            more(out, d.modified_rows.len(), "modified")?;
            continue;
        }
        let text = !big && is_text(&ob) && is_text(&nb);
        if opts.stat {
            if text {
                let td = similar::TextDiff::from_lines(
                    std::str::from_utf8(&ob).unwrap_or(""),
                    std::str::from_utf8(&nb).unwrap_or(""),
                );
                let (mut a, mut r) = (0, 0);
                for c in td.iter_all_changes() {
                    match c.tag() {
                        similar::ChangeTag::Insert => a += 1,
                        similar::ChangeTag::Delete => r += 1,
                        similar::ChangeTag::Equal => {}
                    }
                }
                ins += a;
                del += r;
                writeln!(out, " {path} | {} {}{}", a + r, "+".repeat(a.min(40)), "-".repeat(r.min(40)))?;
            } else {
                let os = old.as_ref().map(|b| size_of(repo, b)).unwrap_or(0);
                let ns = new.as_ref().map(|b| size_of(repo, b)).unwrap_or(0);
                writeln!(out, " {path} | Bin {os} -> {ns} bytes")?;
            }
            continue;
        }
        writeln!(out, "diff --oxen {a_side} {b_side}")?;
        header_lines(out, old, new)?;
        if text {
            let td = similar::TextDiff::from_lines(
                std::str::from_utf8(&ob).unwrap_or(""),
                std::str::from_utf8(&nb).unwrap_or(""),
            );
            let a = if old.is_some() { a_side.clone() } else { "/dev/null".into() };
            let b = if new.is_some() { b_side.clone() } else { "/dev/null".into() };
            write!(out, "{}", td.unified_diff().context_radius(3).header(&a, &b))?;
        } else {
            let os = old.as_ref().map(|b| size_of(repo, b)).unwrap_or(0);
            let ns = new.as_ref().map(|b| size_of(repo, b)).unwrap_or(0);
            writeln!(out, "Binary files differ ({os} -> {ns} bytes)")?;
        }
    }
    if opts.stat && files > 0 {
        writeln!(
            out,
            " {files} file{} changed, {ins} insertions(+), {del} deletions(-)",
            if files == 1 { "" } else { "s" }
        )?;
    }
    Ok(())
}

fn more(out: &mut impl Write, n: usize, what: &str) -> std::io::Result<()> {
    if n > MAX_ROWS_SHOWN {
        writeln!(out, "  ... {} more {what} rows", n - MAX_ROWS_SHOWN)?;
    }
    Ok(())
}

fn header_lines(out: &mut impl Write, old: &Option<Blob>, new: &Option<Blob>) -> std::io::Result<()> {
    match (old, new) {
        (None, Some(n)) => writeln!(out, "new file mode {:06o}", mode_of(n)),
        (Some(o), None) => writeln!(out, "deleted file mode {:06o}", mode_of(o)),
        (Some(o), Some(n)) if mode_of(o) != mode_of(n) => {
            writeln!(out, "old mode {:06o}\nnew mode {:06o}", mode_of(o), mode_of(n))
        }
        _ => Ok(()),
    }
}
