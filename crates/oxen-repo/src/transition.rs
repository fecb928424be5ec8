//! Moving the work tree, index and HEAD from one tree to another, so that
//! an interrupted move can always be completed: the one mechanism behind
//! checkout, switch, reset --hard, merge's work-tree step and clone.
//!
//! A [`Transition`] names the tree to reach, what to do about local
//! changes and what HEAD does at the end. [`Repo::transition`] checks
//! first (refusing, with nothing changed, when local work would be lost),
//! then writes `.oxen/CHECKOUT` naming the tree the work tree is at, the
//! tree it goes to and the HEAD move (with its reflog message), before
//! the first work-tree change;
//! then the work tree and the index, streamed in bounded batches (each
//! batch's index rows one transaction; see `plan.rs`), then HEAD, then
//! removes the record: while it exists the index may be half written, and
//! every command that reads the index completes the transition first. A process killed anywhere in between leaves the
//! record behind, and [`Repo::resume_transition`] (which `oxen checkout
//! --continue`, a retried checkout and the next command that reads the work
//! tree call) completes it: it force-writes exactly the paths that differ
//! between the two trees (an interrupted reset: every tracked path that does
//! not match), removes what interrupted writes left, then writes the index,
//! moves HEAD and removes the record. Every step is idempotent, so a
//! completion that is itself interrupted is completed by the next one.

use std::collections::{BTreeSet, HashSet};

use oxen_hash::ContentId;
use oxen_index::{Index, IndexEntry, WalkOptions};
use oxen_object::EntryKind;
use oxen_path::RepoPath;
use oxen_refs::{BranchName, Expect, Head, RefError};
use oxen_store::Progress;
use rayon::prelude::*;

use crate::join::MergeJoin;
use crate::plan::{Applier, BATCH};
use crate::tree::FlatEntry;
use crate::worktree::{wt_error, CheckoutReport};
use crate::{MergeState, Repo, RepoError, Result, TreeChange};

/// What a transition does about local changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalChanges {
    /// Touch only the paths that differ between the current tree and the
    /// target, and refuse, changing nothing, when one of them has local
    /// changes or an untracked file stands in its way (checkout, switch,
    /// merge).
    Refuse,
    /// Make every tracked path match the target, discarding local changes
    /// and replacing untracked files in the way; other untracked files stay
    /// (reset --hard, checkout --force, clone).
    Discard,
}

impl LocalChanges {
    fn as_str(self) -> &'static str {
        match self {
            LocalChanges::Refuse => "refuse",
            LocalChanges::Discard => "discard",
        }
    }
}

/// What HEAD does once the work tree and index match the target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeadMove {
    /// HEAD stays (`merge --abort`).
    Keep,
    /// HEAD stays and this merge is in progress (a merge with conflicts:
    /// the merge commit moves HEAD later). Recorded with the transition, so
    /// an interrupted merge never leaves conflict markers without the merge
    /// state that explains them, nor the state without the markers.
    BeginMerge(MergeState),
    /// HEAD names this branch, or is detached at this commit (checkout, switch).
    Set(Head),
    /// What HEAD points at moves from `old` to `new`: its branch, with
    /// compare-and-swap, or the detached HEAD itself (reset, merge, clone).
    Advance {
        /// HEAD as it is.
        head: Head,
        /// The commit the branch is at now (`None`: unborn).
        old: Option<ContentId>,
        /// The commit it moves to.
        new: ContentId,
    },
}

/// A move of the work tree, index and HEAD to a tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The operation, for messages: `checkout`, `merge`, `reset`, `clone`.
    pub op: String,
    /// The tree the work tree and index are to match.
    pub target: ContentId,
    /// What to do about local changes.
    pub local: LocalChanges,
    /// What HEAD does at the end.
    pub head: HeadMove,
    /// The reflog message for HEAD's move (`checkout: moving from a to
    /// b`, `reset: moving to HEAD~1`, ...); unused when HEAD stays.
    pub message: String,
    /// Work-tree files that differ from the target on purpose, written from
    /// stored contents after the target's files while their index entries
    /// stay the target's: a conflicted merge's files with markers.
    pub overlay: Vec<Overlay>,
}

/// A work-tree file of a [`Transition`] that is not the target's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overlay {
    /// Where it goes.
    pub path: RepoPath,
    /// The stored contents written there.
    pub contents: ContentId,
    /// Whether it is executable.
    pub exec: bool,
}

/// A transition found interrupted and completed.
#[derive(Clone, Debug)]
pub struct Resumed {
    /// What it was.
    pub transition: Transition,
    /// What completing it wrote and removed.
    pub report: CheckoutReport,
    /// Set when HEAD's branch had moved meanwhile and was left where it is.
    pub note: Option<String>,
}

/// The record of a transition in progress: `.oxen/CHECKOUT`.
struct Record {
    from: Option<ContentId>,
    t: Transition,
}

const RECORD_MAGIC: &str = "oxen-checkout 1";

impl Record {
    fn encode(&self) -> String {
        let hex = |o: Option<ContentId>| o.map(|i| i.to_hex()).unwrap_or_else(|| "none".into());
        let head = match &self.t.head {
            HeadMove::Keep => "keep".to_string(),
            HeadMove::BeginMerge(m) => format!("begin-merge {}", m.theirs),
            HeadMove::Set(Head::Branch(b)) => format!("set-branch {b}"),
            HeadMove::Set(Head::Detached(id)) => format!("set-detached {id}"),
            HeadMove::Advance { head: Head::Branch(b), old, new } => format!("advance-branch {b} {} {new}", hex(*old)),
            HeadMove::Advance { head: Head::Detached(_), new, .. } => format!("advance-detached {new}"),
        };
        let mut out = format!(
            "{RECORD_MAGIC}\nop {}\nfrom {}\nto {}\nlocal {}\nhead {head}\nmsg {}\n",
            self.t.op,
            hex(self.from),
            self.t.target,
            self.t.local.as_str(),
            self.t.message.replace(['\n', '\r'], " ")
        );
        // Paths and the merge message may hold any byte: hex.
        if let HeadMove::BeginMerge(m) = &self.t.head {
            out.push_str(&format!("merge-msg {}\n", to_hex(m.message.as_bytes())));
            for c in &m.conflicts {
                out.push_str(&format!("conflict {}\n", to_hex(c.as_bytes())));
            }
        }
        for o in &self.t.overlay {
            let x = if o.exec { "x" } else { "-" };
            out.push_str(&format!("overlay {} {x} {}\n", o.contents, to_hex(o.path.as_bytes())));
        }
        out
    }

    fn decode(text: &str) -> Option<Record> {
        let mut lines = text.lines();
        if lines.next()? != RECORD_MAGIC {
            return None;
        }
        let mut field = |key: &str| -> Option<String> {
            let l = lines.next()?;
            l.strip_prefix(key)?.strip_prefix(' ').map(str::to_string)
        };
        let id = |s: &str| ContentId::from_hex(s).ok();
        let opt_id = |s: &str| if s == "none" { Some(None) } else { id(s).map(Some) };
        let op = field("op")?;
        let from = opt_id(&field("from")?)?;
        let target = id(&field("to")?)?;
        let local = match field("local")?.as_str() {
            "refuse" => LocalChanges::Refuse,
            "discard" => LocalChanges::Discard,
            _ => return None,
        };
        let head = field("head")?;
        let words: Vec<&str> = head.split(' ').collect();
        let branch = |s: &str| BranchName::new(s).ok();
        let head = match words.as_slice() {
            ["keep"] => HeadMove::Keep,
            ["begin-merge", theirs] => {
                HeadMove::BeginMerge(MergeState { theirs: id(theirs)?, message: String::new(), conflicts: vec![] })
            }
            ["set-branch", b] => HeadMove::Set(Head::Branch(branch(b)?)),
            ["set-detached", c] => HeadMove::Set(Head::Detached(id(c)?)),
            ["advance-branch", b, old, new] => {
                HeadMove::Advance { head: Head::Branch(branch(b)?), old: opt_id(old)?, new: id(new)? }
            }
            ["advance-detached", new] => {
                let new = id(new)?;
                HeadMove::Advance { head: Head::Detached(new), old: None, new }
            }
            _ => return None,
        };
        // Written after the fields above; a record without it (an older
        // oxen) logs the operation's name.
        let message = field("msg").unwrap_or_else(|| op.clone());
        let mut head = head;
        let mut overlay = Vec::new();
        for line in lines {
            let (key, rest) = line.split_once(' ')?;
            let path = |h: &str| RepoPath::new(from_hex(h)?).ok();
            match (key, &mut head) {
                ("merge-msg", HeadMove::BeginMerge(m)) => m.message = String::from_utf8(from_hex(rest)?).ok()?,
                ("conflict", HeadMove::BeginMerge(m)) => m.conflicts.push(path(rest)?),
                ("overlay", _) => {
                    let mut w = rest.split(' ');
                    let contents = id(w.next()?)?;
                    let exec = match w.next()? {
                        "x" => true,
                        "-" => false,
                        _ => return None,
                    };
                    overlay.push(Overlay { path: path(w.next()?)?, contents, exec });
                }
                _ => return None,
            }
        }
        Some(Record { from, t: Transition { op, target, local, head, message, overlay } })
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// One reason a refusing transition cannot go ahead.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Blocker {
    /// An untracked file stands where the target writes a file, or where it
    /// needs a directory.
    Untracked(RepoPath),
    /// An untracked file inside a directory that a file of the target replaces.
    Removed(RepoPath),
    /// A tracked path with local changes (staged or not).
    Changed(RepoPath),
}

impl Blocker {
    fn kind(&self) -> usize {
        match self {
            Blocker::Untracked(_) => 0,
            Blocker::Removed(_) => 1,
            Blocker::Changed(_) => 2,
        }
    }

    fn into_path(self) -> RepoPath {
        match self {
            Blocker::Untracked(p) | Blocker::Removed(p) | Blocker::Changed(p) => p,
        }
    }
}

/// Blocked paths kept per kind for the message (which names five): the
/// smallest ones seen, while the rest are only counted, so a refusal over
/// millions of untracked files holds a bounded list.
const BLOCKERS_KEPT: usize = 1000;

/// The blockers a refusing transition found, by kind.
#[derive(Default)]
struct Found {
    kept: [BTreeSet<RepoPath>; 3],
    counts: [usize; 3],
    /// The last path counted per kind: one leading file blocks every path
    /// below it, and those come one after another in path order.
    last: [Option<RepoPath>; 3],
}

impl Found {
    fn add(&mut self, b: Blocker) {
        let k = b.kind();
        let p = b.into_path();
        if self.last[k].as_ref() == Some(&p) || self.kept[k].contains(&p) {
            return;
        }
        self.counts[k] += 1;
        self.last[k] = Some(p.clone());
        self.kept[k].insert(p);
        if self.kept[k].len() > BLOCKERS_KEPT {
            self.kept[k].pop_last();
        }
    }

    fn list(&self, k: usize) -> String {
        let shown: Vec<String> = self.kept[k].iter().take(5).map(|p| format!("'{p}'")).collect();
        let n = self.counts[k];
        let more = if n > 5 { format!(" and {} more", n - 5) } else { String::new() };
        format!("{}{more}", shown.join(", "))
    }
}

impl Repo {
    fn record_path(&self) -> std::path::PathBuf {
        self.layout.dot.join("CHECKOUT")
    }

    fn read_record(&self) -> Result<Option<Record>> {
        let p = self.record_path();
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(oxen_store::StoreError::io(&p, e).into()),
        };
        Record::decode(&text).map(Some).ok_or_else(|| {
            RepoError::Refused(format!(
                "{} is malformed; it records an interrupted checkout: remove it, then `oxen reset --hard`",
                p.display()
            ))
        })
    }

    /// The transition that was interrupted, if one was.
    pub fn pending_transition(&self) -> Result<Option<Transition>> {
        Ok(self.read_record()?.map(|r| r.t))
    }

    pub(crate) fn head_tree(&self) -> Result<Option<ContentId>> {
        Ok(match self.head_commit()? {
            Some(c) => Some(self.read_commit(&c)?.tree),
            None => None,
        })
    }

    /// Move the work tree, index and HEAD to `t` (see the module doc): an
    /// interrupted transition found first is completed first. With
    /// [`LocalChanges::Refuse`], refuses before changing anything when a
    /// path it would touch has local changes or an untracked file is in the
    /// way. This is the one function checkout, reset, merge and clone call.
    pub fn transition(&self, t: &Transition, progress: &dyn Progress) -> Result<CheckoutReport> {
        self.resume_transition(progress)?;
        let from = self.head_tree()?;
        // Refusing: a first pass over the differing paths checks them (and
        // counts the writes for `progress`); nothing is held but blockers.
        let total = match t.local {
            LocalChanges::Refuse => Some(self.refuse_over_local_work(from.as_ref(), &t.target, &t.op)?),
            LocalChanges::Discard => None,
        };
        let record = Record { from, t: t.clone() };
        oxen_store::write_atomic(&self.layout.tmp_dir(), &self.record_path(), record.encode().as_bytes())?;
        let report = self.execute(&record, total, false, progress)?;
        self.move_head(&t.head, &t.message)?;
        self.clear_record()?;
        Ok(report)
    }

    /// Complete an interrupted transition, if there is one (see the module
    /// doc); `None` when there was nothing to complete.
    pub fn resume_transition(&self, progress: &dyn Progress) -> Result<Option<Resumed>> {
        let Some(rec) = self.read_record()? else { return Ok(None) };
        for o in &rec.t.overlay {
            self.worktree.remove_leftover_tmp(&o.path);
        }
        let report = self.execute(&rec, None, true, progress)?;
        let note = match self.move_head(&rec.t.head, &rec.t.message) {
            Ok(()) => None,
            // The branch moved meanwhile (another command moved it): the
            // work tree and index are at the target, the branch stays.
            Err(RepoError::Ref(RefError::Stale { name, actual, .. })) => {
                Some(format!("{name} had moved to {actual} since the interrupted {}; it was left there", rec.t.op))
            }
            Err(e) => return Err(e),
        };
        self.clear_record()?;
        Ok(Some(Resumed { transition: rec.t, report, note }))
    }

    fn clear_record(&self) -> Result<()> {
        oxen_store::faults::write_point();
        match std::fs::remove_file(self.record_path()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(oxen_store::StoreError::io(self.record_path(), e).into()),
        }
    }

    /// Every move is logged in the reflog with `message`.
    fn move_head(&self, head: &HeadMove, message: &str) -> Result<()> {
        match head {
            HeadMove::Keep => {}
            HeadMove::BeginMerge(m) => self.set_merge_state(Some(m))?,
            // Logged even when HEAD already names it, as git logs a
            // checkout of the current branch; a resumed transition whose
            // HEAD had already moved logs once more, which loses nothing.
            HeadMove::Set(h) => self.refs().set_head(h, None, message)?,
            HeadMove::Advance { head: Head::Branch(b), old, new } => {
                let r = b.to_ref();
                // Done already (by the run that was interrupted): nothing to do.
                if self.refs().get(&r)? == Some(*new) {
                    return Ok(());
                }
                let expect = match old {
                    Some(o) => Expect::Is(*o),
                    None => Expect::Absent,
                };
                self.refs().update(&r, Some(*new), expect, message)?;
            }
            HeadMove::Advance { head: Head::Detached(_), new, .. } => {
                if self.head()? != Head::Detached(*new) {
                    self.refs().set_head(&Head::Detached(*new), None, message)?;
                }
            }
        }
        Ok(())
    }

    /// Make every tracked path match `target`: a merge-join of the
    /// target's files and the index, both in path order. Paths whose index
    /// entry or work-tree file differs are written, index entries the
    /// target lacks are removed. Candidates are checked [`BATCH`] at a time
    /// in parallel (a stat each, a hash when the stat cache cannot tell).
    /// The index is read page by page while the applier rewrites it: its
    /// writes are all at or before the merge's position, which the pages
    /// still to read come after.
    fn discard_stream(&self, target: &ContentId, apply: &mut Applier<'_>) -> Result<()> {
        let header = Index::load_header(&self.db)?;
        let set = self.partial_set()?;
        let mut batch: Vec<(RepoPath, Option<FlatEntry>, Option<IndexEntry>)> = Vec::with_capacity(BATCH);
        for row in MergeJoin::new(self.tree_files(target), self.index_rows()) {
            batch.push(row?);
            if batch.len() >= BATCH {
                self.discard_batch(std::mem::take(&mut batch), &header, set.as_ref(), apply)?;
            }
        }
        self.discard_batch(batch, &header, set.as_ref(), apply)
    }

    fn discard_batch(
        &self,
        batch: Vec<(RepoPath, Option<FlatEntry>, Option<IndexEntry>)>,
        header: &Index,
        set: Option<&oxen_path::PathSet>,
        apply: &mut Applier<'_>,
    ) -> Result<()> {
        let keep: Vec<bool> = batch
            .par_iter()
            .map(|(p, want, have)| match (want, have) {
                // A partial clone's path outside its set is not in the work
                // tree: its index entry is all there is to match.
                (Some(e), Some(ie)) if ie.id == e.id && Repo::outside(set, p) => Ok(true),
                (Some(e), Some(ie)) => self.already_in_place(header, p, e, ie),
                _ => Ok(false),
            })
            .collect::<Result<_>>()?;
        self.db.release_mapped_pages();
        for ((p, want, _), keep) in batch.into_iter().zip(keep) {
            match want {
                _ if keep => {}
                Some(e) => apply.write(p, e)?,
                None => apply.remove(p)?,
            }
        }
        Ok(())
    }

    /// Refuse, naming the paths, when a change would overwrite or remove
    /// local work: a tracked path with staged or unstaged changes, an
    /// untracked file where the target writes one (or needs a directory),
    /// or untracked files in a directory a file of the target replaces.
    /// Streams the paths that differ between `from` and `target`, checking
    /// them [`BATCH`] at a time in parallel with point lookups in the index;
    /// returns how many files the transition writes.
    fn refuse_over_local_work(&self, from: Option<&ContentId>, target: &ContentId, op: &str) -> Result<u64> {
        let header = Index::load_header(&self.db)?;
        let mut found = Found::default();
        let mut writes = 0u64;
        let mut batch = Vec::with_capacity(BATCH);
        for c in self.tree_changes(from, Some(target)) {
            let c = c?;
            writes += u64::from(c.new.is_some());
            batch.push(c);
            if batch.len() >= BATCH {
                self.check_batch(&batch, from, &header, &mut found)?;
                batch.clear();
            }
        }
        self.check_batch(&batch, from, &header, &mut found)?;
        let force = if op == "checkout" { " (or use --force)" } else { "" };
        let [untracked, removed, _] = found.counts;
        if untracked > 0 {
            let s = if untracked == 1 { "" } else { "s" };
            return Err(RepoError::Refused(format!(
                "untracked working tree file{s} {} would be overwritten by {op}; move or remove {} first{force}",
                found.list(0),
                if untracked == 1 { "it" } else { "them" }
            )));
        }
        if removed > 0 {
            let s = if removed == 1 { "" } else { "s" };
            return Err(RepoError::Refused(format!(
                "untracked working tree file{s} {} would be removed by {op}; move {} away first{force}",
                found.list(1),
                if removed == 1 { "it" } else { "them" }
            )));
        }
        if found.counts[2] > 0 {
            return Err(RepoError::Refused(format!(
                "your local changes to {} would be overwritten by {op}; commit or restore them first{force}",
                found.list(2)
            )));
        }
        Ok(writes)
    }

    /// Whether tree `from` has a file at `path`: that is, whether a
    /// transition from it to a tree with a directory (or nothing) there
    /// removes a tracked file at `path`.
    fn has_file(&self, from: Option<&ContentId>, path: &RepoPath) -> Result<bool> {
        let Some(t) = from else { return Ok(false) };
        Ok(self.tree_entry_at(t, path)?.is_some_and(|e| e.kind == EntryKind::File))
    }

    /// The files of tree `from` below directory `dir`.
    fn files_below(&self, from: Option<&ContentId>, dir: &RepoPath) -> Result<HashSet<RepoPath>> {
        let Some(t) = from else { return Ok(HashSet::new()) };
        let Some(e) = self.tree_entry_at(t, dir)? else { return Ok(HashSet::new()) };
        if e.kind != EntryKind::Dir {
            return Ok(HashSet::new());
        }
        Ok(self.flatten_tree(&e.id)?.into_keys().map(|p| dir.join_path(&p)).collect())
    }

    fn check_batch(
        &self,
        changes: &[TreeChange],
        from: Option<&ContentId>,
        header: &Index,
        found: &mut Found,
    ) -> Result<()> {
        let tracked = |p: &RepoPath| -> Result<bool> { Ok(Index::entry(&self.db, p)?.is_some()) };
        let blockers: Vec<Vec<Blocker>> = changes
            .par_iter()
            .map(|c| -> Result<Vec<Blocker>> {
                let p = &c.path;
                let in_index = Index::entry(&self.db, p)?;
                let staged_differs = match (&c.old, &in_index) {
                    (None, None) => false,
                    (Some(h), Some(i)) => h.id != i.id,
                    _ => true,
                };
                if staged_differs {
                    return Ok(vec![Blocker::Changed(p.clone())]);
                }
                if let Some((b, _)) = self.worktree.blocked_leading(p).map_err(|e| wt_error(self, p, e))? {
                    // Nothing at `p` is in the work tree. A removal has
                    // nothing to remove; a write needs `b` to become a
                    // directory, which is fine only when `b` is a tracked
                    // file this transition removes anyway.
                    if c.new.is_none() || self.has_file(from, &b)? {
                        return Ok(vec![]);
                    }
                    return Ok(vec![if tracked(&b)? { Blocker::Changed(b) } else { Blocker::Untracked(b) }]);
                }
                let meta = self.worktree.lstat(p).map_err(|e| wt_error(self, p, e))?;
                match (in_index, meta) {
                    (_, Some(m)) if m.is_dir() => {
                        // A directory where the target puts a file: only
                        // tracked files that this transition removes may be
                        // in it.
                        if c.new.is_none() {
                            return Ok(vec![]);
                        }
                        let inside =
                            oxen_index::walk_work_tree(&self.worktree, p, WalkOptions { honor_ignore: false })?;
                        let removing = self.files_below(from, p)?;
                        let mut out = Vec::new();
                        for f in inside.files.into_iter().filter(|f| !removing.contains(&f.path)) {
                            out.push(if tracked(&f.path)? {
                                Blocker::Changed(f.path)
                            } else {
                                Blocker::Removed(f.path)
                            });
                        }
                        Ok(out)
                    }
                    (None, None) => Ok(vec![]),
                    (None, Some(_)) => Ok(vec![Blocker::Untracked(p.clone())]),
                    // Deleted locally: nothing to lose.
                    (Some(_), None) => Ok(vec![]),
                    (Some(e), Some(_)) => Ok(if self.work_file_matches(header, p, &e)? {
                        vec![]
                    } else {
                        vec![Blocker::Changed(p.clone())]
                    }),
                }
            })
            .collect::<Result<_>>()?;
        for b in blockers.into_iter().flatten() {
            found.add(b);
        }
        // The index and tree pages the lookups touched need not stay resident.
        self.db.release_mapped_pages();
        Ok(())
    }

    /// Carry out a recorded transition: the differing paths (refusing) or
    /// every tracked path that does not match (discarding) streamed into an
    /// [`Applier`]; then the overlay, every time (it is not in the plan,
    /// which compares trees).
    fn execute(
        &self,
        rec: &Record,
        total: Option<u64>,
        resuming: bool,
        progress: &dyn Progress,
    ) -> Result<CheckoutReport> {
        let mut apply = Applier::new(self, progress, total, resuming)?;
        match rec.t.local {
            LocalChanges::Refuse => {
                for c in self.tree_changes(rec.from.as_ref(), Some(&rec.t.target)) {
                    let c = c?;
                    match c.new {
                        Some(n) => apply.write(c.path, n)?,
                        None => apply.remove(c.path)?,
                    }
                }
            }
            LocalChanges::Discard => self.discard_stream(&rec.t.target, &mut apply)?,
        }
        let report = apply.finish()?;
        for o in &rec.t.overlay {
            // Streamed from the store (verified): a conflicted table may be large.
            let mut src = self.versions.open(&o.contents)?;
            self.worktree.write_file(&o.path, &mut src, o.exec).map_err(|e| wt_error(self, &o.path, e))?;
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_with_a_merge_and_overlay_reads_back_whole() {
        let id = ContentId::of;
        let odd = RepoPath::new(b"dir/new\nline \xff.csv".to_vec()).unwrap();
        let t = Transition {
            op: "merge".into(),
            target: id(b"tree"),
            local: LocalChanges::Refuse,
            head: HeadMove::BeginMerge(MergeState {
                theirs: id(b"theirs"),
                message: "Merge 'x'\n\nwith a body\n".into(),
                conflicts: vec![odd.clone(), RepoPath::new(b"b.txt".to_vec()).unwrap()],
            }),
            message: String::new(),
            overlay: vec![Overlay { path: odd, contents: id(b"marked"), exec: true }],
        };
        let rec = Record { from: Some(id(b"from")), t: t.clone() };
        let back = Record::decode(&rec.encode()).expect("decodes");
        assert_eq!(back.t, t);
        assert_eq!(back.from, rec.from);
        // Damaged extra lines are refused, not half read.
        assert!(Record::decode(&format!("{}overlay zz - 00\n", rec.encode())).is_none());
        assert!(Record::decode(&format!("{}conflict 0\n", rec.encode())).is_none());
    }
}
