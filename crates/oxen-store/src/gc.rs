//! Segment garbage collection: reclaim segment bytes no location refers to.
//!
//! An interrupted writer (an `add` or a push killed between appending to a
//! segment and recording the locations) leaves records that nothing names,
//! and a gc run killed mid-compaction leaves a copy. [`Versions::compact_segments`]
//! scans the segments whose writer is gone (its pid, in the segment's name,
//! is not alive, it is not this process's, and no writer in another pid
//! namespace holds its lock; see `crate::tmp::writer_gone`): a record is
//! live iff the `blobs` table's location for its id names this segment at
//! this offset; a trailing partial record is dead. A segment with no live
//! record is removed; one whose dead share is above [`COMPACT_DEAD_SHARE`]
//! is compacted: its live records are copied byte for byte (same codec and
//! kind, no recompression) to a new segment of this process, synced, all
//! moved locations are updated in one transaction, then the old file is
//! removed. A kill at any point leaves every location on complete bytes,
//! and whatever it left over (a copy nothing names, an old segment nothing
//! names) is reclaimed by the next run.
//!
//! Reachability ([`Versions::sweep_unreachable`]): given the set of live
//! ids (marked by `oxen_repo::reach` from refs, reflogs, HEAD, the index,
//! merge and checkout state), locations and loose files of everything else
//! older than the grace period ([`Prune`]) are removed; compaction then
//! reclaims the segment bytes they leave dead.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};

use oxen_hash::ContentId;

use crate::blockstore::ContentStore;
use crate::versions::{scan_records, Block, Loc, Segments, RECORD_HEADER};
use crate::{faults, Layout, Result, StoreError, Swept, Table, Versions};

/// A segment whose dead bytes are more than this share (in percent) of
/// its size is compacted; below it, copying the live records costs more
/// than the space is worth.
pub const COMPACT_DEAD_SHARE: u64 = 25;

/// What gc does (or, in a dry run, would do) to one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SegmentAction {
    /// No live record: the file is removed.
    Delete {
        /// The segment's name (file stem).
        segment: String,
        /// Its size.
        bytes: u64,
    },
    /// Live records copied to a new segment, the old one removed.
    Compact {
        /// The segment's name (file stem).
        segment: String,
        /// Live records moved.
        records: u64,
        /// Bytes freed (its size less the copy's).
        bytes: u64,
    },
}

/// What a gc run found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Segments whose writer is gone, scanned for live records.
    pub scanned: u64,
    /// Segments removed (no live record).
    pub deleted: u64,
    /// Segments compacted.
    pub compacted: u64,
    /// Segment bytes freed.
    pub bytes_reclaimed: u64,
    /// Each segment acted on, in the order acted on.
    pub actions: Vec<SegmentAction>,
    /// Temp files of dead writers swept from `.oxen/tmp` (none in a dry run).
    pub tmp: Swept,
    /// Unreachable contents removed (see [`Versions::sweep_unreachable`]);
    /// empty when gc ran without a reachability mark.
    pub sweep: SweepReport,
    /// Reflog entries expired before the mark (see `oxen reflog expire`).
    pub reflog_expired: u64,
    /// Multipart uploads to a remote store that killed writers left,
    /// aborted (see `abort_abandoned_uploads`).
    pub uploads_aborted: u64,
}

/// gc of one repository: temp files of writers that are gone (see
/// [`crate::sweep_tmp`]), then [`Versions::compact_segments`].
pub fn gc_repo(layout: &Layout, versions: &Versions, dry_run: bool) -> Result<GcReport> {
    gc_repo_with(layout, versions, dry_run, REMOTE_GRACE)
}

/// [`gc_repo`] with `remote_grace` instead of [`REMOTE_GRACE`] (see
/// [`Versions::compact_segments_with`]).
pub fn gc_repo_with(
    layout: &Layout,
    versions: &Versions,
    dry_run: bool,
    remote_grace: std::time::Duration,
) -> Result<GcReport> {
    let tmp = if dry_run { Swept::default() } else { crate::sweep_tmp(&layout.tmp_dir()) };
    let mut report = versions.compact_segments_with(dry_run, remote_grace)?;
    report.tmp = tmp;
    Ok(report)
}

/// One live record of a scanned segment.
struct Live {
    id: ContentId,
    /// Where the location says the stored bytes start.
    loc: Loc,
}

/// The scan of one segment.
struct Scan {
    size: u64,
    live: Vec<Live>,
    /// Bytes of live records, headers included.
    live_bytes: u64,
}

/// The writer pid a segment's name (`<pid>-<nanos-hex>`) carries.
fn segment_pid(name: &str) -> Option<u32> {
    let (pid, rest) = name.split_once('-')?;
    if rest.is_empty() {
        return None;
    }
    pid.parse().ok()
}

/// A remote block whose writer cannot be checked by pid and lock (it was
/// uploaded, maybe by another host) is left alone this long after it was
/// opened (the time in its name): its writer records its locations at the
/// end of the operation that wrote it.
pub const REMOTE_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

/// A writer's lease on a remote block it is filling or uploading (a meta
/// row `lease NUL <block>` holding the time it was taken) keeps gc off
/// that block whatever its age, until the writer has recorded the block's
/// locations and dropped the lease. A writer killed holding one leaves it
/// behind: a lease older than this is ignored (and removed by gc).
/// Written only for repositories in PostgreSQL, whose writers may be on
/// any host; with LMDB every writer is on gc's host and its pid tells.
pub const LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Meta-table key prefix of leases (see [`LEASE_TTL`]).
pub(crate) const LEASE_PREFIX: &[u8] = b"lease\0";

/// Meta-table key prefix of freshening records of remote blocks (see
/// [`FRESHEN_AFTER`]): `fresh NUL <block>` -> when a writer last relied on
/// a record in it (seconds since the epoch, big-endian).
pub(crate) const FRESH_PREFIX: &[u8] = b"fresh\0";

/// Seconds since the epoch, as a meta value.
pub(crate) fn time_value(t: std::time::SystemTime) -> [u8; 8] {
    t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()).to_be_bytes()
}

fn parse_time(v: &[u8]) -> Option<std::time::SystemTime> {
    let secs = u64::from_be_bytes(v.try_into().ok()?);
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// Rows under `prefix` of the meta table as block name -> time.
fn block_times(
    rows: Vec<(Vec<u8>, Vec<u8>)>,
    prefix: &[u8],
) -> std::collections::HashMap<String, std::time::SystemTime> {
    rows.into_iter()
        .filter_map(|(k, v)| {
            let name = std::str::from_utf8(k.strip_prefix(prefix)?).ok()?.to_string();
            Some((name, parse_time(&v)?))
        })
        .collect()
}

/// Meta-table key prefix of multipart uploads in flight (see
/// [`MetaJournal`]): `upload NUL <block>` -> when its writer was last seen
/// at it (seconds since the epoch, big-endian) followed by the store's
/// upload id.
pub(crate) const UPLOAD_PREFIX: &[u8] = b"upload\0";

/// The [`UploadJournal`](crate::blockstore::UploadJournal) of a repository
/// in PostgreSQL: rows `upload NUL <block>` of its meta table, written and
/// deleted at once (one statement, without the repository's writer lock,
/// which the writer may hold in another transaction), read by a gc on any
/// host.
pub(crate) struct MetaJournal {
    db: crate::Db,
}

impl std::fmt::Debug for MetaJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetaJournal")
    }
}

impl MetaJournal {
    pub(crate) fn new(db: crate::Db) -> MetaJournal {
        MetaJournal { db }
    }
}

impl crate::blockstore::UploadJournal for MetaJournal {
    fn record(&self, block: &str, upload: &str) -> io::Result<()> {
        let key = [UPLOAD_PREFIX, block.as_bytes()].concat();
        let value = [&time_value(std::time::SystemTime::now())[..], upload.as_bytes()].concat();
        self.db.put_now(Table::Meta, &key, &value).map_err(|e| io::Error::other(e.to_string()))
    }

    fn forget(&self, block: &str) -> io::Result<()> {
        let key = [UPLOAD_PREFIX, block.as_bytes()].concat();
        self.db.delete_now(Table::Meta, &key).map_err(|e| io::Error::other(e.to_string()))
    }

    fn list(&self) -> io::Result<Vec<crate::blockstore::UploadRecord>> {
        let rows = self.db.scan_prefix(Table::Meta, UPLOAD_PREFIX).map_err(|e| io::Error::other(e.to_string()))?;
        Ok(rows
            .into_iter()
            .filter_map(|(k, v)| {
                let block = std::str::from_utf8(k.strip_prefix(UPLOAD_PREFIX)?).ok()?.to_string();
                let last_seen = parse_time(v.get(..8)?)?;
                let upload = std::str::from_utf8(&v[8..]).ok()?.to_string();
                Some(crate::blockstore::UploadRecord { block, upload, last_seen })
            })
            .collect())
    }
}

/// Abort the multipart uploads recorded in the repository's journal whose
/// writer is gone: a writer killed mid-upload (a server killed mid-push)
/// leaves one, whose parts an S3 bucket keeps (and bills) until aborted.
/// An upload is left alone while it may be live: begun by this process,
/// by a live pid on this host (LMDB: every writer is on this host), or
/// seen less than `grace` ago (a writer re-records its upload with each
/// part it sends, so a slow upload stays young while parts go up). Returns
/// how many were aborted (or, in a dry run, are candidates).
fn abort_abandoned_uploads(s: &Segments, grace: std::time::Duration, dry_run: bool) -> Result<u64> {
    let Some(journal) = &s.journal else { return Ok(0) };
    let what = || s.store.describe("");
    let now = std::time::SystemTime::now();
    let mut n = 0;
    for r in journal.list().map_err(|e| StoreError::io(what(), e))? {
        let pid = segment_pid(&r.block);
        if pid == Some(std::process::id()) || (!s.db.is_postgres() && pid.is_some_and(crate::tmp::pid_alive)) {
            continue;
        }
        if now.duration_since(r.last_seen).map_or(true, |age| age < grace) {
            continue;
        }
        if !dry_run {
            faults::write_point();
            let open =
                s.store.abort_upload(&r.block, &r.upload).map_err(|e| StoreError::io(s.store.describe(&r.block), e))?;
            journal.forget(&r.block).map_err(|e| StoreError::io(what(), e))?;
            // A record its writer had no time to drop (killed after the
            // upload completed): nothing was aborted.
            if !open {
                continue;
            }
        }
        n += 1;
    }
    Ok(n)
}

/// Freshening records of remote blocks, by block.
fn fresh_records(db: &crate::Db) -> Result<std::collections::HashMap<String, std::time::SystemTime>> {
    Ok(block_times(db.scan_prefix(Table::Meta, FRESH_PREFIX)?, FRESH_PREFIX))
}

/// Writers' leases on remote blocks, by block.
fn leases(db: &crate::Db) -> Result<std::collections::HashMap<String, std::time::SystemTime>> {
    Ok(block_times(db.scan_prefix(Table::Meta, LEASE_PREFIX)?, LEASE_PREFIX))
}

/// Remove the bookkeeping rows of remote blocks that are gone: freshening
/// records of blocks no longer in the store, and leases past
/// [`LEASE_TTL`] (their writer was killed). A lease of a block not yet
/// uploaded is not in the listing and stays until it expires.
fn forget_gone_blocks(s: &Segments) -> Result<()> {
    let listed: std::collections::HashSet<String> =
        s.store.list().map_err(|e| StoreError::io(s.store.describe(""), e))?.into_iter().map(|(n, _)| n).collect();
    let now = std::time::SystemTime::now();
    let mut gone: Vec<Vec<u8>> = Vec::new();
    for (name, _) in fresh_records(&s.db)? {
        if !listed.contains(&name) {
            gone.push([FRESH_PREFIX, name.as_bytes()].concat());
        }
    }
    for (name, t) in leases(&s.db)? {
        if now.duration_since(t).is_ok_and(|age| age >= LEASE_TTL) {
            gone.push([LEASE_PREFIX, name.as_bytes()].concat());
        }
    }
    if gone.is_empty() {
        return Ok(());
    }
    faults::write_point();
    let mut txn = s.db.begin_write()?;
    for k in &gone {
        txn.delete(Table::Meta, k)?;
    }
    txn.commit()
}

impl Versions {
    /// Reclaim segment bytes no location refers to (see the module docs).
    /// With `dry_run`, nothing is written: the report says what would be.
    /// Local blocks and segments are gc'd when their writer is gone;
    /// blocks in a remote store when their writer's pid is not alive here
    /// and they are older than [`REMOTE_GRACE`].
    pub fn compact_segments(&self, dry_run: bool) -> Result<GcReport> {
        self.compact_segments_with(dry_run, REMOTE_GRACE)
    }

    /// [`Versions::compact_segments`] with a remote block's grace period
    /// given: a block in a remote store is a candidate only once the
    /// newest of the time in its name, the store's last write of it and
    /// its freshening record (see [`FRESHEN_AFTER`]) is older than
    /// `remote_grace`, and no writer holds a lease on it (see
    /// [`LEASE_TTL`]): the writer may be on another host, where neither
    /// its pid nor its lock can be seen.
    pub fn compact_segments_with(&self, dry_run: bool, remote_grace: std::time::Duration) -> Result<GcReport> {
        let mut report = GcReport::default();
        let Some(s) = &self.segments else { return Ok(report) };
        // Our own open writer's pid is ours, so `writer_gone` skips it; so
        // are the copies this run makes.
        let local = crate::blockstore::LocalStore::new(s.dir.clone());
        let mut names = Vec::new();
        for (name, _) in local.list().map_err(|e| StoreError::io(&s.dir, e))? {
            let Some(pid) = segment_pid(&name) else { continue };
            names.push((name, pid, true));
        }
        if s.store.local_dir().is_none() {
            let remote = s.store.list_times().map_err(|e| StoreError::io(s.store.describe(""), e))?;
            let now = std::time::SystemTime::now();
            let fresh = fresh_records(&s.db)?;
            let leases = leases(&s.db)?;
            for (name, _, written) in remote {
                let Some(pid) = segment_pid(&name) else { continue };
                // With PostgreSQL, writers on any host hold leases (a pid
                // says nothing about another host's processes); with LMDB
                // every writer is on this host, and its pid tells.
                let alive_here = !s.db.is_postgres() && crate::tmp::pid_alive(pid);
                if names.iter().any(|(n, _, _)| *n == name) || pid == std::process::id() || alive_here {
                    continue;
                }
                if leases.get(&name).is_some_and(|t| now.duration_since(*t).map_or(true, |age| age < LEASE_TTL)) {
                    continue;
                }
                let named = segment_time(&name).unwrap_or(std::time::UNIX_EPOCH);
                let last = [Some(named), written, fresh.get(&name).copied()].into_iter().flatten().max();
                let old = last.and_then(|t| now.duration_since(t).ok()).is_some_and(|age| age >= remote_grace);
                if old {
                    names.push((name, pid, false));
                }
            }
            if !dry_run {
                forget_gone_blocks(s)?;
            }
            report.uploads_aborted = abort_abandoned_uploads(s, remote_grace, dry_run)?;
        }
        names.sort();
        for (name, pid, is_local) in names {
            let block = if is_local {
                let p = s.path(&name);
                // Opened (and, once the writer is found gone, locked) for the
                // whole of this segment's gc.
                let f = match File::open(&p) {
                    Ok(f) => f,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(StoreError::io(&p, e)),
                };
                if !crate::tmp::writer_gone(pid, &f) {
                    continue;
                }
                Block::File { f, path: p }
            } else {
                match s.open_block(&name)? {
                    Some(b) => b,
                    None => continue,
                }
            };
            let scan = scan(s, &name, &block)?;
            report.scanned += 1;
            let dead = scan.size - scan.live_bytes;
            if scan.live.is_empty() {
                if !dry_run {
                    faults::write_point();
                    remove_block(s, &name, is_local)?;
                }
                report.deleted += 1;
                report.bytes_reclaimed += scan.size;
                report.actions.push(SegmentAction::Delete { segment: name, bytes: scan.size });
            } else if dead * 100 > scan.size * COMPACT_DEAD_SHARE {
                let records = scan.live.len() as u64;
                if !dry_run {
                    compact(s, &name, &scan, &block, is_local)?;
                }
                report.compacted += 1;
                report.bytes_reclaimed += dead;
                report.actions.push(SegmentAction::Compact { segment: name, records, bytes: dead });
            }
        }
        Ok(report)
    }
}

/// Remove a block: the local file, or the block store's object.
fn remove_block(s: &Segments, name: &str, is_local: bool) -> Result<()> {
    if is_local {
        let p = s.path(name);
        return std::fs::remove_file(&p).map_err(|e| StoreError::io(&p, e));
    }
    s.store.delete(name).map_err(|e| StoreError::io(s.store.describe(name), e))?;
    s.remote_sizes.lock().map_err(crate::versions::poisoned)?.remove(name);
    Ok(())
}

/// Read a block's record headers and sort its records into live and dead.
fn scan(s: &Segments, name: &str, block: &Block) -> Result<Scan> {
    let found = scan_records(block).map_err(|e| StoreError::io(block.path(), e))?;
    let keys: Vec<&[u8]> = found.records.iter().map(|r| &r.id.as_bytes()[..]).collect();
    let locs = s.db.get_many(Table::Blobs, &keys)?;
    let mut out = Scan { size: found.size, live: Vec::new(), live_bytes: 0 };
    for (r, v) in found.records.into_iter().zip(locs) {
        let loc = v.and_then(|v| Loc::decode(&v));
        if let Some(loc) = loc.filter(|l| l.segment == name && l.offset == r.offset && l.len == r.len) {
            out.live.push(Live { id: r.id, loc });
            out.live_bytes += RECORD_HEADER + r.len;
        }
    }
    Ok(out)
}

/// Copy a block's live records to a new block (sealed into the block
/// store like any), move their locations in one transaction, then remove
/// the old block: the new bytes are durable before any location names
/// them, and the old block goes only after the locations left it.
fn compact(s: &Segments, name: &str, scan: &Scan, old: &Block, is_local: bool) -> Result<()> {
    let old_path = old.path().to_path_buf();
    std::fs::create_dir_all(&s.dir).map_err(|e| StoreError::io(&s.dir, e))?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let new_name = format!("{}-{nanos:x}", std::process::id());
    let new_path = s.path(&new_name);
    faults::write_point();
    let new =
        OpenOptions::new().create_new(true).append(true).open(&new_path).map_err(|e| StoreError::io(&new_path, e))?;
    crate::tmp::lock_as_writer(&new);
    let mut w = io::BufWriter::new(&new);
    let mut moved = Vec::with_capacity(scan.live.len());
    let mut offset = 0u64;
    for r in &scan.live {
        // Header and stored bytes exactly as they are: same codec, kind
        // and length flags, nothing decoded.
        let start = r.loc.offset - RECORD_HEADER;
        let bytes =
            old.read_range(start..start + RECORD_HEADER + r.loc.len).map_err(|e| StoreError::io(&old_path, e))?;
        if bytes.len() as u64 != RECORD_HEADER + r.loc.len {
            let e = io::Error::new(io::ErrorKind::UnexpectedEof, "segment shrank while being compacted");
            return Err(StoreError::io(&old_path, e));
        }
        w.write_all(&bytes).map_err(|e| StoreError::io(&new_path, e))?;
        let mut loc = r.loc.clone();
        loc.segment = new_name.clone();
        loc.offset = offset + RECORD_HEADER;
        offset += bytes.len() as u64;
        moved.push((r.id, r.loc.clone(), loc));
    }
    w.flush().map_err(|e| StoreError::io(&new_path, e))?;
    drop(w);
    new.sync_all().map_err(|e| StoreError::io(&new_path, e))?;
    sync_dir(s)?;
    if s.store.local_dir().is_none() {
        faults::write_point();
        s.store.put(&new_name, &new_path).map_err(|e| StoreError::io(s.store.describe(&new_name), e))?;
        drop(new);
        std::fs::remove_file(&new_path).map_err(|e| StoreError::io(&new_path, e))?;
    }
    faults::write_point();
    let mut txn = s.db.begin_write()?;
    for (id, from, to) in &moved {
        // Only a location still on the old record moves (another gc may
        // have moved it meanwhile).
        let current = txn.get(Table::Blobs, id.as_bytes())?.and_then(|v| Loc::decode(&v));
        if current.as_ref() == Some(from) {
            txn.put(Table::Blobs, id.as_bytes(), &to.encode())?;
        }
    }
    txn.commit()?;
    faults::write_point();
    remove_block(s, name, is_local)
}

/// Make the new segment's directory entry durable before locations name it.
fn sync_dir(s: &Segments) -> Result<()> {
    File::open(&s.dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io(&s.dir, e))
}

/// How old an unreachable content must be before gc removes it: the
/// grace period that keeps a concurrent `add` or push (contents stored,
/// not yet committed or its ref not yet moved) from being robbed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prune {
    /// Remove what is unreachable and older than this.
    OlderThan(std::time::Duration),
    /// Remove everything unreachable, whatever its age (`--prune=now`).
    Now,
    /// Remove nothing for being unreachable (`--prune=never`).
    Never,
}

impl Prune {
    /// The default grace period: one day. Contents can be large, so they
    /// are not kept for git's two weeks; a day covers any add or push in
    /// flight.
    pub const DEFAULT: Prune = Prune::OlderThan(std::time::Duration::from_secs(24 * 3600));

    /// Whether a record written at `written` may be removed, at `now`.
    fn expired(self, written: std::time::SystemTime, now: std::time::SystemTime) -> bool {
        match self {
            Prune::Now => true,
            Prune::Never => false,
            Prune::OlderThan(d) => now.duration_since(written).is_ok_and(|age| age > d),
        }
    }
}

impl std::str::FromStr for Prune {
    type Err = String;

    /// `now`, `never`, or `<N><unit>` with unit `s`, `m`, `h`, `d` or `w`
    /// (`12h`, `1d`, `2w`): how `--prune`, `reflog expire --expire` and
    /// the `gc.reflogExpire*` settings are written.
    fn from_str(s: &str) -> std::result::Result<Prune, String> {
        match s {
            "now" => return Ok(Prune::Now),
            "never" => return Ok(Prune::Never),
            _ => {}
        }
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (n, unit) = s.split_at(split);
        let n: u64 = n.parse().map_err(|_| format!("'{s}' is not a duration: use now, never, or e.g. 12h, 1d, 2w"))?;
        let secs = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            _ => return Err(format!("'{s}' has no known unit: use s, m, h, d or w (e.g. 12h, 1d, 2w)")),
        };
        n.checked_mul(secs)
            .map(|t| Prune::OlderThan(std::time::Duration::from_secs(t)))
            .ok_or_else(|| format!("'{s}' is too long"))
    }
}

/// What the unreachable sweep removed (or, in a dry run, would remove).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Segment records whose location was removed.
    pub records: u64,
    /// Their stored bytes (reclaimed from the segments by compaction).
    pub record_bytes: u64,
    /// Loose files removed.
    pub loose: u64,
    /// Their bytes.
    pub loose_bytes: u64,
    /// Unreachable records and loose files kept because they are younger
    /// than the grace period.
    pub young: u64,
    /// Unreachable commits removed from their table (`--prune=now` only).
    pub commits: u64,
    /// Unreachable tree nodes removed from their table (`--prune=now` only).
    pub trees: u64,
}

/// The time a segment's name (`<pid>-<nanos-hex>`) carries.
fn segment_time(name: &str) -> Option<std::time::SystemTime> {
    let nanos = u128::from_str_radix(name.split_once('-')?.1, 16).ok()?;
    let nanos = u64::try_from(nanos).ok()?;
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos))
}

impl Versions {
    /// Remove the contents not in `live` (the reachable file contents and
    /// the chunks their lists name, see `oxen_repo::reach`) whose record is
    /// older than `prune`. A record's age is the newer of the time in its
    /// segment's name and the segment file's mtime (records are appended
    /// after the name is chosen, so the name alone would make a long-lived
    /// writer's records look old); a loose file's is its mtime. The chunks
    /// of a chunk list that is kept (reachable, or unreachable but young)
    /// are kept whatever their age, so a young list never names a removed
    /// chunk. Removing a record removes its location, all in one
    /// transaction; the bytes are reclaimed by [`Versions::compact_segments`]
    /// (run it after). Loose files are removed one by one. With `dry_run`,
    /// nothing is written.
    pub fn sweep_unreachable(
        &self,
        live: &std::collections::HashSet<ContentId>,
        prune: Prune,
        dry_run: bool,
    ) -> Result<SweepReport> {
        let mut report = SweepReport::default();
        if prune == Prune::Never {
            return Ok(report);
        }
        let now = std::time::SystemTime::now();
        let mut dead: Vec<(ContentId, Loc)> = Vec::new();
        if let Some(s) = &self.segments {
            // Remote blocks: when the store last wrote each, and when a
            // writer last relied on one (they cannot be touched).
            let mut remote_written: std::collections::HashMap<String, std::time::SystemTime> = Default::default();
            if s.store.local_dir().is_none() {
                let listed = s.store.list_times().map_err(|e| StoreError::io(s.store.describe(""), e))?;
                remote_written.extend(listed.into_iter().filter_map(|(n, _, t)| Some((n, t?))));
            }
            let fresh = fresh_records(&s.db)?;
            let mut times: std::collections::HashMap<String, std::time::SystemTime> = Default::default();
            let mut age_of = |seg: &str| -> std::time::SystemTime {
                *times.entry(seg.to_string()).or_insert_with(|| {
                    let named = segment_time(seg).unwrap_or(std::time::UNIX_EPOCH);
                    let modified = s.path(seg).metadata().and_then(|m| m.modified()).unwrap_or(named);
                    let others = [remote_written.get(seg), fresh.get(seg)];
                    others.into_iter().flatten().fold(named.max(modified), |a, b| a.max(*b))
                })
            };
            let mut candidates = Vec::new();
            let mut kept_lists = Vec::new();
            // Page by page, not one collected scan: the table may be large.
            let mut from: Vec<u8> = Vec::new();
            loop {
                let page = s.db.scan_page(Table::Blobs, &from, 10_000)?;
                let Some((last, _)) = page.last() else { break };
                // The smallest key after the last one: the next page's start.
                from = last.clone();
                from.push(0);
                for (k, v) in &page {
                    let (Some(id), Some(loc)) = (ContentId::from_slice(k), Loc::decode(v)) else { continue };
                    let is_list = loc.kind == crate::versions::Kind::ChunkList;
                    if live.contains(&id) {
                        continue;
                    }
                    if prune.expired(age_of(&loc.segment), now) {
                        candidates.push((id, loc));
                    } else {
                        report.young += 1;
                        if is_list {
                            kept_lists.push(id);
                        }
                    }
                }
            }
            // Chunks a kept young list names stay too.
            let mut keep: std::collections::HashSet<ContentId> = Default::default();
            for id in kept_lists {
                if let Some(list) = self.chunk_list(&id)? {
                    keep.extend(list.chunks().iter().map(|c| c.id));
                }
            }
            for (id, loc) in candidates {
                if keep.contains(&id) {
                    report.young += 1;
                    continue;
                }
                report.records += 1;
                report.record_bytes += RECORD_HEADER + loc.len;
                dead.push((id, loc));
            }
            if !dry_run && !dead.is_empty() {
                faults::write_point();
                let mut txn = s.db.begin_write()?;
                // A writer that relied on a record of a remote block since
                // the ages were read recorded that under the write lock
                // this transaction now holds (see `freshen_remote`): its
                // block is young again, and its records stay.
                let now_fresh = block_times(txn.scan_prefix(Table::Meta, FRESH_PREFIX)?, FRESH_PREFIX);
                let mut kept = 0u64;
                for (id, loc) in &dead {
                    if now_fresh.get(&loc.segment).is_some_and(|t| !prune.expired(*t, now)) {
                        kept += 1;
                        report.record_bytes -= RECORD_HEADER + loc.len;
                        continue;
                    }
                    txn.delete(Table::Blobs, id.as_bytes())?;
                }
                txn.commit()?;
                report.records -= kept;
                report.young += kept;
            }
        }
        self.sweep_loose(live, prune, now, dry_run, &mut report)?;
        Ok(report)
    }

    /// The loose-file half of [`Versions::sweep_unreachable`].
    fn sweep_loose(
        &self,
        live: &std::collections::HashSet<ContentId>,
        prune: Prune,
        now: std::time::SystemTime,
        dry_run: bool,
        report: &mut SweepReport,
    ) -> Result<()> {
        for (id, p) in self.loose_files()? {
            if live.contains(&id) {
                continue;
            }
            let meta = match p.metadata() {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io(&p, e)),
            };
            let written = meta.modified().unwrap_or(now);
            if !prune.expired(written, now) {
                report.young += 1;
                continue;
            }
            if !dry_run {
                faults::write_point();
                match std::fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(StoreError::io(&p, e)),
                }
            }
            report.loose += 1;
            report.loose_bytes += meta.len();
        }
        Ok(())
    }
}

/// A write that skips a content because it is already stored makes the
/// local block or loose file holding it look written now, when it looks
/// older than this (git's freshening). Otherwise an `add` or a push that
/// deduplicates against an old unreachable content would leave it a
/// sweep candidate until its index entry, chunk list or ref is recorded,
/// and a gc in between would remove it. An hour: touches stay rare (one
/// per old block per hour per process, none for young ones), and any
/// grace period above an hour plus an operation's length (the default is
/// a day) keeps what a skip found. It matches [`REMOTE_GRACE`].
pub const FRESHEN_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// Local blocks this process knows look written no earlier than the time
/// given less [`FRESHEN_AFTER`]: no stat or touch until then. Keyed by
/// path (a server has many repositories); one entry per block seen.
fn fresh_blocks() -> &'static std::sync::Mutex<std::collections::HashMap<std::path::PathBuf, std::time::SystemTime>> {
    static FRESH: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<std::path::PathBuf, std::time::SystemTime>>,
    > = std::sync::OnceLock::new();
    FRESH.get_or_init(Default::default)
}

/// Set `p`'s mtime to `now` if its age (the newer of `named` and its
/// mtime) is past [`FRESHEN_AFTER`]; whether it did. Best effort: a file
/// that is gone or cannot be touched is left as it is (the write still
/// succeeds; only the protection is lost, as before freshening).
fn touch_if_old(
    p: &std::path::Path,
    meta: &std::fs::Metadata,
    named: std::time::SystemTime,
    now: std::time::SystemTime,
) -> bool {
    let written = meta.modified().map_or(named, |m| m.max(named));
    if now.duration_since(written).map_or(true, |age| age <= FRESHEN_AFTER) {
        return false;
    }
    // futimens on a read-only descriptor: the owner may set times.
    File::open(p).and_then(|f| f.set_modified(now)).is_ok()
}

/// Freshen remote block `name` (see [`Versions::freshen_block`]): an
/// object cannot be touched, so a `fresh NUL <block>` meta row records
/// that a writer relied on it now. Written in a write transaction, under
/// the repository's writer lock that gc's removal also takes, so a gc
/// either removed the records before this (the caller's second lookup
/// misses them and it writes them again) or sees the row and keeps them.
/// Whether it was written.
fn freshen_remote(
    s: &Segments,
    name: &str,
    named: std::time::SystemTime,
    now: std::time::SystemTime,
    p: std::path::PathBuf,
) -> bool {
    let key = [FRESH_PREFIX, name.as_bytes()].concat();
    let recorded = s.db.get(Table::Meta, &key).ok().flatten().and_then(|v| parse_time(&v));
    let written = recorded.map_or(named, |t| t.max(named));
    let old = now.duration_since(written).is_ok_and(|age| age > FRESHEN_AFTER);
    let touched = old
        && (|| -> Result<()> {
            let mut txn = s.db.begin_write()?;
            txn.put(Table::Meta, &key, &time_value(now))?;
            txn.commit()
        })()
        .is_ok();
    let written = if touched { now } else { written };
    if let Ok(mut known) = fresh_blocks().lock() {
        known.insert(p, (written + FRESHEN_AFTER).max(now + std::time::Duration::from_secs(60)));
    }
    touched
}

impl Versions {
    /// [`Versions::has`] for a write that skips `id` when it is stored: the
    /// block or loose file holding it is freshened (see [`FRESHEN_AFTER`])
    /// so a concurrent gc keeps it. A block in a remote store cannot be
    /// touched; see `docs/ARCHITECTURE.md` (gc) for what that leaves.
    pub(crate) fn has_fresh(&self, id: &ContentId) -> bool {
        if let Some(s) = &self.segments {
            if let Ok(Some(loc)) = s.lookup(id) {
                if self.freshen_block(s, &loc.segment) {
                    // A gc that judged the block old before the touch may
                    // have removed the location since the lookup: then it
                    // is not stored, and the caller writes it again.
                    return matches!(s.lookup(id), Ok(Some(_))) || self.path(id).is_file();
                }
                return true;
            }
            if !self.may_hold_loose() {
                return false;
            }
        }
        let p = self.path(id);
        match p.metadata() {
            Ok(m) if m.is_file() => {
                if touch_if_old(&p, &m, std::time::UNIX_EPOCH, std::time::SystemTime::now()) {
                    return p.is_file();
                }
                true
            }
            _ => false,
        }
    }

    /// Freshen local block `name` unless this process knows it is young;
    /// whether it was touched.
    pub(crate) fn freshen_block(&self, s: &Segments, name: &str) -> bool {
        let p = s.path(name);
        let now = std::time::SystemTime::now();
        let Ok(mut known) = fresh_blocks().lock() else { return false };
        if known.get(&p).is_some_and(|until| now < *until) {
            return false;
        }
        let named = segment_time(name).unwrap_or(std::time::UNIX_EPOCH);
        // Not a local file: a remote block (nothing to touch) or one gc
        // just compacted away (its copy is young). Either way, ask again
        // only after FRESHEN_AFTER.
        let Ok(meta) = p.metadata() else {
            if s.store.local_dir().is_none() {
                drop(known);
                return freshen_remote(s, name, named, now, p);
            }
            known.insert(p, now + FRESHEN_AFTER);
            return false;
        };
        let touched = touch_if_old(&p, &meta, named, now);
        let written = if touched { now } else { meta.modified().map_or(named, |m| m.max(named)) };
        // Young until `written` + FRESHEN_AFTER; a block that could not be
        // touched is tried again a minute on, not on every skip.
        known.insert(p, (written + FRESHEN_AFTER).max(now + std::time::Duration::from_secs(60)));
        touched
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::noise;
    use crate::versions::tests::store;
    use std::collections::HashSet;
    use std::sync::Arc;

    /// A pid no process has: past the kernel's pid_max (at most 2^22).
    const DEAD_PID: u32 = 1 << 23;

    #[test]
    fn gc_aborts_the_uploads_killed_writers_left_and_no_live_one() {
        use object_store::multipart::MultipartStore;
        let d = tempfile::tempdir().unwrap();
        let layout = crate::Layout::create(d.path()).unwrap();
        let db = crate::Db::open(&layout).unwrap();
        let mem = crate::blockstore::tests::mem_bucket();
        let url = crate::S3Url::parse("s3://bucket/pre/repo").unwrap();
        let s3: Arc<dyn ContentStore> = Arc::new(crate::blockstore::S3Store::with_store(mem.clone(), url));
        let v = Versions::with_segments(layout.versions_dir(), layout.tmp_dir(), db, Some(s3));
        let s = v.segments.as_ref().unwrap();
        let journal = s.journal.clone().expect("a remote store journals its uploads");
        // Uploads with a part each, as writers begin them: one of a writer
        // that is gone, one of this process, one of a live pid (pid 1).
        let begin = |block: &str| {
            let key = object_store::path::Path::from(format!("pre/repo/blocks/{block}"));
            let (m, k) = (mem.clone(), key.clone());
            let id = crate::blockstore::tests::block_on(async move {
                let key = k;
                let id = m.create_multipart(&key).await.unwrap();
                m.put_part(&key, &id, 0, vec![7u8; 1000].into()).await.unwrap();
                id
            });
            journal.record(block, &id).unwrap();
            (key, id)
        };
        let dead = begin(&format!("{DEAD_PID}-1"));
        let ours = begin(&format!("{}-2", std::process::id()));
        let live = begin("1-3");
        // Within the grace period nothing is aborted, dead or not.
        let r = v.compact_segments_with(false, std::time::Duration::from_secs(3600)).unwrap();
        assert_eq!(r.uploads_aborted, 0);
        assert_eq!(journal.list().unwrap().len(), 3);
        // Past it, a dry run says what it would abort and does nothing.
        let r = v.compact_segments_with(true, std::time::Duration::ZERO).unwrap();
        assert_eq!(r.uploads_aborted, 1);
        assert_eq!(journal.list().unwrap().len(), 3);
        // Only the dead writer's upload goes: aborted in the store (its
        // parts freed) and forgotten.
        let r = v.compact_segments_with(false, std::time::Duration::ZERO).unwrap();
        assert_eq!(r.uploads_aborted, 1);
        let left: Vec<String> = journal.list().unwrap().into_iter().map(|r| r.block).collect();
        assert_eq!(left, vec!["1-3".to_string(), format!("{}-2", std::process::id())]);
        assert!(!mem.upload_open(&dead.1), "the dead writer's upload is still in the store");
        assert!(mem.upload_open(&ours.1), "this process's upload was aborted");
        assert!(mem.upload_open(&live.1), "a live writer's upload was aborted");
    }

    fn seg_files(v: &Versions) -> Vec<std::path::PathBuf> {
        let mut out: Vec<_> = std::fs::read_dir(v.dir.join("segments")).unwrap().map(|e| e.unwrap().path()).collect();
        out.sort();
        out
    }

    /// Point every location in segment `old` at segment `new` (a test
    /// renamed the file).
    fn relocate(s: &Segments, old: &str, new: &str) {
        let mut txn = s.db.begin_write().unwrap();
        let all = txn.scan_prefix(Table::Blobs, b"").unwrap();
        for (k, val) in all {
            let mut loc = Loc::decode(&val).unwrap();
            if loc.segment == old {
                loc.segment = new.to_string();
                txn.put(Table::Blobs, &k, &loc.encode()).unwrap();
            }
        }
        txn.commit().unwrap();
    }

    /// Rename this process's segments to a dead writer's (as if it were killed).
    fn orphan(v: &Versions) {
        for p in seg_files(v) {
            let name = p.file_name().unwrap().to_str().unwrap();
            let (_, rest) = name.split_once('-').unwrap();
            let stem = rest.strip_suffix(".seg").unwrap();
            // Locations name the segment; rewrite them to the new name.
            let s = v.segments.as_deref().unwrap();
            let old = name.strip_suffix(".seg").unwrap().to_string();
            let new = format!("{DEAD_PID}-{stem}");
            std::fs::rename(&p, p.with_file_name(format!("{new}.seg"))).unwrap();
            relocate(s, &old, &new);
        }
    }

    #[test]
    fn unreferenced_records_are_compacted_and_empty_segments_removed() {
        let (d, db, v) = store();
        let kept: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 1000]).collect();
        for b in &kept {
            v.write_bytes(b).unwrap();
        }
        // Garbage in the same block: appended but never recorded (as a
        // writer killed before flush leaves).
        let s = v.segments.as_deref().unwrap();
        for i in 0..10u8 {
            let g = vec![100 + i; 1000];
            s.append(&ContentId::of(&g), &g).unwrap();
            s.pending.lock().unwrap().remove(&ContentId::of(&g));
        }
        v.flush().unwrap();
        // This process's segment is a live writer's: untouched.
        assert_eq!(v.compact_segments(false).unwrap(), GcReport::default());
        orphan(&v);
        // And a segment with nothing live, ending in a partial record.
        let lone = v.dir.join("segments").join(format!("{DEAD_PID}-abc.seg"));
        std::fs::write(&lone, [7u8; 30]).unwrap();
        let before: u64 = seg_files(&v).iter().map(|p| p.metadata().unwrap().len()).sum();

        let dry = v.compact_segments(true).unwrap();
        assert_eq!((dry.scanned, dry.deleted, dry.compacted), (2, 1, 1));
        assert_eq!(seg_files(&v).len(), 2, "a dry run changes nothing");

        let r = v.compact_segments(false).unwrap();
        assert_eq!(r, dry);
        let after: u64 = seg_files(&v).iter().map(|p| p.metadata().unwrap().len()).sum();
        assert_eq!(before - after, r.bytes_reclaimed);
        assert_eq!(r.bytes_reclaimed, 30 + 10 * (1000 + RECORD_HEADER));
        assert!(!lone.exists());
        drop(v);
        let v = Layout::at(d.path()).versions(&db);
        for b in &kept {
            assert_eq!(&v.read_all(&ContentId::of(b)).unwrap(), b);
        }
        assert_eq!(v.compact_segments(false).unwrap().bytes_reclaimed, 0, "nothing left to reclaim");
    }

    #[test]
    fn a_locked_segment_of_a_dead_pid_is_a_live_writer_elsewhere() {
        let (_d, _db, v) = store();
        let seg = v.dir.join("segments");
        std::fs::create_dir_all(&seg).unwrap();
        let held = seg.join(format!("{DEAD_PID}-1.seg"));
        std::fs::write(&held, [3u8; 100]).unwrap();
        let f = File::open(&held).unwrap();
        crate::tmp::lock_as_writer(&f);
        // Another open file description, as another process would have.
        assert_eq!(v.compact_segments(false).unwrap(), GcReport::default());
        assert!(held.exists());
        drop(f);
        assert_eq!(v.compact_segments(false).unwrap().deleted, 1);
        assert!(!held.exists());
    }

    #[test]
    fn a_reader_whose_segment_was_compacted_away_looks_again() {
        let (_d, _db, v) = store();
        let b = vec![9u8; 500];
        let id = v.write_bytes(&b).unwrap();
        v.write_bytes(&[1u8; 3000]).unwrap();
        v.flush().unwrap();
        let s = v.segments.as_deref().unwrap();
        *s.writer.lock().unwrap() = None;
        orphan(&v);
        let stale = s.lookup(&id).unwrap().unwrap();
        // Drop the big record's location so the segment is mostly dead.
        let big = ContentId::of(&[1u8; 3000]);
        let mut txn = s.db.begin_write().unwrap();
        txn.delete(Table::Blobs, big.as_bytes()).unwrap();
        txn.commit().unwrap();
        assert_eq!(v.compact_segments(false).unwrap().compacted, 1);
        let (found, _) = s.open_located(&id, stale.clone()).unwrap();
        assert_ne!(found.segment, stale.segment);
        assert_eq!(v.read_all(&id).unwrap(), b);
    }

    /// Make every segment so far look written `secs` ago by a dead writer
    /// (name and mtime), its locations following; new writes start a new one.
    fn age(v: &Versions, secs: u64) {
        let s = v.segments.as_deref().unwrap();
        *s.writer.lock().unwrap() = None;
        let then = std::time::SystemTime::now() - std::time::Duration::from_secs(secs);
        let nanos = then.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        for (i, p) in seg_files(v).into_iter().enumerate() {
            let old = p.file_stem().unwrap().to_str().unwrap().to_string();
            let new = format!("{DEAD_PID}-{:x}", nanos + i as u128);
            let to = p.with_file_name(format!("{new}.seg"));
            std::fs::rename(&p, &to).unwrap();
            File::options().write(true).open(&to).unwrap().set_modified(then).unwrap();
            relocate(s, &old, &new);
        }
    }

    #[test]
    fn unreachable_old_contents_go_and_shared_or_young_ones_stay() {
        let (_d, _db, v) = store();
        let live_bytes = noise(1, 900 * 1024);
        let mut dead_bytes = live_bytes.clone();
        dead_bytes.extend_from_slice(&noise(2, 400 * 1024));
        let live = v.write_bytes(&live_bytes).unwrap();
        let dead = v.write_bytes(&dead_bytes).unwrap();
        let small_dead = v.write_bytes(b"small and dead").unwrap();
        v.flush().unwrap();
        let live_chunks: HashSet<ContentId> =
            v.chunk_list(&live).unwrap().unwrap().chunks().iter().map(|c| c.id).collect();
        let dead_list = v.chunk_list(&dead).unwrap().unwrap();
        let dead_only: Vec<ContentId> =
            dead_list.chunks().iter().map(|c| c.id).filter(|c| !live_chunks.contains(c)).collect();
        assert!(!dead_only.is_empty() && dead_only.len() < dead_list.chunks().len(), "chunks are shared");
        let mut marked = live_chunks.clone();
        marked.insert(live);

        // Just written: kept by the default grace period.
        let r = v.sweep_unreachable(&marked, Prune::DEFAULT, false).unwrap();
        assert_eq!((r.records, r.young), (0, 2 + dead_only.len() as u64));
        age(&v, 2 * 24 * 3600);
        // A young list (an add in flight) naming old dead chunks keeps them.
        let mut young_bytes = dead_bytes.clone();
        young_bytes.extend_from_slice(b"one more row");
        let young = v.write_bytes(&young_bytes).unwrap();
        v.flush().unwrap();
        // That write freshened the old block it deduplicated against (see
        // FRESHEN_AFTER); make it old again to check the kept-list rule alone.
        let then = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 24 * 3600);
        for p in seg_files(&v) {
            if p.file_name().unwrap().to_str().unwrap().starts_with(&format!("{DEAD_PID}-")) {
                File::open(&p).unwrap().set_modified(then).unwrap();
            }
        }
        let dry = v.sweep_unreachable(&marked, Prune::DEFAULT, true).unwrap();
        let r = v.sweep_unreachable(&marked, Prune::DEFAULT, false).unwrap();
        assert_eq!(dry, r);
        // The dead list, the small record and the dead chunks the young list
        // does not share go (its last: the young file's tail differs).
        let young_chunks: HashSet<ContentId> =
            v.chunk_list(&young).unwrap().unwrap().chunks().iter().map(|c| c.id).collect();
        let unshared = dead_only.iter().filter(|c| !young_chunks.contains(c)).count() as u64;
        assert!(unshared < dead_only.len() as u64, "the young list shares old dead chunks");
        assert_eq!(r.records, 2 + unshared, "{r:?}");
        for c in dead_only.iter().filter(|c| young_chunks.contains(c)) {
            assert!(v.has(c), "an old chunk a young list names was removed");
        }
        assert!(!v.has(&dead) && !v.has(&small_dead));
        assert_eq!(v.read_all(&young).unwrap(), young_bytes);
        assert_eq!(v.read_all(&live).unwrap(), live_bytes);
        // Once the young one is old too, only what `live` names is left.
        age(&v, 2 * 24 * 3600);
        let r = v.sweep_unreachable(&marked, Prune::DEFAULT, false).unwrap();
        assert!(r.records > 1 && !v.has(&young), "{r:?}");
        for c in &dead_only {
            assert!(!v.has(c), "a chunk only dead contents named was kept");
        }
        assert_eq!(v.read_all(&live).unwrap(), live_bytes);
        assert_eq!(v.sweep_unreachable(&marked, Prune::Now, false).unwrap().records, 0);
        // Compaction reclaims the bytes; what is live still reads.
        assert!(v.compact_segments(false).unwrap().bytes_reclaimed > 0);
        assert_eq!(v.read_all(&live).unwrap(), live_bytes);
        assert_eq!(v.verify(&live).unwrap(), None);
    }

    /// The newest mtime among the segment files.
    fn seg_mtimes(v: &Versions) -> Vec<std::time::SystemTime> {
        seg_files(v).iter().map(|p| p.metadata().unwrap().modified().unwrap()).collect()
    }

    #[test]
    fn a_write_that_skips_an_old_unreachable_content_keeps_it_from_gc() {
        let (_d, _db, v) = store();
        let small = b"stored long ago, unreachable".to_vec();
        let big = noise(3, 900 * 1024);
        let small_id = v.write_bytes(&small).unwrap();
        let big_id = v.write_bytes(&big).unwrap();
        v.flush().unwrap();
        age(&v, 2 * 24 * 3600);
        // An add of the same contents (and of a file sharing the big one's
        // chunks) finds them stored and skips them; its index entry or list
        // is not recorded yet when a gc runs.
        assert_eq!(v.write_bytes(&small).unwrap(), small_id);
        let mut edited = big.clone();
        edited.extend_from_slice(b"one more row");
        let edited_id = v.write_bytes(&edited).unwrap();
        let none = HashSet::new();
        let r = v.sweep_unreachable(&none, Prune::DEFAULT, false).unwrap();
        assert_eq!(r.records, 0, "a skipped content's block looks written now: {r:?}");
        v.flush().unwrap();
        assert_eq!(v.read_all(&small_id).unwrap(), small);
        assert_eq!(v.read_all(&edited_id).unwrap(), edited);
        assert_eq!(v.read_all(&big_id).unwrap(), big);
    }

    #[test]
    fn a_skipped_old_loose_file_is_freshened() {
        let d = tempfile::tempdir().unwrap();
        let v = Versions::new(d.path().join("versions"), d.path().join("tmp"));
        std::fs::create_dir_all(d.path().join("tmp")).unwrap();
        let bytes = noise(4, 2 * 1024 * 1024);
        let id = v.write_bytes(&bytes).unwrap();
        let then = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 24 * 3600);
        File::open(v.path(&id)).unwrap().set_modified(then).unwrap();
        assert_eq!(v.write_bytes(&bytes).unwrap(), id);
        let r = v.sweep_unreachable(&HashSet::new(), Prune::DEFAULT, false).unwrap();
        assert_eq!((r.loose, r.young), (0, 1), "{r:?}");
        assert_eq!(v.read_all(&id).unwrap(), bytes);
    }

    #[test]
    fn young_blocks_are_not_touched_and_an_old_one_once() {
        let (_d, _db, v) = store();
        let a = b"first".to_vec();
        let b = b"second".to_vec();
        v.write_bytes(&a).unwrap();
        v.write_bytes(&b).unwrap();
        v.flush().unwrap();
        // Young (its name is new): a skip leaves its mtime alone, even one
        // set a while back.
        let while_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(600);
        for p in seg_files(&v) {
            File::open(&p).unwrap().set_modified(while_ago).unwrap();
        }
        v.write_bytes(&a).unwrap();
        assert_eq!(seg_mtimes(&v), vec![while_ago]);
        // Old: the first skip touches it, and the block is then known fresh
        // for this process, so later skips cost no syscall.
        age(&v, 2 * 24 * 3600);
        let old = seg_mtimes(&v);
        v.write_bytes(&a).unwrap();
        let touched = seg_mtimes(&v);
        assert!(touched[0] > old[0] + std::time::Duration::from_secs(24 * 3600), "{old:?} {touched:?}");
        File::open(&seg_files(&v)[0]).unwrap().set_modified(old[0]).unwrap();
        v.write_bytes(&b).unwrap();
        v.write_bytes(&a).unwrap();
        assert_eq!(seg_mtimes(&v), old, "one touch per block");
    }

    #[test]
    fn a_has_chunk_answer_freshens_what_the_peer_will_not_send() {
        let (_d, _db, v) = store();
        let id = v.write_bytes(b"the peer has this one").unwrap();
        v.flush().unwrap();
        age(&v, 2 * 24 * 3600);
        let other = ContentId::of(b"not stored");
        assert_eq!(v.missing(&[id, other]).unwrap(), vec![other]);
        let r = v.sweep_unreachable(&HashSet::new(), Prune::DEFAULT, false).unwrap();
        assert_eq!((r.records, r.young), (0, 1), "{r:?}");
        assert!(v.has(&id));
    }
}
