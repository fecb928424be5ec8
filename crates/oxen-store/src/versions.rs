//! The versions store: file contents addressed by content id.
//!
//! Two homes, one interface:
//! - Large contents (and everything received over the wire) are loose files
//!   `versions/ab/cdef...`, sharded by the first two hex characters and
//!   written via temp file + rename, so a reader never sees a partial file.
//! - Small contents (up to [`SMALL_MAX`]) written by `add` are appended to a
//!   segment file `versions/segments/<name>.seg`, located through the `blobs`
//!   LMDB table. Creating one inode per small file is what makes adding a
//!   folder of 100,000 images slow (it costs as much as `cp -r`); appending
//!   to a segment costs a `write`. A location is recorded only after the
//!   segment is synced to disk, so an index entry never points at bytes that
//!   a crash could lose.
//! - Contents of [`CHUNK_THRESHOLD`] bytes or more written by `add` (storage
//!   v2) are cut into content-defined chunks (`oxen-chunk`): each chunk not
//!   yet stored is appended to the segment as its own record (zstd when that
//!   pays), then a chunk-list record under the file's id. Chunks and lists
//!   share the id space with whole contents (a chunk's id is the xxh3-128 of
//!   its bytes), so unchanged chunks of an edited file are not stored again.
//!   The crash rule holds as for small contents: all of a file's records are
//!   appended before its list, and every location is recorded in one
//!   transaction after the segment is synced, so a list is never visible
//!   without its chunks and nothing refers to either before `flush`.
//!
//! Records written before storage v2 (raw segment records, loose files) read
//! as before; a location in the `blobs` table or a record header that says
//! nothing of codec or kind is a raw whole-contents record.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use oxen_chunk::codec::{self, MAX_DECODED_LEN};
use oxen_chunk::{chunk_stream, Chunk, ChunkError, ChunkList, ChunkListError, ChunkRef, Chunked, Codec, Encoder};
use oxen_hash::{copy_hashing, ContentId, CopyError, Hasher, CHUNK};

pub use oxen_chunk::CHUNK_THRESHOLD;

use crate::blockstore::{read_file_range, ContentStore};
use crate::{Result, StoreError, Table};

/// Contents up to this size go to segments when written from memory.
pub const SMALL_MAX: usize = CHUNK;

/// An open block is sealed (synced, handed to its [`ContentStore`], never
/// appended again) and a new one started past this size; also at every
/// [`Versions::flush`].
pub const BLOCK_MAX: u64 = 64 << 20;

/// Consecutive chunks of one file stored next to each other in a block are
/// read with one ranged read of up to this many bytes (one GET on S3, not
/// one per chunk).
const READ_WINDOW: u64 = 8 << 20;

/// Bytes before each record in a segment: id, and the stored length whose
/// top byte carries the record's kind and codec (zero, as in every record
/// written before storage v2, for raw whole contents), so a segment can be
/// scanned and rebuilt without the index.
pub(crate) const RECORD_HEADER: u64 = 24;

/// The header's length field keeps kind and codec in its top byte.
pub(crate) const FLAGS_SHIFT: u32 = 56;

/// What a record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The bytes of its id: whole contents, or a chunk (the same thing to
    /// a reader: bytes that hash to the id).
    Bytes = 0,
    /// The [`ChunkList`] of the contents named by its id.
    ChunkList = 1,
}

impl Kind {
    fn from_tag(t: u8) -> Option<Kind> {
        match t {
            0 => Some(Kind::Bytes),
            1 => Some(Kind::ChunkList),
            _ => None,
        }
    }
}

/// Where a record lives, and how to read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Loc {
    pub(crate) segment: String,
    pub(crate) offset: u64,
    /// Stored bytes in the segment.
    pub(crate) len: u64,
    /// The contents' length: the decoded record, or for a chunk list the
    /// length of the file it lists.
    pub(crate) raw_len: u64,
    pub(crate) codec: Codec,
    pub(crate) kind: Kind,
}

impl Loc {
    /// Raw whole contents keep the pre-v2 encoding (name, offset, length);
    /// anything else appends raw length, codec and kind.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(27 + self.segment.len());
        v.push(self.segment.len() as u8);
        v.extend_from_slice(self.segment.as_bytes());
        v.extend_from_slice(&self.offset.to_le_bytes());
        v.extend_from_slice(&self.len.to_le_bytes());
        if !self.is_v1() {
            v.extend_from_slice(&self.raw_len.to_le_bytes());
            v.push(self.codec.tag());
            v.push(self.kind as u8);
        }
        v
    }

    fn is_v1(&self) -> bool {
        self.codec == Codec::Raw && self.kind == Kind::Bytes && self.raw_len == self.len
    }

    pub(crate) fn decode(b: &[u8]) -> Option<Loc> {
        let n = *b.first()? as usize;
        if b.len() != 1 + n + 16 && b.len() != 1 + n + 26 {
            return None;
        }
        let segment = std::str::from_utf8(&b[1..1 + n]).ok()?.to_string();
        let offset = u64::from_le_bytes(b[1 + n..9 + n].try_into().ok()?);
        let len = u64::from_le_bytes(b[9 + n..17 + n].try_into().ok()?);
        let (raw_len, codec, kind) = match b.get(17 + n..) {
            Some(rest) if rest.len() == 10 => {
                (u64::from_le_bytes(rest[..8].try_into().ok()?), Codec::from_tag(rest[8])?, Kind::from_tag(rest[9])?)
            }
            _ => (len, Codec::Raw, Kind::Bytes),
        };
        Some(Loc { segment, offset, len, raw_len, codec, kind })
    }
}

pub(crate) struct SegWriter {
    file: File,
    pub(crate) name: String,
    offset: u64,
    /// The block's upload to a remote store, begun when it was opened
    /// (see [`ContentStore::begin`]); `None`: stored whole at the seal.
    stream: Option<Box<dyn crate::blockstore::StreamingPut>>,
}

/// A block opened for reading: a local file (a local block, a block this
/// process is still writing, or a segment from before blocks), or an
/// object in a remote [`ContentStore`].
pub(crate) enum Block {
    File { f: File, path: PathBuf },
    Remote { store: Arc<dyn ContentStore>, name: String, size: u64, path: PathBuf, cache: Arc<ReadAhead> },
}

impl Block {
    /// Where it lives, for messages.
    pub(crate) fn path(&self) -> &Path {
        match self {
            Block::File { path, .. } | Block::Remote { path, .. } => path,
        }
    }

    pub(crate) fn len(&self) -> io::Result<u64> {
        match self {
            Block::File { f, .. } => Ok(f.metadata()?.len()),
            Block::Remote { size, .. } => Ok(*size),
        }
    }

    /// Bytes `range`, fewer if the block ends first.
    pub(crate) fn read_range(&self, range: std::ops::Range<u64>) -> io::Result<Vec<u8>> {
        match self {
            Block::File { f, .. } => read_file_range(f, range),
            Block::Remote { store, name, size, cache, .. } => {
                let end = range.end.min(*size);
                if range.start >= end {
                    return Ok(Vec::new());
                }
                cache.read(store, name, range.start..end, *size)
            }
        }
    }
}

/// Bytes of remote blocks read ahead: a read smaller than [`READ_AHEAD`]
/// fetches [`READ_AHEAD`] bytes from its start, kept for the reads that
/// follow, and starts fetching the window after it in the background.
/// Records are read in the order they were written far more often than not
/// (the chunks of a file, one by one, as sync sends them; the small files
/// of one commit), so this turns one GET per chunk or small file into one
/// per window, and the reader (a clone served from a bucket) rarely waits
/// for one: the next window is on its way while this one is used. Blocks
/// are immutable, so nothing kept goes stale; every record read is
/// verified against its id anyway.
#[derive(Default)]
pub(crate) struct ReadAhead {
    windows: Mutex<std::collections::VecDeque<Window>>,
    /// Notified when a background fetch ends.
    fetched: std::sync::Condvar,
}

/// A read-ahead window of block `name` from `start` to `end`: its bytes,
/// or `None` while a background fetch is bringing them.
struct Window {
    name: String,
    start: u64,
    end: u64,
    bytes: Option<Arc<Vec<u8>>>,
}

impl Window {
    fn covers(&self, name: &str, range: &std::ops::Range<u64>) -> bool {
        let end = self.bytes.as_ref().map_or(self.end, |b| self.start + b.len() as u64);
        self.name == name && self.start <= range.start && range.end <= end
    }
}

/// How much a small remote read fetches.
const READ_AHEAD: u64 = 4 << 20;

/// Windows kept (per store handle): bounded memory.
const READ_AHEAD_WINDOWS: usize = 4;

impl ReadAhead {
    fn read(
        self: &Arc<Self>,
        store: &Arc<dyn ContentStore>,
        name: &str,
        range: std::ops::Range<u64>,
        size: u64,
    ) -> io::Result<Vec<u8>> {
        let len = range.end - range.start;
        if len >= READ_AHEAD {
            return store.read_range(name, range);
        }
        let poisoned = |_| io::Error::other("read-ahead lock poisoned");
        let mut w = self.windows.lock().map_err(poisoned)?;
        let (start, bytes) = loop {
            match w.iter().find(|x| x.covers(name, &range)) {
                Some(Window { start, bytes: Some(b), .. }) => break (*start, b.clone()),
                // Being fetched: wait for it (a failed fetch is removed,
                // and then read here, where its error is reported).
                Some(_) => w = self.fetched.wait(w).map_err(poisoned)?,
                None => {
                    drop(w);
                    let end = (range.start + READ_AHEAD).min(size);
                    let b = Arc::new(store.read_range(name, range.start..end)?);
                    w = self.windows.lock().map_err(poisoned)?;
                    let window = Window { name: name.to_string(), start: range.start, end, bytes: Some(b.clone()) };
                    Self::keep(&mut w, window);
                    break (range.start, b);
                }
            }
        };
        let next = start + bytes.len() as u64;
        if next < size && !w.iter().any(|x| x.name == name && x.start <= next && next < x.end) {
            let end = (next + READ_AHEAD).min(size);
            Self::keep(&mut w, Window { name: name.to_string(), start: next, end, bytes: None });
            let (this, store, block) = (self.clone(), store.clone(), name.to_string());
            let fetch = move || {
                let got = store.read_range(&block, next..end);
                let mut w = this.windows.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(i) = w.iter().position(|x| x.name == block && x.start == next && x.bytes.is_none()) {
                    match got {
                        Ok(b) if !b.is_empty() => w[i].bytes = Some(Arc::new(b)),
                        _ => {
                            w.remove(i);
                        }
                    }
                }
                this.fetched.notify_all();
            };
            if std::thread::Builder::new().name("oxen-read-ahead".into()).spawn(fetch).is_err() {
                // No thread: the window is read when it is needed.
                w.retain(|x| !(x.name == name && x.start == next && x.bytes.is_none()));
            }
        }
        drop(w);
        let from = (range.start - start) as usize;
        let to = ((range.end - start) as usize).min(bytes.len());
        Ok(bytes.get(from..to).unwrap_or_default().to_vec())
    }

    /// Keep `window`, dropping the oldest past [`READ_AHEAD_WINDOWS`] (a
    /// fetch whose window was dropped finds nothing to fill).
    fn keep(w: &mut std::collections::VecDeque<Window>, window: Window) {
        if w.len() >= READ_AHEAD_WINDOWS {
            w.pop_front();
        }
        w.push_back(window);
    }
}

/// Streams a byte range of a block in windows of [`READ_WINDOW`] (a raw
/// record in a remote block: one GET per window).
pub(crate) struct RangeReader {
    block: Block,
    pos: u64,
    end: u64,
    buf: Vec<u8>,
    at: usize,
}

impl Read for RangeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.at == self.buf.len() {
            if self.pos >= self.end {
                return Ok(0);
            }
            let to = (self.pos + READ_WINDOW).min(self.end);
            self.buf = self.block.read_range(self.pos..to)?;
            self.at = 0;
            if self.buf.is_empty() {
                // The block ends early: the Blob reports it short.
                self.end = self.pos;
                return Ok(0);
            }
            self.pos += self.buf.len() as u64;
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// The segment side of the store: the blobs table plus this process's open
/// segment and the locations written but not yet recorded.
pub(crate) struct Segments {
    /// The repository's tables (LMDB or PostgreSQL); the block index is
    /// its `blobs`.
    pub(crate) db: crate::Db,
    pub(crate) dir: PathBuf,
    /// Where sealed blocks go (the segments directory itself by default).
    pub(crate) store: Arc<dyn ContentStore>,
    /// Sizes of remote blocks seen so far: blocks are immutable, so one
    /// HEAD per block per process, not one per record read.
    pub(crate) remote_sizes: Mutex<HashMap<String, u64>>,
    /// Remote reads fetched ahead (see [`ReadAhead`]).
    read_ahead: Arc<ReadAhead>,
    pub(crate) writer: Mutex<Option<SegWriter>>,
    pub(crate) pending: Arc<Mutex<HashMap<ContentId, Loc>>>,
    /// Segments this process closed whose locations may not be recorded yet.
    retired: Arc<Mutex<Vec<File>>>,
    /// Seals that failed so far: each dropped the locations of every
    /// record in its block, whichever operation wrote them (see
    /// [`Versions::flush`]). Bumped with `pending` locked, after the drop.
    seal_failures: Arc<AtomicU64>,
    /// Sealed blocks being synced (local) or uploaded (remote).
    uploads: Arc<Uploads>,
    /// [`BLOCK_MAX`]; tests make it small to seal many blocks quickly.
    block_max: u64,
    /// Locations read ahead for a reader about to open these contents
    /// ([`Versions::prefetch`]); each is used once (taken), so a stale one
    /// costs at most one retry (see [`Segments::open_located`]).
    prefetched: Mutex<HashMap<ContentId, Loc>>,
    /// Remote blocks this process holds a lease on (see
    /// [`crate::gc::LEASE_TTL`]): taken when the block is opened, dropped
    /// in the transaction that records its locations.
    leased: Mutex<HashSet<String>>,
    /// Where a remote store records its multipart uploads (see
    /// [`crate::blockstore::UploadJournal`]): gc aborts those a killed
    /// writer left. `None` for local blocks.
    pub(crate) journal: Option<Arc<dyn crate::blockstore::UploadJournal>>,
}

/// Sealed blocks at most this many at a time are synced (local) or
/// uploaded (remote) in the background while writers go on filling the
/// next block; a seal past it waits for a slot. With [`BLOCK_MAX`] blocks that bounds
/// the local disk a writer gets ahead of the store by (two sealed blocks
/// plus the open one) and the memory of the uploads (each has at most
/// `blockstore::PARTS_IN_FLIGHT` parts of `blockstore::PART_SIZE` in
/// memory).
pub(crate) const UPLOADS_IN_FLIGHT: usize = 2;

/// Failures kept for the flush that sealed the block (the last few).
const FAILURES_KEPT: usize = 16;

/// The background seals of blocks: the fdatasync of a local block, the
/// upload of a remote one. A block's locations stay in `pending` while it
/// is in flight and are recorded only by a flush after it was made
/// durable; a failed seal drops them.
#[derive(Default)]
pub(crate) struct Uploads {
    state: Mutex<UploadState>,
    /// Notified whenever an upload ends.
    done: std::sync::Condvar,
}

#[derive(Default)]
struct UploadState {
    /// Blocks being uploaded.
    in_flight: HashSet<String>,
    /// Blocks whose upload failed, with where and why (the last few).
    failed: std::collections::VecDeque<(String, PathBuf, io::ErrorKind, String)>,
}

impl Uploads {
    /// Upload of `name` ended, failed when `error` says why: its locations
    /// are dropped and the failure counted before it leaves the flight.
    fn ended(
        &self,
        name: &str,
        error: Option<(PathBuf, io::Error)>,
        pending: &Mutex<HashMap<ContentId, Loc>>,
        failures: &AtomicU64,
    ) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((path, e)) = error {
            pending.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, l| l.segment != name);
            failures.fetch_add(1, Ordering::SeqCst);
            if st.failed.len() >= FAILURES_KEPT {
                st.failed.pop_front();
            }
            st.failed.push_back((name.to_string(), path, e.kind(), e.to_string()));
        }
        st.in_flight.remove(name);
        self.done.notify_all();
    }
}

impl UploadState {
    fn failure(&self, name: &str) -> Option<StoreError> {
        self.failed
            .iter()
            .find(|f| f.0 == name)
            .map(|(_, path, kind, msg)| StoreError::io(path, io::Error::new(*kind, msg.clone())))
    }

    /// Why the last upload failed, for errors that name no block.
    fn last_failure(&self) -> Option<String> {
        self.failed.back().map(|(_, path, _, msg)| format!("{}: {msg}", path.display()))
    }
}

impl Drop for Segments {
    fn drop(&mut self) {
        // Safety net for callers that forget to flush; the explicit flush
        // is where errors are reported. Failing here loses only locations of
        // contents nothing refers to yet (referrers flush first).
        let _ = self.flush();
    }
}

impl Segments {
    pub(crate) fn lookup(&self, id: &ContentId) -> Result<Option<Loc>> {
        if let Some(l) = self.pending.lock().map_err(poisoned)?.get(id) {
            return Ok(Some(l.clone()));
        }
        if let Some(l) = self.prefetched.lock().map_err(poisoned)?.remove(id) {
            return Ok(Some(l));
        }
        Ok(self.db.get(Table::Blobs, id.as_bytes())?.and_then(|v| Loc::decode(&v)))
    }

    pub(crate) fn path(&self, segment: &str) -> PathBuf {
        self.dir.join(format!("{segment}.seg"))
    }

    /// Open block `name`: a local file first (an open or not yet uploaded
    /// block of this process, a local block, a segment from before blocks),
    /// else the block store's object. `None` if it is nowhere.
    pub(crate) fn open_block(&self, name: &str) -> Result<Option<Block>> {
        let p = self.path(name);
        match File::open(&p) {
            Ok(f) => return Ok(Some(Block::File { f, path: p })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(&p, e)),
        }
        if self.store.local_dir().is_some() {
            return Ok(None);
        }
        let path = self.store.describe(name);
        let remote = |size| Block::Remote {
            store: self.store.clone(),
            name: name.to_string(),
            size,
            path: path.clone(),
            cache: self.read_ahead.clone(),
        };
        if let Some(&size) = self.remote_sizes.lock().map_err(poisoned)?.get(name) {
            return Ok(Some(remote(size)));
        }
        match self.store.size(name) {
            Ok(Some(size)) => {
                self.remote_sizes.lock().map_err(poisoned)?.insert(name.to_string(), size);
                Ok(Some(remote(size)))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    /// Open the block `loc` (looked up for `id`) names. A block that is
    /// gone may have been compacted by `gc` between the lookup and this
    /// open (records copied, locations moved, then the block removed), so
    /// `id` is looked up once more before the absence counts as damage.
    pub(crate) fn open_located(&self, id: &ContentId, loc: Loc) -> Result<(Loc, Block)> {
        if let Some(b) = self.open_block(&loc.segment)? {
            return Ok((loc, b));
        }
        let gone = |name: &str| {
            StoreError::io(self.store.describe(name), io::Error::new(io::ErrorKind::NotFound, "block not found"))
        };
        match self.lookup(id)? {
            Some(again) if again != loc => match self.open_block(&again.segment)? {
                Some(b) => Ok((again, b)),
                None => Err(gone(&again.segment)),
            },
            _ => Err(gone(&loc.segment)),
        }
    }

    /// Seal a full or finished block: handed to the block store, in the
    /// background, while writers go on filling the next block. A local
    /// block is synced there: writers used to wait on the lock for every
    /// 64 MiB fdatasync, which at a million small files was a quarter of
    /// add's time. A remote one (not synced) is finished there: its upload
    /// began when it was opened (the parts filled so far are sent or on
    /// their way), and only the last part and the completion are left; its
    /// local copy is removed once stored. Either way the block is in flight
    /// until then, so a flush records its locations only once it is
    /// durable, and a seal waits for a slot when [`UPLOADS_IN_FLIGHT`] are
    /// already in flight. On failure the locations of its records are
    /// dropped from `pending`, so none is ever recorded: the operation
    /// fails, and its retry writes them again.
    fn seal(&self, w: SegWriter) -> Result<()> {
        let p = self.path(&w.name);
        // A block bound for a remote store is made durable by the store: its
        // local file is only the upload's source (read back from the page
        // cache) and garbage if the process dies, so syncing it would only
        // stall the writer on the local disk.
        let local = self.store.local_dir().is_some();
        if !local {
            crate::faults::write_point();
        }
        let uploads = self.uploads.clone();
        {
            let mut st = uploads.state.lock().map_err(poisoned)?;
            while st.in_flight.len() >= UPLOADS_IN_FLIGHT {
                st = uploads.done.wait(st).map_err(poisoned)?;
            }
            st.in_flight.insert(w.name.clone());
        }
        let (store, pending, failures) = (self.store.clone(), self.pending.clone(), self.seal_failures.clone());
        let retired = self.retired.clone();
        let block = w.name.clone();
        let SegWriter { file, name, offset, stream } = w;
        let upload = move || {
            let r = if local {
                match file.sync_data() {
                    Ok(()) => {
                        // Kept open (and locked) until its locations are recorded.
                        retired.lock().unwrap_or_else(|p| p.into_inner()).push(file);
                        Ok(())
                    }
                    Err(e) => Err((p, e)),
                }
            } else {
                // The file stays open (and locked against gc) until stored.
                let put = match stream {
                    Some(s) => s.finish(offset),
                    None => store.put(&name, &p),
                };
                match put {
                    Ok(()) => {
                        drop(file);
                        std::fs::remove_file(&p).map_err(|e| (p.clone(), e))
                    }
                    Err(e) => {
                        // Nothing will name its records: the local copy is
                        // garbage (removed now, not left to gc on a server
                        // that keeps running).
                        drop(file);
                        let _ = std::fs::remove_file(&p);
                        Err((store.describe(&name), e))
                    }
                }
            };
            uploads.ended(&name, r.err(), &pending, &failures);
        };
        if let Err(e) = std::thread::Builder::new().name("oxen-upload".into()).spawn(upload) {
            // The closure (and with it the block's file) is gone: nothing
            // of this block may be recorded.
            let err = io::Error::new(e.kind(), format!("cannot start an upload: {e}"));
            self.uploads.ended(&block, Some((self.path(&block), err)), &self.pending, &self.seal_failures);
            return Err(StoreError::io(self.path(&block), e));
        }
        Ok(())
    }

    /// The count of failed seals: read before a record is appended or found
    /// pending, a later count that differs means it may have been dropped.
    fn epoch(&self) -> u64 {
        self.seal_failures.load(Ordering::SeqCst)
    }

    /// [`Segments::lookup`], and whether the location is only pending
    /// (written by some operation of this process, not yet recorded).
    fn lookup_pending(&self, id: &ContentId) -> Result<Option<(Loc, bool)>> {
        if let Some(l) = self.pending.lock().map_err(poisoned)?.get(id) {
            return Ok(Some((l.clone(), true)));
        }
        Ok(self.lookup(id)?.map(|l| (l, false)))
    }

    /// Why the last block that failed to be stored failed, in a few words.
    fn last_failure(&self) -> String {
        let st = self.uploads.state.lock().unwrap_or_else(|p| p.into_inner());
        st.last_failure().unwrap_or_else(|| "see the error of the operation that sealed it".to_string())
    }

    /// Which of `ids` have no recorded location and no loose file in
    /// `loose_dir` (a location only pending counts as not recorded, unless
    /// `pending_counts`).
    fn unrecorded(
        &self,
        ids: impl IntoIterator<Item = ContentId>,
        loose: &Versions,
        pending_counts: bool,
    ) -> Result<Vec<ContentId>> {
        let pending = self.pending.lock().map_err(poisoned)?;
        let ids: Vec<ContentId> = ids.into_iter().filter(|id| !(pending_counts && pending.contains_key(id))).collect();
        drop(pending);
        let keys: Vec<&[u8]> = ids.iter().map(|id| &id.as_bytes()[..]).collect();
        let found = self.db.get_many(Table::Blobs, &keys)?;
        let mut out = Vec::new();
        for (id, v) in ids.iter().copied().zip(found) {
            let recorded = v.is_some_and(|v| Loc::decode(&v).is_some());
            if !recorded && !loose.path(&id).is_file() {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Append raw whole contents.
    pub(crate) fn append(&self, id: &ContentId, bytes: &[u8]) -> Result<()> {
        self.append_record(id, bytes, bytes.len() as u64, Codec::Raw, Kind::Bytes)
    }

    /// Append whole contents, zstd-compressed when that pays (the
    /// encoder's contexts are kept per thread: making them costs more than
    /// compressing a small file).
    pub(crate) fn append_encoded(&self, id: &ContentId, bytes: &[u8]) -> Result<()> {
        thread_local! {
            static ENCODER: std::cell::RefCell<Option<Encoder>> = const { std::cell::RefCell::new(None) };
        }
        let what = Path::new("<contents>");
        ENCODER.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.is_none() {
                *slot = Some(Encoder::new().map_err(|e| StoreError::io(what, e))?);
            }
            let enc = slot.as_mut().expect("made above");
            let e = enc.encode(bytes).map_err(|e| StoreError::io(what, e))?;
            self.append_record(id, &e.bytes, bytes.len() as u64, e.codec, Kind::Bytes)
        })
    }

    /// Append one record; its location is recorded by the next `flush`.
    pub(crate) fn append_record(
        &self,
        id: &ContentId,
        bytes: &[u8],
        raw_len: u64,
        codec: Codec,
        kind: Kind,
    ) -> Result<()> {
        let mut guard = self.writer.lock().map_err(poisoned)?;
        if guard.as_ref().is_some_and(|w| w.offset >= self.block_max) {
            if let Some(old) = guard.take() {
                self.seal(old)?;
            }
        }
        if guard.is_none() {
            std::fs::create_dir_all(&self.dir).map_err(|e| StoreError::io(&self.dir, e))?;
            let nanos =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
            let name = format!("{}-{nanos:x}", std::process::id());
            let path = self.dir.join(format!("{name}.seg"));
            if self.store.local_dir().is_none() && self.db.is_postgres() {
                // Replicas on other hosts run gc too: this block is theirs
                // to leave alone until its locations are recorded.
                let key = [crate::gc::LEASE_PREFIX, name.as_bytes()].concat();
                self.db.put_now(Table::Meta, &key, &crate::gc::time_value(std::time::SystemTime::now()))?;
                self.leased.lock().map_err(poisoned)?.insert(name.clone());
            }
            let file =
                OpenOptions::new().create_new(true).append(true).open(&path).map_err(|e| StoreError::io(&path, e))?;
            // gc leaves a segment alone while its writer holds this lock
            // (a writer in another pid namespace, whose pid says nothing).
            crate::tmp::lock_as_writer(&file);
            // A remote block's parts go up while it fills: at its seal only
            // the last part is left to send.
            let stream = self.store.begin(&name, &path).map_err(|e| StoreError::io(&path, e))?;
            *guard = Some(SegWriter { file, name, offset: 0, stream });
        }
        let w = guard.as_mut().expect("writer opened above");
        crate::faults::write_point();
        let mut rec = Vec::with_capacity(RECORD_HEADER as usize + bytes.len());
        rec.extend_from_slice(id.as_bytes());
        // Records are at most a segment long, far below 2^56.
        let flags = (kind as u64) << 4 | u64::from(codec.tag());
        rec.extend_from_slice(&(bytes.len() as u64 | flags << FLAGS_SHIFT).to_le_bytes());
        rec.extend_from_slice(bytes);
        w.file.write_all(&rec).map_err(|e| StoreError::io(self.dir.join(format!("{}.seg", w.name)), e))?;
        let loc = Loc {
            segment: w.name.clone(),
            offset: w.offset + RECORD_HEADER,
            len: bytes.len() as u64,
            raw_len,
            codec,
            kind,
        };
        w.offset += rec.len() as u64;
        if let Some(s) = w.stream.as_mut() {
            s.written(w.offset);
        }
        self.pending.lock().map_err(poisoned)?.insert(*id, loc);
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        // Entries leave `pending` only after their locations are committed:
        // another thread asking `has` in between must find them somewhere.
        //
        // Every record in `pending` was appended to the open block or to one
        // sealed before (append holds the writer lock while it records the
        // location): sealing the open one and waiting for the uploads in
        // flight then makes them all durable, or drops them. The snapshot
        // is taken after that, under the writer lock, and leaves out
        // records of blocks still open or in flight (other operations went
        // on writing meanwhile): recording those would name a block that
        // may never be stored.
        let own = {
            let mut guard = self.writer.lock().map_err(poisoned)?;
            if self.pending.lock().map_err(poisoned)?.is_empty() {
                return Ok(());
            }
            match guard.take() {
                Some(w) => {
                    let name = w.name.clone();
                    self.seal(w)?;
                    Some(name)
                }
                None => None,
            }
        };
        {
            let mut st = self.uploads.state.lock().map_err(poisoned)?;
            let waiting = st.in_flight.clone();
            while st.in_flight.iter().any(|n| waiting.contains(n)) {
                st = self.uploads.done.wait(st).map_err(poisoned)?;
            }
            if let Some(e) = own.and_then(|n| st.failure(&n)) {
                return Err(e);
            }
        }
        let (pending, done): (Vec<(ContentId, Loc)>, Vec<String>) = {
            let guard = self.writer.lock().map_err(poisoned)?;
            let open = guard.as_ref().map(|w| w.name.as_str());
            let st = self.uploads.state.lock().map_err(poisoned)?;
            let p = self.pending.lock().map_err(poisoned)?;
            let pending = p
                .iter()
                .filter(|(_, l)| Some(l.segment.as_str()) != open && !st.in_flight.contains(&l.segment))
                .map(|(k, v)| (*k, v.clone()))
                .collect();
            // Leased blocks neither open nor in flight: every record of
            // theirs still pending is in this snapshot (or was dropped by
            // a failed upload), so their leases go with the recording.
            let leased = self.leased.lock().map_err(poisoned)?;
            let done =
                leased.iter().filter(|b| Some(b.as_str()) != open && !st.in_flight.contains(*b)).cloned().collect();
            (pending, done)
        };
        if pending.is_empty() && done.is_empty() {
            return Ok(());
        }
        crate::faults::write_point();
        let encoded: Vec<([u8; 16], Vec<u8>)> =
            pending.iter().map(|(id, loc)| (*id.as_bytes(), loc.encode())).collect();
        let entries: Vec<(&[u8], &[u8])> = encoded.iter().map(|(k, v)| (&k[..], &v[..])).collect();
        let mut txn = self.db.begin_write()?;
        txn.put_new_all(Table::Blobs, &entries)?;
        for b in &done {
            txn.delete(Table::Meta, &[crate::gc::LEASE_PREFIX, b.as_bytes()].concat())?;
        }
        txn.commit()?;
        {
            let mut leased = self.leased.lock().map_err(poisoned)?;
            for b in &done {
                leased.remove(b);
            }
        }
        let mut p = self.pending.lock().map_err(poisoned)?;
        for (id, loc) in &pending {
            if p.get(id) == Some(loc) {
                p.remove(id);
            }
        }
        if p.is_empty() {
            self.retired.lock().map_err(poisoned)?.clear();
        }
        Ok(())
    }
}

/// One record found by scanning a block (see [`Versions::scan_block`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockRecord {
    /// The id in its header.
    pub id: ContentId,
    /// Where its stored bytes start (after the header).
    pub offset: u64,
    /// Stored length.
    pub len: u64,
    /// Kind and codec, as the header's top byte carries them (0: raw
    /// whole contents).
    pub flags: u8,
}

/// What a block holds, read from its record headers alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockScan {
    /// The block's size.
    pub size: u64,
    /// Its complete records, in order.
    pub records: Vec<BlockRecord>,
    /// Bytes after the last complete record (a writer killed mid-append).
    pub tail: u64,
}

/// Read a block's record headers, in windows of [`READ_WINDOW`] (a remote
/// block is a few ranged GETs, a local one a few preads). A record cut
/// short ends the scan: nothing valid can follow it.
pub(crate) fn scan_records(block: &Block) -> io::Result<BlockScan> {
    let size = block.len()?;
    let mut out = BlockScan { size, ..BlockScan::default() };
    let mut pos = 0u64;
    let mut win: (u64, Vec<u8>) = (0, Vec::new());
    while pos + RECORD_HEADER <= size {
        if pos < win.0 || pos + RECORD_HEADER > win.0 + win.1.len() as u64 {
            win = (pos, block.read_range(pos..(pos + READ_WINDOW).min(size))?);
            if (win.1.len() as u64) < RECORD_HEADER {
                break;
            }
        }
        let at = (pos - win.0) as usize;
        let header = &win.1[at..at + RECORD_HEADER as usize];
        let Some(id) = ContentId::from_slice(&header[..16]) else { break };
        let word = u64::from_le_bytes(header[16..24].try_into().expect("8 bytes"));
        let len = word & ((1 << FLAGS_SHIFT) - 1);
        let data = pos + RECORD_HEADER;
        if len > size - data {
            break;
        }
        out.records.push(BlockRecord { id, offset: data, len, flags: (word >> FLAGS_SHIFT) as u8 });
        pos = data + len;
    }
    out.tail = size - pos;
    Ok(out)
}

pub(crate) fn poisoned<T>(_: T) -> StoreError {
    StoreError::io("versions", io::Error::other("a writer thread panicked"))
}

/// How stored contents differ from what their id promises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// All the bytes are there, but they hash to another id.
    Hash {
        /// What they hash to.
        actual: ContentId,
    },
    /// The stored bytes end early (a truncated file or segment).
    Short {
        /// The length recorded for them.
        expected: u64,
        /// How many there are.
        found: u64,
    },
    /// A compressed record that does not decode to its recorded length.
    Undecodable,
    /// The contents' chunk list is malformed or does not match their length.
    ChunkList(ChunkListError),
    /// The chunk list names a chunk that is not stored.
    MissingChunk {
        /// The chunk's id.
        chunk: ContentId,
    },
    /// A chunk's stored bytes are not the chunk (wrong hash, truncated,
    /// undecodable, or another length than the list says).
    BadChunk {
        /// The chunk's id.
        chunk: ContentId,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Hash { actual } => write!(f, "its bytes hash to {actual}"),
            Mismatch::Short { expected, found } => write!(f, "truncated to {found} of {expected} bytes"),
            Mismatch::Undecodable => write!(f, "its compressed record does not decode"),
            Mismatch::ChunkList(e) => write!(f, "its chunk list is malformed: {e}"),
            Mismatch::MissingChunk { chunk } => write!(f, "its chunk {chunk} is missing"),
            Mismatch::BadChunk { chunk } => write!(f, "its chunk {chunk} is corrupt"),
        }
    }
}

/// Stored file contents that failed verification: the typed error a
/// [`Blob`] reports (inside an `io::Error`, since it is a `Read`) instead
/// of handing out bytes that are not the ones named by the id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("stored contents {id} are corrupt ({problem}) in {}", .file.display())]
pub struct CorruptContent {
    /// The id the contents were stored under.
    pub id: ContentId,
    /// The loose file or segment holding them.
    pub file: PathBuf,
    /// How they are wrong.
    pub problem: Mismatch,
}

impl CorruptContent {
    /// Find a corrupt-content error inside an I/O error (however deeply a
    /// reader stack wrapped it).
    pub fn from_io(e: &io::Error) -> Option<&CorruptContent> {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = match e.get_ref() {
            Some(inner) => Some(inner),
            None => return None,
        };
        while let Some(err) = cur {
            if let Some(c) = err.downcast_ref::<CorruptContent>() {
                return Some(c);
            }
            if let Some(StoreError::CorruptContent { content, .. }) = err.downcast_ref::<StoreError>() {
                return Some(content);
            }
            cur = match err.downcast_ref::<io::Error>() {
                Some(io) => io.get_ref().map(|e| e as &(dyn std::error::Error + 'static)),
                None => err.source(),
            };
        }
        None
    }

    fn to_io(&self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self.clone())
    }
}

/// Stored contents opened for reading, verified as they stream: the bytes
/// are hashed on the way through, and the read that would deliver the last
/// of them fails instead if they do not hash to their id (or the store
/// runs out of bytes before their recorded length). A consumer that reads
/// to the end therefore never accepts corrupt contents as complete, at no
/// cost worth measuring (xxh3 runs far faster than any disk), and the
/// error ([`CorruptContent`], inside the `io::Error`) names the id and the
/// file. [`StoreError::io`] turns it back into a typed store error.
pub struct Blob {
    inner: Source,
    len: u64,
    id: ContentId,
    file: PathBuf,
    hasher: Hasher,
    read: u64,
    state: BlobState,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum BlobState {
    Reading,
    Verified,
    Corrupt(Mismatch),
}

/// Where a [`Blob`]'s bytes come from.
enum Source {
    /// A loose file or a raw record in a local block.
    File(io::Take<File>),
    /// A raw record in a remote block.
    Range(Box<RangeReader>),
    /// A decoded compressed record.
    Memory(io::Cursor<Vec<u8>>),
    /// The chunks of a chunk list, each verified as it is loaded.
    Chunks(Box<ChunkReader>),
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::File(f) => f.read(buf),
            Source::Range(r) => r.read(buf),
            Source::Memory(m) => m.read(buf),
            Source::Chunks(c) => c.read(buf),
        }
    }
}

/// Reads a chunked file's chunks in order, one in memory at a time. Each
/// chunk is checked against its id before any of it is handed out; the
/// [`Blob`] around it checks the whole file's id.
struct ChunkReader {
    file_id: ContentId,
    /// The segment holding the list (named in errors about the list).
    list_file: PathBuf,
    /// The list's bytes, decoded on the first read so that a malformed
    /// list fails a read (like any other corruption), not `open`.
    undecoded: Option<Vec<u8>>,
    list: ChunkList,
    /// The file length the location recorded; the list must agree.
    total: u64,
    next: usize,
    buf: Vec<u8>,
    pos: usize,
    segments: Arc<Segments>,
    /// `.oxen/versions`: a chunk may also be stored as a loose file.
    dir: PathBuf,
    /// The block last read from, kept open for the next chunk.
    open: Option<(String, Block)>,
    /// Stored bytes of consecutive chunks read at once: block, offset of
    /// the first byte, bytes.
    window: Option<(String, u64, Vec<u8>)>,
}

/// The chunk list a [`ChunkReader`] follows.
enum ListToRead {
    /// A stored list's bytes and the file length its location recorded,
    /// decoded on the first read (see [`ChunkReader::undecoded`]).
    Stored { bytes: Vec<u8>, total: u64 },
    /// A list already decoded (one about to be recorded).
    Decoded(ChunkList),
}

impl ChunkReader {
    /// A reader of the chunks `list` names for file `file_id`, looked up
    /// in `segments` (or as loose files in `dir`).
    fn new(file_id: ContentId, list_file: PathBuf, list: ListToRead, segments: Arc<Segments>, dir: PathBuf) -> Self {
        let (undecoded, list, total) = match list {
            ListToRead::Stored { bytes, total } => (Some(bytes), ChunkList::default(), total),
            ListToRead::Decoded(list) => {
                let total = list.total_len();
                (None, list, total)
            }
        };
        ChunkReader {
            file_id,
            list_file,
            undecoded,
            list,
            total,
            next: 0,
            buf: Vec::new(),
            pos: 0,
            segments,
            dir,
            open: None,
            window: None,
        }
    }

    fn fail(&self, file: PathBuf, problem: Mismatch) -> io::Error {
        CorruptContent { id: self.file_id, file, problem }.to_io()
    }

    /// The stored bytes of a record, from the window of consecutive
    /// records read last, or read now together with the records of the
    /// chunks after `at` that follow it in the same block (so a chunked
    /// file streams in large ranged reads, not one per chunk).
    fn stored(&mut self, at: usize, loc: &Loc) -> io::Result<Option<Vec<u8>>> {
        let hit = |w: &(String, u64, Vec<u8>)| {
            w.0 == loc.segment && loc.offset >= w.1 && loc.offset + loc.len <= w.1 + w.2.len() as u64
        };
        if let Some(w) = self.window.as_ref().filter(|w| hit(w)) {
            let from = (loc.offset - w.1) as usize;
            return Ok(Some(w.2[from..from + loc.len as usize].to_vec()));
        }
        let mut end = loc.offset + loc.len;
        for c in self.list.chunks().iter().skip(at + 1) {
            let Ok(Some(next)) = self.segments.lookup(&c.id) else { break };
            let gap_ok = next.offset >= end && next.offset - end <= RECORD_HEADER;
            if next.segment != loc.segment || !gap_ok || next.offset + next.len - loc.offset > READ_WINDOW {
                break;
            }
            end = next.offset + next.len;
        }
        let Some((_, block)) = &self.open else { return Ok(None) };
        let bytes = block.read_range(loc.offset..end)?;
        if (bytes.len() as u64) < loc.len {
            return Ok(None);
        }
        let first = bytes[..loc.len as usize].to_vec();
        self.window = Some((loc.segment.clone(), loc.offset, bytes));
        Ok(Some(first))
    }

    /// The verified bytes of chunk `at` of the list.
    fn load(&mut self, at: usize, c: ChunkRef) -> io::Result<Vec<u8>> {
        let bad = |me: &Self, file: PathBuf| me.fail(file, Mismatch::BadChunk { chunk: c.id });
        let loc = self.segments.lookup(&c.id).map_err(io::Error::other)?;
        let (bytes, file) = match loc {
            Some(mut loc) => {
                if self.open.as_ref().is_none_or(|(name, _)| *name != loc.segment) {
                    let (found, b) = self.segments.open_located(&c.id, loc).map_err(io::Error::other)?;
                    loc = found;
                    self.open = Some((loc.segment.clone(), b));
                }
                let path = match &self.open {
                    Some((_, b)) => b.path().to_path_buf(),
                    None => self.segments.path(&loc.segment),
                };
                if loc.kind != Kind::Bytes || loc.raw_len != u64::from(c.len) || loc.len > MAX_DECODED_LEN {
                    return Err(bad(self, path));
                }
                let Some(stored) = self.stored(at, &loc)? else { return Err(bad(self, path)) };
                match codec::decode(loc.codec, &stored, loc.raw_len) {
                    Ok(raw) => (raw.into_owned(), path),
                    Err(_) => return Err(bad(self, path)),
                }
            }
            None => {
                let hex = c.id.to_hex();
                let path = self.dir.join(&hex[..2]).join(&hex[2..]);
                match std::fs::read(&path) {
                    Ok(b) => (b, path),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        return Err(self.fail(self.list_file.clone(), Mismatch::MissingChunk { chunk: c.id }))
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        if bytes.len() as u64 != u64::from(c.len) || ContentId::of(&bytes) != c.id {
            return Err(bad(self, file));
        }
        Ok(bytes)
    }
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(bytes) = self.undecoded.take() {
            let list =
                ChunkList::decode(&bytes).map_err(|e| self.fail(self.list_file.clone(), Mismatch::ChunkList(e)))?;
            if list.total_len() != self.total {
                let e = ChunkListError::BadTotal(list.total_len());
                return Err(self.fail(self.list_file.clone(), Mismatch::ChunkList(e)));
            }
            self.list = list;
        }
        while self.pos == self.buf.len() {
            let Some(c) = self.list.chunks().get(self.next).copied() else { return Ok(0) };
            self.buf = self.load(self.next, c)?;
            self.next += 1;
            self.pos = 0;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Blob {
    fn new(file: File, len: u64, id: ContentId, path: PathBuf) -> Blob {
        Blob::from_source(Source::File(file.take(len)), len, id, path)
    }

    fn from_source(inner: Source, len: u64, id: ContentId, path: PathBuf) -> Blob {
        Blob { inner, len, id, file: path, hasher: Hasher::new(), read: 0, state: BlobState::Reading }
    }

    /// A blob whose first read reports `problem`.
    fn broken(len: u64, id: ContentId, path: PathBuf, problem: Mismatch) -> Blob {
        let mut b = Blob::from_source(Source::Memory(io::Cursor::new(Vec::new())), len, id, path);
        b.state = BlobState::Corrupt(problem);
        b
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }
    /// True for empty contents.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The id the contents must hash to.
    pub fn id(&self) -> ContentId {
        self.id
    }

    fn corrupt(&mut self, problem: Mismatch) -> io::Error {
        self.state = BlobState::Corrupt(problem);
        self.error(problem).to_io()
    }

    fn error(&self, problem: Mismatch) -> CorruptContent {
        CorruptContent { id: self.id, file: self.file.clone(), problem }
    }

    /// A read error as a store error: corruption stays typed, anything
    /// else names the file the contents live in.
    pub fn store_error(&self, e: io::Error) -> StoreError {
        match CorruptContent::from_io(&e) {
            Some(c) => StoreError::CorruptContent { path: None, content: c.clone() },
            None => StoreError::io(&self.file, e),
        }
    }
}

impl Read for Blob {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.state {
            BlobState::Reading => {}
            BlobState::Verified => return Ok(0),
            BlobState::Corrupt(p) => return Err(self.error(p).to_io()),
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        if n == 0 && self.read < self.len {
            return Err(self.corrupt(Mismatch::Short { expected: self.len, found: self.read }));
        }
        if self.read == self.len {
            let actual = self.hasher.finish();
            if actual != self.id {
                return Err(self.corrupt(Mismatch::Hash { actual }));
            }
            self.state = BlobState::Verified;
        }
        Ok(n)
    }
}

/// Handle on `.oxen/versions`.
///
/// A handle is one operation's view of the store: its clones (threads of
/// the same operation) share what it wrote, [`Versions::operation`] starts
/// another operation on the same blocks. Operations of one process share
/// the open block, so a failed seal drops records of every operation that
/// wrote to it; each handle keeps the ids it wrote or found only pending
/// since its last flush, so that its own [`Versions::flush`] fails when any
/// of them was dropped, whoever's flush or append the failure hit.
#[derive(Clone)]
pub struct Versions {
    pub(crate) dir: PathBuf,
    pub(crate) tmp: PathBuf,
    pub(crate) segments: Option<Arc<Segments>>,
    op: Arc<Mutex<OpDeps>>,
    promisor: Arc<std::sync::OnceLock<Arc<dyn Promisor>>>,
    /// Whether the directory may hold loose files (a store from before
    /// segments): found once, so that a store with segments does not look
    /// for a loose copy of every new content (a path walk per file added).
    loose: Arc<std::sync::OnceLock<bool>>,
}

/// Where a partial clone's missing contents come from: a read of a content
/// that is not stored asks it, then reads again (so every read stays
/// verified). Set once per handle with [`Versions::set_promisor`].
pub trait Promisor: Send + Sync {
    /// Store `ids` here (fetched from the promisor remote), or say why not.
    fn fetch(&self, ids: &[ContentId]) -> std::result::Result<(), String>;
    /// The remote's name, for messages.
    fn remote(&self) -> String;
}

/// What one operation wrote to blocks, or relied on while it was only
/// pending, since its last successful flush.
#[derive(Default)]
struct OpDeps {
    /// The seal-failure count read before the first of `ids` was noted:
    /// while it has not moved, none of them can have been dropped.
    since: Option<u64>,
    ids: HashSet<ContentId>,
    /// The seal-failure count [`Versions::fail_early`] last checked at.
    checked: Option<u64>,
}

impl OpDeps {
    fn add(&mut self, since: u64, ids: impl IntoIterator<Item = ContentId>) {
        self.since = Some(self.since.map_or(since, |s| s.min(since)));
        self.ids.extend(ids);
    }
}

impl std::fmt::Debug for Versions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Versions").field("dir", &self.dir).finish()
    }
}

impl Versions {
    /// A store of loose files only, rooted at `dir`, staging temp files in
    /// `tmp` (same filesystem).
    pub fn new(dir: PathBuf, tmp: PathBuf) -> Versions {
        Versions { dir, tmp, segments: None, op: Arc::default(), promisor: Arc::default(), loose: Arc::default() }
    }

    /// A store that also packs small contents into segments indexed by the
    /// `blobs` table of `db`.
    pub(crate) fn with_segments(
        dir: PathBuf,
        tmp: PathBuf,
        db: crate::Db,
        store: Option<Arc<dyn ContentStore>>,
    ) -> Versions {
        let seg_dir = dir.join("segments");
        let store = store.unwrap_or_else(|| Arc::new(crate::blockstore::LocalStore::new(seg_dir.clone())));
        let journal: Option<Arc<dyn crate::blockstore::UploadJournal>> = match store.local_dir() {
            Some(_) => None,
            // Replicas on any host write and gc a PostgreSQL repository:
            // its uploads are recorded where they all look.
            None if db.is_postgres() => Some(Arc::new(crate::gc::MetaJournal::new(db.clone()))),
            None => Some(Arc::new(crate::blockstore::DirJournal::new(dir.join("uploads"), tmp.clone()))),
        };
        if let Some(j) = &journal {
            store.journal_uploads(j.clone());
        }
        let segments = Segments {
            db,
            dir: seg_dir,
            store,
            remote_sizes: Mutex::new(HashMap::new()),
            read_ahead: Arc::default(),
            writer: Mutex::new(None),
            pending: Arc::default(),
            retired: Arc::new(Mutex::new(Vec::new())),
            seal_failures: Arc::default(),
            uploads: Arc::default(),
            block_max: BLOCK_MAX,
            leased: Mutex::default(),
            prefetched: Mutex::default(),
            journal,
        };
        Versions {
            dir,
            tmp,
            segments: Some(Arc::new(segments)),
            op: Arc::default(),
            promisor: Arc::default(),
            loose: Arc::default(),
        }
    }

    /// A handle for another operation on the same store (same open block,
    /// same pending locations), whose [`Versions::flush`] answers for its
    /// own writes only. A server makes one per request.
    pub fn operation(&self) -> Versions {
        Versions { op: Arc::default(), ..self.clone() }
    }

    /// Note that this operation wrote, or relies on the pending record of,
    /// `ids`, with the seal-failure count `since` read before.
    fn note(&self, since: u64, ids: impl IntoIterator<Item = ContentId>) {
        // A set of ids is consistent whatever a panicking thread did.
        self.op.lock().unwrap_or_else(|p| p.into_inner()).add(since, ids);
    }

    /// Append through `f`, noting `id` as this operation's.
    fn appending(&self, s: &Segments, id: &ContentId, f: impl FnOnce() -> Result<()>) -> Result<()> {
        let since = s.epoch();
        f()?;
        self.note(since, [*id]);
        self.fail_early(s)
    }

    /// A block failed to be stored since this operation noted its first
    /// write: if it took any of them, say so now rather than at the flush
    /// (a push goes on receiving while blocks upload in the background; a
    /// store that is down must stop it at once, not after every block).
    /// Checked once per failure, so it costs nothing while nothing fails.
    fn fail_early(&self, s: &Segments) -> Result<()> {
        let now = s.epoch();
        let ids: Vec<ContentId> = {
            let mut op = self.op.lock().unwrap_or_else(|p| p.into_inner());
            match op.since {
                Some(since) if since != now && op.checked != Some(now) => {
                    op.checked = Some(now);
                    op.ids.iter().copied().collect()
                }
                _ => return Ok(()),
            }
        };
        let lost = s.unrecorded(ids, self, true)?;
        match lost.first() {
            None => Ok(()),
            Some(&first) => Err(StoreError::Unrecorded { first, count: lost.len(), cause: s.last_failure() }),
        }
    }

    /// Seal blocks at `n` bytes instead of [`BLOCK_MAX`] (tests: many
    /// blocks from little data). Only on a handle not yet shared.
    #[cfg(test)]
    pub(crate) fn set_block_max(&mut self, n: u64) {
        if let Some(s) = self.segments.as_mut().and_then(Arc::get_mut) {
            s.block_max = n;
        }
    }

    #[cfg(test)]
    fn segments(&self) -> &Segments {
        self.segments.as_deref().expect("a store with segments")
    }

    /// Whether loose files may be stored here: a shard directory (two hex
    /// digits) exists. Only a store without segments writes them, so with
    /// segments the answer found at first use stands; were a loose copy
    /// written meanwhile by an older binary, missing it only stores the
    /// contents once more.
    pub(crate) fn may_hold_loose(&self) -> bool {
        *self.loose.get_or_init(|| match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd.flatten().any(|e| {
                let n = e.file_name();
                let n = n.as_encoded_bytes();
                n.len() == 2 && n.iter().all(|c| c.is_ascii_hexdigit())
            }),
            Err(e) => e.kind() != io::ErrorKind::NotFound,
        })
    }

    /// Where the contents of `id` live as a loose file.
    pub fn path(&self, id: &ContentId) -> PathBuf {
        let hex = id.to_hex();
        self.dir.join(&hex[..2]).join(&hex[2..])
    }

    /// The file holding `id` and the byte offset of its contents in it
    /// (0 for a loose file), if stored. For debugging and tests.
    pub fn locate(&self, id: &ContentId) -> Result<Option<(PathBuf, u64)>> {
        let p = self.path(id);
        if p.is_file() {
            return Ok(Some((p, 0)));
        }
        if let Some(s) = &self.segments {
            if let Some(l) = s.lookup(id)? {
                let local = s.path(&l.segment);
                let p = if local.is_file() { local } else { s.store.describe(&l.segment) };
                return Ok(Some((p, l.offset)));
            }
        }
        Ok(None)
    }

    /// Whether the contents of `id` are stored.
    pub fn has(&self, id: &ContentId) -> bool {
        if let Some(s) = &self.segments {
            let since = s.epoch();
            if let Ok(Some((_, pending))) = s.lookup_pending(id) {
                if pending {
                    // Another operation's record, maybe: this one now
                    // relies on it being recorded.
                    self.note(since, [*id]);
                }
                return true;
            }
        }
        self.path(id).is_file()
    }

    /// Make reads of contents that are not stored fetch them through
    /// `p` first (a partial clone). Shared by every clone of this handle;
    /// a second call is ignored.
    pub fn set_promisor(&self, p: Arc<dyn Promisor>) {
        let _ = self.promisor.set(p);
    }

    /// Whether a promisor is set (this is a partial clone's store).
    pub fn has_promisor(&self) -> bool {
        self.promisor.get().is_some()
    }

    /// Fetch those of `ids` not stored here from the promisor, in one
    /// round (no-op without a promisor or when all are here).
    pub fn fetch_missing(&self, ids: &[ContentId]) -> Result<()> {
        let Some(p) = self.promisor.get() else { return Ok(()) };
        let missing = self.missing(ids)?;
        if missing.is_empty() {
            return Ok(());
        }
        p.fetch(&missing).map_err(|cause| StoreError::NotFetched {
            id: missing[0],
            path: None,
            remote: p.remote(),
            cause,
        })
    }

    /// Open stored contents for reading, verified as they stream (see
    /// [`Blob`]): there is no unverified read. In a partial clone, contents
    /// not stored are fetched from the promisor remote first.
    pub fn open(&self, id: &ContentId) -> Result<Blob> {
        match self.open_stored(id) {
            Err(StoreError::MissingObject(m)) if m == *id && self.has_promisor() => {
                self.fetch_missing(&[*id])?;
                self.open_stored(id)
            }
            r => r,
        }
    }

    fn open_stored(&self, id: &ContentId) -> Result<Blob> {
        let p = self.path(id);
        match File::open(&p) {
            Ok(f) => {
                let len = f.metadata().map_err(|e| StoreError::io(&p, e))?.len();
                return Ok(Blob::new(f, len, *id, p));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(p, e)),
        }
        let Some(s) = &self.segments else { return Err(StoreError::MissingObject(*id)) };
        let Some(loc) = s.lookup(id)? else { return Err(StoreError::MissingObject(*id)) };
        let (loc, block) = s.open_located(id, loc)?;
        let sp = block.path().to_path_buf();
        if loc.kind == Kind::Bytes && loc.codec == Codec::Raw {
            return match block {
                Block::File { mut f, .. } => {
                    f.seek(SeekFrom::Start(loc.offset)).map_err(|e| StoreError::io(&sp, e))?;
                    Ok(Blob::new(f, loc.len, *id, sp))
                }
                remote => {
                    let r = RangeReader {
                        block: remote,
                        pos: loc.offset,
                        end: loc.offset + loc.len,
                        buf: Vec::new(),
                        at: 0,
                    };
                    Ok(Blob::from_source(Source::Range(Box::new(r)), loc.len, *id, sp))
                }
            };
        }
        // Compressed records (a chunk, or contents under the threshold) and
        // chunk lists (20 bytes a chunk) are read whole. A damaged length
        // cannot make that allocate without bound: compressed records are
        // capped, and nothing is read past the segment's end.
        if loc.kind == Kind::Bytes && loc.len > MAX_DECODED_LEN {
            return Ok(Blob::broken(loc.raw_len, *id, sp, Mismatch::Undecodable));
        }
        let seg_len = block.len().map_err(|e| StoreError::io(&sp, e))?;
        let available = seg_len.saturating_sub(loc.offset);
        if available < loc.len {
            return Ok(Blob::broken(loc.raw_len, *id, sp, Mismatch::Short { expected: loc.len, found: available }));
        }
        let stored = block.read_range(loc.offset..loc.offset + loc.len).map_err(|e| StoreError::io(&sp, e))?;
        if (stored.len() as u64) < loc.len {
            let found = stored.len() as u64;
            return Ok(Blob::broken(loc.raw_len, *id, sp, Mismatch::Short { expected: loc.len, found }));
        }
        match (loc.kind, loc.codec) {
            (Kind::Bytes, codec) => match codec::decode(codec, &stored, loc.raw_len) {
                Ok(raw) => {
                    Ok(Blob::from_source(Source::Memory(io::Cursor::new(raw.into_owned())), loc.raw_len, *id, sp))
                }
                Err(_) => Ok(Blob::broken(loc.raw_len, *id, sp, Mismatch::Undecodable)),
            },
            (Kind::ChunkList, Codec::Raw) => {
                let list = ListToRead::Stored { bytes: stored, total: loc.raw_len };
                let reader = ChunkReader::new(*id, sp.clone(), list, s.clone(), self.dir.clone());
                Ok(Blob::from_source(Source::Chunks(Box::new(reader)), loc.raw_len, *id, sp))
            }
            (Kind::ChunkList, _) => {
                Ok(Blob::broken(loc.raw_len, *id, sp, Mismatch::ChunkList(ChunkListError::BadMagic)))
            }
        }
    }

    /// The contents of many small files at once, verified, for a checkout
    /// writing a batch of them: each block holding any is opened once and
    /// its records read where they are (`pread`), rather than a failed
    /// look for a loose file, an open, a seek and a close per content (a
    /// clone of 100k small files spent most of its system time there). In
    /// the order of `ids`; `None` for contents this does not read (not in
    /// a local block, longer than `max`, not whole contents, or not
    /// matching their id, or past `budget` bytes in all): the caller opens
    /// those with [`Versions::open`], which fetches, reports damage and
    /// reads loose files as always.
    pub fn read_small(&self, ids: &[ContentId], max: u64, budget: u64) -> Result<Vec<Option<Vec<u8>>>> {
        use std::os::unix::fs::FileExt;
        let mut out: Vec<Option<Vec<u8>>> = vec![None; ids.len()];
        let Some(s) = &self.segments else { return Ok(out) };
        let mut by_block: HashMap<String, Vec<(usize, Loc)>> = HashMap::new();
        let mut left = budget;
        for (i, id) in ids.iter().enumerate() {
            match s.lookup(id)? {
                Some(l)
                    if l.kind == Kind::Bytes && l.raw_len <= max && l.len <= max && l.raw_len.max(l.len) <= left =>
                {
                    left -= l.raw_len.max(l.len);
                    by_block.entry(l.segment.clone()).or_default().push((i, l))
                }
                _ => {}
            }
        }
        for (name, locs) in by_block {
            let Ok(Some(Block::File { f, .. })) = s.open_block(&name) else { continue };
            for (i, l) in locs {
                let mut stored = vec![0u8; l.len as usize];
                if f.read_exact_at(&mut stored, l.offset).is_err() {
                    continue;
                }
                let raw = match l.codec {
                    Codec::Raw => stored,
                    c => match codec::decode(c, &stored, l.raw_len) {
                        Ok(raw) => raw.into_owned(),
                        Err(_) => continue,
                    },
                };
                if raw.len() as u64 == l.raw_len && ContentId::of(&raw) == ids[i] {
                    out[i] = Some(raw);
                }
            }
        }
        Ok(out)
    }

    /// Read stored contents whole, verified (for diff and merge of modest files).
    pub fn read_all(&self, id: &ContentId) -> Result<Vec<u8>> {
        let mut b = self.open(id)?;
        // The recorded length sizes the buffer, but is not trusted with an
        // allocation of any size: a damaged record could claim terabytes.
        let mut v = Vec::with_capacity(b.len().min(64 << 20) as usize);
        b.read_to_end(&mut v).map_err(|e| b.store_error(e))?;
        Ok(v)
    }

    /// Size of stored contents (as recorded: not read, not verified).
    pub fn size(&self, id: &ContentId) -> Result<u64> {
        Ok(self.open(id)?.len())
    }

    /// Record segment locations written so far (syncing the segment first).
    /// Call before anything that refers to the new contents is committed.
    ///
    /// Fails ([`StoreError::Unrecorded`]) when something this operation
    /// wrote, or found only pending and relied on, since its last
    /// successful flush was dropped by a failed seal, even one another
    /// operation's append or flush ran into; those ids stay noted, so every
    /// later flush fails too until they are written again.
    pub fn flush(&self) -> Result<()> {
        let Some(s) = &self.segments else { return Ok(()) };
        let r = self.flush_noted(s);
        // Failures so far are this flush's to report: an early failure
        // (see `fail_early`) is for later ones, so that a retry can write
        // the lost contents again.
        self.op.lock().unwrap_or_else(|p| p.into_inner()).checked = Some(s.epoch());
        r
    }

    fn flush_noted(&self, s: &Segments) -> Result<()> {
        let deps = std::mem::take(&mut *self.op.lock().unwrap_or_else(|p| p.into_inner()));
        let restore = |since: u64, ids: Vec<ContentId>| self.note(since, ids);
        if let Err(e) = s.flush() {
            if let Some(since) = deps.since {
                restore(since, deps.ids.into_iter().collect());
            }
            return Err(e);
        }
        let Some(since) = deps.since else { return Ok(()) };
        if s.epoch() == since {
            // No seal failed since the first was noted: each was pending or
            // recorded then, so the flush just done recorded it.
            return Ok(());
        }
        let lost = match s.unrecorded(deps.ids.iter().copied(), self, false) {
            Ok(lost) => lost,
            Err(e) => {
                restore(since, deps.ids.into_iter().collect());
                return Err(e);
            }
        };
        match lost.first() {
            None => Ok(()),
            Some(&first) => {
                let count = lost.len();
                // Checked again by every flush until written again.
                restore(0, lost);
                Err(StoreError::Unrecorded { first, count, cause: s.last_failure() })
            }
        }
    }

    /// Stream everything from `reader` into the store, hashing as it goes,
    /// and return its id and length: chunked into segments when the store
    /// has them, else a loose file. Memory use is bounded, whatever the size.
    pub fn write_reader<R: Read>(&self, reader: R, what: &Path) -> Result<(ContentId, u64)> {
        if let Some(s) = &self.segments {
            return self.write_chunked(s, reader, what);
        }
        let (tmp, id, len) = self.stage_stream(reader, what)?;
        self.publish(tmp, &id)?;
        Ok((id, len))
    }

    /// Store a stream as chunks plus a chunk list (see the module docs):
    /// chunks already stored are skipped, new ones appended (compressed when
    /// that pays), then the list, unless the contents are already stored.
    fn write_chunked<R: Read>(&self, s: &Segments, reader: R, what: &Path) -> Result<(ContentId, u64)> {
        self.write_chunked_checked(s, reader, what, None)
    }

    /// [`Versions::write_chunked`] for a file: its slices are read and cut
    /// on several cores (see [`oxen_chunk::chunk_file`]), same chunks.
    fn write_chunked_file(&self, s: &Segments, f: &File, what: &Path) -> Result<(ContentId, u64)> {
        self.store_chunks(s, what, None, |sink| oxen_chunk::chunk_file(f, sink))
    }

    /// [`Versions::write_chunked`], and with `expected` the list is
    /// appended only if the contents hash to it (the chunks, each stored
    /// under its own id, are harmless either way).
    fn write_chunked_checked<R: Read>(
        &self,
        s: &Segments,
        reader: R,
        what: &Path,
        expected: Option<&ContentId>,
    ) -> Result<(ContentId, u64)> {
        self.store_chunks(s, what, expected, |sink| chunk_stream(reader, sink))
    }

    /// The body of [`Versions::write_chunked_checked`], for any chunker:
    /// `chunk` cuts the contents, calling the sink it is given with each
    /// chunk in order.
    fn store_chunks<C>(
        &self,
        s: &Segments,
        what: &Path,
        expected: Option<&ContentId>,
        chunk: C,
    ) -> Result<(ContentId, u64)>
    where
        C: FnOnce(&mut dyn FnMut(&Chunk<'_>) -> Result<()>) -> std::result::Result<Chunked, ChunkError<StoreError>>,
    {
        let mut enc = Encoder::new().map_err(|e| StoreError::io(what, e))?;
        let chunked = chunk(&mut |c: &Chunk<'_>| {
            if self.has_fresh(&c.id) {
                return Ok(());
            }
            let e = enc.encode(c.data).map_err(|e| StoreError::io(what, e))?;
            self.appending(s, &c.id, || s.append_record(&c.id, &e.bytes, c.data.len() as u64, e.codec, Kind::Bytes))
        })
        .map_err(|e| match e {
            ChunkError::Read(e) => StoreError::io(what, e),
            ChunkError::Sink(e) => e,
            ChunkError::Params(p) => StoreError::io(what, io::Error::other(format!("chunk parameters {p:?}"))),
        })?;
        let (id, len) = (chunked.id, chunked.list.total_len());
        if let Some(want) = expected.filter(|want| **want != id) {
            return Err(StoreError::Corrupt(*want, id));
        }
        // A single chunk is the contents themselves, already stored above.
        if !self.has_fresh(&id) {
            self.appending(s, &id, || {
                if len == 0 {
                    s.append(&id, b"")
                } else {
                    s.append_record(&id, &chunked.list.encode(), len, Codec::Raw, Kind::ChunkList)
                }
            })?;
        }
        Ok((id, len))
    }

    /// Copy a stream into a temp file, hashing it.
    fn stage_stream<R: Read>(&self, reader: R, what: &Path) -> Result<(tempfile::NamedTempFile, ContentId, u64)> {
        let mut tmp = crate::tmp::temp_file(&self.tmp)?;
        let (id, len) = copy_hashing(reader, tmp.as_file_mut()).map_err(|e| match e {
            CopyError::Read(e) => StoreError::io(what, e),
            CopyError::Write(e) => StoreError::io(tmp.path(), e),
        })?;
        Ok((tmp, id, len))
    }

    /// Make a staged temp file visible under its id (a no-op if already stored).
    fn publish(&self, tmp: tempfile::NamedTempFile, id: &ContentId) -> Result<()> {
        let dest = self.path(id);
        if !self.has_fresh(id) {
            self.ensure_shard(&dest)?;
            crate::faults::write_point();
            tmp.persist(&dest).map_err(|e| StoreError::io(&dest, e.error))?;
        }
        Ok(())
    }

    /// Store a file from disk. Small files are read whole (one syscall, and
    /// nothing is written when the content is already stored); large files
    /// are streamed.
    pub fn write_file(&self, src: &Path) -> Result<(ContentId, u64)> {
        let f = File::open(src).map_err(|e| StoreError::io(src, e))?;
        self.write_open_file(f, src)
    }

    /// [`Versions::write_file`] for a file already open (work-tree files are
    /// opened relative to their directory, never by a path that a symlink
    /// could redirect); `what` names it in errors.
    pub fn write_open_file(&self, mut f: File, src: &Path) -> Result<(ContentId, u64)> {
        let len = f.metadata().map_err(|e| StoreError::io(src, e))?.len();
        if let (Some(s), true) = (&self.segments, len >= CHUNK_THRESHOLD) {
            return self.write_chunked_file(s, &f, src);
        }
        if len as usize <= SMALL_MAX || (self.segments.is_some() && len < CHUNK_THRESHOLD) {
            let mut bytes = Vec::with_capacity(len as usize);
            f.read_to_end(&mut bytes).map_err(|e| StoreError::io(src, e))?;
            let id = self.write_bytes(&bytes)?;
            return Ok((id, bytes.len() as u64));
        }
        self.write_reader(f, src)
    }

    /// [`Versions::write_open_file`] of a file whose size the caller has
    /// just taken (a work-tree walk's stat): a small file is read with one
    /// `read` into a buffer of that size plus one byte, instead of asking
    /// the kernel its size and position again and reading once more to see
    /// the end. A file that grew meanwhile is read to its end; one that
    /// shrank ends the first read short (a regular file reads short only
    /// at its end). Either way the stat no longer matches, so the next
    /// status reads it again.
    pub fn write_open_file_sized(&self, mut f: File, len: u64, src: &Path) -> Result<(ContentId, u64)> {
        let small = len as usize <= SMALL_MAX || (self.segments.is_some() && len < CHUNK_THRESHOLD);
        if !small {
            return self.write_open_file(f, src);
        }
        let mut bytes = vec![0u8; len as usize + 1];
        let mut n = 0;
        loop {
            match f.read(&mut bytes[n..]) {
                Ok(0) => break,
                Ok(k) => {
                    n += k;
                    if n == bytes.len() {
                        f.read_to_end(&mut bytes).map_err(|e| StoreError::io(src, e))?;
                        n = bytes.len();
                        break;
                    }
                    if n as u64 == len {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(StoreError::io(src, e)),
            }
        }
        bytes.truncate(n);
        let id = self.write_bytes(&bytes)?;
        Ok((id, n as u64))
    }

    /// Store a byte slice: with segments, chunked from [`CHUNK_THRESHOLD`]
    /// bytes and appended whole below it; without, a loose file.
    pub fn write_bytes(&self, bytes: &[u8]) -> Result<ContentId> {
        let id = ContentId::of(bytes);
        if self.has_fresh(&id) {
            return Ok(id);
        }
        self.store_bytes(id, bytes)?;
        Ok(id)
    }

    /// Read the locations of `ids` ahead, in one query, for a reader about
    /// to open them one by one (a pack being sent): on PostgreSQL each
    /// lookup is a round trip. Only there; LMDB's are memory reads.
    pub fn prefetch(&self, ids: &[ContentId]) -> Result<()> {
        let Some(s) = &self.segments else { return Ok(()) };
        if !s.db.is_postgres() || ids.is_empty() {
            return Ok(());
        }
        let keys: Vec<&[u8]> = ids.iter().map(|id| &id.as_bytes()[..]).collect();
        let found = s.db.get_many(Table::Blobs, &keys)?;
        let mut p = s.prefetched.lock().map_err(poisoned)?;
        // Bounded: readers that stopped early leave theirs behind.
        if p.len() > 100_000 {
            p.clear();
        }
        for (id, v) in ids.iter().zip(found) {
            if let Some(loc) = v.and_then(|v| Loc::decode(&v)) {
                p.insert(*id, loc);
            }
        }
        Ok(())
    }

    /// Store many contents held in memory, each with its id (the caller
    /// verified it): one [`Versions::missing`] query for the batch (which
    /// freshens the blocks of those already stored, as a skip does)
    /// instead of a lookup each, then the missing ones are written as
    /// [`Versions::write_bytes`] would. How many were written. On
    /// PostgreSQL a lookup is a round trip: a push of many small files
    /// spent most of its receive in them.
    pub fn write_many(&self, contents: &[(ContentId, &[u8])]) -> Result<u64> {
        let ids: Vec<ContentId> = contents.iter().map(|(id, _)| *id).collect();
        let missing: HashSet<ContentId> = self.missing(&ids)?.into_iter().collect();
        let mut written = 0;
        let mut done = HashSet::new();
        for (id, bytes) in contents {
            if missing.contains(id) && done.insert(*id) {
                self.store_bytes(*id, bytes)?;
                written += 1;
            }
        }
        Ok(written)
    }

    /// [`Versions::write_bytes`] of contents known not to be stored.
    fn store_bytes(&self, id: ContentId, bytes: &[u8]) -> Result<()> {
        if let (Some(s), true) = (&self.segments, bytes.len() as u64 >= CHUNK_THRESHOLD) {
            return self.write_chunked(s, bytes, Path::new("<memory>")).map(|_| ());
        }
        if let (Some(s), true) = (&self.segments, bytes.len() as u64 <= CHUNK_THRESHOLD) {
            return self.appending(s, &id, || s.append_encoded(&id, bytes));
        }
        // Loose from memory: contents past SMALL_MAX, rare enough that the
        // cross-directory rename from tmp/ costs nothing, and staged where
        // a killed writer's leftovers are swept (see `crate::tmp`).
        let mut tmp = crate::tmp::temp_file(&self.tmp)?;
        tmp.write_all(bytes).map_err(|e| StoreError::io(tmp.path(), e))?;
        self.publish(tmp, &id)
    }

    /// Which of `ids` are not stored (as whole contents, chunks or chunk
    /// lists), in their order: one database transaction for the batch, for
    /// has-chunk queries in sync.
    pub fn missing(&self, ids: &[ContentId]) -> Result<Vec<ContentId>> {
        let mut out = Vec::new();
        let mut loose = LooseCheck::default();
        let Some(s) = &self.segments else {
            return Ok(ids.iter().filter(|id| !loose.is_file(self, id)).copied().collect());
        };
        let since = s.epoch();
        let mut relied = Vec::new();
        // The peer will not send what is stored here: its blocks are
        // freshened (see `gc::FRESHEN_AFTER`) once the query is answered.
        let mut present = Vec::new();
        {
            // Pending first, then the table: a location that leaves
            // `pending` is committed before it does.
            let pending = s.pending.lock().map_err(poisoned)?;
            let keys: Vec<&[u8]> = ids.iter().map(|id| &id.as_bytes()[..]).collect();
            let found = s.db.get_many(Table::Blobs, &keys)?;
            for (id, v) in ids.iter().zip(found) {
                let recorded = match v.and_then(|v| Loc::decode(&v)) {
                    Some(l) => {
                        present.push(l.segment);
                        true
                    }
                    None => false,
                };
                if recorded {
                    continue;
                }
                if pending.contains_key(id) {
                    relied.push(*id);
                } else if !loose.is_file(self, id) {
                    out.push(*id);
                }
            }
        }
        if !relied.is_empty() {
            self.note(since, relied);
        }
        present.sort();
        present.dedup();
        let mut touched = false;
        for name in &present {
            touched |= self.freshen_block(s, name);
        }
        if touched {
            // A gc that judged a block old before the touch may have
            // removed locations since: ask again (the blocks are fresh now).
            return self.missing(ids);
        }
        Ok(out)
    }

    /// The chunk list of stored contents, if they are stored chunked (`None`
    /// for whole contents). Checked for shape, not against the chunks.
    pub fn chunk_list(&self, id: &ContentId) -> Result<Option<ChunkList>> {
        let Some(s) = &self.segments else { return Ok(None) };
        let Some(loc) = s.lookup(id)? else {
            return if self.path(id).is_file() { Ok(None) } else { Err(StoreError::MissingObject(*id)) };
        };
        if loc.kind != Kind::ChunkList {
            return Ok(None);
        }
        let (loc, block) = s.open_located(id, loc)?;
        let sp = block.path().to_path_buf();
        let corrupt = |problem| StoreError::CorruptContent {
            path: None,
            content: CorruptContent { id: *id, file: sp.clone(), problem },
        };
        let available = block.len().map_err(|e| StoreError::io(&sp, e))?.saturating_sub(loc.offset);
        if available < loc.len {
            return Err(corrupt(Mismatch::Short { expected: loc.len, found: available }));
        }
        let b = block.read_range(loc.offset..loc.offset + loc.len).map_err(|e| StoreError::io(&sp, e))?;
        if (b.len() as u64) < loc.len {
            return Err(corrupt(Mismatch::Short { expected: loc.len, found: b.len() as u64 }));
        }
        let list = ChunkList::decode(&b).map_err(|e| corrupt(Mismatch::ChunkList(e)))?;
        if list.total_len() != loc.raw_len {
            return Err(corrupt(Mismatch::ChunkList(ChunkListError::BadTotal(list.total_len()))));
        }
        Ok(Some(list))
    }

    /// Store one chunk (compressed when that pays), as received in sync;
    /// returns its id. Recorded by the next [`Versions::flush`].
    pub fn write_chunk(&self, bytes: &[u8]) -> Result<ContentId> {
        let id = ContentId::of(bytes);
        if self.has_fresh(&id) {
            return Ok(id);
        }
        let Some(s) = &self.segments else { return self.write_bytes(bytes) };
        let what = Path::new("<chunk>");
        let e = Encoder::new().and_then(|mut enc| enc.encode(bytes).map(|e| (e.codec, e.bytes.into_owned())));
        let (codec, stored) = e.map_err(|e| StoreError::io(what, e))?;
        self.appending(s, &id, || s.append_record(&id, &stored, bytes.len() as u64, codec, Kind::Bytes))?;
        Ok(id)
    }

    /// Record `list` as the contents `id` (sync's receiving side): every
    /// chunk must be stored, and their bytes in order must hash to `id`
    /// (read back and checked, in bounded memory) before the list is
    /// appended; otherwise nothing is written. Call [`Versions::flush`]
    /// after, as for any write.
    pub fn write_chunk_list(&self, id: &ContentId, list: &ChunkList) -> Result<()> {
        if self.has_fresh(id) {
            return Ok(());
        }
        let Some(s) = &self.segments else {
            return Err(StoreError::io(&self.dir, io::Error::other("chunk lists need a store with segments")));
        };
        // Read before the chunks are looked up: any of them may be another
        // operation's pending record, which the list then relies on.
        let since = s.epoch();
        let decoded = ListToRead::Decoded(list.clone());
        let mut reader = ChunkReader::new(*id, PathBuf::from("<chunk list>"), decoded, s.clone(), self.dir.clone());
        let (actual, _) = ContentId::of_reader(&mut reader).map_err(|e| match CorruptContent::from_io(&e) {
            Some(c) => StoreError::CorruptContent { path: None, content: c.clone() },
            None => StoreError::io(&self.dir, e),
        })?;
        if actual != *id {
            return Err(StoreError::Corrupt(*id, actual));
        }
        if list.chunks().is_empty() {
            s.append(id, b"")?;
        } else {
            s.append_record(id, &list.encode(), list.total_len(), Codec::Raw, Kind::ChunkList)?;
        }
        self.note(since, list.chunks().iter().map(|c| c.id).chain([*id]));
        Ok(())
    }

    /// Store streamed contents that must hash to `expected` (the pack
    /// receive path): verified while copying, and never made visible if the
    /// bytes do not match.
    ///
    /// With segments the contents go into blocks like written ones (whole
    /// and compressed when that pays below [`CHUNK_THRESHOLD`], chunked
    /// from it), so a server whose blocks are remote keeps no contents on
    /// its disk; recorded by the next [`Versions::flush`].
    pub fn write_verified<R: Read>(&self, reader: R, expected: &ContentId, what: &Path) -> Result<u64> {
        if let Some(s) = &self.segments {
            let mut reader = reader;
            let mut head = Vec::new();
            (&mut reader).take(CHUNK_THRESHOLD).read_to_end(&mut head).map_err(|e| StoreError::io(what, e))?;
            if (head.len() as u64) < CHUNK_THRESHOLD {
                let actual = ContentId::of(&head);
                if actual != *expected {
                    return Err(StoreError::Corrupt(*expected, actual));
                }
                if !self.has_fresh(expected) {
                    self.appending(s, expected, || s.append_encoded(expected, &head))?;
                }
                return Ok(head.len() as u64);
            }
            let (_, len) = self.write_chunked_checked(s, io::Cursor::new(head).chain(reader), what, Some(expected))?;
            return Ok(len);
        }
        let (tmp, actual, len) = self.stage_stream(reader, what)?;
        if actual != *expected {
            return Err(StoreError::Corrupt(*expected, actual));
        }
        self.publish(tmp, expected)?;
        Ok(len)
    }

    /// Re-hash stored contents (fsck): `Ok(None)` when they still match
    /// their id, `Ok(Some(how))` when corrupt.
    pub fn verify(&self, id: &ContentId) -> Result<Option<Mismatch>> {
        // What is stored here only: fsck never fetches (a partial clone's
        // missing contents are counted as not fetched).
        let mut b = self.open_stored(id)?;
        // No bigger than the contents: a zeroed CHUNK for each of a
        // million 16-byte files was 40% of fsck's time.
        let mut buf = vec![0u8; b.len().saturating_add(1).min(CHUNK as u64) as usize];
        loop {
            match b.read(&mut buf) {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return match CorruptContent::from_io(&e) {
                        Some(c) => Ok(Some(c.problem)),
                        None => Err(b.store_error(e)),
                    }
                }
            }
        }
    }

    /// The names of every block (and pre-block segment): this process's
    /// open one and the local files, then the block store's.
    pub fn blocks(&self) -> Result<Vec<String>> {
        let Some(s) = &self.segments else { return Ok(Vec::new()) };
        let local = crate::blockstore::LocalStore::new(s.dir.clone());
        let mut out: Vec<String> =
            local.list().map_err(|e| StoreError::io(&s.dir, e))?.into_iter().map(|b| b.0).collect();
        if s.store.local_dir().is_none() {
            let remote = s.store.list().map_err(|e| StoreError::io(s.store.describe(""), e))?;
            out.extend(remote.into_iter().map(|b| b.0));
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Scan block `name`'s record headers (for fsck, gc and migrate): ids,
    /// offsets, lengths and codec/kind flags, without the index.
    pub fn scan_block(&self, name: &str) -> Result<BlockScan> {
        let Some(s) = &self.segments else { return Ok(BlockScan::default()) };
        let Some(block) = s.open_block(name)? else {
            let e = io::Error::new(io::ErrorKind::NotFound, "block not found");
            return Err(StoreError::io(s.store.describe(name), e));
        };
        scan_records(&block).map_err(|e| StoreError::io(block.path(), e))
    }

    /// Every id in the store: loose files and segment entries.
    pub fn list(&self) -> Result<Vec<ContentId>> {
        let mut out = Vec::new();
        if let Some(s) = &self.segments {
            for (k, _) in s.db.scan(Table::Blobs)? {
                if let Some(id) = ContentId::from_slice(&k) {
                    out.push(id);
                }
            }
        }
        out.extend(self.loose_files()?.into_iter().map(|(id, _)| id));
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Every loose file (`versions/<2 hex>/<30 hex>`, what v1 wrote) with
    /// its id; names that are not ids are skipped.
    pub(crate) fn loose_files(&self) -> Result<Vec<(ContentId, PathBuf)>> {
        let mut out = Vec::new();
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(StoreError::io(&self.dir, e)),
        };
        for shard in rd {
            let shard = shard.map_err(|e| StoreError::io(&self.dir, e))?;
            let sname = shard.file_name().to_string_lossy().into_owned();
            if sname.len() != 2 || !shard.path().is_dir() {
                continue;
            }
            for f in std::fs::read_dir(shard.path()).map_err(|e| StoreError::io(shard.path(), e))? {
                let f = f.map_err(|e| StoreError::io(shard.path(), e))?;
                if let Ok(id) = ContentId::from_hex(&format!("{sname}{}", f.file_name().to_string_lossy())) {
                    out.push((id, f.path()));
                }
            }
        }
        Ok(out)
    }

    fn ensure_shard(&self, dest: &Path) -> Result<()> {
        if let Some(parent) = dest.parent() {
            if !parent.is_dir() {
                std::fs::create_dir_all(parent).map_err(|e| StoreError::io(parent, e))?;
            }
        }
        Ok(())
    }

    /// A chunk's record as stored, when it is stored compressed in a
    /// segment: `(codec, raw length, stored bytes)`, read whole (records
    /// are capped) and not yet verified: the caller decodes and checks the
    /// id. `None` for contents kept raw, loose or as a chunk list, which
    /// are read through [`Versions::open`]. For sync, which sends chunks in
    /// their stored encoding instead of compressing them again.
    pub fn read_stored(&self, id: &ContentId) -> Result<Option<(Codec, u64, Vec<u8>)>> {
        let Some(s) = &self.segments else { return Ok(None) };
        let Some(loc) = s.lookup(id)? else { return Ok(None) };
        if loc.kind != Kind::Bytes || loc.codec == Codec::Raw || loc.len > MAX_DECODED_LEN {
            return Ok(None);
        }
        let (loc, block) = s.open_located(id, loc)?;
        let sp = block.path().to_path_buf();
        let short = |found| StoreError::CorruptContent {
            path: None,
            content: CorruptContent {
                id: *id,
                file: sp.clone(),
                problem: Mismatch::Short { expected: loc.len, found },
            },
        };
        let available = block.len().map_err(|e| StoreError::io(&sp, e))?.saturating_sub(loc.offset);
        if available < loc.len {
            return Err(short(available));
        }
        let b = block.read_range(loc.offset..loc.offset + loc.len).map_err(|e| StoreError::io(&sp, e))?;
        if (b.len() as u64) < loc.len {
            return Err(short(b.len() as u64));
        }
        Ok(Some((loc.codec, loc.raw_len, b)))
    }

    /// Store a chunk received in its stored encoding (sync): `raw` are its
    /// bytes, which the caller checked hash to `id`, and `stored` their
    /// `codec` encoding, which the caller decoded to `raw`. The stored
    /// bytes are kept as they are (no second compression) when they are
    /// smaller; otherwise this is [`Versions::write_chunk`].
    pub fn write_chunk_stored(&self, id: &ContentId, codec: Codec, stored: &[u8], raw: &[u8]) -> Result<()> {
        if self.has_fresh(id) {
            return Ok(());
        }
        match &self.segments {
            Some(s) if codec != Codec::Raw && stored.len() < raw.len() => {
                self.appending(s, id, || s.append_record(id, stored, raw.len() as u64, codec, Kind::Bytes))
            }
            _ => self.write_chunk(raw).map(|_| ()),
        }
    }
}

/// Whether contents are stored loose, for a batch of ids: the store's
/// directory is listed once per batch, and a content whose fan-out
/// directory (`versions/<2 hex>`) is not there is not looked for, rather
/// than a failed `stat` per content (a clone's receive asked for each of
/// 100k contents, none of them loose). A directory made after the listing
/// can only make a content look missing that is stored: it is received and
/// stored again, never skipped.
#[derive(Default)]
struct LooseCheck {
    /// Per first byte of an id: whether its fan-out directory may exist;
    /// `None` until listed.
    fanout: Option<Box<[bool; 256]>>,
}

impl LooseCheck {
    fn is_file(&mut self, v: &Versions, id: &ContentId) -> bool {
        let fanout = self.fanout.get_or_insert_with(|| {
            let mut seen = Box::new([false; 256]);
            match std::fs::read_dir(&v.dir) {
                Ok(entries) => {
                    for e in entries.flatten() {
                        let name = e.file_name();
                        let name = name.to_string_lossy();
                        if let (2, Ok(b)) = (name.len(), u8::from_str_radix(&name, 16)) {
                            seen[b as usize] = true;
                        }
                    }
                }
                // No store directory: nothing is loose.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                // Not listed: look at every path.
                Err(_) => seen.fill(true),
            }
            seen
        });
        fanout[id.as_bytes()[0] as usize] && v.path(id).is_file()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{Db, Layout};

    /// A fresh store in a temp directory (kept alive by the returned guard).
    pub(crate) fn store() -> (tempfile::TempDir, Db, Versions) {
        let d = tempfile::tempdir().unwrap();
        let layout = Layout::create(d.path()).unwrap();
        // Layout::create leaves HEAD to oxen-refs; the store does not need it.
        let db = Db::open(&layout).unwrap();
        let v = layout.versions(&db);
        (d, db, v)
    }

    fn flip_byte(path: &Path, at: u64) {
        use std::os::unix::fs::FileExt;
        let f = OpenOptions::new().read(true).write(true).open(path).unwrap();
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, at).unwrap();
        f.write_all_at(&[b[0] ^ 0x20], at).unwrap();
    }

    fn corrupt_of(e: &io::Error) -> Mismatch {
        CorruptContent::from_io(e).unwrap_or_else(|| panic!("not a corrupt-content error: {e}")).problem
    }

    #[test]
    fn a_flipped_byte_fails_the_read_that_would_finish() {
        let (_d, _db, v) = store();
        let data: Vec<u8> = (0..3 * CHUNK as u32).map(|i| (i % 251) as u8).collect();
        // A loose file, as stores before blocks wrote received contents.
        let id = ContentId::of(&data);
        Versions::new(v.dir.clone(), v.tmp.clone()).write_verified(&data[..], &id, Path::new("data")).unwrap();
        assert_eq!(v.read_all(&id).unwrap(), data);
        assert_eq!(v.verify(&id).unwrap(), None);

        flip_byte(&v.path(&id), 100);
        // Every byte but the last chunk is delivered; the read that would
        // complete the contents fails instead, naming the id and the file.
        let mut b = v.open(&id).unwrap();
        let mut got = 0u64;
        let mut buf = vec![0u8; 1000];
        let err = loop {
            match b.read(&mut buf) {
                Ok(0) => panic!("corrupt contents read to the end"),
                Ok(n) => got += n as u64,
                Err(e) => break e,
            }
        };
        assert!(got < data.len() as u64);
        assert!(matches!(corrupt_of(&err), Mismatch::Hash { .. }));
        assert!(err.to_string().contains(&id.to_hex()), "{err}");
        assert!(err.to_string().contains(&v.path(&id).display().to_string()), "{err}");
        // It stays failed.
        assert!(b.read(&mut buf).is_err());

        let e = v.read_all(&id).unwrap_err();
        assert!(matches!(e.corrupt_content(), Some(CorruptContent { problem: Mismatch::Hash { .. }, .. })), "{e}");
        assert!(matches!(v.verify(&id).unwrap(), Some(Mismatch::Hash { .. })));
    }

    #[test]
    fn a_truncated_segment_is_short_not_a_clean_end() {
        let (_d, _db, v) = store();
        let a = v.write_bytes(b"first contents").unwrap();
        let b = v.write_bytes(b"second contents, at the end of the segment").unwrap();
        v.flush().unwrap();
        let (seg, off) = v.locate(&b).unwrap().unwrap();
        OpenOptions::new().write(true).open(&seg).unwrap().set_len(off + 5).unwrap();
        assert_eq!(v.read_all(&a).unwrap(), b"first contents");
        let e = v.read_all(&b).unwrap_err();
        let c = e.corrupt_content().unwrap_or_else(|| panic!("{e}"));
        assert_eq!(c.problem, Mismatch::Short { expected: 42, found: 5 });
        assert_eq!(c.file, seg);
        assert_eq!(v.verify(&b).unwrap(), Some(Mismatch::Short { expected: 42, found: 5 }));
    }

    #[test]
    fn empty_contents_verify_too() {
        let (_d, _db, v) = store();
        let id = v.write_bytes(b"").unwrap();
        v.flush().unwrap();
        assert_eq!(v.read_all(&id).unwrap(), b"");
        // An id whose stored bytes are empty but should not be.
        let other = ContentId::of(b"not empty");
        std::fs::create_dir_all(v.path(&other).parent().unwrap()).unwrap();
        std::fs::write(v.path(&other), b"").unwrap();
        assert!(matches!(v.verify(&other).unwrap(), Some(Mismatch::Hash { .. })));
    }

    #[test]
    fn a_full_disk_is_named_with_its_path() {
        for (code, quota) in [(rustix::io::Errno::NOSPC, false), (rustix::io::Errno::DQUOT, true)] {
            let e = StoreError::io("/data/repo/.oxen/tmp/1-x.tmp", io::Error::from_raw_os_error(code.raw_os_error()));
            assert!(matches!(e, StoreError::NoSpace { quota: q, .. } if q == quota), "{e:?}");
            assert!(e.to_string().starts_with("no space left on /data/repo/.oxen/tmp/1-x.tmp"), "{e}");
        }
        let e = StoreError::db(Path::new("/r/.oxen/db"), lmdb::Error::Other(rustix::io::Errno::NOSPC.raw_os_error()));
        assert_eq!(e.to_string(), "no space left on /r/.oxen/db/data.mdb");
        let e = StoreError::io("f", io::Error::from_raw_os_error(rustix::io::Errno::IO.raw_os_error()));
        assert!(matches!(e, StoreError::Io { .. }));
    }

    #[test]
    fn temp_files_carry_the_pid_and_a_missing_tmp_dir_is_made_again() {
        let (_d, _db, v) = store();
        std::fs::remove_dir(&v.tmp).unwrap();
        let big = vec![3u8; SMALL_MAX + 1];
        // A store of loose files stages in tmp/ (one with blocks appends).
        let id = ContentId::of(&big);
        Versions::new(v.dir.clone(), v.tmp.clone()).write_verified(&big[..], &id, Path::new("big")).unwrap();
        assert_eq!(v.read_all(&id).unwrap(), big);
        let (id2, _) = v.write_reader(&b"streamed"[..], Path::new("x")).unwrap();
        assert_eq!(v.read_all(&id2).unwrap(), b"streamed");
        assert_eq!(std::fs::read_dir(&v.tmp).unwrap().count(), 0, "temp files were renamed away");
    }

    /// Deterministic incompressible bytes.
    fn noise(seed: u64, len: usize) -> Vec<u8> {
        crate::testutil::xorshift(seed).map(|x| (x >> 24) as u8).take(len).collect()
    }

    fn segment_bytes(v: &Versions) -> u64 {
        std::fs::read_dir(v.dir.join("segments")).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum()
    }

    fn blobs_entry(db: &Db, id: &ContentId) -> Option<Loc> {
        db.get(crate::Table::Blobs, id.as_bytes()).unwrap().map(|v| Loc::decode(&v).unwrap())
    }

    #[test]
    fn large_contents_are_chunked_and_an_edit_stores_only_nearby_chunks() {
        let (_d, db, v) = store();
        let data = noise(1, 4 << 20);
        let (id, len) = v.write_reader(&data[..], Path::new("big")).unwrap();
        assert_eq!((id, len), (ContentId::of(&data), data.len() as u64));
        v.flush().unwrap();
        assert!(!v.path(&id).exists(), "no loose file");
        let loc = blobs_entry(&db, &id).unwrap();
        assert_eq!((loc.kind, loc.raw_len), (Kind::ChunkList, data.len() as u64));
        assert_eq!(v.size(&id).unwrap(), data.len() as u64);
        assert_eq!(v.read_all(&id).unwrap(), data);
        assert_eq!(v.verify(&id).unwrap(), None);

        let before = segment_bytes(&v);
        let mut edited = data.clone();
        edited[2_000_000..2_000_100].copy_from_slice(&[b'x'; 100]);
        let path = v.dir.join("edited");
        std::fs::write(&path, &edited).unwrap();
        let (id2, _) = v.write_file(&path).unwrap();
        v.flush().unwrap();
        assert_eq!(v.read_all(&id2).unwrap(), edited);
        let grew = segment_bytes(&v) - before;
        assert!(grew < 600 << 10, "an edit stored {grew} bytes");
        // Writing the same contents again stores nothing.
        let again = segment_bytes(&v);
        v.write_bytes(&edited).unwrap();
        v.flush().unwrap();
        assert_eq!(segment_bytes(&v), again);
    }

    #[test]
    fn a_file_of_several_slices_is_chunked_on_threads_as_one_core_would() {
        // Past two 8.5 MiB slices `write_file` cuts on worker threads that
        // read their own slices: the stored list must be the one-core list.
        let (_d, _db, v) = store();
        let mut data = noise(3, 19 << 20);
        data[(8 << 20) - 5000..(9 << 20)].fill(0);
        let path = v.dir.join("big");
        std::fs::write(&path, &data).unwrap();
        let (id, len) = v.write_file(&path).unwrap();
        v.flush().unwrap();
        assert_eq!((id, len), (ContentId::of(&data), data.len() as u64));
        let want =
            oxen_chunk::chunk_stream_threads(&data[..], oxen_chunk::ChunkParams::DEFAULT, 1, |_| Ok::<_, ()>(()));
        assert_eq!(v.chunk_list(&id).unwrap(), Some(want.unwrap().list));
        assert_eq!(v.read_all(&id).unwrap(), data);
    }

    #[test]
    fn compressible_chunks_are_stored_compressed() {
        let (_d, db, v) = store();
        let csv: Vec<u8> =
            (0..200_000).flat_map(|i| format!("{i},label_{},{}\n", i % 13, i * 7 % 1000).into_bytes()).collect();
        let id = v.write_bytes(&csv).unwrap();
        v.flush().unwrap();
        assert!(segment_bytes(&v) * 2 < csv.len() as u64, "{} of {}", segment_bytes(&v), csv.len());
        assert_eq!(v.read_all(&id).unwrap(), csv);
        let list = v.chunk_list(&id).unwrap().expect("stored as chunks");
        let first = blobs_entry(&db, &list.chunks()[0].id).unwrap();
        assert_eq!((first.codec, first.kind), (Codec::Zstd, Kind::Bytes));
        // A chunk is readable on its own, by its id.
        assert_eq!(v.read_all(&list.chunks()[0].id).unwrap().len(), list.chunks()[0].len as usize);
    }

    #[test]
    fn nothing_is_recorded_before_flush() {
        let (_d, db, v) = store();
        let data = noise(2, 2 << 20);
        let (id, _) = v.write_reader(&data[..], Path::new("big")).unwrap();
        // Written, not yet recorded: what a crash here leaves is orphan
        // segment bytes, never a location (let alone a list without chunks).
        assert!(db.scan(crate::Table::Blobs).unwrap().is_empty());
        v.flush().unwrap();
        let n = db.scan(crate::Table::Blobs).unwrap().len();
        assert!(n > 8, "{n} entries: the chunks and the list");
        assert!(blobs_entry(&db, &id).is_some());
    }

    fn first_chunk(db: &Db, v: &Versions, id: &ContentId) -> (ContentId, Loc) {
        let c = v.chunk_list(id).unwrap().expect("stored as chunks").chunks()[0].id;
        (c, blobs_entry(db, &c).unwrap())
    }

    #[test]
    fn missing_lists_the_store_once_and_still_finds_loose_contents() {
        let (_d, _db, v) = store();
        let (a, b) = (b"a loose file".to_vec(), b"in a block".to_vec());
        let (ia, ib, ic) = (ContentId::of(&a), ContentId::of(&b), ContentId::of(b"nowhere"));
        // Nothing loose: no fan-out directory at all.
        assert_eq!(v.missing(&[ia, ib, ic]).unwrap(), vec![ia, ib, ic]);
        v.write_bytes(&b).unwrap();
        v.flush().unwrap();
        Versions::new(v.dir.clone(), v.tmp.clone()).write_verified(&a[..], &ia, Path::new("a")).unwrap();
        assert!(v.path(&ia).is_file(), "stored loose");
        assert_eq!(v.missing(&[ia, ib, ic]).unwrap(), vec![ic]);
        // A content whose fan-out directory exists but not its file.
        let same_dir = (0u32..)
            .map(|n| ContentId::of(&n.to_le_bytes()))
            .find(|id| id.as_bytes()[0] == ia.as_bytes()[0] && *id != ia)
            .unwrap();
        assert_eq!(v.missing(&[same_dir, ia]).unwrap(), vec![same_dir]);
    }

    #[test]
    fn read_small_reads_a_batch_verified_and_leaves_the_rest_to_open() {
        let (_d, db, v) = store();
        let small: Vec<Vec<u8>> = (0..50u32).map(|n| format!("file {n}\n").into_bytes()).collect();
        let ids: Vec<ContentId> = small.iter().map(|b| v.write_bytes(b).unwrap()).collect();
        let big = noise(7, 200 << 10);
        let big_id = v.write_bytes(&big).unwrap();
        v.flush().unwrap();
        let absent = ContentId::of(b"not stored");
        let mut ask = ids.clone();
        ask.extend([big_id, absent]);
        let got = v.read_small(&ask, 64 << 10, 1 << 20).unwrap();
        for (g, want) in got.iter().zip(&small) {
            assert_eq!(g.as_deref(), Some(&want[..]));
        }
        assert_eq!(got[50], None, "larger than max: streamed by open");
        assert_eq!(got[51], None, "not stored");
        // The budget: contents past it are left to open.
        let got = v.read_small(&ids, 64 << 10, 20).unwrap();
        assert_eq!(got.iter().filter(|g| g.is_some()).count(), 2, "two 7-byte files fit 20 bytes");
        // A damaged record is not handed out; open reports it as before.
        let l = blobs_entry(&db, &ids[3]).unwrap();
        flip_byte(&v.segments().path(&l.segment), l.offset + 1);
        let got = v.read_small(&ids, 64 << 10, 1 << 20).unwrap();
        assert_eq!(got[3], None);
        assert_eq!(got[4].as_deref(), Some(&small[4][..]));
        assert!(v.read_all(&ids[3]).is_err());
    }

    #[test]
    fn a_corrupt_chunk_fails_the_read_and_fsck() {
        let (_d, db, v) = store();
        let data = noise(3, 2 << 20);
        let (id, _) = v.write_reader(&data[..], Path::new("big")).unwrap();
        v.flush().unwrap();
        let (chunk, loc) = first_chunk(&db, &v, &id);
        flip_byte(&v.segments().path(&loc.segment), loc.offset + 10);
        let e = v.read_all(&id).unwrap_err();
        let c = e.corrupt_content().unwrap_or_else(|| panic!("{e}"));
        assert_eq!((c.id, c.problem), (id, Mismatch::BadChunk { chunk }));
        assert!(e.to_string().contains(&chunk.to_hex()), "{e}");
        assert_eq!(v.verify(&id).unwrap(), Some(Mismatch::BadChunk { chunk }));
    }

    #[test]
    fn a_chunk_list_naming_a_missing_chunk_is_reported() {
        let (_d, db, v) = store();
        let data = noise(4, 2 << 20);
        let (id, _) = v.write_reader(&data[..], Path::new("big")).unwrap();
        v.flush().unwrap();
        let (chunk, _) = first_chunk(&db, &v, &id);
        let mut txn = db.begin_write().unwrap();
        assert!(txn.delete(crate::Table::Blobs, chunk.as_bytes()).unwrap());
        txn.commit().unwrap();
        assert_eq!(v.verify(&id).unwrap(), Some(Mismatch::MissingChunk { chunk }));
        let mut b = v.open(&id).unwrap();
        let mut out = Vec::new();
        assert!(b.read_to_end(&mut out).is_err());
        assert!(out.is_empty(), "no byte of a file with a missing first chunk is handed out");
    }

    #[test]
    fn a_damaged_chunk_list_is_reported() {
        let (_d, db, v) = store();
        let data = noise(5, 2 << 20);
        let (id, _) = v.write_reader(&data[..], Path::new("big")).unwrap();
        v.flush().unwrap();
        let l = blobs_entry(&db, &id).unwrap();
        let seg = v.segments().path(&l.segment);
        flip_byte(&seg, l.offset + 1);
        assert_eq!(v.verify(&id).unwrap(), Some(Mismatch::ChunkList(ChunkListError::BadMagic)));
        flip_byte(&seg, l.offset + 1);
        assert_eq!(v.verify(&id).unwrap(), None);
        // Cut off inside the list.
        OpenOptions::new().write(true).open(&seg).unwrap().set_len(l.offset + 7).unwrap();
        assert!(matches!(v.verify(&id).unwrap(), Some(Mismatch::Short { found: 7, .. })));
    }

    #[test]
    fn pre_v2_locations_and_records_still_read() {
        // A location as written before storage v2: name, offset, length.
        let mut old = vec![3u8];
        old.extend_from_slice(b"abc");
        old.extend_from_slice(&24u64.to_le_bytes());
        old.extend_from_slice(&5u64.to_le_bytes());
        let loc = Loc::decode(&old).unwrap();
        assert_eq!((loc.len, loc.raw_len, loc.codec, loc.kind), (5, 5, Codec::Raw, Kind::Bytes));
        // Raw whole records keep writing that encoding, byte for byte.
        assert_eq!(loc.encode(), old);
        let v2 = Loc { raw_len: 9, codec: Codec::Zstd, ..loc.clone() };
        assert_eq!(Loc::decode(&v2.encode()), Some(v2));
        assert_eq!(Loc::decode(&old[..old.len() - 1]), None);
        // And a small record written today has a header with no flags.
        let (_d, _db, v) = store();
        let id = v.write_bytes(b"small contents").unwrap();
        v.flush().unwrap();
        let (seg, off) = v.locate(&id).unwrap().unwrap();
        let bytes = std::fs::read(seg).unwrap();
        let head = &bytes[off as usize - 24..off as usize];
        assert_eq!(&head[..16], id.as_bytes());
        assert_eq!(head[16..24], 14u64.to_le_bytes());
    }

    #[test]
    fn chunks_and_lists_written_one_by_one_as_sync_will() {
        let (_d, _db, src) = store();
        let data = noise(6, 3 << 20);
        let (id, _) = src.write_reader(&data[..], Path::new("big")).unwrap();
        src.flush().unwrap();
        let list = src.chunk_list(&id).unwrap().expect("chunked");
        assert_eq!(list.total_len(), data.len() as u64);
        let ids: Vec<ContentId> = list.chunks().iter().map(|c| c.id).collect();

        let (_d2, _db2, dst) = store();
        assert_eq!(dst.missing(&ids).unwrap(), ids);
        // A list whose chunks are not all there is refused, nothing written.
        let first = src.read_all(&ids[0]).unwrap();
        assert_eq!(dst.write_chunk(&first).unwrap(), ids[0]);
        assert_eq!(dst.missing(&ids).unwrap(), ids[1..].to_vec());
        let e = dst.write_chunk_list(&id, &list).unwrap_err();
        assert!(matches!(e.corrupt_content(), Some(c) if matches!(c.problem, Mismatch::MissingChunk { .. })), "{e}");
        assert!(!dst.has(&id));
        for c in &ids[1..] {
            dst.write_chunk(&src.read_all(c).unwrap()).unwrap();
        }
        assert!(dst.missing(&ids).unwrap().is_empty());
        // A list that does not reassemble to the id is refused.
        let other = ContentId::of(b"something else");
        assert!(matches!(dst.write_chunk_list(&other, &list), Err(StoreError::Corrupt(..))));
        dst.write_chunk_list(&id, &list).unwrap();
        dst.flush().unwrap();
        assert_eq!(dst.read_all(&id).unwrap(), data);
        assert_eq!(dst.chunk_list(&id).unwrap(), Some(list));
        // Whole contents have no list.
        let small = dst.write_bytes(b"small").unwrap();
        assert_eq!(dst.chunk_list(&small).unwrap(), None);
    }

    /// A block store that counts ranged reads and can be told to fail puts.
    #[derive(Debug)]
    pub(crate) struct Counting {
        pub(crate) inner: crate::blockstore::S3Store,
        pub(crate) reads: std::sync::atomic::AtomicUsize,
        pub(crate) fail_puts: std::sync::atomic::AtomicBool,
        /// When set, a failing put first says so here and waits for the
        /// word to go on (a slow upload that then fails).
        pub(crate) slow_fail: Mutex<Option<(std::sync::mpsc::Sender<()>, std::sync::mpsc::Receiver<()>)>>,
        /// Each put takes this long (a slow link).
        pub(crate) put_delay_ms: std::sync::atomic::AtomicU64,
        /// Puts running now, the most seen at once, and the most block
        /// files seen in the writer's directory during a put.
        pub(crate) puts_now: std::sync::atomic::AtomicUsize,
        pub(crate) puts_max: std::sync::atomic::AtomicUsize,
        pub(crate) staged_max: std::sync::atomic::AtomicUsize,
    }

    impl ContentStore for Counting {
        fn describe(&self, name: &str) -> PathBuf {
            self.inner.describe(name)
        }
        fn local_dir(&self) -> Option<&Path> {
            None
        }
        fn put(&self, name: &str, staged: &Path) -> io::Result<()> {
            use std::sync::atomic::Ordering::SeqCst;
            let now = self.puts_now.fetch_add(1, SeqCst) + 1;
            self.puts_max.fetch_max(now, SeqCst);
            let staged_files = std::fs::read_dir(staged.parent().unwrap()).map(|rd| rd.count()).unwrap_or(0);
            self.staged_max.fetch_max(staged_files, SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(self.put_delay_ms.load(SeqCst)));
            let r = self.put_inner(name, staged);
            self.puts_now.fetch_sub(1, SeqCst);
            r
        }
        fn size(&self, name: &str) -> io::Result<Option<u64>> {
            self.inner.size(name)
        }
        fn read_range(&self, name: &str, range: std::ops::Range<u64>) -> io::Result<Vec<u8>> {
            self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.read_range(name, range)
        }
        fn list(&self) -> io::Result<Vec<(String, u64)>> {
            self.inner.list()
        }
        fn delete(&self, name: &str) -> io::Result<()> {
            self.inner.delete(name)
        }
    }

    impl Counting {
        fn put_inner(&self, name: &str, staged: &Path) -> io::Result<()> {
            if self.fail_puts.load(std::sync::atomic::Ordering::SeqCst) {
                if let Some((entered, go_on)) = self.slow_fail.lock().unwrap().take() {
                    entered.send(()).unwrap();
                    go_on.recv().unwrap();
                }
                return Err(io::Error::other("503 Service Unavailable"));
            }
            self.inner.put(name, staged)
        }
    }

    /// A store whose blocks go to an in-memory object store.
    pub(crate) fn remote_store() -> (tempfile::TempDir, Db, Versions, Arc<Counting>) {
        let d = tempfile::tempdir().unwrap();
        let layout = Layout::create(d.path()).unwrap();
        let db = Db::open(&layout).unwrap();
        let c = counting(crate::blockstore::tests::mem_bucket());
        let v = Versions::with_segments(
            layout.versions_dir(),
            layout.tmp_dir(),
            db.clone(),
            Some(c.clone() as Arc<dyn ContentStore>),
        );
        (d, db, v, c)
    }

    /// A [`Counting`] store over `mem` (its listing carries no times, as
    /// a store that does not say).
    pub(crate) fn counting(mem: Arc<crate::blockstore::tests::Watched>) -> Arc<Counting> {
        let url = crate::S3Url::parse("s3://bucket/pre/repo").unwrap();
        Arc::new(Counting {
            inner: crate::blockstore::S3Store::with_store(mem, url),
            reads: Default::default(),
            fail_puts: Default::default(),
            slow_fail: Default::default(),
            put_delay_ms: Default::default(),
            puts_now: Default::default(),
            puts_max: Default::default(),
            staged_max: Default::default(),
        })
    }

    fn local_files(v: &Versions) -> usize {
        std::fs::read_dir(v.dir.join("segments")).map(|rd| rd.count()).unwrap_or(0)
    }

    #[test]
    fn a_flush_seals_the_block_and_the_next_write_opens_another() {
        let (_d, db, v) = store();
        let a = v.write_bytes(b"first operation").unwrap();
        v.flush().unwrap();
        let b = v.write_bytes(b"second operation").unwrap();
        v.flush().unwrap();
        let (la, lb) = (blobs_entry(&db, &a).unwrap(), blobs_entry(&db, &b).unwrap());
        assert_ne!(la.segment, lb.segment, "a sealed block is never appended to");
        assert_eq!(v.blocks().unwrap(), {
            let mut n = vec![la.segment.clone(), lb.segment.clone()];
            n.sort();
            n
        });
        let scan = v.scan_block(&la.segment).unwrap();
        assert_eq!(scan.records.len(), 1);
        assert_eq!((scan.records[0].id, scan.records[0].offset, scan.tail), (a, la.offset, 0));
    }

    #[test]
    fn small_compressible_contents_are_stored_compressed() {
        let (_d, db, v) = store();
        let text: Vec<u8> = (0..2000).flat_map(|i| format!("row {i},value\n").into_bytes()).collect();
        assert!(text.len() < SMALL_MAX);
        let id = v.write_bytes(&text).unwrap();
        v.flush().unwrap();
        let loc = blobs_entry(&db, &id).unwrap();
        assert_eq!(loc.codec, Codec::Zstd);
        assert!(loc.len * 3 < text.len() as u64, "{} of {}", loc.len, text.len());
        assert_eq!(v.read_all(&id).unwrap(), text);
        // Incompressible small contents stay raw.
        let n = noise(9, 5000);
        let nid = v.write_bytes(&n).unwrap();
        v.flush().unwrap();
        assert_eq!(blobs_entry(&db, &nid).unwrap().codec, Codec::Raw);
        assert_eq!(v.read_all(&nid).unwrap(), n);
    }

    #[test]
    fn received_contents_go_into_blocks_not_loose_files() {
        let (_d, db, v) = store();
        let small = b"received small contents".to_vec();
        let big = noise(10, 3 << 20);
        for data in [&small, &big] {
            let id = ContentId::of(data);
            assert_eq!(v.write_verified(&data[..], &id, Path::new("pack")).unwrap(), data.len() as u64);
            assert!(!v.path(&id).exists());
            v.flush().unwrap();
            assert!(blobs_entry(&db, &id).is_some());
            assert_eq!(v.read_all(&id).unwrap(), *data);
        }
        assert!(v.chunk_list(&ContentId::of(&big)).unwrap().is_some(), "large received contents are chunked");
        // Bytes that do not hash to the expected id are refused, no list.
        let wrong = ContentId::of(b"something else");
        let other = noise(11, 2 << 20);
        assert!(matches!(v.write_verified(&other[..], &wrong, Path::new("pack")), Err(StoreError::Corrupt(..))));
        assert!(matches!(v.write_verified(&b"tiny"[..], &wrong, Path::new("pack")), Err(StoreError::Corrupt(..))));
        v.flush().unwrap();
        assert!(!v.has(&wrong));
        assert!(!v.has(&ContentId::of(&other)));
    }

    #[test]
    fn a_remote_store_keeps_blocks_in_the_bucket_and_reads_them_back() {
        let (_d, _db, v, c) = remote_store();
        let big = noise(12, 4 << 20);
        let (id, _) = v.write_reader(&big[..], Path::new("big")).unwrap();
        let small = v.write_bytes(b"small contents").unwrap();
        // Before the flush the open block is a local file, readable.
        assert_eq!(v.read_all(&small).unwrap(), b"small contents");
        v.flush().unwrap();
        assert_eq!(local_files(&v), 0, "nothing but metadata stays local");
        assert_eq!(c.inner.list().unwrap().len(), 1);
        let (where_, _) = v.locate(&small).unwrap().unwrap();
        assert!(where_.starts_with("s3://bucket/pre/repo/blocks/"), "{}", where_.display());
        c.reads.store(0, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(v.read_all(&id).unwrap(), big);
        // ~64 chunks of 64 KiB read in windows of 8 MiB, not one GET each.
        let reads = c.reads.load(std::sync::atomic::Ordering::SeqCst);
        assert!(reads <= 3, "{reads} ranged reads for a 4 MiB chunked file");
        assert_eq!(v.read_all(&small).unwrap(), b"small contents");
        assert_eq!(v.verify(&id).unwrap(), None);
        // Chunks read one by one by id (as sync sends them) are read ahead
        // too: a few GETs, not one per chunk.
        let list = v.chunk_list(&id).unwrap().unwrap();
        assert!(list.chunks().len() > 30);
        c.reads.store(0, std::sync::atomic::Ordering::SeqCst);
        for ch in list.chunks() {
            assert_eq!(v.read_all(&ch.id).unwrap().len(), ch.len as usize);
        }
        let reads = c.reads.load(std::sync::atomic::Ordering::SeqCst);
        assert!(reads <= 4, "{reads} ranged reads for {} chunks read one by one", list.chunks().len());
    }

    #[test]
    fn the_next_remote_window_is_fetched_in_the_background() {
        let (_d, _db, v, c) = remote_store();
        let data = noise(20, 10 << 20);
        let (id, _) = v.write_reader(&data[..], Path::new("big")).unwrap();
        v.flush().unwrap();
        let list = v.chunk_list(&id).unwrap().unwrap();
        let reads = || c.reads.load(std::sync::atomic::Ordering::SeqCst);
        c.reads.store(0, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(v.read_all(&list.chunks()[0].id).unwrap().len(), list.chunks()[0].len as usize);
        // The window after the first is on its way without being asked for.
        let t = std::time::Instant::now();
        while reads() < 2 && t.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(reads(), 2, "the first window, then the next in the background");
        // Chunks of the first 7 MiB, one by one: from those two windows,
        // plus the third fetched ahead again, plus one read for a record
        // that straddles two windows (neither holds all of it).
        let mut at = 0u64;
        for ch in list.chunks() {
            at += u64::from(ch.len);
            if at >= 7 << 20 {
                break;
            }
            assert_eq!(v.read_all(&ch.id).unwrap().len(), ch.len as usize);
        }
        assert!(reads() <= 4, "{} reads", reads());
        assert_eq!(v.read_all(&id).unwrap(), data);
    }

    #[test]
    fn a_corrupt_remote_block_is_an_error_never_wrong_bytes() {
        let (_d, _db, v, c) = remote_store();
        let big = noise(13, 2 << 20);
        let (id, _) = v.write_reader(&big[..], Path::new("big")).unwrap();
        let small = v.write_bytes(b"some small contents here").unwrap();
        v.flush().unwrap();
        let (name, size) = c.inner.list().unwrap().remove(0);
        let mut bytes = c.inner.read_range(&name, 0..size).unwrap();
        bytes[100] ^= 0x20;
        let last = bytes.len() - 3;
        bytes[last] ^= 0x20;
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("b"), &bytes).unwrap();
        c.inner.put(&name, &d.path().join("b")).unwrap();
        let e = v.read_all(&id).unwrap_err();
        assert!(e.corrupt_content().is_some(), "{e}");
        assert!(e.to_string().contains("s3://bucket/pre/repo/blocks/"), "{e}");
        assert!(v.read_all(&small).unwrap_err().corrupt_content().is_some());
        // A block that is gone is an error naming it.
        c.inner.delete(&name).unwrap();
        let e = v.read_all(&small).unwrap_err();
        assert!(e.to_string().contains(&name), "{e}");
    }

    #[test]
    fn a_failed_upload_records_nothing_and_a_retry_works() {
        let (_d, db, v, c) = remote_store();
        c.fail_puts.store(true, std::sync::atomic::Ordering::SeqCst);
        let data = noise(14, 2 << 20);
        let (id, _) = v.write_reader(&data[..], Path::new("big")).unwrap();
        let e = v.flush().unwrap_err();
        assert!(e.to_string().contains("503"), "{e}");
        assert!(db.scan(crate::Table::Blobs).unwrap().is_empty(), "no location names an unuploaded block");
        assert!(!v.has(&id));
        assert!(c.inner.list().unwrap().is_empty());
        c.fail_puts.store(false, std::sync::atomic::Ordering::SeqCst);
        let (id2, _) = v.write_reader(&data[..], Path::new("big")).unwrap();
        v.flush().unwrap();
        assert_eq!((id2, v.read_all(&id).unwrap()), (id, data));
    }

    #[test]
    fn a_failed_seal_fails_the_flush_of_every_operation_whose_records_it_dropped() {
        let (_d, db, v, c) = remote_store();
        let fail = |on: bool| c.fail_puts.store(on, std::sync::atomic::Ordering::SeqCst);
        // Three operations of one process (a server handling three pushes)
        // share the open block.
        let (a, b, dedup, idle) = (v.operation(), v.operation(), v.operation(), v.operation());
        let x = b.write_bytes(b"pushed by b").unwrap();
        let (big, _) = b.write_reader(&noise(17, 2 << 20)[..], Path::new("big")).unwrap();
        let y = a.write_bytes(b"pushed by a").unwrap();
        // Found pending, so not written again: `dedup` relies on a's write.
        assert!(dedup.has(&y));
        fail(true);
        assert!(a.flush().unwrap_err().to_string().contains("503"));
        fail(false);
        // b's flush seals nothing of its own, but its records are gone:
        // a tree naming them must not follow.
        match b.flush() {
            // x, the big file's chunk list and its chunks.
            Err(StoreError::Unrecorded { count, .. }) => assert!(count > 10, "{count}"),
            other => panic!("b's flush must fail, got {other:?}"),
        }
        assert!(matches!(dedup.flush(), Err(StoreError::Unrecorded { count: 1, first, .. }) if first == y));
        // Noted until written again: a second flush fails too.
        assert!(matches!(b.flush(), Err(StoreError::Unrecorded { .. })));
        idle.flush().unwrap();
        assert!(db.scan(crate::Table::Blobs).unwrap().is_empty(), "nothing names the failed block");
        assert!(!b.has(&x) && !b.has(&big));
        // Retries, on the same handles, write them again and succeed.
        assert_eq!(b.write_bytes(b"pushed by b").unwrap(), x);
        b.write_reader(&noise(17, 2 << 20)[..], Path::new("big")).unwrap();
        b.flush().unwrap();
        assert_eq!(a.write_bytes(b"pushed by a").unwrap(), y);
        a.flush().unwrap();
        dedup.flush().unwrap();
        assert_eq!(v.read_all(&x).unwrap(), b"pushed by b");
        assert_eq!(v.read_all(&big).unwrap(), noise(17, 2 << 20));
        assert_eq!(v.read_all(&y).unwrap(), b"pushed by a");
    }

    #[test]
    fn a_flush_waiting_on_a_failing_seal_records_nothing_of_its_block() {
        let (_d, db, v, c) = remote_store();
        let (a, b) = (v.operation(), v.operation());
        let x = b.write_bytes(b"written by b").unwrap();
        a.write_bytes(b"written by a").unwrap();
        let (entered_tx, entered) = std::sync::mpsc::channel();
        let (go_on, go_on_rx) = std::sync::mpsc::channel();
        *c.slow_fail.lock().unwrap() = Some((entered_tx, go_on_rx));
        c.fail_puts.store(true, std::sync::atomic::Ordering::SeqCst);
        // a's flush is uploading the block (holding the writer) when b
        // flushes: b waits for it, and must not record what it then drops.
        let sealing = std::thread::spawn(move || a.flush());
        entered.recv().unwrap();
        let b2 = b.clone();
        let flushing = std::thread::spawn(move || b2.flush());
        std::thread::sleep(std::time::Duration::from_millis(200));
        go_on.send(()).unwrap();
        assert!(sealing.join().unwrap().is_err());
        assert!(matches!(flushing.join().unwrap(), Err(StoreError::Unrecorded { first, .. }) if first == x));
        assert!(db.scan(crate::Table::Blobs).unwrap().is_empty(), "a location names the block that failed");
        assert!(!v.has(&x));
    }

    /// A remote store whose blocks seal at 1 MiB, so a few MiB of writes
    /// seal several blocks while writing (background uploads).
    fn remote_store_small_blocks() -> (tempfile::TempDir, Db, Versions, Arc<Counting>) {
        let (d, db, mut v, c) = remote_store();
        let segments = Arc::get_mut(v.segments.as_mut().unwrap()).expect("only handle");
        segments.block_max = 1 << 20;
        (d, db, v, c)
    }

    #[test]
    fn a_failed_background_upload_fails_the_operation_and_records_nothing() {
        let (_d, db, v, c) = remote_store_small_blocks();
        c.fail_puts.store(true, std::sync::atomic::Ordering::SeqCst);
        let op = v.operation();
        let data = noise(18, 6 << 20);
        // Blocks sealed while writing upload in the background; their
        // failure stops the write early or, at the latest, the flush.
        let written = op.write_reader(&data[..], Path::new("big"));
        let e = match written {
            Err(e) => e,
            Ok(_) => op.flush().unwrap_err(),
        };
        assert!(matches!(e, StoreError::Unrecorded { .. } | StoreError::Io { .. }), "{e:?}");
        assert!(e.to_string().contains("503"), "the cause is named: {e}");
        assert!(op.flush().is_err(), "still lost until written again");
        assert!(db.scan(crate::Table::Blobs).unwrap().is_empty(), "no location names an unstored block");
        assert!(!v.has(&ContentId::of(&data)));
        assert!(c.inner.list().unwrap().is_empty());
        // The retry, on the same operation, writes everything again.
        c.fail_puts.store(false, std::sync::atomic::Ordering::SeqCst);
        let (id, _) = op.write_reader(&data[..], Path::new("big")).unwrap();
        op.flush().unwrap();
        assert_eq!(v.read_all(&id).unwrap(), data);
        assert!(c.inner.list().unwrap().len() >= 6, "several blocks");
        assert_eq!(local_files(&v), 0);
    }

    #[test]
    fn blocks_stream_to_an_object_store_in_parts_and_read_back_whole() {
        use crate::blockstore::PART_SIZE;
        let d = tempfile::tempdir().unwrap();
        let layout = Layout::create(d.path()).unwrap();
        let db = Db::open(&layout).unwrap();
        let url = crate::S3Url::parse("s3://bucket/pre/repo").unwrap();
        let s3: Arc<dyn ContentStore> =
            Arc::new(crate::blockstore::S3Store::with_store(crate::blockstore::tests::mem_bucket(), url));
        let mut v = Versions::with_segments(layout.versions_dir(), layout.tmp_dir(), db.clone(), Some(s3.clone()));
        // Blocks of a part and a bit: each goes up as a multipart upload
        // begun while it was written (the S3 backend streams).
        let segments = Arc::get_mut(v.segments.as_mut().unwrap()).expect("only handle");
        segments.block_max = PART_SIZE as u64 + (1 << 20);
        let data = noise(21, PART_SIZE * 3);
        let (id, _) = v.write_reader(&data[..], Path::new("big")).unwrap();
        v.flush().unwrap();
        assert!(s3.list().unwrap().len() >= 2, "several blocks");
        assert_eq!(local_files(&v), 0, "staged copies removed once stored");
        assert_eq!(v.read_all(&id).unwrap(), data);
        let small = v.write_bytes(b"a small one").unwrap();
        v.flush().unwrap();
        assert_eq!(v.read_all(&small).unwrap(), b"a small one");
    }

    #[test]
    fn uploads_overlap_writing_and_stay_bounded() {
        let (_d, _db, v, c) = remote_store_small_blocks();
        c.put_delay_ms.store(100, std::sync::atomic::Ordering::SeqCst);
        let data = noise(19, 12 << 20);
        let (id, _) = v.write_reader(&data[..], Path::new("big")).unwrap();
        v.flush().unwrap();
        let blocks = c.inner.list().unwrap().len();
        assert!(blocks >= 12, "{blocks}");
        // Two uploads at once: the writer sealed (so filled) a block while
        // the one before it was still uploading, and never more.
        let most = c.puts_max.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(most, UPLOADS_IN_FLIGHT, "uploads in flight at once");
        // Local block files: those in flight plus the open one, at most.
        let staged = c.staged_max.load(std::sync::atomic::Ordering::SeqCst);
        assert!(staged <= UPLOADS_IN_FLIGHT + 1, "{staged} block files staged at once");
        assert_eq!(v.read_all(&id).unwrap(), data);
    }

    #[test]
    fn gc_compacts_and_deletes_remote_blocks_through_the_store() {
        let (_d, db, v, c) = remote_store();
        let keep = v.write_bytes(&[5u8; 2000]).unwrap();
        let drop_ = v.write_bytes(&noise(15, 20_000)).unwrap();
        v.flush().unwrap();
        let only_garbage = v.write_bytes(&noise(16, 1000)).unwrap();
        v.flush().unwrap();
        // Written by a dead writer long ago: copy each block to such a name.
        let mut renamed = HashMap::new();
        for (i, (name, size)) in c.inner.list().unwrap().into_iter().enumerate() {
            let bytes = c.inner.read_range(&name, 0..size).unwrap();
            let d = tempfile::tempdir().unwrap();
            std::fs::write(d.path().join("b"), bytes).unwrap();
            let new = format!("{}-{i}", 1u32 << 23);
            c.inner.put(&new, &d.path().join("b")).unwrap();
            c.inner.delete(&name).unwrap();
            renamed.insert(name, new);
        }
        let mut txn = db.begin_write().unwrap();
        for id in [keep, drop_, only_garbage] {
            let mut loc = blobs_entry(&db, &id).unwrap();
            loc.segment = renamed[&loc.segment].clone();
            txn.put(crate::Table::Blobs, id.as_bytes(), &loc.encode()).unwrap();
        }
        assert!(txn.delete(crate::Table::Blobs, drop_.as_bytes()).unwrap());
        assert!(txn.delete(crate::Table::Blobs, only_garbage.as_bytes()).unwrap());
        txn.commit().unwrap();
        let r = v.compact_segments(false).unwrap();
        assert_eq!((r.scanned, r.deleted, r.compacted), (2, 1, 1), "{r:?}");
        assert_eq!(c.inner.list().unwrap().len(), 1);
        assert_eq!(local_files(&v), 0);
        assert_eq!(v.read_all(&keep).unwrap(), vec![5u8; 2000]);
        // The compacted copy is this process's and young: left alone.
        assert_eq!(v.compact_segments(false).unwrap().scanned, 0);
    }

    #[test]
    fn a_sized_write_stores_what_the_file_holds_whatever_its_stat_said() {
        let (d, _db, v) = store();
        let f = d.path().join("f");
        for (contents, stat_len) in [(&b"hello"[..], 5u64), (b"hello world", 5), (b"hi", 5), (b"", 0), (b"x", 0)] {
            std::fs::write(&f, contents).unwrap();
            let (id, len) = v.write_open_file_sized(File::open(&f).unwrap(), stat_len, &f).unwrap();
            assert_eq!((id, len), (ContentId::of(contents), contents.len() as u64), "{contents:?} stat {stat_len}");
            v.flush().unwrap();
            assert_eq!(v.read_all(&id).unwrap(), contents);
        }
    }

    #[test]
    fn a_store_with_loose_files_still_finds_them_before_writing_again() {
        let (_d, _db, v) = store();
        // A segments store that never held loose files does not look for them.
        assert!(!v.may_hold_loose());
        let (_d2, _db2, v2) = store();
        let data = b"stored loose by a store from before segments";
        let id = ContentId::of(data);
        Versions::new(v2.dir.clone(), v2.tmp.clone()).write_verified(&data[..], &id, Path::new("data")).unwrap();
        // Found at first use, here after the loose file was written.
        assert!(v2.may_hold_loose());
        assert!(v2.has_fresh(&id));
    }
}
