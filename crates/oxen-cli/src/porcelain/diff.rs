//! `oxen diff`: file-level changes, unified diffs for text, and row-level
//! diffs (rows added/removed/modified, column changes) for tabular files.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use oxen_path::RepoPath;
use oxen_repo::diff::{side_label, DiffDocument, DiffRequest, DiffSide, FileReport};
use oxen_repo::{FlatEntry, Repo, TreeChange};
use oxen_tabular::diff::TextOptions;

use crate::{CommandResult, Exit};

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
    /// Print one JSON document: `{"files": [{"path", "status", "tabular",
    /// "binary", "text", "note"?}]}` (see docs/ARCHITECTURE.md).
    #[arg(long)]
    pub json: bool,
    /// Rows shown per kind (added, removed, modified) in a tabular diff
    /// (default 20 for text; all with --json).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Exit with status 1 when there are differences, 0 when none.
    #[arg(long)]
    pub exit_code: bool,
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
    pub json: bool,
    pub limit: Option<usize>,
    /// ANSI colours: only when stdout is a terminal.
    pub color: bool,
}

impl DiffOptions {
    /// Plain text output, colours when stdout is a terminal.
    pub(crate) fn text(stat: bool, keys: Vec<String>) -> DiffOptions {
        DiffOptions { stat, keys, json: false, limit: None, color: stdout_is_tty() }
    }
}

fn stdout_is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Rows shown per kind in a text tabular diff unless `--limit` says.
const DEFAULT_ROWS_SHOWN: usize = 20;

/// One changed path: its old and new sides (`None` where absent).
type Change = (RepoPath, Option<Blob>, Option<Blob>);

/// Bytes of one side of a change.
enum Blob {
    Stored(FlatEntry),
    Work(RepoPath, u32),
}

fn mode_of(b: &Blob) -> u32 {
    match b {
        Blob::Stored(e) => e.mode,
        Blob::Work(_, m) => *m,
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

pub fn run(a: Args, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult<Exit> {
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
    let opts = DiffOptions { json: a.json, limit: a.limit, ..DiffOptions::text(a.stat, a.keys) };
    let mut out = std::io::BufWriter::new(out);
    let differs = print_changes(&repo, &changes, &opts, &mut out)?;
    out.flush()?;
    Ok(if a.exit_code && differs { Exit::Failure } else { Exit::Success })
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
) -> CommandResult<bool> {
    let blobs = tree_changes_to_blobs(changes.to_vec());
    print_changes(repo, &blobs, opts, out)
}

fn to_side(b: &Blob) -> DiffSide {
    match b {
        Blob::Stored(e) => DiffSide::Stored(e.clone()),
        Blob::Work(p, m) => DiffSide::Work(p.clone(), *m),
    }
}

/// Print the changes as asked; true when any file differs.
fn print_changes(repo: &Repo, changes: &[Change], opts: &DiffOptions, out: &mut impl Write) -> CommandResult<bool> {
    let req = DiffRequest {
        keys: opts.keys.clone(),
        // JSON lists every row unless limited; text shows `limit` per kind.
        row_limit: if opts.json { opts.limit } else { Some(opts.limit.unwrap_or(DEFAULT_ROWS_SHOWN)) },
        unified: !opts.json && !opts.stat,
    };
    let mut doc = DiffDocument::default();
    for (path, old, new) in changes {
        let (o, n) = (old.as_ref().map(to_side), new.as_ref().map(to_side));
        let r = repo.diff_file(path, o.as_ref(), n.as_ref(), &req)?;
        if opts.json {
            doc.files.push(r);
        } else {
            print_file(path, old, new, &r, opts, out)?;
            doc.files.push(r);
        }
    }
    let any = !doc.files.is_empty();
    if opts.json {
        serde_json::to_writer(&mut *out, &doc).map_err(std::io::Error::other)?;
        writeln!(out)?;
        return Ok(any);
    }
    if opts.stat && !doc.files.is_empty() {
        let n = doc.files.len();
        let (mut ins, mut del) = (0u64, 0u64);
        for f in &doc.files {
            if let Some(t) = &f.tabular {
                ins += t.rows.added;
                del += t.rows.removed;
            } else if let Some(t) = f.text {
                ins += t.added;
                del += t.removed;
            }
        }
        writeln!(out, " {n} file{} changed, {ins} insertions(+), {del} deletions(-)", if n == 1 { "" } else { "s" })?;
    }
    Ok(any)
}

fn print_file(
    path: &RepoPath,
    old: &Option<Blob>,
    new: &Option<Blob>,
    r: &FileReport,
    opts: &DiffOptions,
    out: &mut impl Write,
) -> CommandResult {
    let (a_side, b_side) = (side_label("a/", path), side_label("b/", path));
    if opts.stat {
        if let Some(t) = &r.tabular {
            writeln!(out, " {path} | rows +{} -{} ~{}", t.rows.added, t.rows.removed, t.rows.modified)?;
        } else if let Some(t) = r.text {
            let (a, d) = (t.added as usize, t.removed as usize);
            writeln!(out, " {path} | {} {}{}", a + d, "+".repeat(a.min(40)), "-".repeat(d.min(40)))?;
        } else {
            writeln!(out, " {path} | Bin {} -> {} bytes", r.sizes.0, r.sizes.1)?;
        }
        return Ok(());
    }
    if let Some(d) = r.file_diff() {
        writeln!(out, "diff --oxen {a_side} {b_side} (tabular {})", d.tabular.format)?;
        header_lines(out, old, new)?;
        let to = TextOptions { limit: opts.limit.unwrap_or(DEFAULT_ROWS_SHOWN), color: opts.color };
        oxen_tabular::diff::render_text(&d, &to, out)?;
        return Ok(());
    }
    writeln!(out, "diff --oxen {a_side} {b_side}")?;
    header_lines(out, old, new)?;
    if let Some(n) = &r.note {
        writeln!(out, "note: {n}")?;
    }
    if let Some(u) = &r.unified {
        if opts.color {
            for l in u.lines() {
                let code = match l.as_bytes().first() {
                    _ if l.starts_with("+++") || l.starts_with("---") => "1",
                    Some(b'+') => "32",
                    Some(b'-') => "31",
                    Some(b'@') => "36",
                    _ => "",
                };
                if code.is_empty() {
                    writeln!(out, "{l}")?;
                } else {
                    writeln!(out, "\x1b[{code}m{l}\x1b[0m")?;
                }
            }
        } else {
            write!(out, "{u}")?;
        }
    } else if r.binary {
        writeln!(out, "Binary files differ ({} -> {} bytes)", r.sizes.0, r.sizes.1)?;
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
