//! Status in O(changes) with the file-system monitor (`core.fsmonitor`).
//!
//! The result of the last status is saved in `.oxen/fsmonitor-status` with
//! the monitor's token taken before that status looked at the work tree,
//! the index write stamp and HEAD's tree it was computed against. While
//! the index and HEAD are unchanged the staged half of status cannot have
//! changed, so the next status asks the daemon which paths changed since
//! the token and re-checks only those (plus, for a directory, everything
//! tracked, listed or present below it), by point lookups in the index and
//! the stat cache. Anything the monitor cannot vouch for (no daemon, no
//! answer in time, another daemon's token, an overflow, a changed ignore
//! file, a name that cannot be versioned) falls back to the full scan.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::time::Duration;

use bstr::BString;
use oxen_hash::ContentId;
use oxen_index::{
    hash_file, is_ignored, stage_paths, walk_work_tree, Change, FileStat, Index, IndexEntry, Kind, StageOptions,
    StageReport, Status, StatusEntry, WalkOptions,
};
use oxen_path::RepoPath;
use oxen_store::Progress;

use crate::{Repo, Result};

/// A saved result larger than this is not saved: the next status scans.
const MAX_SAVED: usize = 100_000;

/// How long status waits for the daemon before scanning instead.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);

const MAGIC: &[u8] = b"oxen-fsmonitor-status 1\n";

/// What a full scan needs to save its result for the next status.
pub(crate) struct Pending {
    token: String,
}

/// A saved status held over a command that changes the index at known
/// paths ([`Repo::carry_over_start`], [`Repo::carry_over`]).
pub struct CarryOver {
    saved: Saved,
    specs: Vec<RepoPath>,
    touched: BTreeSet<Vec<u8>>,
}

/// The outcome of asking the monitor.
pub(crate) enum Monitored {
    /// Answered from the saved result and the changed paths.
    Done(Box<Status>, usize),
    /// Scan everything, for the reason given; save the result with this
    /// token if there is one.
    Scan(Option<Pending>, &'static str),
}

/// How a status was computed (for `OXEN_FSMONITOR_TRACE` and the tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MonitorOutcome {
    /// `core.fsmonitor` is off: the work tree was scanned.
    Off,
    /// Answered from the last status and the paths the daemon reported.
    Fast {
        /// How many paths the daemon reported changed.
        changed: usize,
    },
    /// The monitor could not vouch for the changes: the work tree was scanned.
    Full(&'static str),
}

/// A saved status: what it was computed against, and its result.
#[derive(Debug, Default, PartialEq)]
struct Saved {
    token: String,
    written_ns: i64,
    head_tree: Option<ContentId>,
    staged: BTreeMap<Vec<u8>, Change>,
    unstaged: BTreeMap<Vec<u8>, Change>,
    untracked: BTreeSet<Vec<u8>>,
}

fn letter_change(c: u8, from: Option<RepoPath>) -> Option<Change> {
    Some(match (c, from) {
        (b'A', None) => Change::Added,
        (b'M', None) => Change::Modified,
        (b'D', None) => Change::Deleted,
        (b'R', Some(f)) => Change::Renamed(f),
        _ => return None,
    })
}

impl Saved {
    fn encode(&self) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        let head = self.head_tree.map(|t| t.to_hex()).unwrap_or_else(|| "-".into());
        let _ = write!(v, "{}\n{}\n{}\n", self.token, self.written_ns, head);
        let mut rec = |tag: u8, c: &Change, p: &[u8]| {
            v.push(tag);
            v.push(c.letter() as u8);
            v.extend_from_slice(p);
            v.push(0);
            if let Change::Renamed(f) = c {
                v.extend_from_slice(f.as_bytes());
                v.push(0);
            }
        };
        for (p, c) in &self.staged {
            rec(b'S', c, p);
        }
        for (p, c) in &self.unstaged {
            rec(b'U', c, p);
        }
        for p in &self.untracked {
            v.push(b'?');
            v.push(b'?');
            v.extend_from_slice(p);
            v.push(0);
        }
        v
    }

    fn decode(b: &[u8]) -> Option<Saved> {
        let b = b.strip_prefix(MAGIC)?;
        let mut lines = b.splitn(4, |c| *c == b'\n');
        let token = String::from_utf8(lines.next()?.to_vec()).ok()?;
        let written_ns = std::str::from_utf8(lines.next()?).ok()?.parse().ok()?;
        let head = std::str::from_utf8(lines.next()?).ok()?;
        let head_tree = if head == "-" { None } else { Some(ContentId::from_hex(head).ok()?) };
        let mut s = Saved { token, written_ns, head_tree, ..Saved::default() };
        let mut rest = lines.next()?;
        while !rest.is_empty() {
            let (tag, letter) = (*rest.first()?, *rest.get(1)?);
            let end = rest[2..].iter().position(|c| *c == 0)? + 2;
            let path = rest[2..end].to_vec();
            rest = &rest[end + 1..];
            let from = if letter == b'R' {
                let e = rest.iter().position(|c| *c == 0)?;
                let f = RepoPath::new(&rest[..e]).ok()?;
                rest = &rest[e + 1..];
                Some(f)
            } else {
                None
            };
            match tag {
                b'S' => {
                    s.staged.insert(path, letter_change(letter, from)?);
                }
                b'U' => {
                    s.unstaged.insert(path, letter_change(letter, from)?);
                }
                b'?' => {
                    s.untracked.insert(path);
                }
                _ => return None,
            }
        }
        Some(s)
    }
}

/// Everything at or below `p` in a set of path bytes.
fn at_or_below<'a, V>(m: &'a BTreeMap<Vec<u8>, V>, p: &'a [u8]) -> impl Iterator<Item = &'a Vec<u8>> + 'a {
    let mut dir = p.to_vec();
    dir.push(b'/');
    let exact = m.get_key_value(p).map(|(k, _)| k);
    exact.into_iter().chain(m.range(dir.clone()..).map(|(k, _)| k).take_while(move |k| k.starts_with(&dir)))
}

impl Repo {
    pub(crate) fn monitor_enabled(&self) -> bool {
        self.config().ok().and_then(|c| c.core.fsmonitor).unwrap_or(false)
    }

    fn saved_path(&self) -> std::path::PathBuf {
        self.layout.dot.join("fsmonitor-status")
    }

    /// Answer status from the monitor when it can vouch for what changed.
    pub(crate) fn status_from_monitor(&self) -> Result<Monitored> {
        if !self.monitor_enabled() {
            return Ok(Monitored::Scan(None, "off"));
        }
        let saved = std::fs::read(self.saved_path()).ok().and_then(|b| Saved::decode(&b));
        let asked = saved.as_ref().map(|s| s.token.as_str());
        let answer = match oxen_fsmonitor::query(&self.layout.dot, asked, ANSWER_TIMEOUT) {
            Ok(a) => a,
            Err(_) => {
                // Whatever was saved cannot be brought up to date any more.
                let _ = std::fs::remove_file(self.saved_path());
                return Ok(Monitored::Scan(None, "no daemon answered"));
            }
        };
        let pending = Pending { token: answer.token };
        let Some(saved) = saved else { return Ok(Monitored::Scan(Some(pending), "no saved status")) };
        let Some(changed) = answer.changed else {
            return Ok(Monitored::Scan(Some(pending), "the daemon cannot vouch for the token"));
        };
        if Index::read_written_ns(&self.db)? != saved.written_ns {
            return Ok(Monitored::Scan(Some(pending), "the index changed"));
        }
        if self.head_tree()? != saved.head_tree {
            return Ok(Monitored::Scan(Some(pending), "HEAD moved"));
        }
        let n = changed.len();
        let stamp = saved.written_ns;
        match self.recheck(saved, changed, stamp, &pending.token, false)? {
            Some(done) => Ok(Monitored::Done(Box::new(done), n)),
            None => Ok(Monitored::Scan(Some(pending), "a change needs a full scan")),
        }
    }

    /// The saved status brought up to date by re-checking `changed`
    /// against the index written at `written_ns`, and saved with `token`;
    /// `None` when only a full scan can tell. With `restage` the index
    /// changed at (only) those paths since the saved status, so their
    /// staged half is recomputed too (against HEAD's tree, by point
    /// lookups) and exact renames paired again as the full scan pairs them.
    fn recheck(
        &self,
        saved: Saved,
        changed: Vec<Vec<u8>>,
        mut written_ns: i64,
        token: &str,
        restage: bool,
    ) -> Result<Option<Status>> {
        let wt = &self.worktree;
        let mut unstaged = saved.unstaged;
        // The staged half before renames are paired (a rename is an addition
        // plus a deletion), when it is to be recomputed.
        let mut raw_staged: BTreeMap<Vec<u8>, Change> = BTreeMap::new();
        if restage {
            for (p, c) in &saved.staged {
                match c {
                    Change::Renamed(from) => {
                        raw_staged.insert(p.clone(), Change::Added);
                        raw_staged.insert(from.as_bytes().to_vec(), Change::Deleted);
                    }
                    c => {
                        raw_staged.insert(p.clone(), c.clone());
                    }
                }
            }
        }
        let mut untracked: BTreeMap<Vec<u8>, ()> = saved.untracked.into_iter().map(|p| (p, ())).collect();
        // Paths to re-check; files a walk found present and not ignored.
        let mut check: BTreeSet<RepoPath> = BTreeSet::new();
        let mut walked: HashMap<RepoPath, FileStat> = HashMap::new();
        for raw in changed {
            let Ok(p) = RepoPath::new(raw) else { return Ok(None) };
            if p.name() == b".oxenignore" {
                return Ok(None);
            }
            for q in at_or_below(&unstaged, p.as_bytes()).chain(at_or_below(&untracked, p.as_bytes())) {
                check.insert(RepoPath::new(q.clone())?);
            }
            for (q, _) in Index::entries_under(&self.db, &p)? {
                check.insert(q);
            }
            let is_dir = matches!(wt.lstat(&p), Ok(Some(m)) if m.is_dir());
            if is_dir && !is_ignored(wt, &p, true) {
                let w = walk_work_tree(wt, &p, WalkOptions::default())?;
                if !w.refused.is_empty() || !w.warnings.is_empty() {
                    return Ok(None);
                }
                for f in w.files {
                    check.insert(f.path.clone());
                    walked.insert(f.path, f.stat);
                }
            }
            check.insert(p);
        }
        let index = Index { entries: BTreeMap::new(), written_ns };
        let mut refreshed = Vec::new();
        let mut hashed = 0;
        for q in &check {
            let key = q.as_bytes().to_vec();
            let present = match walked.get(q) {
                Some(s) => Some((Kind::File, *s)),
                None => match wt.lstat(q) {
                    Ok(Some(m)) if !m.is_dir() => Some((m.kind, m.stat)),
                    _ => None,
                },
            };
            let entry = Index::entry(&self.db, q)?;
            if restage {
                match self.staged_change(saved.head_tree.as_ref(), q, entry.as_ref())? {
                    Some(c) => raw_staged.insert(key.clone(), c),
                    None => raw_staged.remove(&key),
                };
            }
            let Some(entry) = entry else {
                unstaged.remove(&key);
                let listed = match present {
                    Some(_) if walked.contains_key(q) => true,
                    Some((Kind::File | Kind::Symlink, _)) => !is_ignored(wt, q, false),
                    _ => false,
                };
                if listed {
                    untracked.insert(key, ());
                } else {
                    untracked.remove(&key);
                }
                continue;
            };
            untracked.remove(&key);
            // As the full scan decides (oxen_index::status).
            let change = match present {
                None => Some(Change::Deleted),
                Some((_, stat)) if index.is_clean(&entry, &stat) => None,
                Some((_, stat)) if stat.mode != entry.stat.mode && entry.stat.mode != 0 => Some(Change::Modified),
                Some((_, stat)) => {
                    hashed += 1;
                    match hash_file(&self.versions, wt, q, &stat, false) {
                        Ok(h) if h.id == entry.id => {
                            let mut fresh = entry.clone();
                            fresh.stat = stat;
                            refreshed.push((q.clone(), fresh));
                            None
                        }
                        _ => Some(Change::Modified),
                    }
                }
            };
            match change {
                Some(c) => unstaged.insert(key, c),
                None => unstaged.remove(&key),
            };
        }
        if !refreshed.is_empty() {
            let changes: Vec<(RepoPath, Option<oxen_index::IndexEntry>)> =
                refreshed.iter().map(|(p, e)| (p.clone(), Some(e.clone()))).collect();
            match Index::apply(&self.db, &changes) {
                Ok(stamp) => written_ns = stamp,
                // The saved stamp no longer matches whatever happens next.
                Err(_) => return Ok(None),
            }
        }
        let saved_staged =
            if restage { self.pair_renames(saved.head_tree.as_ref(), raw_staged)? } else { saved.staged };
        let mut staged: BTreeMap<RepoPath, Change> = BTreeMap::new();
        for (p, c) in saved_staged {
            staged.insert(RepoPath::new(p)?, c);
        }
        let mut uns: BTreeMap<RepoPath, Change> = BTreeMap::new();
        for (p, c) in unstaged {
            uns.insert(RepoPath::new(p)?, c);
        }
        let untracked: Vec<RepoPath> =
            untracked.into_keys().map(RepoPath::new).collect::<std::result::Result<_, _>>()?;
        let mut all: BTreeSet<&RepoPath> = staged.keys().collect();
        all.extend(uns.keys());
        let entries = all
            .into_iter()
            .map(|p| StatusEntry { path: p.clone(), staged: staged.get(p).cloned(), unstaged: uns.get(p).cloned() })
            .collect();
        let collapsed = self.collapse(&untracked)?;
        let st = Status {
            entries,
            untracked,
            refreshed,
            hashed,
            refused: Vec::new(),
            warnings: Vec::new(),
            collapsed: Some(collapsed),
            tracked_dirs: Default::default(),
        };
        self.save_monitored(Pending { token: token.to_string() }, &st, written_ns, saved.head_tree);
        Ok(Some(st))
    }

    /// The staged change at `path` given its index entry: index vs HEAD's
    /// tree, as the full scan decides (oxen_index::status), before renames.
    fn staged_change(
        &self,
        head: Option<&ContentId>,
        path: &RepoPath,
        entry: Option<&IndexEntry>,
    ) -> Result<Option<Change>> {
        let in_head = self.head_file(head, path)?;
        Ok(match (entry, in_head) {
            (None, None) => None,
            (None, Some(_)) => Some(Change::Deleted),
            (Some(_), None) => Some(Change::Added),
            (Some(e), Some(h)) => {
                let differs = h.id != e.id || (h.mode != e.stat.mode && e.stat.mode != 0);
                differs.then_some(Change::Modified)
            }
        })
    }

    /// The file at `path` in tree `head`, if any.
    fn head_file(&self, head: Option<&ContentId>, path: &RepoPath) -> Result<Option<oxen_object::TreeEntry>> {
        let Some(t) = head else { return Ok(None) };
        Ok(self.tree_entry_at(t, path)?.filter(|e| e.kind == oxen_object::EntryKind::File))
    }

    /// Exact renames, paired as the full scan pairs them: each staged
    /// deletion, in path order, takes the first staged addition (in path
    /// order) of the same contents not yet taken.
    fn pair_renames(
        &self,
        head: Option<&ContentId>,
        mut raw: BTreeMap<Vec<u8>, Change>,
    ) -> Result<BTreeMap<Vec<u8>, Change>> {
        let deleted: Vec<Vec<u8>> =
            raw.iter().filter(|(_, c)| **c == Change::Deleted).map(|(p, _)| p.clone()).collect();
        if deleted.is_empty() || !raw.values().any(|c| *c == Change::Added) {
            return Ok(raw);
        }
        let mut added: HashMap<ContentId, std::collections::VecDeque<Vec<u8>>> = HashMap::new();
        for (p, c) in &raw {
            if *c == Change::Added {
                if let Some(e) = Index::entry(&self.db, &RepoPath::new(p.clone())?)? {
                    added.entry(e.id).or_default().push_back(p.clone());
                }
            }
        }
        for d in deleted {
            let from = RepoPath::new(d.clone())?;
            let Some(h) = self.head_file(head, &from)? else { continue };
            if let Some(to) = added.get_mut(&h.id).and_then(|v| v.pop_front()) {
                raw.remove(&d);
                raw.insert(to, Change::Renamed(from));
            }
        }
        Ok(raw)
    }

    /// The saved status, when it was computed against the index and HEAD
    /// as they are now (so it can be carried over an index change).
    fn current_saved(&self) -> Result<Option<Saved>> {
        let Some(saved) = std::fs::read(self.saved_path()).ok().and_then(|b| Saved::decode(&b)) else {
            return Ok(None);
        };
        if Index::read_written_ns(&self.db)? != saved.written_ns || self.head_tree()? != saved.head_tree {
            return Ok(None);
        }
        Ok(Some(saved))
    }

    /// Stage `paths` as [`oxen_index::stage_paths`] does. With
    /// `core.fsmonitor`, a directory pathspec looks only at what the
    /// monitor reports changed: the status is brought up to date from the
    /// saved one (the same checks and fallbacks as [`Repo::status`]), and
    /// its modified, deleted and untracked paths under the pathspec are
    /// staged by name instead of walking the directory. Either way, when
    /// the saved status was current, it is carried over the staging (the
    /// staged paths re-checked, the monitor's token kept), so the next
    /// status need not scan either. When the monitor cannot vouch for the
    /// changes, the directories are walked as without it.
    pub fn stage(
        &self,
        paths: &[RepoPath],
        opts: StageOptions,
        progress: &dyn Progress,
    ) -> Result<(StageReport, MonitorOutcome)> {
        let wt = &self.worktree;
        let full = |why| -> Result<(StageReport, MonitorOutcome)> {
            let r = stage_paths(wt, &self.db, &self.versions, paths, opts.clone(), progress)?;
            Ok((r, why))
        };
        if !self.monitor_enabled() {
            return full(MonitorOutcome::Off);
        }
        let mut dirs: Vec<&RepoPath> = Vec::new();
        let mut files: Vec<RepoPath> = Vec::new();
        for p in paths {
            // What stage_paths refuses, it refuses: let it say so.
            if !matches!(wt.symlink_leading(p), Ok(None)) {
                return full(MonitorOutcome::Full("a pathspec beyond a symlink"));
            }
            match wt.lstat(p) {
                Ok(Some(m)) if m.is_dir() => dirs.push(p),
                _ => files.push(p.clone()),
            }
        }
        let (base, token, specs, n) = if dirs.is_empty() {
            let Some(saved) = self.current_saved()? else {
                return full(MonitorOutcome::Full("no current saved status"));
            };
            let token = saved.token.clone();
            (saved, token, files, 0)
        } else {
            if !opts.honor_ignore {
                return full(MonitorOutcome::Full("ignore rules not honoured"));
            }
            let (st, pending, n) = match self.status_from_monitor()? {
                Monitored::Done(st, n) => match self.current_saved()? {
                    // Just saved by status_from_monitor, with the token it
                    // answered with.
                    Some(saved) => (st, saved, n),
                    None => return full(MonitorOutcome::Full("the status could not be saved")),
                },
                Monitored::Scan(_, why) => return full(MonitorOutcome::Full(why)),
            };
            let under = |p: &RepoPath| dirs.iter().any(|d| p.is_under(d));
            let mut specs = files;
            for e in &st.entries {
                if e.unstaged.is_some() && under(&e.path) {
                    specs.push(e.path.clone());
                }
            }
            if !opts.update_only {
                specs.extend(st.untracked.iter().filter(|p| under(p)).cloned());
            }
            let token = pending.token.clone();
            (pending, token, specs, n)
        };
        // What staging may change: the named paths and, for a name that is
        // gone, what the index holds below it.
        let mut touched: BTreeSet<Vec<u8>> = BTreeSet::new();
        for p in &specs {
            touched.insert(p.as_bytes().to_vec());
            if !matches!(wt.lstat(p), Ok(Some(_))) {
                touched.extend(Index::entries_under(&self.db, p)?.into_iter().map(|(q, _)| q.as_bytes().to_vec()));
            }
        }
        let report = if specs.is_empty() {
            StageReport::default()
        } else {
            match stage_paths(wt, &self.db, &self.versions, &specs, opts, progress) {
                Ok(r) => r,
                Err(e) => {
                    // Some batches may be staged: the saved status is stale.
                    let _ = std::fs::remove_file(self.saved_path());
                    return Err(e.into());
                }
            }
        };
        let stamp = Index::read_written_ns(&self.db)?;
        if self.recheck(base, touched.into_iter().collect(), stamp, &token, true)?.is_none() {
            let _ = std::fs::remove_file(self.saved_path());
            return Ok((report, MonitorOutcome::Full("a staged path needs a full scan")));
        }
        Ok((report, MonitorOutcome::Fast { changed: n }))
    }

    /// Before a command that changes the index and work tree only at and
    /// below `specs` (restore, `checkout -- <path>`, `reset -- <path>`,
    /// rm, mv): when the saved status is current, remember it and the
    /// tracked paths there now, for [`Repo::carry_over`] to re-check
    /// afterwards. `None` (the next status scans) when the monitor is off,
    /// nothing current is saved, or more than a saved status may hold is
    /// below the specs.
    pub fn carry_over_start(&self, specs: &[RepoPath]) -> Result<Option<CarryOver>> {
        if !self.monitor_enabled() {
            return Ok(None);
        }
        let Some(saved) = self.current_saved()? else { return Ok(None) };
        let mut c = CarryOver { saved, specs: specs.to_vec(), touched: BTreeSet::new() };
        if !self.note_touched(&mut c)? {
            let _ = std::fs::remove_file(self.saved_path());
            return Ok(None);
        }
        Ok(Some(c))
    }

    /// The tracked paths at or below `c.specs` into `c.touched`; false
    /// when there are more than [`MAX_SAVED`]. Work-tree writes need no
    /// note: the monitor reports them since the saved token.
    fn note_touched(&self, c: &mut CarryOver) -> Result<bool> {
        for s in &c.specs {
            for row in self.index_rows_under(s) {
                c.touched.insert(row?.0.as_bytes().to_vec());
                if c.touched.len() > MAX_SAVED {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// After the command [`Repo::carry_over_start`] saw: re-check what
    /// it may have changed (the tracked paths below its specs before and
    /// after, index and HEAD half alike) and save the status with the old
    /// token, so the next status asks the monitor only for what changed
    /// since (the command's own writes included). Best effort: when
    /// unsure, the saved status is dropped and the next status scans.
    pub fn carry_over(&self, c: Option<CarryOver>) {
        let Some(mut c) = c else { return };
        let carried = (|| -> Result<bool> {
            if self.head_tree()? != c.saved.head_tree || !self.note_touched(&mut c)? {
                return Ok(false);
            }
            let stamp = Index::read_written_ns(&self.db)?;
            let token = c.saved.token.clone();
            Ok(self.recheck(c.saved, c.touched.into_iter().collect(), stamp, &token, true)?.is_some())
        })();
        if !matches!(carried, Ok(true)) {
            let _ = std::fs::remove_file(self.saved_path());
        }
    }

    /// After a commit of the index (unchanged since `write_tree` made
    /// `tree`), carry the saved status over: nothing is staged against the
    /// new HEAD, and the work tree did not change. Best effort; a saved
    /// status that was not current before the commit is dropped.
    pub(crate) fn carry_over_commit(&self, old_head: Option<ContentId>, tree: &ContentId) {
        let carried = (|| -> Result<bool> {
            let Some(mut saved) = std::fs::read(self.saved_path()).ok().and_then(|b| Saved::decode(&b)) else {
                return Ok(false);
            };
            let header = Index::load_header(&self.db)?;
            if saved.head_tree != old_head
                || saved.written_ns != header.written_ns
                || header.cached_tree(&self.db)? != Some(*tree)
            {
                return Ok(false);
            }
            saved.head_tree = Some(*tree);
            saved.staged.clear();
            Ok(oxen_store::write_atomic(&self.layout.tmp_dir(), &self.saved_path(), &saved.encode()).is_ok())
        })();
        if !matches!(carried, Ok(true)) {
            let _ = std::fs::remove_file(self.saved_path());
        }
    }

    /// `Status::untracked_collapsed` by index lookups instead of the whole
    /// index: a directory holding no tracked file stands for all below it.
    fn collapse(&self, untracked: &[RepoPath]) -> Result<Vec<BString>> {
        let mut tracked: HashMap<Vec<u8>, bool> = HashMap::new();
        let mut out: BTreeSet<BString> = BTreeSet::new();
        for u in untracked {
            let b = u.as_bytes();
            let mut shown: BString = b.into();
            for (i, _) in b.iter().enumerate().filter(|(_, c)| **c == b'/') {
                let dir = &b[..i];
                let t = match tracked.get(dir) {
                    Some(t) => *t,
                    None => {
                        let t = Index::tracks_under(&self.db, &RepoPath::new(dir)?)?;
                        tracked.insert(dir.to_vec(), t);
                        t
                    }
                };
                if !t {
                    let mut v = dir.to_vec();
                    v.push(b'/');
                    shown = v.into();
                    break;
                }
            }
            out.insert(shown);
        }
        Ok(out.into_iter().collect())
    }

    /// Save a status for the next one to start from, best effort: an
    /// unsaved result only costs the next status a full scan.
    pub(crate) fn save_monitored(&self, p: Pending, st: &Status, written_ns: i64, head_tree: Option<ContentId>) {
        let path = self.saved_path();
        if st.entries.len() + st.untracked.len() > MAX_SAVED || !st.refused.is_empty() || !st.warnings.is_empty() {
            let _ = std::fs::remove_file(&path);
            return;
        }
        let mut s = Saved { token: p.token, written_ns, head_tree, ..Saved::default() };
        for e in &st.entries {
            if let Some(c) = &e.staged {
                s.staged.insert(e.path.as_bytes().to_vec(), c.clone());
            }
            if let Some(c) = &e.unstaged {
                s.unstaged.insert(e.path.as_bytes().to_vec(), c.clone());
            }
        }
        s.untracked = st.untracked.iter().map(|p| p.as_bytes().to_vec()).collect();
        if oxen_store::write_atomic(&self.layout.tmp_dir(), &path, &s.encode()).is_err() {
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_round_trips() {
        let mut s =
            Saved { token: "abc:7".into(), written_ns: 42, head_tree: Some(ContentId::of(b"x")), ..Saved::default() };
        s.staged.insert(b"a/b".to_vec(), Change::Renamed(RepoPath::new("old name").unwrap()));
        s.staged.insert(b"c".to_vec(), Change::Added);
        s.unstaged.insert(b"c".to_vec(), Change::Deleted);
        s.untracked.insert(b"d\xff/e f".to_vec());
        assert_eq!(Saved::decode(&s.encode()), Some(s));
        assert_eq!(Saved::decode(b"oxen-fsmonitor-status 1\nt\n1\n-\nS"), None);
    }

    #[test]
    fn below_is_exact_or_under() {
        let m: BTreeMap<Vec<u8>, ()> =
            [&b"a"[..], b"a-b", b"a/c", b"a/d/e", b"ab"].iter().map(|k| (k.to_vec(), ())).collect();
        let got: Vec<&Vec<u8>> = at_or_below(&m, b"a").collect();
        assert_eq!(got, vec![&b"a".to_vec(), &b"a/c".to_vec(), &b"a/d/e".to_vec()]);
    }
}
