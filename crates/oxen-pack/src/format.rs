//! The pack stream.
//!
//! ```text
//! header   "OXPK"  version:u32le  count:u64le
//! frame    kind:u8 (1 commit, 2 tree, 3 blob)  id:[16]  len:u64le  bytes[len]
//! ...      (count frames)
//! end      kind:u8 = 0
//! trailer  xxh3-128 of every byte above, 16 bytes
//! ```
//!
//! A sender orders frames so that every object comes after everything it
//! refers to that the receiver lacks: blobs and subtrees before their tree,
//! a commit's tree and parents before the commit. The receiver relies on
//! that: it checks each tree's children and each commit's tree and parents
//! are present before storing it, so "an object is stored" always implies
//! "its whole closure is stored", and a ref can be moved to any stored
//! commit without a further walk. An interrupted pack therefore leaves only
//! complete closures behind, and a retry sends only the rest.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::Path;

use oxen_hash::{ContentId, Hasher};
use oxen_object::{Commit, EntryKind, Tree};
use oxen_repo::Repo;
use oxen_store::{Progress, StoreError, Table};

use crate::{PackError, Result};

/// First bytes of every pack.
pub const MAGIC: &[u8; 4] = b"OXPK";
/// Format version.
pub const VERSION: u32 = 1;
/// Largest commit or tree node accepted: these are buffered whole, so a cap
/// keeps a malicious frame from exhausting memory. Real nodes are far
/// smaller (a bucket holds about a thousand entries).
pub const MAX_NODE_BYTES: u64 = 64 << 20;
/// Pending commits/trees are written in one LMDB transaction per batch
/// (committing per object is very slow); a batch is bounded so memory is.
const BATCH_OBJECTS: usize = 2000;
const BATCH_BYTES: usize = 32 << 20;

/// What a frame holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjKind {
    /// A commit (LMDB `commits`).
    Commit,
    /// A tree node (LMDB `trees`).
    Tree,
    /// File contents (versions store).
    Blob,
}

impl ObjKind {
    /// Wire code.
    pub fn code(self) -> u8 {
        match self {
            ObjKind::Commit => 1,
            ObjKind::Tree => 2,
            ObjKind::Blob => 3,
        }
    }
    /// From a wire code.
    pub fn from_code(c: u8) -> Option<ObjKind> {
        match c {
            1 => Some(ObjKind::Commit),
            2 => Some(ObjKind::Tree),
            3 => Some(ObjKind::Blob),
            _ => None,
        }
    }
    /// `commit` / `tree` / `blob`
    pub fn name(self) -> &'static str {
        match self {
            ObjKind::Commit => "commit",
            ObjKind::Tree => "tree",
            ObjKind::Blob => "blob",
        }
    }
    /// From [`ObjKind::name`].
    pub fn from_name(s: &str) -> Option<ObjKind> {
        match s {
            "commit" => Some(ObjKind::Commit),
            "tree" => Some(ObjKind::Tree),
            "blob" => Some(ObjKind::Blob),
            _ => None,
        }
    }
}

enum State {
    Header,
    Objects,
    Trailer,
    Done,
}

/// A pack produced lazily, as a `Read`: frames are generated as the reader
/// pulls, and a blob's bytes are copied straight from its versions file, so
/// memory use does not depend on the pack's size.
pub struct PackSource<'r> {
    repo: &'r Repo,
    objects: Vec<(ObjKind, ContentId)>,
    next: usize,
    state: State,
    buf: Vec<u8>,
    pos: usize,
    hash_buf: bool,
    blob: Option<(oxen_store::Blob, u64, ContentId)>,
    hasher: Hasher,
    bytes: u64,
    progress: Option<&'r dyn Progress>,
}

impl<'r> PackSource<'r> {
    /// A pack of `objects` (in the order given: dependencies first) read from `repo`.
    pub fn new(repo: &'r Repo, objects: Vec<(ObjKind, ContentId)>) -> PackSource<'r> {
        PackSource {
            repo,
            objects,
            next: 0,
            state: State::Header,
            buf: Vec::new(),
            pos: 0,
            hash_buf: true,
            blob: None,
            hasher: Hasher::new(),
            bytes: 0,
            progress: None,
        }
    }

    /// Report progress while the pack is read.
    pub fn with_progress(mut self, p: &'r dyn Progress) -> Self {
        p.start(self.objects.len() as u64);
        self.progress = Some(p);
        self
    }

    /// Bytes produced so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Number of objects in the pack.
    pub fn count(&self) -> usize {
        self.objects.len()
    }

    fn refill(&mut self) -> io::Result<()> {
        self.buf.clear();
        self.pos = 0;
        self.hash_buf = true;
        match self.state {
            State::Header => {
                self.buf.extend_from_slice(MAGIC);
                self.buf.extend_from_slice(&VERSION.to_le_bytes());
                self.buf.extend_from_slice(&(self.objects.len() as u64).to_le_bytes());
                self.state = State::Objects;
            }
            State::Objects => {
                if let Some(p) = self.progress {
                    p.update(self.next as u64, self.bytes);
                }
                if self.next == self.objects.len() {
                    self.buf.push(0);
                    self.state = State::Trailer;
                    return Ok(());
                }
                let (kind, id) = self.objects[self.next];
                self.next += 1;
                self.buf.push(kind.code());
                self.buf.extend_from_slice(id.as_bytes());
                match kind {
                    ObjKind::Commit | ObjKind::Tree => {
                        let t = if kind == ObjKind::Commit { Table::Commits } else { Table::Trees };
                        let bytes = self.repo.db.get_object(t, &id).map_err(to_io)?;
                        self.buf.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
                        self.buf.extend_from_slice(&bytes);
                    }
                    ObjKind::Blob => {
                        let f = self.repo.versions.open(&id).map_err(to_io)?;
                        let len = f.len();
                        self.buf.extend_from_slice(&len.to_le_bytes());
                        self.blob = Some((f, len, id));
                    }
                }
            }
            State::Trailer => {
                // The trailer is the checksum of everything before it, so it
                // is not itself fed to the hasher.
                self.buf.extend_from_slice(self.hasher.finish().as_bytes());
                self.hash_buf = false;
                self.state = State::Done;
            }
            State::Done => {}
        }
        Ok(())
    }
}

fn to_io(e: StoreError) -> io::Error {
    io::Error::other(e.to_string())
}

impl Read for PackSource<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if self.pos < self.buf.len() {
                let n = (self.buf.len() - self.pos).min(out.len());
                out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
                if self.hash_buf {
                    self.hasher.update(&out[..n]);
                }
                self.pos += n;
                self.bytes += n as u64;
                return Ok(n);
            }
            if let Some((f, remaining, id)) = &mut self.blob {
                if *remaining == 0 {
                    self.blob = None;
                    continue;
                }
                let want = (*remaining).min(out.len() as u64) as usize;
                let n = match f.read(&mut out[..want]) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                if n == 0 {
                    // The stored file shrank under us; the receiver would
                    // reject the frame anyway, so say why here.
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("versions file of {id} shrank while being sent"),
                    ));
                }
                *remaining -= n as u64;
                self.hasher.update(&out[..n]);
                self.bytes += n as u64;
                return Ok(n);
            }
            if matches!(self.state, State::Done) {
                return Ok(0);
            }
            self.refill()?;
        }
    }
}

/// What a received pack contained.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReceiveStats {
    /// Objects in the pack.
    pub objects: u64,
    /// Objects newly stored (the rest were already present).
    pub stored: u64,
    /// Bytes of pack read.
    pub bytes: u64,
}

/// Feeds every byte read through a hasher (for the trailer check) and counts them.
struct Tee<R> {
    inner: R,
    hasher: Hasher,
    hashing: bool,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.hashing {
            self.hasher.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// Exactly `remaining` bytes of the inner reader; ending early is an error,
/// not a short object.
struct Exact<'a, R> {
    inner: &'a mut R,
    remaining: u64,
}

impl<R: Read> Read for Exact<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = self.remaining.min(buf.len() as u64) as usize;
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "pack truncated inside an object"));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

fn read_exact_or<R: Read>(r: &mut R, buf: &mut [u8], what: &str) -> Result<()> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            PackError::BadPack(format!("truncated ({what})"))
        } else {
            PackError::Io(e)
        }
    })
}

/// Commits and trees verified but not yet written, with their ids for
/// dependency lookups.
struct Pending {
    items: Vec<(Table, ContentId, Vec<u8>)>,
    ids: HashMap<ContentId, Table>,
    bytes: usize,
}

impl Pending {
    fn has(&self, repo: &Repo, t: Table, id: &ContentId) -> Result<bool> {
        if self.ids.get(id) == Some(&t) {
            return Ok(true);
        }
        Ok(repo.db.has_object(t, id)?)
    }

    fn flush(&mut self, repo: &Repo) -> Result<()> {
        // Small blobs received so far are recorded first: trees that name
        // them must never be visible before them.
        repo.versions.flush()?;
        if self.items.is_empty() {
            return Ok(());
        }
        let mut txn = repo.db.begin_write()?;
        for (t, _, bytes) in &self.items {
            txn.put_object(*t, bytes)?;
        }
        txn.commit()?;
        self.items.clear();
        self.ids.clear();
        self.bytes = 0;
        Ok(())
    }
}

/// Read a pack from `input` into `repo`. Every object is verified against
/// its id and decoded (tree names are checked for `..`, `/`, NUL, `.oxen`)
/// and its dependencies must already be present; large blobs go through a
/// temp file and a rename, small ones are appended to a segment, commits
/// and trees go through LMDB transactions. Objects
/// received before an error are kept (they are complete), so a retry only
/// needs the rest.
pub fn receive_pack<R: Read>(repo: &Repo, input: R, progress: &dyn Progress) -> Result<ReceiveStats> {
    let mut tee = Tee { inner: input, hasher: Hasher::new(), hashing: true };
    let mut pending = Pending { items: Vec::new(), ids: HashMap::new(), bytes: 0 };
    let mut stats = ReceiveStats::default();
    let res = receive_inner(repo, &mut tee, &mut pending, &mut stats, progress);
    // Whatever happened, verified objects are worth keeping.
    let flushed = pending.flush(repo);
    res?;
    flushed?;
    Ok(stats)
}

fn receive_inner<R: Read>(
    repo: &Repo,
    tee: &mut Tee<R>,
    pending: &mut Pending,
    stats: &mut ReceiveStats,
    progress: &dyn Progress,
) -> Result<()> {
    let mut header = [0u8; 16];
    read_exact_or(tee, &mut header, "header")?;
    if &header[..4] != MAGIC {
        return Err(PackError::BadPack("not an oxen pack (bad magic)".into()));
    }
    let version = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(PackError::BadPack(format!("unsupported pack version {version}")));
    }
    let count = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    progress.start(count);
    let mut bytes_read: u64 = 16;
    let mut small_since_flush = 0usize;
    loop {
        let mut kind = [0u8; 1];
        read_exact_or(tee, &mut kind, "frame kind")?;
        bytes_read += 1;
        if kind[0] == 0 {
            break;
        }
        let kind =
            ObjKind::from_code(kind[0]).ok_or_else(|| PackError::BadPack(format!("unknown frame kind {}", kind[0])))?;
        if stats.objects >= count {
            return Err(PackError::BadPack(format!("more frames than the {count} announced")));
        }
        let mut head = [0u8; 24];
        read_exact_or(tee, &mut head, "frame header")?;
        bytes_read += 24;
        let id = ContentId::from_slice(&head[..16]).expect("16 bytes");
        let len = u64::from_le_bytes(head[16..24].try_into().expect("8 bytes"));
        match kind {
            ObjKind::Blob => {
                let mut body = Exact { inner: tee, remaining: len };
                if repo.versions.has(&id) {
                    io::copy(&mut body, &mut io::sink()).map_err(map_eof)?;
                } else if len <= oxen_store::SMALL_MAX as u64 {
                    // Small: verify in memory, then append to a segment
                    // (one write instead of one new file per object).
                    let mut bytes = vec![0u8; len as usize];
                    read_exact_or(tee, &mut bytes, "blob")?;
                    let actual = ContentId::of(&bytes);
                    if actual != id {
                        return Err(PackError::Corrupt { expected: id, actual });
                    }
                    repo.versions.write_bytes(&bytes)?;
                    stats.stored += 1;
                    small_since_flush += 1;
                    if small_since_flush >= BATCH_OBJECTS {
                        pending.flush(repo)?;
                        small_since_flush = 0;
                    }
                } else {
                    match repo.versions.write_verified(&mut body, &id, Path::new("pack")) {
                        Ok(_) => stats.stored += 1,
                        Err(StoreError::Corrupt(expected, actual)) => {
                            return Err(PackError::Corrupt { expected, actual })
                        }
                        Err(StoreError::Io { source, .. }) if source.kind() == io::ErrorKind::UnexpectedEof => {
                            return Err(PackError::BadPack("truncated inside a blob".into()))
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            ObjKind::Commit | ObjKind::Tree => {
                if len > MAX_NODE_BYTES {
                    return Err(PackError::BadPack(format!(
                        "{} {id} is {len} bytes, over the {MAX_NODE_BYTES} limit",
                        kind.name()
                    )));
                }
                let mut bytes = vec![0u8; len as usize];
                read_exact_or(tee, &mut bytes, "object")?;
                let actual = ContentId::of(&bytes);
                if actual != id {
                    return Err(PackError::Corrupt { expected: id, actual });
                }
                let table = if kind == ObjKind::Commit { Table::Commits } else { Table::Trees };
                if !pending.has(repo, table, &id)? {
                    check_object(repo, pending, kind, &id, &bytes)?;
                    pending.bytes += bytes.len();
                    pending.ids.insert(id, table);
                    pending.items.push((table, id, bytes));
                    stats.stored += 1;
                    if pending.items.len() >= BATCH_OBJECTS || pending.bytes >= BATCH_BYTES {
                        pending.flush(repo)?;
                    }
                }
            }
        }
        bytes_read += len;
        stats.objects += 1;
        progress.update(stats.objects, bytes_read);
    }
    if stats.objects != count {
        return Err(PackError::BadPack(format!("{} frames, {count} announced", stats.objects)));
    }
    let expected = tee.hasher.finish();
    tee.hashing = false;
    let mut trailer = [0u8; 16];
    read_exact_or(tee, &mut trailer, "trailer")?;
    if trailer != *expected.as_bytes() {
        return Err(PackError::BadPack("trailer checksum mismatch".into()));
    }
    let mut extra = [0u8; 1];
    if tee.read(&mut extra)? != 0 {
        return Err(PackError::BadPack("trailing bytes after the trailer".into()));
    }
    stats.bytes = bytes_read + 16;
    Ok(())
}

fn map_eof(e: io::Error) -> PackError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        PackError::BadPack("truncated inside a blob".into())
    } else {
        PackError::Io(e)
    }
}

/// Decode a commit or tree and check everything it refers to is present
/// (stored, or pending in this pack).
fn check_object(repo: &Repo, pending: &Pending, kind: ObjKind, id: &ContentId, bytes: &[u8]) -> Result<()> {
    match kind {
        ObjKind::Commit => {
            let c = Commit::decode(bytes).map_err(|e| PackError::BadObject(*id, e.to_string()))?;
            if !pending.has(repo, Table::Trees, &c.tree)? {
                return Err(PackError::MissingDependency(*id, "tree", c.tree));
            }
            for p in &c.parents {
                if !pending.has(repo, Table::Commits, p)? {
                    return Err(PackError::MissingDependency(*id, "commit", *p));
                }
            }
        }
        ObjKind::Tree => match Tree::decode(bytes).map_err(|e| PackError::BadObject(*id, e.to_string()))? {
            Tree::Entries(es) => {
                for e in es {
                    let ok = match e.kind {
                        EntryKind::Dir => pending.has(repo, Table::Trees, &e.id)?,
                        EntryKind::File => repo.versions.has(&e.id),
                    };
                    if !ok {
                        let what = if e.kind == EntryKind::Dir { "tree" } else { "blob" };
                        return Err(PackError::MissingDependency(*id, what, e.id));
                    }
                }
            }
            Tree::Buckets { buckets, .. } => {
                for (_, b) in buckets {
                    if !pending.has(repo, Table::Trees, &b)? {
                        return Err(PackError::MissingDependency(*id, "tree", b));
                    }
                }
            }
        },
        ObjKind::Blob => {}
    }
    Ok(())
}

/// Whether `repo` holds an object of this kind.
pub fn has_object(repo: &Repo, kind: ObjKind, id: &ContentId) -> Result<bool> {
    Ok(match kind {
        ObjKind::Commit => repo.db.has_object(Table::Commits, id)?,
        ObjKind::Tree => repo.db.has_object(Table::Trees, id)?,
        ObjKind::Blob => repo.versions.has(id),
    })
}
