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

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use lmdb::{Database, Environment, Transaction, WriteFlags};
use oxen_hash::{copy_hashing, ContentId, CopyError, CHUNK};

use crate::{Result, StoreError};

/// Contents up to this size go to segments when written from memory.
pub const SMALL_MAX: usize = CHUNK;

/// A segment is closed and a new one started past this size.
const SEGMENT_MAX: u64 = 1 << 30;

/// Bytes before each record in a segment: id and length, so a segment can
/// be scanned and rebuilt without the index.
const RECORD_HEADER: u64 = 24;

/// Where a small object lives.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Loc {
    segment: String,
    offset: u64,
    len: u64,
}

impl Loc {
    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(17 + self.segment.len());
        v.push(self.segment.len() as u8);
        v.extend_from_slice(self.segment.as_bytes());
        v.extend_from_slice(&self.offset.to_le_bytes());
        v.extend_from_slice(&self.len.to_le_bytes());
        v
    }

    fn decode(b: &[u8]) -> Option<Loc> {
        let n = *b.first()? as usize;
        if b.len() != 1 + n + 16 {
            return None;
        }
        let segment = std::str::from_utf8(&b[1..1 + n]).ok()?.to_string();
        let offset = u64::from_le_bytes(b[1 + n..9 + n].try_into().ok()?);
        let len = u64::from_le_bytes(b[9 + n..17 + n].try_into().ok()?);
        Some(Loc { segment, offset, len })
    }
}

struct SegWriter {
    file: File,
    name: String,
    offset: u64,
}

/// The segment side of the store: the LMDB table plus this process's open
/// segment and the locations written but not yet recorded.
struct Segments {
    env: Arc<Environment>,
    table: Database,
    dir: PathBuf,
    writer: Mutex<Option<SegWriter>>,
    pending: Mutex<HashMap<ContentId, Loc>>,
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
    fn lookup(&self, id: &ContentId) -> Result<Option<Loc>> {
        if let Some(l) = self.pending.lock().map_err(poisoned)?.get(id) {
            return Ok(Some(l.clone()));
        }
        let txn = self.env.begin_ro_txn()?;
        let r = match txn.get(self.table, id.as_bytes()) {
            Ok(v) => Loc::decode(v),
            Err(lmdb::Error::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(r)
    }

    fn append(&self, id: &ContentId, bytes: &[u8]) -> Result<()> {
        let mut guard = self.writer.lock().map_err(poisoned)?;
        if guard.as_ref().is_none_or(|w| w.offset > SEGMENT_MAX) {
            std::fs::create_dir_all(&self.dir).map_err(|e| StoreError::io(&self.dir, e))?;
            let nanos =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
            let name = format!("{}-{nanos:x}", std::process::id());
            let path = self.dir.join(format!("{name}.seg"));
            let file =
                OpenOptions::new().create_new(true).append(true).open(&path).map_err(|e| StoreError::io(&path, e))?;
            if let Some(old) = guard.take() {
                old.file.sync_data().map_err(|e| StoreError::io(&self.dir, e))?;
            }
            *guard = Some(SegWriter { file, name, offset: 0 });
        }
        let w = guard.as_mut().expect("writer opened above");
        crate::faults::write_point();
        let mut rec = Vec::with_capacity(RECORD_HEADER as usize + bytes.len());
        rec.extend_from_slice(id.as_bytes());
        rec.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        rec.extend_from_slice(bytes);
        w.file.write_all(&rec).map_err(|e| StoreError::io(self.dir.join(&w.name), e))?;
        let loc = Loc { segment: w.name.clone(), offset: w.offset + RECORD_HEADER, len: bytes.len() as u64 };
        w.offset += rec.len() as u64;
        self.pending.lock().map_err(poisoned)?.insert(*id, loc);
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        // Entries leave `pending` only after their locations are committed:
        // another thread asking `has` in between must find them somewhere.
        let pending: Vec<(ContentId, Loc)> =
            self.pending.lock().map_err(poisoned)?.iter().map(|(k, v)| (*k, v.clone())).collect();
        if pending.is_empty() {
            return Ok(());
        }
        if let Some(w) = self.writer.lock().map_err(poisoned)?.as_ref() {
            w.file.sync_data().map_err(|e| StoreError::io(self.dir.join(&w.name), e))?;
        }
        crate::faults::write_point();
        let mut txn = self.env.begin_rw_txn()?;
        for (id, loc) in &pending {
            match txn.put(self.table, id.as_bytes(), &loc.encode(), WriteFlags::NO_OVERWRITE) {
                Ok(()) | Err(lmdb::Error::KeyExist) => {}
                Err(e) => return Err(e.into()),
            }
        }
        txn.commit()?;
        let mut p = self.pending.lock().map_err(poisoned)?;
        for (id, loc) in &pending {
            if p.get(id) == Some(loc) {
                p.remove(id);
            }
        }
        Ok(())
    }
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::io("versions", io::Error::other("a writer thread panicked"))
}

/// Stored contents opened for reading.
pub struct Blob {
    inner: io::Take<File>,
    len: u64,
}

impl Blob {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }
    /// True for empty contents.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Read for Blob {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

/// Handle on `.oxen/versions`.
#[derive(Clone)]
pub struct Versions {
    dir: PathBuf,
    tmp: PathBuf,
    segments: Option<Arc<Segments>>,
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
        Versions { dir, tmp, segments: None }
    }

    /// A store that also packs small contents into segments indexed by the
    /// `blobs` table of `env`.
    pub(crate) fn with_segments(dir: PathBuf, tmp: PathBuf, env: Arc<Environment>, table: Database) -> Versions {
        let seg_dir = dir.join("segments");
        let segments =
            Segments { env, table, dir: seg_dir, writer: Mutex::new(None), pending: Mutex::new(HashMap::new()) };
        Versions { dir, tmp, segments: Some(Arc::new(segments)) }
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
                return Ok(Some((s.dir.join(format!("{}.seg", l.segment)), l.offset)));
            }
        }
        Ok(None)
    }

    /// Whether the contents of `id` are stored.
    pub fn has(&self, id: &ContentId) -> bool {
        if let Some(s) = &self.segments {
            if matches!(s.lookup(id), Ok(Some(_))) {
                return true;
            }
        }
        self.path(id).is_file()
    }

    /// Open stored contents for reading.
    pub fn open(&self, id: &ContentId) -> Result<Blob> {
        let p = self.path(id);
        match File::open(&p) {
            Ok(f) => {
                let len = f.metadata().map_err(|e| StoreError::io(&p, e))?.len();
                return Ok(Blob { inner: f.take(len), len });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(p, e)),
        }
        let Some(s) = &self.segments else { return Err(StoreError::MissingObject(*id)) };
        let Some(loc) = s.lookup(id)? else { return Err(StoreError::MissingObject(*id)) };
        let sp = s.dir.join(format!("{}.seg", loc.segment));
        let mut f = File::open(&sp).map_err(|e| StoreError::io(&sp, e))?;
        f.seek(SeekFrom::Start(loc.offset)).map_err(|e| StoreError::io(&sp, e))?;
        Ok(Blob { inner: f.take(loc.len), len: loc.len })
    }

    /// Read stored contents whole (for diff and merge of modest files).
    pub fn read_all(&self, id: &ContentId) -> Result<Vec<u8>> {
        let mut b = self.open(id)?;
        let mut v = Vec::with_capacity(b.len() as usize);
        b.read_to_end(&mut v).map_err(|e| StoreError::io(self.path(id), e))?;
        if (v.len() as u64) < b.len {
            return Err(StoreError::Corrupt(*id, ContentId::of(&v)));
        }
        Ok(v)
    }

    /// Size of stored contents.
    pub fn size(&self, id: &ContentId) -> Result<u64> {
        Ok(self.open(id)?.len())
    }

    /// Record segment locations written so far (syncing the segment first).
    /// Call before anything that refers to the new contents is committed.
    pub fn flush(&self) -> Result<()> {
        match &self.segments {
            Some(s) => s.flush(),
            None => Ok(()),
        }
    }

    /// Stream everything from `reader` into the store, hashing as it goes,
    /// and return its id and length. Memory use is one chunk, whatever the size.
    pub fn write_reader<R: Read>(&self, reader: R, what: &Path) -> Result<(ContentId, u64)> {
        let (tmp, id, len) = self.stage_stream(reader, what)?;
        self.publish(tmp, &id)?;
        Ok((id, len))
    }

    /// Copy a stream into a temp file, hashing it.
    fn stage_stream<R: Read>(&self, reader: R, what: &Path) -> Result<(tempfile::NamedTempFile, ContentId, u64)> {
        let mut tmp = tempfile::NamedTempFile::new_in(&self.tmp).map_err(|e| StoreError::io(&self.tmp, e))?;
        let (id, len) = copy_hashing(reader, tmp.as_file_mut()).map_err(|e| match e {
            CopyError::Read(e) => StoreError::io(what, e),
            CopyError::Write(e) => StoreError::io(&self.tmp, e),
        })?;
        Ok((tmp, id, len))
    }

    /// Make a staged temp file visible under its id (a no-op if already stored).
    fn publish(&self, tmp: tempfile::NamedTempFile, id: &ContentId) -> Result<()> {
        let dest = self.path(id);
        if !self.has(id) {
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
        if len as usize <= SMALL_MAX {
            let mut bytes = Vec::with_capacity(len as usize);
            f.read_to_end(&mut bytes).map_err(|e| StoreError::io(src, e))?;
            let id = self.write_bytes(&bytes)?;
            return Ok((id, bytes.len() as u64));
        }
        self.write_reader(f, src)
    }

    /// Store a byte slice: appended to a segment when small and the store
    /// has segments, else a loose file.
    pub fn write_bytes(&self, bytes: &[u8]) -> Result<ContentId> {
        let id = ContentId::of(bytes);
        if self.has(&id) {
            return Ok(id);
        }
        if let (Some(s), true) = (&self.segments, bytes.len() <= SMALL_MAX) {
            s.append(&id, bytes)?;
            return Ok(id);
        }
        let dest = self.path(&id);
        self.ensure_shard(&dest)?;
        // The temp file lives in the destination shard: the rename stays in
        // one directory, and parallel writers spread over 256 directories
        // instead of all locking one tmp directory.
        let shard = dest.parent().unwrap_or(&self.dir);
        let mut tmp =
            tempfile::Builder::new().prefix(".tmp").tempfile_in(shard).map_err(|e| StoreError::io(shard, e))?;
        tmp.write_all(bytes).map_err(|e| StoreError::io(tmp.path(), e))?;
        crate::faults::write_point();
        tmp.persist(&dest).map_err(|e| StoreError::io(&dest, e.error))?;
        Ok(id)
    }

    /// Store streamed contents that must hash to `expected` (the pack
    /// receive path): verified while copying, and never made visible if the
    /// bytes do not match.
    pub fn write_verified<R: Read>(&self, reader: R, expected: &ContentId, what: &Path) -> Result<u64> {
        let (tmp, actual, len) = self.stage_stream(reader, what)?;
        if actual != *expected {
            return Err(StoreError::Corrupt(*expected, actual));
        }
        self.publish(tmp, expected)?;
        Ok(len)
    }

    /// Re-hash stored contents; `Ok(None)` when they still match their id,
    /// `Ok(Some(actual))` when corrupt.
    pub fn verify(&self, id: &ContentId) -> Result<Option<ContentId>> {
        let b = self.open(id)?;
        let expected_len = b.len();
        let (actual, len) =
            copy_hashing(b, &mut io::sink()).map_err(|e| StoreError::io(self.path(id), e.into_inner()))?;
        if len != expected_len {
            return Ok(Some(actual));
        }
        Ok(if actual == *id { None } else { Some(actual) })
    }

    /// Every id in the store: loose files and segment entries.
    pub fn list(&self) -> Result<Vec<ContentId>> {
        let mut out = Vec::new();
        if let Some(s) = &self.segments {
            let txn = s.env.begin_ro_txn()?;
            let mut cur = lmdb::Transaction::open_ro_cursor(&txn, s.table)?;
            for item in lmdb::Cursor::iter_start(&mut cur) {
                let (k, _) = item?;
                if let Some(id) = ContentId::from_slice(k) {
                    out.push(id);
                }
            }
        }
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(StoreError::io(&self.dir, e)),
        };
        for shard in rd {
            let shard = shard.map_err(|e| StoreError::io(&self.dir, e))?;
            let sname = shard.file_name().to_string_lossy().into_owned();
            if sname.len() != 2 {
                continue;
            }
            for f in std::fs::read_dir(shard.path()).map_err(|e| StoreError::io(shard.path(), e))? {
                let f = f.map_err(|e| StoreError::io(shard.path(), e))?;
                let name = format!("{sname}{}", f.file_name().to_string_lossy());
                if let Ok(id) = ContentId::from_hex(&name) {
                    out.push(id);
                }
            }
        }
        out.sort();
        out.dedup();
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
}
