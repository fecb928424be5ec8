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
use oxen_hash::{copy_hashing, ContentId, CopyError, Hasher, CHUNK};

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
    /// The LMDB environment's directory, for messages.
    db_dir: PathBuf,
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
        w.file.write_all(&rec).map_err(|e| StoreError::io(self.dir.join(format!("{}.seg", w.name)), e))?;
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
            w.file.sync_data().map_err(|e| StoreError::io(self.dir.join(format!("{}.seg", w.name)), e))?;
        }
        crate::faults::write_point();
        let db_err = |e| StoreError::db(&self.db_dir, e);
        let mut txn = self.env.begin_rw_txn().map_err(db_err)?;
        for (id, loc) in &pending {
            match txn.put(self.table, id.as_bytes(), &loc.encode(), WriteFlags::NO_OVERWRITE) {
                Ok(()) | Err(lmdb::Error::KeyExist) => {}
                Err(e) => return Err(db_err(e)),
            }
        }
        txn.commit().map_err(db_err)?;
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
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Hash { actual } => write!(f, "its bytes hash to {actual}"),
            Mismatch::Short { expected, found } => write!(f, "truncated to {found} of {expected} bytes"),
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
    inner: io::Take<File>,
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

impl Blob {
    fn new(file: File, len: u64, id: ContentId, path: PathBuf) -> Blob {
        Blob { inner: file.take(len), len, id, file: path, hasher: Hasher::new(), read: 0, state: BlobState::Reading }
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
    pub(crate) fn with_segments(
        dir: PathBuf,
        tmp: PathBuf,
        db_dir: &Path,
        env: Arc<Environment>,
        table: Database,
    ) -> Versions {
        let seg_dir = dir.join("segments");
        let segments = Segments {
            env,
            table,
            db_dir: db_dir.to_path_buf(),
            dir: seg_dir,
            writer: Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
        };
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

    /// Open stored contents for reading, verified as they stream (see
    /// [`Blob`]): there is no unverified read.
    pub fn open(&self, id: &ContentId) -> Result<Blob> {
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
        let sp = s.dir.join(format!("{}.seg", loc.segment));
        let mut f = File::open(&sp).map_err(|e| StoreError::io(&sp, e))?;
        f.seek(SeekFrom::Start(loc.offset)).map_err(|e| StoreError::io(&sp, e))?;
        Ok(Blob::new(f, loc.len, *id, sp))
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
        // Loose from memory: contents past SMALL_MAX, rare enough that the
        // cross-directory rename from tmp/ costs nothing, and staged where
        // a killed writer's leftovers are swept (see `crate::tmp`).
        let mut tmp = crate::tmp::temp_file(&self.tmp)?;
        tmp.write_all(bytes).map_err(|e| StoreError::io(tmp.path(), e))?;
        self.publish(tmp, &id)?;
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

    /// Re-hash stored contents (fsck): `Ok(None)` when they still match
    /// their id, `Ok(Some(how))` when corrupt.
    pub fn verify(&self, id: &ContentId) -> Result<Option<Mismatch>> {
        let mut b = self.open(id)?;
        let mut buf = vec![0u8; CHUNK];
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Db, Layout};

    fn store() -> (tempfile::TempDir, Db, Versions) {
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
        let (id, _) = v.write_reader(&data[..], Path::new("data")).unwrap();
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
        let id = v.write_bytes(&big).unwrap();
        assert_eq!(v.read_all(&id).unwrap(), big);
        let (id2, _) = v.write_reader(&b"streamed"[..], Path::new("x")).unwrap();
        assert_eq!(v.read_all(&id2).unwrap(), b"streamed");
        assert_eq!(std::fs::read_dir(&v.tmp).unwrap().count(), 0, "temp files were renamed away");
    }
}
