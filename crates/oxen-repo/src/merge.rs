//! Merging a commit into the current branch: fast-forward when possible, otherwise a three-way merge at file
//! level, line level for text and row level for tabular files with keys.
//! Conflicts leave both versions in the work tree and are recorded so that
//! `status` lists them and `add` + `commit` resolve them.

use std::collections::{BTreeMap, BTreeSet};

use oxen_hash::ContentId;
use oxen_object::Commit;
use oxen_path::RepoPath;
use oxen_refs::{Expect, Head};
use oxen_store::NoProgress;

use crate::tree::FlatEntry;
use crate::{HeadMove, LocalChanges, Repo, RepoError, Result, Transition};

/// How a merge ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MergeOutcome {
    /// Nothing to do: theirs is already contained in ours.
    UpToDate,
    /// The branch moved forward to theirs.
    FastForward(ContentId),
    /// A merge commit was made.
    Merged(ContentId),
    /// Conflicting paths; the merge awaits `add` + `commit`.
    Conflicts(Vec<RepoPath>),
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
                for f in ["MERGE_HEAD", "MERGE_MSG", "MERGE_CONFLICTS"] {
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
            let t = Transition { op: "merge".into(), target: tree, local: LocalChanges::Refuse, head, message };
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
        let ours_files = self.flatten_commit(Some(&ours))?;
        let (st, _) = self.status()?;
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
        let base_files = self.flatten_commit(base.as_ref())?;
        let theirs_files = self.flatten_commit(Some(theirs))?;
        let config = self.config()?;
        let mut merged: BTreeMap<RepoPath, FlatEntry> = BTreeMap::new();
        let mut conflicts: Vec<RepoPath> = Vec::new();
        // Work-tree writes for conflicted paths: path -> bytes.
        let mut conflict_files: Vec<(RepoPath, Vec<u8>)> = Vec::new();
        let paths: BTreeSet<&RepoPath> =
            base_files.keys().chain(ours_files.keys()).chain(theirs_files.keys()).collect();
        for p in paths {
            let (b, o, t) = (base_files.get(p), ours_files.get(p), theirs_files.get(p));
            let same = |x: Option<&FlatEntry>, y: Option<&FlatEntry>| match (x, y) {
                (None, None) => true,
                (Some(x), Some(y)) => x.id == y.id && x.mode == y.mode,
                _ => false,
            };
            let pick = if same(o, t) || same(t, b) {
                Some(o.cloned())
            } else if same(o, b) {
                Some(t.cloned())
            } else {
                None
            };
            if let Some(choice) = pick {
                if let Some(e) = choice {
                    merged.insert(p.clone(), e);
                }
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
                        Ok(e) => {
                            merged.insert(p.clone(), e);
                        }
                        Err(files) => {
                            conflicts.push(p.clone());
                            merged.insert(p.clone(), o.clone());
                            conflict_files.extend(files);
                        }
                    }
                }
                (Some(keep), None) | (None, Some(keep)) => {
                    // Modified on one side, deleted on the other: keep the modified version.
                    conflicts.push(p.clone());
                    merged.insert(p.clone(), keep.clone());
                }
                (None, None) => {}
            }
        }
        // Merged contents must be recorded before trees refer to them.
        self.versions.flush()?;
        let message = format!("Merge {label}\n");
        // Bring work tree and index to the merged state (conflicted paths keep ours in the index).
        let tree = self.write_tree_from(&merged)?;
        if conflicts.is_empty() {
            let author = crate::signature(&config)?;
            let commit = self.write_commit(&Commit { tree, parents: vec![ours, *theirs], author, message })?;
            advance(Some(ours), commit, tree, "Merge made")?;
            return Ok(MergeOutcome::Merged(commit));
        }
        let t = Transition {
            op: "merge".into(),
            target: tree,
            local: LocalChanges::Refuse,
            head: HeadMove::Keep,
            message: String::new(),
        };
        self.transition(&t, &NoProgress)?;
        for (p, bytes) in conflict_files {
            self.worktree.write_bytes(&p, &bytes).map_err(|e| crate::worktree::wt_error(self, &p, e))?;
        }
        conflicts.sort();
        self.set_merge_state(Some(&MergeState { theirs: *theirs, message, conflicts: conflicts.clone() }))?;
        Ok(MergeOutcome::Conflicts(conflicts))
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

    /// Merge the contents of one path changed on both sides. `Ok(entry)` is
    /// a clean result (already stored); `Err(files)` are the work-tree files
    /// to write for a conflict.
    #[allow(clippy::type_complexity)]
    fn merge_contents(
        &self,
        path: &RepoPath,
        base: Option<&FlatEntry>,
        ours: &FlatEntry,
        theirs: &FlatEntry,
        keys: &[String],
        label: &str,
    ) -> Result<std::result::Result<FlatEntry, Vec<(RepoPath, Vec<u8>)>>> {
        // The table engine names the file in its messages; it only reads text.
        let shown = path.to_str_lossy();
        let read = |e: &FlatEntry| -> Result<Vec<u8>> { Ok(self.versions.read_all(&e.id)?) };
        let (ob, tb) = (read(ours)?, read(theirs)?);
        let bb = match base {
            Some(b) => read(b)?,
            None => Vec::new(),
        };
        let format = oxen_tabular::format_for(&shown);
        if let (Some(fmt), false) = (format, keys.is_empty()) {
            if fmt != "parquet" {
                let load = |b: &[u8]| oxen_tabular::load(b, fmt, &shown);
                let bt = if base.is_some() {
                    load(&bb)?
                } else {
                    oxen_tabular::Table { columns: load(&ob)?.columns, rows: vec![] }
                };
                if let Some(t) = oxen_tabular::merge3(&bt, &load(&ob)?, &load(&tb)?, keys) {
                    let bytes = oxen_tabular::write_table(&t, fmt);
                    return Ok(Ok(self.store_merged(path, &bytes, ours.mode)?));
                }
            }
        }
        let is_text = |b: &[u8]| !b.contains(&0) && std::str::from_utf8(b).is_ok();
        if format.is_none() && is_text(&ob) && is_text(&tb) && is_text(&bb) {
            let (text, conflict) = crate::text_merge::merge_text(
                std::str::from_utf8(&bb).unwrap_or(""),
                std::str::from_utf8(&ob).unwrap_or(""),
                std::str::from_utf8(&tb).unwrap_or(""),
                label,
            );
            if !conflict {
                return Ok(Ok(self.store_merged(path, text.as_bytes(), ours.mode)?));
            }
            return Ok(Err(vec![(path.clone(), text.into_bytes())]));
        }
        Ok(Err(vec![(path.with_suffix(b".ours")?, ob), (path.with_suffix(b".theirs")?, tb)]))
    }

    fn store_merged(&self, path: &RepoPath, bytes: &[u8], mode: u32) -> Result<FlatEntry> {
        let id = self.versions.write_bytes(bytes)?;
        let shown = path.to_str_lossy();
        let tabular = match oxen_tabular::format_for(&shown) {
            Some(f) if f != "parquet" => Some(oxen_tabular::infer_reader(bytes, f, &shown)?),
            _ => None,
        };
        Ok(FlatEntry { id, mode, size: bytes.len() as u64, tabular })
    }
}
