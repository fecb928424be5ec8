//! References: the `HEAD` file and the `refs` table (`heads/<branch>`,
//! `tags/<tag>`, `remotes/<remote>/<branch>`), updated with compare-and-swap
//! inside one LMDB write transaction so concurrent writers cannot lose an
//! update, and the reflog ([`reflog`]) appended in that same transaction.
//! Every ref move goes through [`Refs::update_all`] or [`Refs::set_head`],
//! which is what makes the reflog complete.

mod name;
pub mod reflog;

pub use name::{BranchName, RefName, TagName};
pub use reflog::{ExpirePolicy, ExpireReport, Ident, LogExpiry, LogName, LogSelection, ReflogEntry};

use oxen_hash::ContentId;
use oxen_store::{Db, Layout, StoreError, Table, WriteTxn};

/// Errors from reference operations.
#[derive(Debug, thiserror::Error)]
pub enum RefError {
    /// A name that breaks git's check-ref-format rules, refused before it reaches the table.
    #[error("invalid ref name '{0}': {1}")]
    BadName(String, &'static str),
    /// Compare-and-swap lost: the ref moved since the caller looked, so nothing was written.
    #[error("ref {name} is at {actual}, expected {expected}")]
    Stale {
        /// The ref.
        name: String,
        /// The value the caller expected.
        expected: String,
        /// The value it has.
        actual: String,
    },
    /// `.oxen/HEAD` holds neither `ref: heads/<branch>` nor a commit id.
    #[error("HEAD is malformed: '{0}'")]
    BadHead(String),
    /// HEAD changed between reading it and moving it (another command ran).
    #[error("HEAD moved to {actual} while this command ran (expected {expected}); nothing was changed")]
    HeadMoved {
        /// What the command read.
        expected: String,
        /// What HEAD is now.
        actual: String,
    },
    /// A stored reflog entry that cannot be read (log, why).
    #[error("reflog of {0} is damaged: {1}")]
    BadReflog(String, String),
    /// A commit in a ref's history cannot be read, so which reflog entries
    /// it reaches is unknown (log, commit, why); nothing was expired.
    #[error(
        "reflog expire: commit {1} in the history of {0} cannot be read ({2}); nothing was expired (run `oxen fsck`)"
    )]
    UnreadableHistory(String, ContentId, String),
    /// The stores failed underneath.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Result alias.
pub type Result<T> = std::result::Result<T, RefError>;

/// What HEAD points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Head {
    /// A branch, which may not exist yet (an unborn branch).
    Branch(BranchName),
    /// A commit, detached from any branch.
    Detached(ContentId),
}

impl Head {
    /// The branch's full ref name when on a branch.
    pub fn branch_ref(&self) -> Option<RefName> {
        match self {
            Head::Branch(b) => Some(b.to_ref()),
            Head::Detached(_) => None,
        }
    }
}

/// Create a new repository in `work` whose HEAD is the (unborn) branch
/// `initial`. HEAD is written last: its presence is what marks a
/// repository as complete.
pub fn init(work: &std::path::Path, initial: &BranchName) -> Result<Layout> {
    let layout = Layout::create(work)?;
    write_head(&layout, &Head::Branch(initial.clone()))?;
    Ok(layout)
}

/// [`init`] for a bare repository (`core.bare`): one that is pushed to and
/// fetched from, never worked in, as every server repository is. A push
/// may move its checked-out branch.
pub fn init_bare(work: &std::path::Path, initial: &BranchName) -> Result<Layout> {
    let layout = Layout::create(work)?;
    layout.set_bare()?;
    write_head(&layout, &Head::Branch(initial.clone()))?;
    Ok(layout)
}

/// Read `.oxen/HEAD` (`ref: heads/<branch>` or a commit id).
pub fn read_head(layout: &Layout) -> Result<Head> {
    let p = layout.head_file();
    let bytes = std::fs::read(&p).map_err(|e| StoreError::io(&p, e))?;
    let text = String::from_utf8_lossy(&bytes);
    let t = text.trim();
    // Garbage is shown briefly and escaped: the message stays one line.
    let bad = || {
        let mut shown: String = t.chars().take(64).flat_map(char::escape_debug).collect();
        if t.chars().count() > 64 {
            shown.push_str("...");
        }
        RefError::BadHead(shown)
    };
    if let Some(r) = t.strip_prefix("ref: ") {
        let branch = RefName::new(r).ok().and_then(|r| r.as_branch()).ok_or_else(bad)?;
        return Ok(Head::Branch(branch));
    }
    ContentId::from_hex(t).map(Head::Detached).map_err(|_| bad())
}

/// Write `.oxen/HEAD` atomically. Private: moves of HEAD go through
/// [`Refs::set_head`], which logs them.
fn write_head(layout: &Layout, head: &Head) -> Result<()> {
    let text = match head {
        Head::Branch(b) => format!("ref: {}\n", b.to_ref()),
        Head::Detached(id) => format!("{id}\n"),
    };
    oxen_store::write_atomic(&layout.tmp_dir(), &layout.head_file(), text.as_bytes())?;
    Ok(())
}

impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Head::Branch(b) => write!(f, "{b}"),
            Head::Detached(id) => write!(f, "{}", id.short()),
        }
    }
}

/// Expected current value for a compare-and-swap update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Do not check.
    Any,
    /// The ref must not exist.
    Absent,
    /// The ref must be exactly this.
    Is(ContentId),
}

/// One ref change within an atomic batch.
#[derive(Clone, Debug)]
pub struct RefUpdate {
    /// The ref.
    pub name: RefName,
    /// New value; `None` deletes.
    pub new: Option<ContentId>,
    /// What the ref must be now.
    pub expect: Expect,
}

/// A problem with the refs table or the reflog, found by [`Refs::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefProblem {
    /// The ref or log, shown escaped and cut short when long.
    pub name: String,
    /// What is wrong.
    pub detail: String,
}

/// Typed access to the `refs` and `reflog` tables and to HEAD.
pub struct Refs<'a> {
    db: &'a Db,
    layout: &'a Layout,
    who: Option<Ident>,
}

impl<'a> Refs<'a> {
    /// Refs of the repository at `layout`, whose database is `db`.
    pub fn new(db: &'a Db, layout: &'a Layout) -> Refs<'a> {
        Refs { db, layout, who: None }
    }

    /// Log moves as `who` (the server logs the user who pushed) instead of
    /// the identity configured for the repository.
    pub fn acting_as(mut self, who: Ident) -> Refs<'a> {
        self.who = Some(who);
        self
    }

    fn ident(&self) -> Ident {
        self.who.clone().unwrap_or_else(|| Ident::for_repo(self.layout))
    }

    /// HEAD.
    pub fn head(&self) -> Result<Head> {
        read_head(self.layout)
    }

    /// Whether the repository is bare (see [`Layout::is_bare`]).
    pub fn is_bare(&self) -> Result<bool> {
        Ok(self.layout.is_bare()?)
    }

    /// Current value of a ref.
    pub fn get(&self, name: &RefName) -> Result<Option<ContentId>> {
        Ok(self.db.get(Table::Refs, name.as_str().as_bytes())?.and_then(|v| ContentId::from_slice(&v)))
    }

    /// The ref a name typed by a person reads as (see
    /// [`RefName::candidates`]), with its value: the first that exists.
    pub fn resolve(&self, shorthand: &str) -> Result<Option<(RefName, ContentId)>> {
        for cand in RefName::candidates(shorthand) {
            if let Some(id) = self.get(&cand)? {
                return Ok(Some((cand, id)));
            }
        }
        Ok(None)
    }

    /// Remote-tracking refs of any remote for branch `b`
    /// (`remotes/*/<b>`): what `checkout <b>` can start a local branch from.
    pub fn remote_branches_named(&self, b: &BranchName) -> Result<Vec<(RefName, ContentId)>> {
        Ok(self
            .remote_tracking(None)?
            .into_iter()
            .filter(|(r, _)| r.as_remote_tracking().is_some_and(|(_, rb)| rb == *b))
            .collect())
    }

    /// Apply several updates atomically: either every expectation holds and
    /// all are written, or nothing changes. Each ref that moves gets a
    /// reflog entry saying `message`, and so does HEAD when the branch it
    /// is on moves, all in the same transaction.
    pub fn update_all(&self, updates: &[RefUpdate], message: &str) -> Result<()> {
        if updates.is_empty() {
            return Ok(());
        }
        let who = self.ident();
        let (time, tz_minutes) = reflog::now();
        let message = reflog::one_line(message);
        let mut txn = self.db.begin_write()?;
        // Read under the writer lock, which every HEAD write also holds. A
        // damaged HEAD only means there is no HEAD entry to add.
        let head_ref = read_head(self.layout).ok().and_then(|h| h.branch_ref());
        for u in updates {
            let key = u.name.as_str().as_bytes();
            let cur = txn.get(Table::Refs, key)?.and_then(|v| ContentId::from_slice(&v));
            let ok = match u.expect {
                Expect::Any => true,
                Expect::Absent => cur.is_none(),
                Expect::Is(id) => cur == Some(id),
            };
            if !ok {
                let show = |o: Option<ContentId>| o.map(|i| i.to_hex()).unwrap_or_else(|| "(none)".into());
                let expected = match u.expect {
                    Expect::Is(id) => id.to_hex(),
                    _ => "(none)".into(),
                };
                return Err(RefError::Stale { name: u.name.to_string(), expected, actual: show(cur) });
            }
            match u.new {
                Some(id) => txn.put(Table::Refs, key, id.as_bytes())?,
                None => {
                    txn.delete(Table::Refs, key)?;
                }
            }
            if cur != u.new {
                let entry =
                    ReflogEntry { old: cur, new: u.new, who: who.clone(), time, tz_minutes, message: message.clone() };
                reflog::append(&mut txn, &LogName::Ref(u.name.clone()), &entry)?;
                if head_ref.as_ref() == Some(&u.name) {
                    reflog::append(&mut txn, &LogName::Head, &entry)?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Update one ref with compare-and-swap (see [`Refs::update_all`]).
    pub fn update(&self, name: &RefName, new: Option<ContentId>, expect: Expect, message: &str) -> Result<()> {
        self.update_all(&[RefUpdate { name: name.clone(), new, expect }], message)
    }

    /// The commit `head` points at, read inside `txn`.
    fn commit_of(txn: &WriteTxn<'_>, head: &Head) -> Result<Option<ContentId>> {
        Ok(match head {
            Head::Detached(id) => Some(*id),
            Head::Branch(b) => {
                txn.get(Table::Refs, b.to_ref().as_str().as_bytes())?.and_then(|v| ContentId::from_slice(&v))
            }
        })
    }

    /// Point HEAD at a branch or a commit, logging the move in HEAD's
    /// reflog (always, even to the same commit, as `checkout` does in git).
    /// With `expect`, HEAD must still be that (compare-and-swap: the check,
    /// the entry and the file write all happen under the database's writer
    /// lock, which every HEAD write takes).
    pub fn set_head(&self, new: &Head, expect: Option<&Head>, message: &str) -> Result<()> {
        let who = self.ident();
        let (time, tz_minutes) = reflog::now();
        let mut txn = self.db.begin_write()?;
        let cur = read_head(self.layout);
        if let Some(want) = expect {
            match &cur {
                Ok(h) if h == want => {}
                Ok(h) => {
                    return Err(RefError::HeadMoved { expected: want.to_string(), actual: h.to_string() });
                }
                Err(e) => return Err(RefError::HeadMoved { expected: want.to_string(), actual: e.to_string() }),
            }
        }
        let old = match &cur {
            Ok(h) => Self::commit_of(&txn, h)?,
            Err(_) => None,
        };
        let entry = ReflogEntry {
            old,
            new: Self::commit_of(&txn, new)?,
            who,
            time,
            tz_minutes,
            message: reflog::one_line(message),
        };
        reflog::append(&mut txn, &LogName::Head, &entry)?;
        // Written before the entry commits: a crash in between leaves HEAD
        // moved without its entry, never an entry for a move that did not
        // happen. Nothing is lost either way: the next entry records this
        // commit as its old value.
        write_head(self.layout, new)?;
        txn.commit()?;
        Ok(())
    }

    /// A log's entries, oldest first (`<name>@{0}` is the last).
    pub fn reflog(&self, log: &LogName) -> Result<Vec<ReflogEntry>> {
        self.db
            .scan_prefix(Table::Reflog, &log.prefix())?
            .into_iter()
            .map(|(_, v)| ReflogEntry::decode(&v).map_err(|why| RefError::BadReflog(log.to_string(), why)))
            .collect()
    }

    /// The log a name typed by a person means: `HEAD`, else the first of
    /// its candidate refs ([`RefName::candidates`]) that exists or has a
    /// log (a deleted branch keeps its log).
    pub fn log_named(&self, shorthand: &str) -> Result<Option<LogName>> {
        if shorthand == "HEAD" {
            return Ok(Some(LogName::Head));
        }
        for cand in RefName::candidates(shorthand) {
            let log = LogName::Ref(cand.clone());
            if self.get(&cand)?.is_some() || !self.db.scan_prefix(Table::Reflog, &log.prefix())?.is_empty() {
                return Ok(Some(log));
            }
        }
        Ok(None)
    }

    /// Every commit id any reflog entry names (old and new), with where it
    /// was found (`heads/main@{2}`): roots, like refs, for fsck and gc.
    pub fn reflog_ids(&self) -> Result<Vec<(String, ContentId)>> {
        let rows = self.db.scan(Table::Reflog)?;
        let mut counts: std::collections::HashMap<Vec<u8>, usize> = std::collections::HashMap::new();
        for (k, _) in &rows {
            if let Some((name, _)) = reflog::split_key(k) {
                *counts.entry(name.to_vec()).or_default() += 1;
            }
        }
        let mut out = Vec::new();
        let mut seen: std::collections::HashMap<Vec<u8>, usize> = std::collections::HashMap::new();
        for (k, v) in rows {
            let (Some((name, _)), Ok(e)) = (reflog::split_key(&k), ReflogEntry::decode(&v)) else { continue };
            let i = seen.entry(name.to_vec()).or_default();
            let n = counts.get(name).copied().unwrap_or(0) - *i - 1;
            *i += 1;
            let label = format!("{}@{{{n}}}", String::from_utf8_lossy(name));
            for id in [e.old, e.new].into_iter().flatten() {
                out.push((label.clone(), id));
            }
        }
        Ok(out)
    }

    /// Check every stored ref (its name is valid and in a known namespace,
    /// its value a commit id) and every reflog entry (it decodes and
    /// belongs to a valid name): what `Refs::all` and `Refs::reflog` would
    /// otherwise skip or fail on.
    pub fn verify(&self) -> Result<Vec<RefProblem>> {
        let mut problems = Vec::new();
        for (k, v) in self.db.scan(Table::Refs)? {
            let name = shown(&k);
            let why = match std::str::from_utf8(&k).map_err(|_| "not UTF-8".to_string()).and_then(|n| {
                RefName::new(n).map_err(|e| match e {
                    RefError::BadName(_, why) => why.to_string(),
                    other => other.to_string(),
                })
            }) {
                Err(why) => Some(format!("invalid name: {why}")),
                Ok(r) if r.as_branch().is_none() && r.as_tag().is_none() && r.as_remote_tracking().is_none() => {
                    Some("not under heads/, tags/ or remotes/<remote>/".into())
                }
                Ok(_) if ContentId::from_slice(&v).is_none() => {
                    Some(format!("value is {} bytes, not a commit id", v.len()))
                }
                Ok(_) => None,
            };
            if let Some(detail) = why {
                problems.push(RefProblem { name, detail });
            }
        }
        for (k, v) in self.db.scan(Table::Reflog)? {
            let Some((log, seq)) = reflog::split_key(&k) else {
                problems.push(RefProblem { name: shown(&k), detail: "reflog key is not name + NUL + sequence".into() });
                continue;
            };
            let name = format!("{} (reflog entry {seq})", shown(log));
            let valid = std::str::from_utf8(log).ok().is_some_and(|n| n == "HEAD" || RefName::new(n).is_ok());
            if !valid {
                problems.push(RefProblem { name, detail: "reflog of an invalid ref name".into() });
            } else if let Err(why) = ReflogEntry::decode(&v) {
                problems.push(RefProblem { name, detail: format!("damaged reflog entry: {why}") });
            }
        }
        Ok(problems)
    }

    fn list(&self, prefix: &str) -> Result<Vec<(RefName, ContentId)>> {
        Ok(self
            .db
            .scan_prefix(Table::Refs, prefix.as_bytes())?
            .into_iter()
            .filter_map(|(k, v)| Some((RefName::new(String::from_utf8(k).ok()?).ok()?, ContentId::from_slice(&v)?)))
            .collect())
    }

    /// Every ref, sorted by name.
    pub fn all(&self) -> Result<Vec<(RefName, ContentId)>> {
        self.list("")
    }

    /// Local branches, sorted.
    pub fn branches(&self) -> Result<Vec<(BranchName, ContentId)>> {
        Ok(self.list(name::HEADS)?.into_iter().filter_map(|(r, id)| Some((r.as_branch()?, id))).collect())
    }

    /// Tags, sorted.
    pub fn tags(&self) -> Result<Vec<(TagName, ContentId)>> {
        Ok(self.list(name::TAGS)?.into_iter().filter_map(|(r, id)| Some((r.as_tag()?, id))).collect())
    }

    /// Remote-tracking refs of one remote, or of all with `None`, sorted.
    pub fn remote_tracking(&self, remote: Option<&str>) -> Result<Vec<(RefName, ContentId)>> {
        match remote {
            Some(r) => self.list(&RefName::remote_prefix(r)),
            None => self.list(name::REMOTES),
        }
    }

    /// The commit HEAD resolves to, if any (none on an unborn branch).
    pub fn head_commit(&self) -> Result<Option<ContentId>> {
        match read_head(self.layout)? {
            Head::Detached(id) => Ok(Some(id)),
            Head::Branch(b) => self.get(&b.to_ref()),
        }
    }
}

impl Refs<'_> {
    /// Expire reflog entries, as git's `reflog expire` does: in each log
    /// of `which`, an entry older than `policy.expire` goes, and so does
    /// one older than `policy.expire_unreachable` that names (old or new)
    /// a commit the log's ref does not reach. A deleted ref's log has no
    /// tip, so every entry of it counts as unreachable; HEAD's entries are
    /// reachable from HEAD or any ref (HEAD moves between branches). An
    /// entry that does not decode is kept (fsck reports it).
    ///
    /// One write transaction: the tips are read, the entries judged and
    /// removed under the writer lock every ref move takes, so no move is
    /// judged against a stale tip, and a kill leaves every log as it was
    /// or expired. With `dry_run`, or nothing to remove, nothing is written.
    pub fn expire_reflogs(&self, which: &LogSelection, policy: &ExpirePolicy, dry_run: bool) -> Result<ExpireReport> {
        use std::collections::{BTreeMap, HashSet};

        let (now, _) = reflog::now();
        let txn = self.db.begin_write()?;
        // Each log's stored rows (key, value), in sequence order.
        let mut logs: BTreeMap<LogName, Vec<Row>> = BTreeMap::new();
        let mut stray: Vec<ContentId> = Vec::new();
        match which {
            LogSelection::All => {
                for (k, v) in txn.scan_prefix(Table::Reflog, b"")? {
                    let Some((name, _)) = reflog::split_key(&k) else { continue };
                    let Ok(name) = std::str::from_utf8(name) else { continue };
                    let log = if name == "HEAD" {
                        LogName::Head
                    } else {
                        match RefName::new(name) {
                            Ok(r) => LogName::Ref(r),
                            // An invalid name is fsck's to report; it is
                            // left alone, and what it names stays a root.
                            Err(_) => {
                                if let Ok(e) = ReflogEntry::decode(&v) {
                                    stray.extend([e.old, e.new].into_iter().flatten());
                                }
                                continue;
                            }
                        }
                    };
                    logs.entry(log).or_default().push((k, v));
                }
            }
            LogSelection::Only(names) => {
                for log in names {
                    let rows = txn.scan_prefix(Table::Reflog, &log.prefix())?;
                    logs.entry(log.clone()).or_default().extend(rows);
                }
            }
        }
        let all_refs: Vec<ContentId> =
            txn.scan_prefix(Table::Refs, b"")?.into_iter().filter_map(|(_, v)| ContentId::from_slice(&v)).collect();
        // A shallow clone's boundary commits are parentless to this walk too.
        let boundaries = oxen_store::read_shallow(self.layout)?;
        let parents = |id: &ContentId| -> std::result::Result<Vec<ContentId>, (ContentId, String)> {
            if boundaries.contains(id) {
                return Ok(Vec::new());
            }
            let bytes = txn.get(Table::Commits, id.as_bytes()).map_err(|e| (*id, e.to_string()))?;
            let bytes = bytes.ok_or_else(|| (*id, "missing".to_string()))?;
            oxen_object::Commit::decode(&bytes).map(|c| c.parents).map_err(|e| (*id, e.to_string()))
        };

        let mut report = ExpireReport { logs: Vec::new(), kept_ids: stray };
        let mut doomed: Vec<Vec<u8>> = Vec::new();
        for (log, rows) in logs {
            let tips: Vec<ContentId> = match &log {
                LogName::Ref(r) => txn
                    .get(Table::Refs, r.as_str().as_bytes())?
                    .and_then(|v| ContentId::from_slice(&v))
                    .into_iter()
                    .collect(),
                LogName::Head => {
                    let head = read_head(self.layout).ok();
                    let mut t: Vec<ContentId> = match head {
                        Some(h) => Self::commit_of(&txn, &h)?.into_iter().collect(),
                        None => Vec::new(),
                    };
                    t.extend(all_refs.iter().copied());
                    t
                }
            };
            // Judge by age first; what is only old enough to go if
            // unreachable waits for the walk.
            let mut verdicts: Vec<(Vec<u8>, Option<ReflogEntry>, bool)> = Vec::with_capacity(rows.len());
            let mut pending: HashSet<ContentId> = HashSet::new();
            let mut undecided = Vec::new();
            for (i, (k, v)) in rows.into_iter().enumerate() {
                let entry = ReflogEntry::decode(&v).ok();
                let expire = match &entry {
                    None => false,
                    Some(e) if reflog::past(policy.expire, e.time, now) => true,
                    Some(e) if reflog::past(policy.expire_unreachable, e.time, now) => {
                        if tips.is_empty() {
                            true
                        } else {
                            pending.extend([e.old, e.new].into_iter().flatten());
                            undecided.push(i);
                            false
                        }
                    }
                    Some(_) => false,
                };
                verdicts.push((k, entry, expire));
            }
            if !undecided.is_empty() {
                // Walk the tips' history only as far as it takes to meet
                // every commit in question.
                for c in oxen_object::graph::ancestors(tips.iter().copied(), parents) {
                    if pending.is_empty() {
                        break;
                    }
                    let c = c.map_err(|(id, why)| RefError::UnreadableHistory(log.to_string(), id, why))?;
                    pending.remove(&c);
                }
                for i in undecided {
                    let (_, e, expire) = &mut verdicts[i];
                    if let Some(e) = e {
                        *expire = [e.old, e.new].into_iter().flatten().any(|id| pending.contains(&id));
                    }
                }
            }
            let mut done = LogExpiry { log, expired: 0, kept: 0 };
            for (k, e, expire) in verdicts {
                if expire {
                    done.expired += 1;
                    doomed.push(k);
                } else {
                    done.kept += 1;
                    if let Some(e) = e {
                        report.kept_ids.extend([e.old, e.new].into_iter().flatten());
                    }
                }
            }
            report.logs.push(done);
        }
        if !dry_run && !doomed.is_empty() {
            let mut txn = txn;
            for k in &doomed {
                txn.delete(Table::Reflog, k)?;
            }
            txn.commit()?;
        }
        Ok(report)
    }
}

/// A stored key and value.
type Row = (Vec<u8>, Vec<u8>);

/// A stored name for a message: lossy UTF-8, escaped, at most 64 characters.
fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut s: String = text.chars().take(64).flat_map(char::escape_debug).collect();
    if text.chars().count() > 64 {
        s.push_str(&format!("... ({} bytes)", bytes.len()));
    }
    s
}

#[cfg(test)]
mod tests {
    use oxen_store::Prune;

    use super::*;

    fn repo() -> (tempfile::TempDir, Layout, Db) {
        let d = tempfile::tempdir().unwrap();
        let layout = init(d.path(), &BranchName::new("main").unwrap()).unwrap();
        let db = Db::open(&layout).unwrap();
        (d, layout, db)
    }

    fn who() -> Ident {
        Ident::new("Ada", "ada@x.org")
    }

    #[test]
    fn moves_are_logged_with_head_following_its_branch() {
        let (_d, layout, db) = repo();
        let refs = Refs::new(&db, &layout).acting_as(who());
        let main = BranchName::new("main").unwrap().to_ref();
        let other = BranchName::new("other").unwrap().to_ref();
        let (a, b) = (ContentId::of(b"a"), ContentId::of(b"b"));
        refs.update(&main, Some(a), Expect::Absent, "commit (initial): one").unwrap();
        refs.update(&main, Some(b), Expect::Is(a), "commit: two\nbody").unwrap();
        refs.update(&other, Some(a), Expect::Absent, "branch: Created from HEAD").unwrap();
        // Not a move: no entry.
        refs.update(&other, Some(a), Expect::Any, "nothing").unwrap();
        refs.update(&other, None, Expect::Is(a), "branch: deleted").unwrap();
        let log = refs.reflog(&LogName::Ref(main.clone())).unwrap();
        assert_eq!(
            log.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
            ["commit (initial): one", "commit: two body"]
        );
        assert_eq!((log[1].old, log[1].new), (Some(a), Some(b)));
        assert_eq!(log[0].who, who());
        // HEAD is on main: it saw main's moves, not other's.
        assert_eq!(refs.reflog(&LogName::Head).unwrap().len(), 2);
        let olog = refs.reflog(&LogName::Ref(other.clone())).unwrap();
        assert_eq!(olog.len(), 2);
        assert_eq!((olog[1].old, olog[1].new), (Some(a), None));
        // A deleted branch keeps its log and can still be named.
        assert_eq!(refs.log_named("other").unwrap(), Some(LogName::Ref(other)));
        // A refused swap logs nothing.
        assert!(refs.update(&main, Some(a), Expect::Is(a), "lost race").is_err());
        assert_eq!(refs.reflog(&LogName::Ref(main)).unwrap().len(), 2);
        let ids: Vec<ContentId> = refs.reflog_ids().unwrap().into_iter().map(|(_, i)| i).collect();
        assert!(ids.contains(&a) && ids.contains(&b));
        assert!(refs.verify().unwrap().is_empty());
    }

    #[test]
    fn head_moves_are_logged_and_swapped() {
        let (_d, layout, db) = repo();
        let refs = Refs::new(&db, &layout).acting_as(who());
        let a = ContentId::of(b"a");
        refs.update(&BranchName::new("main").unwrap().to_ref(), Some(a), Expect::Absent, "commit: one").unwrap();
        let main = Head::Branch(BranchName::new("main").unwrap());
        refs.set_head(&Head::Detached(a), Some(&main), "checkout: moving from main to a").unwrap();
        assert_eq!(refs.head().unwrap(), Head::Detached(a));
        // Expecting the old HEAD again: refused, nothing written.
        let e = refs.set_head(&main, Some(&main), "x").unwrap_err();
        assert!(matches!(e, RefError::HeadMoved { .. }), "{e}");
        assert_eq!(refs.head().unwrap(), Head::Detached(a));
        refs.set_head(&main, None, "checkout: moving from a to main").unwrap();
        let log = refs.reflog(&LogName::Head).unwrap();
        assert_eq!(log.len(), 3);
        assert_eq!((log[1].old, log[1].new), (Some(a), Some(a)));
        assert_eq!(log[2].message, "checkout: moving from a to main");
    }

    #[test]
    fn expiry_by_age_and_by_reachability() {
        let (_d, layout, db) = repo();
        let refs = Refs::new(&db, &layout).acting_as(who());
        let commit = |parents: Vec<ContentId>, msg: &str| {
            let c = oxen_object::Commit {
                tree: ContentId::of(b"tree"),
                parents,
                author: oxen_object::Signature { name: "A".into(), email: "a@x".into(), time: 1, tz_minutes: 0 },
                message: msg.into(),
            };
            db.put_object(Table::Commits, &c.encode()).unwrap()
        };
        let a = commit(vec![], "a");
        let b = commit(vec![a], "b");
        let c = commit(vec![a], "c");
        let (main, keep, gone) = (
            BranchName::new("main").unwrap().to_ref(),
            BranchName::new("keep").unwrap().to_ref(),
            BranchName::new("gone").unwrap().to_ref(),
        );
        refs.update(&main, Some(a), Expect::Absent, "commit (initial): a").unwrap();
        refs.update(&main, Some(b), Expect::Is(a), "commit: b").unwrap();
        refs.update(&keep, Some(b), Expect::Absent, "branch: keep").unwrap();
        refs.update(&main, Some(a), Expect::Is(b), "reset: moving to a").unwrap();
        refs.update(&gone, Some(c), Expect::Absent, "branch: gone").unwrap();
        refs.update(&gone, None, Expect::Is(c), "branch: deleted").unwrap();
        let count = |log: &LogName| refs.reflog(log).unwrap().len();
        let (lmain, lgone, lkeep) = (LogName::Ref(main.clone()), LogName::Ref(gone.clone()), LogName::Ref(keep));
        assert_eq!((count(&LogName::Head), count(&lmain), count(&lgone)), (3, 3, 2));

        // Everything is recent: the defaults keep it all, and write nothing.
        let r = refs.expire_reflogs(&LogSelection::All, &ExpirePolicy::DEFAULT, false).unwrap();
        assert_eq!(r.expired(), 0);
        assert_eq!(r.logs.iter().map(|l| l.kept).sum::<usize>(), 9);

        let unreachable_now = ExpirePolicy { expire: Prune::Never, expire_unreachable: Prune::Now };
        let dry = refs.expire_reflogs(&LogSelection::All, &unreachable_now, true).unwrap();
        let by_log = |r: &ExpireReport, l: &LogName| r.logs.iter().find(|x| &x.log == l).map(|x| (x.expired, x.kept));
        // main's tip is a: b's commit and the reset away from b name a
        // commit main no longer reaches. HEAD's entries are reached from
        // keep. The deleted branch's log has no tip at all.
        assert_eq!(by_log(&dry, &lmain), Some((2, 1)));
        assert_eq!(by_log(&dry, &LogName::Head), Some((0, 3)));
        assert_eq!(by_log(&dry, &lgone), Some((2, 0)));
        assert_eq!(by_log(&dry, &lkeep), Some((0, 1)));
        assert!(!dry.kept_ids.contains(&c) && dry.kept_ids.contains(&b));
        assert_eq!(count(&lmain), 3, "a dry run removed entries");
        // Only the logs named.
        let r = refs.expire_reflogs(&LogSelection::Only(vec![lgone.clone()]), &unreachable_now, false).unwrap();
        assert_eq!(r.logs.len(), 1);
        assert_eq!((count(&lgone), count(&lmain)), (0, 3));
        refs.expire_reflogs(&LogSelection::All, &unreachable_now, false).unwrap();
        let left = refs.reflog(&lmain).unwrap();
        assert_eq!(left.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["commit (initial): a"]);

        // By age: an entry older than --expire goes whatever it reaches.
        let old = ReflogEntry { time: reflog::now().0 - 100 * 86_400, ..left[0].clone() };
        let mut txn = db.begin_write().unwrap();
        reflog::append(&mut txn, &lmain, &old).unwrap();
        txn.commit().unwrap();
        let r = refs.expire_reflogs(&LogSelection::All, &ExpirePolicy::DEFAULT, false).unwrap();
        assert_eq!(r.expired(), 1);
        assert_eq!(count(&lmain), 1);
        // New entries still append after what is left.
        refs.update(&main, Some(b), Expect::Is(a), "commit: b again").unwrap();
        assert_eq!(refs.reflog(&lmain).unwrap().last().unwrap().message, "commit: b again");
        let all_now = ExpirePolicy { expire: Prune::Now, expire_unreachable: Prune::Now };
        refs.expire_reflogs(&LogSelection::All, &all_now, false).unwrap();
        assert!(db.scan(Table::Reflog).unwrap().is_empty());
    }

    #[test]
    fn expiry_stops_on_an_unreadable_history() {
        let (_d, layout, db) = repo();
        let refs = Refs::new(&db, &layout).acting_as(who());
        let main = BranchName::new("main").unwrap().to_ref();
        // main names a commit that is not stored: what it reaches is unknown.
        refs.update(&main, Some(ContentId::of(b"x")), Expect::Absent, "commit: x").unwrap();
        refs.update(&main, Some(ContentId::of(b"y")), Expect::Any, "commit: y").unwrap();
        let p = ExpirePolicy { expire: Prune::Never, expire_unreachable: Prune::Now };
        let e = refs.expire_reflogs(&LogSelection::All, &p, false).unwrap_err();
        assert!(e.to_string().contains("nothing was expired"), "{e}");
        assert_eq!(refs.reflog(&LogName::Ref(main)).unwrap().len(), 2);
    }

    #[test]
    fn verify_finds_bad_names_and_values() {
        let (_d, layout, db) = repo();
        let refs = Refs::new(&db, &layout);
        let id = ContentId::of(b"a");
        db.put(Table::Refs, b"heads/../../x", id.as_bytes()).unwrap();
        db.put(Table::Refs, b"elsewhere/x", id.as_bytes()).unwrap();
        db.put(Table::Refs, b"heads/short", b"123").unwrap();
        db.put(Table::Refs, &[b'h'; 450], id.as_bytes()).unwrap();
        db.put(Table::Reflog, b"heads/main\0\0\0\0\0\0\0\0\0", b"garbage").unwrap();
        let p = refs.verify().unwrap();
        assert_eq!(p.len(), 5, "{p:?}");
        assert!(p.iter().any(|p| p.detail.contains("'..'")), "{p:?}");
        assert!(p.iter().any(|p| p.detail.contains("not under heads/")), "{p:?}");
        assert!(p.iter().any(|p| p.detail.contains("3 bytes")), "{p:?}");
        assert!(p.iter().any(|p| p.detail.contains("too long") && p.name.contains("450 bytes")), "{p:?}");
        assert!(p.iter().any(|p| p.detail.contains("damaged reflog entry")), "{p:?}");
    }
}
