//! `oxen status`

use std::collections::BTreeMap;
use std::io::Write;

use bstr::BString;
use oxen_index::Change;
use oxen_path::{quote, Quote, RepoPath};
use oxen_refs::{BranchName, Head, RefName};
use oxen_repo::{ConflictKind, MonitorOutcome, Repo};

use crate::CommandResult;

/// Show staged changes, unstaged changes and untracked files. Unchanged
/// files are recognised by the stat cache and never read. Large directories
/// are summarised by count.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Machine-readable output, as `git status --porcelain`.
    #[arg(long)]
    pub porcelain: bool,
    /// Short format (same as --porcelain).
    #[arg(short = 's', long)]
    pub short: bool,
    /// Untracked files: `normal` collapses untracked directories, `all` lists every file, `no` hides them.
    #[arg(
        short = 'u',
        long = "untracked-files",
        value_name = "MODE",
        value_enum,
        default_value_t = Untracked::Normal,
        num_args = 0..=1,
        default_missing_value = "all"
    )]
    pub untracked: Untracked,
}

/// How `status` shows untracked files; a fixed set, so clap refuses
/// anything else instead of it silently meaning `normal`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Untracked {
    /// Hide untracked files.
    No,
    /// Collapse a directory holding no tracked file to `dir/`, as git does.
    Normal,
    /// List every untracked file.
    All,
}

pub fn run(a: Args, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let repo = super::open_worktree(err)?;
    super::fsmonitor::ensure_running(&repo);
    let (st, how) = repo.status_with_outcome()?;
    // How status was computed, for diagnosing the monitor (and its tests).
    if std::env::var_os("OXEN_FSMONITOR_TRACE").is_some() {
        trace(&how, "status", err)?;
    }
    for w in &st.warnings {
        writeln!(err, "warning: {w}")?;
    }
    for r in &st.refused {
        writeln!(err, "warning: cannot be versioned: {r}")?;
    }
    let merge = repo.merge_state()?;
    let kinds = match &merge {
        Some(m) => repo.conflict_kinds(m)?,
        None => Vec::new(),
    };
    let conflicts: Vec<RepoPath> = kinds.iter().map(|(p, _)| p.clone()).collect();
    let kind_of =
        |p: &RepoPath| kinds.iter().find(|(c, _)| c == p).map(|(_, k)| *k).unwrap_or(ConflictKind::BothModified);
    let untracked: Vec<BString> = match a.untracked {
        Untracked::No => vec![],
        Untracked::All => st.untracked.iter().map(|p| BString::from(p.as_bytes())).collect(),
        Untracked::Normal => st.untracked_collapsed(),
    };
    let mut out = std::io::BufWriter::new(out);
    if a.porcelain || a.short {
        // As git's short format: quoted when a path holds special bytes or a space.
        let q = |p: &RepoPath| quote(p.as_bytes(), Quote::CSpace).into_owned();
        for e in &st.entries {
            if conflicts.contains(&e.path) {
                writeln!(out, "{} {}", kind_of(&e.path).code(), q(&e.path))?;
                continue;
            }
            let x = e.staged.as_ref().map(Change::letter).unwrap_or(' ');
            let y = e.unstaged.as_ref().map(Change::letter).unwrap_or(' ');
            match &e.staged {
                Some(Change::Renamed(from)) => writeln!(out, "{x}{y} {} -> {}", q(from), q(&e.path))?,
                _ => writeln!(out, "{x}{y} {}", q(&e.path))?,
            }
        }
        for c in &conflicts {
            if !st.entries.iter().any(|e| &e.path == c) {
                writeln!(out, "{} {}", kind_of(c).code(), q(c))?;
            }
        }
        for u in &untracked {
            writeln!(out, "?? {}", quote(u, Quote::CSpace))?;
        }
        out.flush()?;
        return Ok(());
    }
    match repo.head()? {
        Head::Branch(b) => {
            writeln!(out, "On branch {b}")?;
            if let Some(line) = tracking_line(&repo, &b)? {
                writeln!(out, "{line}")?;
            }
        }
        Head::Detached(id) => writeln!(out, "HEAD detached at {}", id.short())?,
    }
    if repo.head_commit()?.is_none() {
        writeln!(out, "\nNo commits yet")?;
    }
    if let Some(m) = &merge {
        if m.conflicts.is_empty() {
            writeln!(
                out,
                "\nAll conflicts fixed but you are still merging.\n  (use \"oxen commit\" to conclude merge)"
            )?;
        } else {
            writeln!(out, "\nYou have unmerged paths.\n  (fix conflicts and run \"oxen add <file>\" then \"oxen commit\")\n\nUnmerged paths:")?;
            for (c, k) in &kinds {
                writeln!(out, "\t{:<17}{c}", format!("{}:", k.describe()))?;
            }
        }
    }
    let word = |c: &Change| match c {
        Change::Added => "new file",
        Change::Modified => "modified",
        Change::Deleted => "deleted",
        Change::Renamed(_) => "renamed",
    };
    let row =
        |kind: &str, shown: String, p: &RepoPath| Row { kind: kind.to_string(), shown, dir: p.parent_bytes().into() };
    let staged: Vec<Row> = st
        .entries
        .iter()
        .filter(|e| !conflicts.contains(&e.path))
        .filter_map(|e| {
            e.staged.as_ref().map(|c| match c {
                Change::Renamed(from) => row(word(c), format!("{from} -> {}", e.path), &e.path),
                _ => row(word(c), e.path.to_string(), &e.path),
            })
        })
        .collect();
    let unstaged: Vec<Row> = st
        .entries
        .iter()
        .filter(|e| !conflicts.contains(&e.path))
        .filter_map(|e| e.unstaged.as_ref().map(|c| row(word(c), e.path.to_string(), &e.path)))
        .collect();
    if !staged.is_empty() {
        writeln!(out, "\nChanges to be committed:\n  (use \"oxen restore --staged <file>...\" to unstage)")?;
        section(&mut out, &staged)?;
    }
    if !unstaged.is_empty() {
        writeln!(
            out,
            "\nChanges not staged for commit:\n  (use \"oxen add <file>...\" to update what will be committed)"
        )?;
        section(&mut out, &unstaged)?;
    }
    if !untracked.is_empty() {
        writeln!(out, "\nUntracked files:\n  (use \"oxen add <file>...\" to include in what will be committed)")?;
        let rows: Vec<Row> = untracked
            .iter()
            .map(|u| {
                // Grouped by what precedes the last '/' (a collapsed `dir/` is its own group).
                let dir = u.iter().rposition(|c| *c == b'/').map(|i| &u[..i]).unwrap_or(b"");
                Row { kind: String::new(), shown: quote(u, Quote::C).into_owned(), dir: dir.into() }
            })
            .collect();
        section(&mut out, &rows)?;
    }
    if st.is_clean() && repo.merge_state()?.is_none() {
        writeln!(out, "\nnothing to commit, working tree clean")?;
    }
    out.flush()?;
    Ok(())
}

/// A directory contributing more than this many lines to a section is
/// shown as one summary line.
const SUMMARY_THRESHOLD: usize = 50;

/// One line of a human status section.
struct Row {
    /// `new file`, `modified`, ... (empty for untracked).
    kind: String,
    /// The path as shown (quoted as git quotes it).
    shown: String,
    /// The raw bytes of the directory it is in, for summarising.
    dir: BString,
}

fn section(out: &mut impl Write, rows: &[Row]) -> std::io::Result<()> {
    // Count rows per (kind, parent directory); summarise the big groups.
    let mut groups: BTreeMap<(String, BString), usize> = BTreeMap::new();
    for r in rows {
        *groups.entry((r.kind.clone(), r.dir.clone())).or_default() += 1;
    }
    let mut summarised = std::collections::BTreeSet::new();
    for ((k, dir), n) in &groups {
        if *n > SUMMARY_THRESHOLD && !dir.is_empty() {
            summarised.insert((k.clone(), dir.clone()));
        }
    }
    let mut printed = std::collections::BTreeSet::new();
    for Row { kind: k, shown: p, dir } in rows {
        let key = (k.clone(), dir.clone());
        if summarised.contains(&key) {
            if printed.insert(key.clone()) {
                let n = groups[&key];
                let what = match k.as_str() {
                    "" => "untracked files".to_string(),
                    "new file" => "new files".to_string(),
                    other => format!("{other} files"),
                };
                let mut d = dir.to_vec();
                d.push(b'/');
                writeln!(out, "\t{} ({n} {what})", quote(&d, Quote::C))?;
            }
            continue;
        }
        if k.is_empty() {
            writeln!(out, "\t{p}")?;
        } else {
            writeln!(out, "\t{:<12}{p}", format!("{k}:"))?;
        }
    }
    Ok(())
}

/// "Your branch is ahead of 'origin/main' by 2 commits." when the branch
/// has an upstream.
fn tracking_line(repo: &Repo, branch: &BranchName) -> CommandResult<Option<String>> {
    let cfg = repo.config()?;
    let Some(remote) = cfg.upstream.get(branch.as_str()) else { return Ok(None) };
    let up_name = format!("{remote}/{branch}");
    let Ok(up_ref) = RefName::remote_tracking(remote, branch) else { return Ok(None) };
    let (Some(local), Some(up)) = (repo.refs().get(&branch.to_ref())?, repo.refs().get(&up_ref)?) else {
        return Ok(None);
    };
    let (ahead, behind) = repo.ahead_behind(&local, &up)?;
    let s = |n: usize| if n == 1 { "" } else { "s" };
    Ok(Some(match (ahead, behind) {
        (0, 0) => format!("Your branch is up to date with '{up_name}'."),
        (a, 0) => format!("Your branch is ahead of '{up_name}' by {a} commit{}.", s(a)),
        (0, b) => format!("Your branch is behind '{up_name}' by {b} commit{}, and can be fast-forwarded.", s(b)),
        (a, b) => format!(
            "Your branch and '{up_name}' have diverged,\nand have {a} and {b} different commits each, respectively."
        ),
    }))
}

/// One line saying how `cmd` found what changed (`OXEN_FSMONITOR_TRACE`).
pub(crate) fn trace(how: &MonitorOutcome, cmd: &str, err: &mut dyn Write) -> std::io::Result<()> {
    match how {
        MonitorOutcome::Off if cmd == "status" => writeln!(err, "fsmonitor: off"),
        MonitorOutcome::Off => writeln!(err, "fsmonitor: {cmd}: off"),
        MonitorOutcome::Fast { changed } if cmd == "status" => {
            writeln!(err, "fsmonitor: fast ({changed} changed paths)")
        }
        MonitorOutcome::Fast { changed } => writeln!(err, "fsmonitor: {cmd}: fast ({changed} changed paths)"),
        MonitorOutcome::Full(why) if cmd == "status" => writeln!(err, "fsmonitor: full scan ({why})"),
        MonitorOutcome::Full(why) => writeln!(err, "fsmonitor: {cmd}: full scan ({why})"),
    }
}
