//! `oxen diff`: file-level changes, unified diffs for text, and row-level
//! diffs (rows added/removed/modified, column changes) for tabular files.

use std::io::Write;

use oxen_hash::ContentId;
use oxen_path::RepoPath;
use oxen_repo::diff::{side_label, Changed, DiffRequest, DiffSide, FileReport};
use oxen_repo::Repo;
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
    /// Show only each changed path and whether it was added (A), deleted
    /// (D) or modified (M); no contents are read.
    #[arg(long, conflicts_with_all = ["stat", "json"])]
    pub name_status: bool,
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
    /// Names and change letters only.
    pub name_status: bool,
    /// ANSI colours: only when stdout is a terminal.
    pub color: bool,
}

impl DiffOptions {
    /// Plain text output, colours when stdout is a terminal.
    pub(crate) fn text(stat: bool, keys: Vec<String>) -> DiffOptions {
        DiffOptions { stat, keys, json: false, limit: None, name_status: false, color: stdout_is_tty() }
    }
}

fn stdout_is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Changed files diffed between two releases of the database pages read.
const RELEASE_EVERY: usize = 16;

/// Rows shown per kind in a text tabular diff unless `--limit` says.
const DEFAULT_ROWS_SHOWN: usize = 20;

fn mode_of(b: &DiffSide) -> u32 {
    b.mode()
}

pub fn run(a: Args, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult<Exit> {
    let repo = super::open_worktree(err)?;
    let specs = super::shared::user_specs(&repo, &a.paths)?;
    let keep = |p: &RepoPath| specs.is_empty() || specs.iter().any(|s| p.is_under(s));
    // Every comparison streams in path order; only the work-tree ones first
    // run status to completion (its changes, sorted, are what they hold).
    let changes: Box<dyn Iterator<Item = oxen_repo::Result<Changed>> + '_> = match (a.revs.len(), a.staged) {
        (2, _) => {
            let t1 = repo.resolve_tree(&a.revs[0])?;
            let t2 = repo.resolve_tree(&a.revs[1])?;
            Box::new(repo.tree_changes(Some(&t1), Some(&t2)).map(|c| c.map(Changed::from)))
        }
        (1, true) | (0, true) => {
            let base = match a.revs.first() {
                Some(r) => Some(repo.resolve_commit(r)?),
                None => repo.head_commit()?,
            };
            let tree = base.map(|c| repo.read_commit(&c).map(|c| c.tree)).transpose()?;
            repo.staged_changes(tree.as_ref())?
        }
        (1, false) => {
            let tree = repo.read_commit(&repo.resolve_commit(&a.revs[0])?)?.tree;
            repo.worktree_changes(&tree)?
        }
        _ => Box::new(repo.unstaged_changes()?.into_iter().map(Ok)),
    };
    let changes = changes.filter(|c| c.as_ref().map_or(true, |c| keep(&c.path)));
    let opts =
        DiffOptions { json: a.json, limit: a.limit, name_status: a.name_status, ..DiffOptions::text(a.stat, a.keys) };
    let mut out = std::io::BufWriter::new(out);
    let differs = print_changes(&repo, changes, &opts, &mut out)?;
    out.flush()?;
    Ok(if a.exit_code && differs { Exit::Failure } else { Exit::Success })
}

/// Print changes between two trees (used by `show`).
pub(crate) fn print_tree_changes(
    repo: &Repo,
    old: Option<&ContentId>,
    new: Option<&ContentId>,
    opts: &DiffOptions,
    out: &mut impl Write,
) -> CommandResult<bool> {
    print_changes(repo, repo.tree_changes(old, new).map(|c| c.map(Changed::from)), opts, out)
}

/// Print the changes as asked, each as it comes (the JSON document too,
/// element by element); true when any file differs.
fn print_changes(
    repo: &Repo,
    changes: impl Iterator<Item = oxen_repo::Result<Changed>>,
    opts: &DiffOptions,
    out: &mut impl Write,
) -> CommandResult<bool> {
    let req = DiffRequest {
        keys: opts.keys.clone(),
        // JSON lists every row unless limited; text shows `limit` per kind.
        row_limit: if opts.json { opts.limit } else { Some(opts.limit.unwrap_or(DEFAULT_ROWS_SHOWN)) },
        unified: !opts.json && !opts.stat,
    };
    // Written as serde writes `DiffDocument` (`{"files":[...]}`), one file
    // at a time instead of the whole document at the end.
    if opts.json {
        write!(out, "{{\"files\":[")?;
    }
    let (mut n, mut ins, mut del) = (0usize, 0u64, 0u64);
    for c in changes {
        let Changed { path, old, new } = c?;
        n += 1;
        if n.is_multiple_of(RELEASE_EVERY) {
            // Each content read faults in database pages at random (and the
            // kernel up to 64 KiB around each): let them go as the diff
            // goes, so thousands of changed files cost no more than a few.
            repo.db.release_mapped_pages();
        }
        if opts.name_status {
            // Names only: no contents read.
            let letter = match (&old, &new) {
                (None, _) => 'A',
                (_, None) => 'D',
                _ => 'M',
            };
            writeln!(out, "{letter}\t{path}")?;
            continue;
        }
        let r = repo.diff_file(&path, old.as_ref(), new.as_ref(), &req)?;
        if let Some(t) = &r.tabular {
            ins += t.rows.added;
            del += t.rows.removed;
        } else if let Some(t) = r.text {
            ins += t.added;
            del += t.removed;
        }
        if opts.json {
            if n > 1 {
                write!(out, ",")?;
            }
            serde_json::to_writer(&mut *out, &r).map_err(std::io::Error::other)?;
        } else {
            print_file(&path, &old, &new, &r, opts, out)?;
        }
    }
    let any = n > 0;
    if opts.json {
        writeln!(out, "]}}")?;
        return Ok(any);
    }
    if opts.stat && any {
        writeln!(out, " {n} file{} changed, {ins} insertions(+), {del} deletions(-)", if n == 1 { "" } else { "s" })?;
    }
    Ok(any)
}

fn print_file(
    path: &RepoPath,
    old: &Option<DiffSide>,
    new: &Option<DiffSide>,
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

fn header_lines(out: &mut impl Write, old: &Option<DiffSide>, new: &Option<DiffSide>) -> std::io::Result<()> {
    match (old, new) {
        (None, Some(n)) => writeln!(out, "new file mode {:06o}", mode_of(n)),
        (Some(o), None) => writeln!(out, "deleted file mode {:06o}", mode_of(o)),
        (Some(o), Some(n)) if mode_of(o) != mode_of(n) => {
            writeln!(out, "old mode {:06o}\nnew mode {:06o}", mode_of(o), mode_of(n))
        }
        _ => Ok(()),
    }
}
