//! Staging: hashing files into the versions store and recording them (with
//! their stat) in the index, all index changes in one transaction.

use oxen_hash::ContentId;
use oxen_object::{TabularFormat, TabularMeta};
use oxen_path::RepoPath;
use oxen_tabular::{Source, TabularError};
use std::sync::atomic::{AtomicU64, Ordering};

use oxen_store::{Db, Progress, StoreError, Versions};
use rayon::prelude::*;

use crate::entry::{FileStat, IndexEntry, Tracking};
use crate::walk::{WalkIter, WalkOptions};
use crate::worktree::WorkTree;
use crate::{Index, IndexError, IndexIter, Result};

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
            versions.write_open_file_sized(f, stat.size, &abs)?.0
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

/// Whether tracked `path` is absent from the work tree on purpose: a
/// partial clone's path outside its set (`partial`; `None`: not a partial
/// clone), kept in the index as HEAD has it (git's skip-worktree). The one
/// statement of the rule that staging (never a deletion), status (not
/// deleted) and the work-tree writers (index entry only) follow.
pub fn absent_on_purpose(partial: Option<&oxen_path::PathSet>, path: &RepoPath) -> bool {
    partial.is_some_and(|set| !set.contains(path))
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
    /// How many paths were newly added to the index (counts, not lists:
    /// a first add of millions of files holds no list of them).
    pub added: usize,
    /// How many tracked paths had their contents changed.
    pub updated: usize,
    /// How many paths were removed because they are gone from the work tree.
    pub removed: usize,
    /// Paths found unchanged by the stat cache (not read).
    pub unchanged: usize,
    /// What the work-tree walk had to skip, for the caller to show.
    pub warnings: Vec<String>,
}

/// Files hashed (in parallel) and written to the index at a time by
/// [`stage_paths`]: what it holds of the files it stages, however many.
const STAGE_BATCH: usize = 4096;

/// Stage repository paths (the root = everything): files are hashed
/// unless the stat cache says they are unchanged, directories recurse, and
/// tracked files that vanished are unstaged. Every name the walk finds is
/// staged or the whole call fails: nothing is skipped in silence. Contents
/// are never refused: a table that does not parse is staged as plain bytes
/// with a warning in the report. `progress` hears how many files are done
/// and the total so far (known a batch at a time: the walk streams).
///
/// Memory is bounded, not grown with the number of files: the work tree
/// is walked ([`WalkIter`]) and merged with the index read in order
/// ([`IndexIter`]) directory by directory, and files are hashed and written
/// to the index [`STAGE_BATCH`] at a time, each batch in one transaction
/// after its contents are recorded. A failure found before the first batch
/// is written (a pathspec matching nothing, a name no tree may hold among
/// the first files, an unreadable file) leaves the index as it was; one
/// found later leaves the batches before it staged (each entry complete,
/// as if those files had been added alone).
pub fn stage_paths(
    wt: &WorkTree,
    db: &Db,
    versions: &Versions,
    paths: &[RepoPath],
    opts: StageOptions,
    progress: &dyn Progress,
) -> Result<StageReport> {
    let header = Index::load_header(db)?;
    let io = |p: &RepoPath, e| IndexError::Store(StoreError::io(wt.abs(p), e));
    for p in paths {
        // A path beyond a symlink is not in the work tree: what the link
        // points at is not ours to version (git refuses the same way).
        if wt.symlink_leading(p).map_err(|e| io(p, e))?.is_some() {
            return Err(IndexError::BeyondSymlink(p.clone()));
        }
    }
    // Each path once, and none below another (the walk of the outer one
    // covers it).
    let mut specs: Vec<&RepoPath> = paths.iter().collect();
    specs.sort();
    specs.dedup();
    let mut kept: std::collections::HashSet<&[u8]> = std::collections::HashSet::new();
    specs.retain(|p| {
        let covered = p.is_root() && !kept.is_empty()
            || kept.contains(&b""[..])
            || kept.contains(p.as_bytes())
            || p.ancestors().any(|a| kept.contains(a));
        if !covered {
            kept.insert(p.as_bytes());
        }
        !covered
    });
    // A pathspec naming nothing is an error before anything is staged.
    for p in &specs {
        if wt.lstat(p).map_err(|e| io(p, e))?.is_none() && !tracked_under(db, p)? {
            return Err(IndexError::NoMatch((*p).clone()));
        }
    }
    let mut st = Stager {
        wt,
        db,
        versions,
        written_ns: header.written_ns,
        todo: Vec::new(),
        removals: Vec::new(),
        report: StageReport::default(),
        progress,
        done: 0,
        partial: opts.partial.as_ref(),
    };
    for p in specs {
        let meta = wt.lstat(p).map_err(|e| io(p, e))?;
        match meta {
            Some(m) if m.is_dir() => {
                let mut walk = WalkIter::new(wt, p, WalkOptions { honor_ignore: opts.honor_ignore });
                let mut tracked = IndexIter::from(db, p).take_while_under(p);
                let mut next_tracked = tracked.next().transpose()?;
                // Tracked files and walked files, merged in path order.
                loop {
                    let f = walk.next();
                    // Tracked files before this one that the walk did not
                    // report: deleted, or ignored while tracked.
                    while let Some((tp, e)) = &next_tracked {
                        if f.as_ref().is_some_and(|f| f.path <= *tp) {
                            break;
                        }
                        // A path beyond a symlink is gone: lstat does not look there.
                        match wt.lstat(tp).map_err(|e| io(tp, e))? {
                            Some(m) if !m.is_dir() => st.consider(tp.clone(), m.stat, Some(e.clone()))?,
                            _ => st.remove(tp.clone()),
                        }
                        next_tracked = tracked.next().transpose()?;
                    }
                    let Some(f) = f else { break };
                    let old = match &next_tracked {
                        Some((tp, _)) if *tp == f.path => next_tracked.take().map(|(_, e)| e),
                        _ => None,
                    };
                    if old.is_some() {
                        next_tracked = tracked.next().transpose()?;
                    }
                    // A name no tree may hold is never tracked, so
                    // refreshing tracked files (`add -u`, `commit -a`) has
                    // nothing to refuse; staging fails before the next write.
                    if !opts.update_only {
                        if let Some(refused) = walk.refused.drain(..).next() {
                            return Err(refused.into());
                        }
                    }
                    if opts.update_only && old.is_none() {
                        continue;
                    }
                    st.consider(f.path, f.stat, old)?;
                }
                if let (false, Some(refused)) = (opts.update_only, walk.refused.into_iter().next()) {
                    return Err(refused.into());
                }
                st.report.warnings.extend(walk.warnings);
            }
            Some(m) => {
                // A point lookup: with the monitor, add names each changed
                // file, and a page of the index per file would cost more
                // than the file.
                let old = Index::entry(db, p)?;
                if opts.update_only && old.is_none() {
                    continue;
                }
                st.consider(p.clone(), m.stat, old)?;
            }
            None => {
                if Index::entry(db, p)?.is_some() {
                    st.remove(p.clone());
                }
                for (tp, _) in Index::entries_under(db, p)? {
                    st.remove(tp);
                }
            }
        }
    }
    st.write(true)?;
    Ok(st.report)
}

/// Whether the index tracks `p` or anything below it.
fn tracked_under(db: &Db, p: &RepoPath) -> Result<bool> {
    Ok(Index::entry(db, p)?.is_some() || Index::tracks_under(db, p)?)
}

impl<'a> IndexIter<'a> {
    /// The entries at or below `p` (this iterator must start at `p`:
    /// `IndexIter::from(db, p)`), read no further than past them.
    pub fn take_while_under(self, p: &'a RepoPath) -> impl Iterator<Item = Result<(RepoPath, IndexEntry)>> + 'a {
        // Entries below `p` are contiguous in path order, but `a.txt`
        // sorts between `a` and `a/b`: skip what is not below, stop past.
        let mut past = p.as_bytes().to_vec();
        past.push(b'/' + 1);
        self.take_while(move |r| match r {
            Ok((tp, _)) => p.is_root() || tp.as_bytes() < past.as_slice(),
            Err(_) => true,
        })
        .filter(move |r| match r {
            Ok((tp, _)) => tp.is_under(p),
            Err(_) => true,
        })
    }
}

/// The staging work in hand: files to hash and paths to unstage, written
/// in batches.
struct Stager<'a> {
    wt: &'a WorkTree,
    db: &'a Db,
    versions: &'a Versions,
    written_ns: i64,
    /// Files to hash, with their entry in the index if tracked.
    todo: Vec<(RepoPath, FileStat, Option<IndexEntry>)>,
    /// Tracked paths to unstage.
    removals: Vec<RepoPath>,
    report: StageReport,
    progress: &'a dyn Progress,
    done: u64,
    /// A partial clone's paths: a tracked file outside them is absent on
    /// purpose, never a deletion to stage.
    partial: Option<&'a oxen_path::PathSet>,
}

impl Stager<'_> {
    fn consider(&mut self, path: RepoPath, stat: FileStat, old: Option<IndexEntry>) -> Result<()> {
        if let Some(e) = &old {
            if crate::status::stat_clean(self.written_ns, e, &stat) {
                self.report.unchanged += 1;
                return Ok(());
            }
        }
        self.todo.push((path, stat, old));
        if self.todo.len() >= STAGE_BATCH {
            self.write(false)?;
        }
        Ok(())
    }

    fn remove(&mut self, path: RepoPath) {
        if absent_on_purpose(self.partial, &path) {
            return;
        }
        self.removals.push(path);
    }

    /// Hash what is pending (in parallel), record the contents, then write
    /// the index rows in one transaction.
    fn write(&mut self, last: bool) -> Result<()> {
        if self.todo.is_empty() && self.removals.is_empty() {
            return Ok(());
        }
        if !last && self.todo.len() < STAGE_BATCH {
            return Ok(());
        }
        let (versions, wt, progress) = (self.versions, self.wt, self.progress);
        let base = self.done;
        let done = AtomicU64::new(0);
        let todo = std::mem::take(&mut self.todo);
        // The total is known a batch at a time: the walk streams.
        if !todo.is_empty() {
            progress.start(base + todo.len() as u64);
        }
        // Per file: path, new entry, old entry, warning.
        type Hashed = Result<(RepoPath, IndexEntry, Option<IndexEntry>, Option<String>)>;
        let hashed: Vec<Hashed> = todo
            .into_par_iter()
            .map(|(p, st, old)| {
                let h = hash_file(versions, wt, &p, &st, true)?;
                progress.update(base + done.fetch_add(1, Ordering::Relaxed) + 1, 0);
                let e = IndexEntry { id: h.id, stat: st, tracking: h.tracking, tabular: h.tabular };
                Ok((p, e, old, h.warning))
            })
            .collect();
        self.done = base + done.load(Ordering::Relaxed);
        let mut changes: Vec<(RepoPath, Option<IndexEntry>)> = Vec::with_capacity(hashed.len() + self.removals.len());
        for h in hashed {
            let (p, e, old, warning) = h?;
            self.report.warnings.extend(warning);
            match old {
                None => self.report.added += 1,
                Some(old) if old.id != e.id || old.stat.mode != e.stat.mode => self.report.updated += 1,
                Some(_) => {}
            }
            changes.push((p, Some(e)));
        }
        // Contents must be recorded before the index refers to them.
        versions.flush()?;
        for r in std::mem::take(&mut self.removals) {
            self.report.removed += 1;
            changes.push((r, None));
        }
        if !changes.is_empty() {
            Index::apply(self.db, &changes)?;
        }
        // What this batch read of the database (blob lookups, index pages)
        // need not stay resident.
        self.db.release_mapped_pages();
        Ok(())
    }
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
