//! Staging: hashing files into the versions store and recording them (with
//! their stat) in the index, all index changes in one transaction.

use std::collections::BTreeMap;

use oxen_hash::ContentId;
use oxen_object::{TabularFormat, TabularMeta};
use oxen_path::RepoPath;
use oxen_tabular::{Source, TabularError};
use std::sync::atomic::{AtomicU64, Ordering};

use oxen_store::{Db, Progress, StoreError, Versions};
use rayon::prelude::*;

use crate::entry::{FileStat, IndexEntry, Tracking};
use crate::walk::{walk_work_tree, WalkOptions};
use crate::worktree::WorkTree;
use crate::{Index, IndexError, Result};

/// A hashed work-tree file.
#[derive(Clone, Debug)]
pub struct HashedFile {
    /// Content id.
    pub id: ContentId,
    /// Tabular when a schema was recorded, else regular.
    pub tracking: Tracking,
    /// Schema and rows of a tabular file that parses (read only when the
    /// file is stored).
    pub tabular: Option<TabularMeta>,
    /// Why a file named like a table is stored as plain bytes: one line
    /// naming the file, for the caller to show as a warning.
    pub warning: Option<String>,
}

/// Tracking type of a path, by extension.
pub fn tracking_for(path: &RepoPath) -> Tracking {
    if TabularFormat::from_name(path.as_bytes()).is_some() {
        Tracking::Tabular
    } else {
        Tracking::Regular
    }
}

/// The schema recorded for the table at `path` (read from `source`,
/// streaming), if its name says it is a table and it parses. A table that
/// does not parse is not an error: it is versioned as plain bytes, and the
/// second value is a one-line warning naming the file and saying why.
pub fn tabular_meta(path: &RepoPath, source: &Source) -> Result<(Option<TabularMeta>, Option<String>)> {
    let Some(format) = TabularFormat::from_name(path.as_bytes()) else { return Ok((None, None)) };
    meta_or_warning(oxen_tabular::schema(&path.quoted(), format, source))
}

fn meta_or_warning(r: oxen_tabular::Result<oxen_tabular::Schema>) -> Result<(Option<TabularMeta>, Option<String>)> {
    match r {
        Ok(s) => Ok((Some(s.to_meta()), None)),
        Err(TabularError::NotParsable(np)) => {
            Ok((None, Some(format!("{} does not parse as {} ({}); stored as plain bytes", np.path, np.format, np.why))))
        }
        Err(e) => Err(e.into()),
    }
}

/// Hash one work-tree file (a symlink hashes its target bytes: a link is
/// versioned as a link, never followed), optionally writing its contents
/// into the versions store. A stored table also gets its schema read (a
/// symlink named like one does not); without `write` only the id is
/// computed (what status and checkout need to compare). The file is opened
/// through the work-tree handle, never through a symlinked directory.
pub fn hash_file(
    versions: &Versions,
    wt: &WorkTree,
    path: &RepoPath,
    stat: &FileStat,
    write: bool,
) -> Result<HashedFile> {
    let abs = wt.abs(path);
    let gone = || StoreError::io(&abs, std::io::Error::new(std::io::ErrorKind::NotFound, "not in the work tree"));
    let symlink = stat.mode == oxen_object::mode::SYMLINK;
    let id = if symlink {
        let bytes = wt.read_link(path).map_err(|e| StoreError::io(&abs, e))?;
        if write {
            versions.write_bytes(&bytes)?
        } else {
            ContentId::of(&bytes)
        }
    } else {
        let f = wt.open_file(path).map_err(|e| StoreError::io(&abs, e))?.ok_or_else(gone)?;
        if write {
            versions.write_open_file(f, &abs)?.0
        } else {
            ContentId::of_reader(f).map_err(|e| StoreError::io(&abs, e))?.0
        }
    };
    let (tabular, warning) = match TabularFormat::from_name(path.as_bytes()) {
        Some(format) if write && !symlink => {
            let f = wt.open_file(path).map_err(|e| StoreError::io(&abs, e))?.ok_or_else(gone)?;
            meta_or_warning(oxen_tabular::schema_of_file(f, format, &path.quoted()))?
        }
        _ => (None, None),
    };
    let tracking = if tabular.is_some() { Tracking::Tabular } else { Tracking::Regular };
    Ok(HashedFile { id, tracking, tabular, warning })
}

/// Staging settings.
#[derive(Clone, Debug)]
pub struct StageOptions {
    /// Apply `.oxenignore` when expanding directories.
    pub honor_ignore: bool,
    /// Only refresh already-tracked paths (like `git add -u`).
    pub update_only: bool,
    /// A partial clone's paths: tracked files outside them are not in the
    /// work tree on purpose and are never staged as deleted (git's
    /// skip-worktree).
    pub partial: Option<oxen_path::PathSet>,
}

impl Default for StageOptions {
    fn default() -> Self {
        StageOptions { honor_ignore: true, update_only: false, partial: None }
    }
}

/// What staging did.
#[derive(Clone, Debug, Default)]
pub struct StageReport {
    /// Paths newly added to the index.
    pub added: Vec<RepoPath>,
    /// Tracked paths whose contents changed.
    pub updated: Vec<RepoPath>,
    /// Paths removed because they are gone from the work tree.
    pub removed: Vec<RepoPath>,
    /// Paths found unchanged by the stat cache (not read).
    pub unchanged: usize,
    /// What the work-tree walk had to skip, for the caller to show.
    pub warnings: Vec<String>,
}

/// Stage repository paths (the root = everything): files are hashed
/// unless the stat cache says they are unchanged, directories recurse, and
/// tracked files that vanished are unstaged. Hashing runs in parallel; all
/// index changes commit in one transaction, so a failure (an unreadable
/// file, a name no tree may hold) leaves the index as it was. Every name the
/// walk finds is staged or the whole call fails: nothing is skipped in
/// silence. Contents are never refused: a table that does not parse is
/// staged as plain bytes with a warning in the report. `progress` hears how many files will be hashed and
/// how many are done.
pub fn stage_paths(
    wt: &WorkTree,
    db: &Db,
    versions: &Versions,
    paths: &[RepoPath],
    opts: StageOptions,
    progress: &dyn Progress,
) -> Result<StageReport> {
    let index = Index::load(db)?;
    let mut candidates: BTreeMap<RepoPath, FileStat> = BTreeMap::new();
    let mut removals: Vec<RepoPath> = Vec::new();
    let mut warnings = Vec::new();
    let io = |p: &RepoPath, e| IndexError::Store(StoreError::io(wt.abs(p), e));
    for p in paths {
        // A path beyond a symlink is not in the work tree: what the link
        // points at is not ours to version (git refuses the same way).
        if wt.symlink_leading(p).map_err(|e| io(p, e))?.is_some() {
            return Err(IndexError::BeyondSymlink(p.clone()));
        }
    }
    for p in paths {
        let meta = wt.lstat(p).map_err(|e| io(p, e))?;
        match meta {
            Some(m) if m.is_dir() => {
                let walk = walk_work_tree(wt, p, WalkOptions { honor_ignore: opts.honor_ignore })?;
                // A name no tree may hold is never tracked, so refreshing
                // tracked files (`add -u`, `commit -a`) has nothing to refuse.
                if let (false, Some(refused)) = (opts.update_only, walk.refused.into_iter().next()) {
                    return Err(refused.into());
                }
                warnings.extend(walk.warnings);
                let found = walk.files;
                let seen: std::collections::HashSet<&RepoPath> = found.iter().map(|f| &f.path).collect();
                // Tracked files the walk did not report: deleted, or ignored but tracked.
                for tp in index.entries.keys() {
                    if !tp.is_under(p) {
                        continue;
                    }
                    if seen.contains(tp) {
                        continue;
                    }
                    // Not walked: ignored while tracked, or gone (a path
                    // beyond a symlink is gone: lstat does not look there).
                    match wt.lstat(tp).map_err(|e| io(tp, e))? {
                        Some(m) if !m.is_dir() => {
                            candidates.insert(tp.clone(), m.stat);
                        }
                        _ => removals.push(tp.clone()),
                    }
                }
                for f in found {
                    if opts.update_only && !index.entries.contains_key(&f.path) {
                        continue;
                    }
                    candidates.insert(f.path, f.stat);
                }
            }
            Some(m) => {
                if opts.update_only && !index.entries.contains_key(p) {
                    continue;
                }
                candidates.insert(p.clone(), m.stat);
            }
            None => {
                let gone: Vec<RepoPath> = index.entries.keys().filter(|k| k.is_under(p)).cloned().collect();
                if gone.is_empty() {
                    return Err(IndexError::NoMatch(p.clone()));
                }
                removals.extend(gone);
            }
        }
    }
    let mut report = StageReport { warnings, ..StageReport::default() };
    let todo: Vec<(&RepoPath, &FileStat)> = candidates
        .iter()
        .filter(|(p, st)| match index.entries.get(*p) {
            Some(e) => !index.is_clean(e, st),
            None => true,
        })
        .collect();
    report.unchanged = candidates.len() - todo.len();
    progress.start(todo.len() as u64);
    let done = AtomicU64::new(0);
    let hashed: Vec<Result<(RepoPath, IndexEntry, Option<String>)>> = todo
        .par_iter()
        .map(|(p, st)| {
            let h = hash_file(versions, wt, p, st, true)?;
            progress.update(done.fetch_add(1, Ordering::Relaxed) + 1, 0);
            let e = IndexEntry { id: h.id, stat: **st, tracking: h.tracking, tabular: h.tabular };
            Ok(((*p).clone(), e, h.warning))
        })
        .collect();
    let mut changes: Vec<(RepoPath, Option<IndexEntry>)> = Vec::with_capacity(hashed.len() + removals.len());
    for h in hashed {
        let (p, e, warning) = h?;
        report.warnings.extend(warning);
        match index.entries.get(&p) {
            None => report.added.push(p.clone()),
            Some(old) if old.id != e.id || old.stat.mode != e.stat.mode => report.updated.push(p.clone()),
            Some(_) => {}
        }
        changes.push((p, Some(e)));
    }
    // Contents must be recorded before the index refers to them.
    versions.flush()?;
    removals.sort();
    removals.dedup();
    if let Some(set) = &opts.partial {
        removals.retain(|r| set.contains(r));
    }
    for r in removals {
        if index.entries.contains_key(&r) && !candidates.contains_key(&r) {
            report.removed.push(r.clone());
            changes.push((r, None));
        }
    }
    if !changes.is_empty() {
        Index::apply(db, &changes)?;
    }
    Ok(report)
}

/// The index paths that `paths` name: each a tracked path or a directory
/// holding some (which needs `recursive`). Errors if a pathspec matches
/// nothing. Sorted, without duplicates.
pub fn paths_to_remove(index: &Index, paths: &[RepoPath], recursive: bool) -> Result<Vec<RepoPath>> {
    let mut out = Vec::new();
    for p in paths {
        if index.entries.contains_key(p) {
            out.push(p.clone());
            continue;
        }
        let below: Vec<RepoPath> = index.entries.keys().filter(|k| k.is_under(p)).cloned().collect();
        if below.is_empty() {
            return Err(IndexError::NoMatch(p.clone()));
        }
        if !recursive {
            return Err(IndexError::NeedRecursive(p.clone()));
        }
        out.extend(below);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Remove paths from the index. A directory needs `recursive`. Returns the
/// removed paths; errors if a pathspec matches nothing.
pub fn remove_paths(db: &Db, paths: &[RepoPath], recursive: bool) -> Result<Vec<RepoPath>> {
    let index = Index::load(db)?;
    let out = paths_to_remove(&index, paths, recursive)?;
    if out.is_empty() {
        return Ok(out);
    }
    let changes: Vec<(RepoPath, Option<IndexEntry>)> = out.iter().map(|p| (p.clone(), None)).collect();
    Index::apply(db, &changes)?;
    Ok(out)
}

/// Stage a known content id at a path without reading the work tree
/// (`update-index --cacheinfo`). The stat is left empty so the next status
/// re-hashes the file. Tabular metadata is read from the versions store
/// when the contents are there; the warning, if any, says why a table is
/// staged as plain bytes.
pub fn stage_cacheinfo(
    db: &Db,
    versions: &Versions,
    mode: u32,
    id: ContentId,
    path: &RepoPath,
) -> Result<Option<String>> {
    if path.is_root() {
        return Err(oxen_path::PathError::BadName { path: Default::default(), why: "empty name" }.into());
    }
    let (tabular, warning) = if versions.has(&id) && mode != oxen_object::mode::SYMLINK {
        let v = versions.clone();
        let source = Source::reader(move || {
            v.open(&id).map(|b| Box::new(b) as Box<dyn std::io::Read + Send>).map_err(std::io::Error::other)
        });
        tabular_meta(path, &source)?
    } else {
        (None, None)
    };
    let tracking = if tabular.is_some() { Tracking::Tabular } else { Tracking::Regular };
    // The size is known from the store; the rest of the stat stays empty so
    // the next status re-hashes the work-tree file.
    let stat = FileStat { mode, size: versions.size(&id)?, ..Default::default() };
    Index::apply(db, &[(path.clone(), Some(IndexEntry { id, stat, tracking, tabular }))])?;
    Ok(warning)
}
