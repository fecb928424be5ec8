//! Merging a commit into the current branch: fast-forward when possible, otherwise a three-way merge at file
//! level, line level for text and row level for tabular files with keys.
//! Conflicts leave both versions in the work tree and are recorded so that
//! `status` lists them and `add` + `commit` resolve them.

use std::collections::{BTreeMap, BTreeSet};

use oxen_hash::ContentId;
use oxen_object::Commit;
use oxen_path::RepoPath;
use oxen_refs::{Expect, Head};
use oxen_store::{NoProgress, StoreError};

use oxen_tabular::merge::{MergeOptions, MergeOutcome as TableOutcome};
use oxen_tabular::TabularFormat;

use crate::tree::FlatEntry;

/// What one side of a merge changed since the base: path -> (base, side).
type Changed = BTreeMap<RepoPath, (Option<FlatEntry>, Option<FlatEntry>)>;
use crate::{HeadMove, LocalChanges, Overlay, Repo, RepoError, Result, Transition};

/// How a merge ended.
#[derive(Clone, Debug, PartialEq)]
pub enum MergeOutcome {
    /// Nothing to do: theirs is already contained in ours.
    UpToDate,
    /// The branch moved forward to theirs.
    FastForward(ContentId),
    /// A merge commit was made.
    Merged(ContentId),
    /// Conflicting paths; the merge awaits `add` + `commit`.
    Conflicts(Vec<PathConflict>),
}

/// How one path conflicts, as git names it (`status --porcelain` code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConflictKind {
    /// Changed differently on both sides (`UU`).
    BothModified,
    /// Added on both sides with different contents (`AA`).
    BothAdded,
    /// Modified by us, deleted by them (`UD`); ours stays in the work tree.
    DeletedByThem,
    /// Deleted by us, modified by them (`DU`); theirs is in the work tree.
    DeletedByUs,
}

impl ConflictKind {
    /// The two-letter code of `status --porcelain`.
    pub fn code(self) -> &'static str {
        match self {
            ConflictKind::BothModified => "UU",
            ConflictKind::BothAdded => "AA",
            ConflictKind::DeletedByThem => "UD",
            ConflictKind::DeletedByUs => "DU",
        }
    }

    /// The wording of long `status` (as git's).
    pub fn describe(self) -> &'static str {
        match self {
            ConflictKind::BothModified => "both modified",
            ConflictKind::BothAdded => "both added",
            ConflictKind::DeletedByThem => "deleted by them",
            ConflictKind::DeletedByUs => "deleted by us",
        }
    }

    fn of(base: bool, ours: bool, theirs: bool) -> ConflictKind {
        match (base, ours, theirs) {
            (false, _, _) => ConflictKind::BothAdded,
            (true, true, false) => ConflictKind::DeletedByThem,
            (true, false, true) => ConflictKind::DeletedByUs,
            _ => ConflictKind::BothModified,
        }
    }
}

/// One conflicted path.
#[derive(Clone, Debug, PartialEq)]
pub struct PathConflict {
    /// The path.
    pub path: RepoPath,
    /// Which kind.
    pub kind: ConflictKind,
    /// Neither side's contents could be merged as text or table (binary,
    /// Parquet): ours stays in the work tree; `oxen checkout --theirs`
    /// takes theirs.
    pub binary: bool,
    /// For a table merged by key: the conflicting cells and rows (the
    /// first 1000), each naming its key and column.
    pub cells: Vec<oxen_tabular::merge::Conflict>,
    /// How many cell or row conflicts there are in all.
    pub cell_count: u64,
}

/// The machine-readable list of table conflicts a merge leaves in
/// `.oxen/MERGE_TABLE_CONFLICTS.json`:
/// `{"files": [{"path", "conflict_count", "conflicts": [{"key": {..},
/// "column", "kind", "base", "ours", "theirs"}]}]}`.
pub const TABLE_CONFLICTS_FILE: &str = "MERGE_TABLE_CONFLICTS.json";

/// What a merge of one path's contents gave.
enum Contents {
    Clean(FlatEntry),
    Conflict {
        /// Stored contents (with markers) for the work tree.
        work: Option<ContentId>,
        binary: bool,
        cells: Vec<oxen_tabular::merge::Conflict>,
        cell_count: u64,
    },
}

/// A merge in progress (after conflicts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeState {
    /// The commit being merged in.
    pub theirs: ContentId,
    /// The message the merge commit will get.
    pub message: String,
    /// Paths still unresolved.
    pub conflicts: Vec<RepoPath>,
}

impl Repo {
    /// The merge in progress, if any.
    pub fn merge_state(&self) -> Result<Option<MergeState>> {
        let p = self.layout.dot.join("MERGE_HEAD");
        let Ok(text) = std::fs::read_to_string(&p) else { return Ok(None) };
        let theirs = ContentId::from_hex(text.trim())
            .map_err(|_| RepoError::Refused(format!("{} is malformed", p.display())))?;
        let message = std::fs::read_to_string(self.layout.dot.join("MERGE_MSG")).unwrap_or_default();
        let list = std::fs::read(self.layout.dot.join("MERGE_CONFLICTS")).unwrap_or_default();
        // NUL-terminated paths (a name may hold a newline); a list written
        // before names were bytes is one path per line.
        let sep = if list.contains(&0) { 0 } else { b'\n' };
        let conflicts = list
            .split(|b| *b == sep)
            .filter(|l| !l.is_empty())
            .map(RepoPath::new)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Some(MergeState { theirs, message, conflicts }))
    }

    /// Record (or with `None` clear) the merge in progress.
    pub fn set_merge_state(&self, st: Option<&MergeState>) -> Result<()> {
        let dot = &self.layout.dot;
        let tmp = self.layout.tmp_dir();
        match st {
            None => {
                for f in ["MERGE_HEAD", "MERGE_MSG", "MERGE_CONFLICTS", TABLE_CONFLICTS_FILE] {
                    let _ = std::fs::remove_file(dot.join(f));
                }
            }
            Some(s) => {
                let mut list = Vec::new();
                for c in &s.conflicts {
                    list.extend_from_slice(c.as_bytes());
                    list.push(0);
                }
                oxen_store::write_atomic(&tmp, &dot.join("MERGE_CONFLICTS"), &list)?;
                oxen_store::write_atomic(&tmp, &dot.join("MERGE_MSG"), s.message.as_bytes())?;
                oxen_store::write_atomic(&tmp, &dot.join("MERGE_HEAD"), format!("{}\n", s.theirs).as_bytes())?;
            }
        }
        Ok(())
    }

    /// The kind of each conflicted path of the merge in progress, from
    /// which of base, ours (HEAD) and theirs hold it.
    pub fn conflict_kinds(&self, st: &MergeState) -> Result<Vec<(RepoPath, ConflictKind)>> {
        if st.conflicts.is_empty() {
            return Ok(Vec::new());
        }
        let ours = self.head_commit()?;
        let base = match ours {
            Some(o) => self.merge_base(&o, &st.theirs)?,
            None => None,
        };
        // A point lookup per conflicted path in each of the three trees.
        let mut trees = Vec::with_capacity(3);
        for c in [base.as_ref(), ours.as_ref(), Some(&st.theirs)] {
            trees.push(match c {
                Some(c) => Some(self.read_commit(c)?.tree),
                None => None,
            });
        }
        let has = |t: &Option<ContentId>, p: &RepoPath| -> Result<bool> {
            Ok(match t {
                Some(t) => self.tree_entry_at(t, p)?.is_some_and(|e| e.kind == oxen_object::EntryKind::File),
                None => false,
            })
        };
        st.conflicts
            .iter()
            .map(|p| Ok((p.clone(), ConflictKind::of(has(&trees[0], p)?, has(&trees[1], p)?, has(&trees[2], p)?))))
            .collect()
    }

    /// Merge with keys from config (`tabular_keys`) for tabular files.
    pub fn merge_commit(&self, theirs: &ContentId, label: &str) -> Result<MergeOutcome> {
        self.merge_commit_with(theirs, label, &[])
    }

    /// Merge `theirs` into the current branch (or detached HEAD). `keys`
    /// match tabular rows for every tabular file; without them, keys stored
    /// in config for a path are used, and otherwise tabular files merge as
    /// whole files.
    pub fn merge_commit_with(&self, theirs: &ContentId, label: &str, keys: &[String]) -> Result<MergeOutcome> {
        if self.merge_state()?.is_some() {
            return Err(RepoError::Refused(
                "a merge is already in progress; resolve it with `oxen add` + `oxen commit`".into(),
            ));
        }
        self.read_commit(theirs)?;
        let ours = self.head_commit()?;
        let head = self.head()?;
        // The work tree, index and HEAD move together, through the one
        // mechanism that completes an interrupted move (see transition.rs).
        let advance = |old: Option<ContentId>, new: ContentId, tree: ContentId, how: &str| -> Result<()> {
            let head = HeadMove::Advance { head: head.clone(), old, new };
            let message = format!("merge {label}: {how}");
            let t = Transition {
                op: "merge".into(),
                target: tree,
                local: LocalChanges::Refuse,
                head,
                message,
                overlay: vec![],
            };
            self.transition(&t, &NoProgress)?;
            Ok(())
        };
        let Some(ours) = ours else {
            // Unborn branch: adopt theirs.
            advance(None, *theirs, self.read_commit(theirs)?.tree, "Fast-forward")?;
            return Ok(MergeOutcome::FastForward(*theirs));
        };
        if self.is_ancestor(theirs, &ours)? {
            return Ok(MergeOutcome::UpToDate);
        }
        // Refuse to merge over uncommitted changes to tracked files.
        let st = self.status()?;
        if st.has_staged() || st.has_unstaged() {
            return Err(RepoError::Refused(
                "you have uncommitted changes; commit or restore them before merging".into(),
            ));
        }
        if self.is_ancestor(&ours, theirs)? {
            advance(Some(ours), *theirs, self.read_commit(theirs)?.tree, "Fast-forward")?;
            return Ok(MergeOutcome::FastForward(*theirs));
        }
        let base = self.merge_base(&ours, theirs)?;
        let base_tree = match &base {
            Some(b) => Some(self.read_commit(b)?.tree),
            None => None,
        };
        let ours_tree = self.read_commit(&ours)?.tree;
        let theirs_tree = self.read_commit(theirs)?.tree;
        // What each side changed since the base (the two-tree walk: equal
        // subtrees skipped by id). A path neither changed is ours as it is;
        // only these are planned, and the merged tree is ours with edits.
        let side = |tree: &ContentId| -> Result<Changed> {
            let mut m = BTreeMap::new();
            for c in self.tree_changes(base_tree.as_ref(), Some(tree)) {
                let c = c?;
                m.insert(c.path, (c.old, c.new));
            }
            Ok(m)
        };
        let ours_changed = side(&ours_tree)?;
        let theirs_changed = side(&theirs_tree)?;
        let config = self.config()?;
        // Paths whose merged entry is not ours: the entry, or `None` for gone.
        let mut edits: BTreeMap<RepoPath, Option<FlatEntry>> = BTreeMap::new();
        let mut conflicts: Vec<PathConflict> = Vec::new();
        // Work-tree writes for conflicted paths: path -> stored contents, exec.
        let mut conflict_files: Vec<(RepoPath, ContentId, bool)> = Vec::new();
        let same = |x: Option<&FlatEntry>, y: Option<&FlatEntry>| match (x, y) {
            (None, None) => true,
            (Some(x), Some(y)) => x.id == y.id && x.mode == y.mode,
            _ => false,
        };
        // A path one side renamed (deleted, its base contents reappearing
        // under a new name on that side) and the other side edited: the
        // edit goes to the new name. Exact-content renames only. Such a
        // path was changed by both sides; the new name was added by the
        // mover and not by the editor.
        let mut skip: BTreeSet<RepoPath> = BTreeSet::new();
        for (p, (base_entry, _)) in &ours_changed {
            let Some(be) = base_entry else { continue };
            if !theirs_changed.contains_key(p) {
                continue;
            }
            for (mover, editor) in [(&ours_changed, &theirs_changed), (&theirs_changed, &ours_changed)] {
                let Some((_, Some(edited))) = editor.get(p) else { continue };
                if !matches!(mover.get(p), Some((_, None))) || same(Some(be), Some(edited)) {
                    continue;
                }
                let to = mover.iter().find(|(q, (qb, qe))| {
                    qb.is_none()
                        && qe.as_ref().is_some_and(|e| e.id == be.id)
                        && !matches!(editor.get(*q), Some((_, Some(_))))
                        && !skip.contains(*q)
                });
                if let Some((q, (_, Some(e)))) = to {
                    edits.insert(q.clone(), Some(FlatEntry { mode: e.mode, ..edited.clone() }));
                    edits.insert(p.clone(), None);
                    skip.insert(p.clone());
                    skip.insert(q.clone());
                }
            }
        }
        let paths: BTreeSet<&RepoPath> =
            ours_changed.keys().chain(theirs_changed.keys()).filter(|p| !skip.contains(*p)).collect();
        for p in paths {
            let b = ours_changed.get(p).or(theirs_changed.get(p)).and_then(|(b, _)| b.as_ref());
            let o = ours_changed.get(p).map_or(b, |(_, o)| o.as_ref());
            let t = theirs_changed.get(p).map_or(b, |(_, t)| t.as_ref());
            let pick = if same(o, t) || same(t, b) {
                Some(o.cloned())
            } else if same(o, b) {
                Some(t.cloned())
            } else {
                None
            };
            if let Some(choice) = pick {
                edits.insert(p.clone(), choice);
                continue;
            }
            // Both sides changed this path differently.
            match (o, t) {
                (Some(o), Some(t)) => {
                    let path_keys: Vec<String> = if keys.is_empty() {
                        p.to_str().and_then(|p| config.tabular_keys.get(p)).cloned().unwrap_or_default()
                    } else {
                        keys.to_vec()
                    };
                    match self.merge_contents(p, b, o, t, &path_keys, label)? {
                        Contents::Clean(e) => {
                            edits.insert(p.clone(), Some(e));
                        }
                        Contents::Conflict { work, binary, cells, cell_count } => {
                            let kind = ConflictKind::of(b.is_some(), true, true);
                            conflicts.push(PathConflict { path: p.clone(), kind, binary, cells, cell_count });
                            let exec = o.mode == oxen_object::mode::EXEC;
                            conflict_files.extend(work.map(|id| (p.clone(), id, exec)));
                        }
                    }
                }
                (Some(keep), None) | (None, Some(keep)) => {
                    // Modified on one side, deleted on the other: keep the modified version.
                    let kind = ConflictKind::of(true, o.is_some(), t.is_some());
                    conflicts.push(PathConflict { path: p.clone(), kind, binary: false, cells: vec![], cell_count: 0 });
                    edits.insert(p.clone(), Some(keep.clone()));
                }
                (None, None) => {}
            }
        }
        // Merged contents must be recorded before trees refer to them.
        self.versions.flush()?;
        let message = format!("Merge {label}\n");
        // Bring work tree and index to the merged state (conflicted paths keep ours in the index).
        let tree = self.write_tree_edited(&ours_tree, edits)?;
        if conflicts.is_empty() {
            let author = crate::signature(&config)?;
            let commit = self.write_commit(&Commit { tree, parents: vec![ours, *theirs], author, message })?;
            advance(Some(ours), commit, tree, "Merge made")?;
            return Ok(MergeOutcome::Merged(commit));
        }
        conflicts.sort_by(|a, b| a.path.cmp(&b.path));
        let paths: Vec<RepoPath> = conflicts.iter().map(|c| c.path.clone()).collect();
        // The details of table conflicts go first: on their own (a kill
        // before the transition is recorded) they are ignored and replaced
        // by the next merge. Markers and merge state then land together.
        self.write_table_conflicts(&conflicts)?;
        let overlay =
            conflict_files.into_iter().map(|(path, contents, exec)| Overlay { path, contents, exec }).collect();
        let t = Transition {
            op: "merge".into(),
            target: tree,
            local: LocalChanges::Refuse,
            head: HeadMove::BeginMerge(MergeState { theirs: *theirs, message, conflicts: paths }),
            message: String::new(),
            overlay,
        };
        self.transition(&t, &NoProgress)?;
        Ok(MergeOutcome::Conflicts(conflicts))
    }

    fn write_table_conflicts(&self, conflicts: &[PathConflict]) -> Result<()> {
        let files: Vec<serde_json::Value> = conflicts
            .iter()
            .filter(|c| c.cell_count > 0)
            .map(|c| {
                serde_json::json!({
                    "path": c.path.quoted(),
                    "conflict_count": c.cell_count,
                    "conflicts": c.cells,
                })
            })
            .collect();
        if files.is_empty() {
            return Ok(());
        }
        let doc = serde_json::to_vec(&serde_json::json!({ "files": files })).map_err(std::io::Error::other);
        let doc = doc.map_err(|e| StoreError::io(&self.layout.dot, e))?;
        oxen_store::write_atomic(&self.layout.tmp_dir(), &self.layout.dot.join(TABLE_CONFLICTS_FILE), &doc)?;
        Ok(())
    }

    /// Move the current branch (or detached HEAD) from `old` to `new`, with
    /// compare-and-swap on the branch (or on HEAD itself when detached),
    /// logging `message` in the reflog.
    pub fn move_head_to(&self, head: &Head, old: Option<ContentId>, new: &ContentId, message: &str) -> Result<()> {
        match head {
            Head::Branch(b) => {
                let expect = match old {
                    Some(o) => Expect::Is(o),
                    None => Expect::Absent,
                };
                self.refs().update(&b.to_ref(), Some(*new), expect, message)?;
            }
            Head::Detached(_) => self.refs().set_head(&Head::Detached(*new), Some(head), message)?,
        }
        Ok(())
    }

    /// Merge the contents of one path changed on both sides: a table by
    /// key at cell level (the engine, streaming), else (no keys, a key
    /// column missing, a version that does not parse) line by line when
    /// all three are text; anything else conflicts as binary.
    fn merge_contents(
        &self,
        path: &RepoPath,
        base: Option<&FlatEntry>,
        ours: &FlatEntry,
        theirs: &FlatEntry,
        keys: &[String],
        label: &str,
    ) -> Result<Contents> {
        let symlink = [Some(ours), Some(theirs), base].iter().flatten().any(|e| e.mode == oxen_object::mode::SYMLINK);
        let format = TabularFormat::from_name(path.as_bytes()).filter(|_| !symlink);
        if let (Some(format), false) = (format, keys.is_empty()) {
            let bs = base.map(|b| self.stored_source(&b.id)).transpose()?;
            let (os, ts) = (self.stored_source(&ours.id)?, self.stored_source(&theirs.id)?);
            let opts = MergeOptions { keys: keys.to_vec(), limits: self.table_limits(), ..MergeOptions::default() };
            let tmp_dir = self.layout.tmp_dir();
            let mut tmp = oxen_store::temp_file(&tmp_dir)?;
            let shown = path.quoted();
            let tmp_path = tmp.path().to_path_buf();
            let outcome = {
                let mut w = std::io::BufWriter::new(tmp.as_file_mut());
                let o = oxen_tabular::merge::merge(&shown, format, bs.as_ref(), &os, &ts, &opts, &mut w)?;
                std::io::Write::flush(&mut w).map_err(|e| StoreError::io(&tmp_path, e))?;
                o
            };
            if let TableOutcome::Merged(report) = outcome {
                let (id, size) = self.versions.write_file(tmp.path())?;
                if report.is_clean() {
                    let (tabular, _) = oxen_index::tabular_meta(path, &oxen_tabular::Source::path(tmp.path()))?;
                    return Ok(Contents::Clean(FlatEntry { id, mode: ours.mode, size, tabular }));
                }
                return Ok(Contents::Conflict {
                    work: Some(id),
                    binary: false,
                    cells: report.conflicts,
                    cell_count: report.conflict_count,
                });
            }
            // No usable keys, a version that does not parse, or Parquet:
            // fall through to a line-level merge (text only).
        }
        let binary = Contents::Conflict { work: None, binary: true, cells: vec![], cell_count: 0 };
        let sizes = [Some(ours), Some(theirs), base].iter().flatten().map(|e| e.size).max().unwrap_or(0);
        if sizes > crate::diff::MAX_TEXT_DIFF {
            return Ok(binary);
        }
        let read = |e: &FlatEntry| -> Result<Vec<u8>> { Ok(self.versions.read_all(&e.id)?) };
        let (ob, tb) = (read(ours)?, read(theirs)?);
        let bb = match base {
            Some(b) => read(b)?,
            None => Vec::new(),
        };
        let text = |b: &[u8]| if b.contains(&0) { None } else { std::str::from_utf8(b).ok().map(str::to_owned) };
        let (Some(bt), Some(ot), Some(tt)) = (text(&bb), text(&ob), text(&tb)) else { return Ok(binary) };
        let (merged, conflict) = crate::text_merge::merge_text(&bt, &ot, &tt, label);
        if !conflict {
            return Ok(Contents::Clean(self.store_merged(path, merged.as_bytes(), ours.mode)?));
        }
        let id = self.versions.write_bytes(merged.as_bytes())?;
        Ok(Contents::Conflict { work: Some(id), binary: false, cells: vec![], cell_count: 0 })
    }

    fn store_merged(&self, path: &RepoPath, bytes: &[u8], mode: u32) -> Result<FlatEntry> {
        let id = self.versions.write_bytes(bytes)?;
        let (tabular, _) = oxen_index::tabular_meta(path, &oxen_tabular::Source::bytes(bytes.to_vec()))?;
        Ok(FlatEntry { id, mode, size: bytes.len() as u64, tabular })
    }
}

/// The one-line error a merge (or pull) that stopped on `n` conflicting
/// paths ends with, for every caller (`oxen merge`, `oxen pull`, pyoxen).
pub fn conflicts_message(n: usize) -> String {
    format!("automatic merge failed on {n} path(s); fix conflicts, `oxen add` them, then `oxen commit`")
}
