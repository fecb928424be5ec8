//! The pack stream.
//!
//! ```text
//! header   "OXPK"  version:u32le  count:u64le
//! frame    kind:u8  id:[16]  len:u64le  bytes[len]
//! ...      (count frames)
//! end      kind:u8 = 0
//! trailer  xxh3-128 of every byte above, 16 bytes
//! ```
//!
//! Frame kinds: 1 commit, 2 tree, 3 blob (whole file contents), and from
//! version 2 on, 4 chunk (the raw bytes of one chunk of a chunked file, id
//! = xxh3-128 of those bytes) and 5 chunk list (id = the file's id, bytes =
//! its [`ChunkList`] in the store's canonical encoding). A sender writes
//! version 1 when a pack holds no chunk frames (what every older receiver
//! reads) and version 2 otherwise; a receiver reads both, and refuses
//! chunk frames in a version-1 pack.
//!
//! Version 3 adds frame kind 6, a chunk in its stored encoding, so a chunk
//! the sender keeps zstd-compressed travels compressed:
//!
//! ```text
//! frame 6  kind:u8=6  id:[16]  len:u64le  codec:u8  raw_len:u32le  stored[len-5]
//! ```
//!
//! `id` is the xxh3-128 of the raw bytes; codec 1 is one zstd frame
//! (codec 0, raw, is legal but pointless: frame 4 says it shorter). The
//! receiver decodes into a buffer of at most `raw_len` bytes, which must be
//! 1 to [`MAX_CHUNK_BYTES`] (a lying length cannot allocate more, and a
//! frame that inflates past it is refused), checks the decoded bytes hash
//! to `id`, and may keep the stored bytes as they are. A sender writes
//! version 3 only when the receiver said it reads it (`stored_chunks` in
//! the `chunks/missing` answer for push, in the `upload-items` request for
//! fetch) and the pack has chunk frames; a receiver reads versions 1 to 3
//! and refuses frame 6 in a pack of version 1 or 2.
//!
//! A sender orders frames so that every object comes after everything it
//! refers to that the receiver lacks: blobs and subtrees before their tree,
//! a commit's tree and parents before the commit, the chunks a chunk list
//! names (those the receiver lacks) before the list. The receiver relies on
//! that: it checks each tree's children and each commit's tree and parents
//! are present before storing it, and records a chunk list only once every
//! chunk is stored and the chunks reassemble to the file's id, so "an
//! object is stored" always implies "its whole closure is stored", and a
//! ref can be moved to any stored commit without a further walk. Chunks
//! are kept as they arrive (verified, and made durable every few MB and
//! when the stream breaks), so an interrupted pack leaves only complete
//! closures plus verified loose chunks behind, and a retry sends only the
//! rest: for a large file, only the chunks not received yet.

use std::collections::HashMap;
use std::io::{self, Read};

use oxen_hash::{ContentId, Hasher};
use oxen_object::{Commit, EntryKind, Tree};
use oxen_store::{ChunkList, Codec, ObjectKind, ObjectSink, ObjectSource, Progress, StoreError};

use crate::{PackError, Result};

/// First bytes of every pack.
pub const MAGIC: &[u8; 4] = b"OXPK";
/// Format version of packs without chunk frames.
pub const VERSION: u32 = 1;
/// Format version of packs that may hold chunk and chunk-list frames.
pub const VERSION_CHUNKS: u32 = 2;
/// Frame kind of a chunk.
pub const FRAME_CHUNK: u8 = 4;
/// Frame kind of a chunk list.
pub const FRAME_CHUNK_LIST: u8 = 5;
/// Format version of packs that may also hold chunks in their stored encoding.
pub const VERSION_STORED_CHUNKS: u32 = 3;
/// Frame kind of a chunk in its stored encoding (codec, raw length, bytes).
pub const FRAME_CHUNK_STORED: u8 = 6;
/// Bytes of a frame-6 body before the stored bytes: codec and raw length.
const STORED_HEAD: u64 = 5;
/// Largest chunk accepted: the longest a chunk list may name (16 MiB).
pub const MAX_CHUNK_BYTES: u64 = 16 << 20;
/// Received chunks are made durable and recorded after this many bytes,
/// so a broken connection (or a killed server) loses at most this much.
const CHUNK_FLUSH_BYTES: u64 = 8 << 20;
/// Largest commit or tree node accepted: these are buffered whole, so a cap
/// keeps a malicious frame from exhausting memory. Real nodes are far
/// smaller (a bucket holds about a thousand entries).
pub const MAX_NODE_BYTES: u64 = 64 << 20;
/// Deepest tree accepted, in path components (directory levels plus the
/// file): Linux paths are at most 4,095 bytes, so no real path has more
/// than 2,048 components. Refusing deeper trees on receive keeps a peer
/// from planting a tree that no work tree can hold.
pub const MAX_TREE_DEPTH: u32 = 2048;
/// Heights of the trees seen in one receive are remembered (trees arrive
/// children first, so a parent's height is one lookup per child); past
/// this many, the memo is dropped at the next flush and heights of stored
/// trees are recomputed from the store when needed, so memory stays bounded.
const HEIGHT_MEMO_MAX: usize = 1 << 20;
/// Pending commits/trees are written in one LMDB transaction per batch
/// (committing per object is very slow); a batch is bounded so memory is.
const BATCH_OBJECTS: usize = 2000;
const BATCH_BYTES: usize = 32 << 20;
/// Small blobs received are held (verified) and stored a batch at a time,
/// with one lookup for the batch ([`ObjectSink::write_blobs`]): on
/// PostgreSQL each lookup is a round trip. Bounded by count
/// ([`BATCH_OBJECTS`]) and by these bytes.
const BLOB_BATCH_BYTES: usize = 8 << 20;
/// Ids of blobs this receive stored or found stored are remembered so a
/// tree naming them needs no lookup; past this many the memory is dropped
/// (trees then look up what they name, in one batch per tree).
const KNOWN_BLOBS_MAX: usize = 1 << 20;

/// A frame's kind byte.
pub fn kind_code(kind: ObjectKind) -> u8 {
    match kind {
        ObjectKind::Commit => 1,
        ObjectKind::Tree => 2,
        ObjectKind::Blob => 3,
    }
}

/// The kind a frame's kind byte names (0, the end marker, is none).
pub fn kind_from_code(c: u8) -> Option<ObjectKind> {
    match c {
        1 => Some(ObjectKind::Commit),
        2 => Some(ObjectKind::Tree),
        3 => Some(ObjectKind::Blob),
        _ => None,
    }
}

/// One frame of a pack: an object, or (version 2) a chunk or a chunk list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Item {
    /// A commit, tree or whole blob.
    Object(ObjectKind, ContentId),
    /// One chunk's bytes, by chunk id.
    Chunk(ContentId),
    /// The chunk list of a chunked file, by file id.
    ChunkList(ContentId),
}

impl Item {
    /// The frame's kind byte.
    pub fn code(&self) -> u8 {
        match self {
            Item::Object(k, _) => kind_code(*k),
            Item::Chunk(_) => FRAME_CHUNK,
            Item::ChunkList(_) => FRAME_CHUNK_LIST,
        }
    }

    /// The id the frame carries.
    pub fn id(&self) -> ContentId {
        match self {
            Item::Object(_, id) | Item::Chunk(id) | Item::ChunkList(id) => *id,
        }
    }

    /// `commit`/`tree`/`blob`/`chunk`/`chunk-list`: the name on the wire.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Item::Object(k, _) => k.name(),
            Item::Chunk(_) => "chunk",
            Item::ChunkList(_) => "chunk-list",
        }
    }

    /// From a wire name and id.
    pub fn from_name(name: &str, id: ContentId) -> Option<Item> {
        match name {
            "chunk" => Some(Item::Chunk(id)),
            "chunk-list" => Some(Item::ChunkList(id)),
            k => ObjectKind::from_name(k).map(|k| Item::Object(k, id)),
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
    src: &'r dyn ObjectSource,
    objects: Vec<Item>,
    next: usize,
    state: State,
    buf: Vec<u8>,
    pos: usize,
    hash_buf: bool,
    blob: Option<(oxen_store::Blob, u64, ContentId)>,
    hasher: Hasher,
    bytes: u64,
    progress: Option<&'r dyn Progress>,
    stored_chunks: bool,
    /// Items before this index had their locations read ahead.
    prefetched: usize,
}

/// Contents whose locations a pack source reads ahead at a time (see
/// [`ObjectSource::prefetch`]).
const PREFETCH: usize = 1000;

impl<'r> PackSource<'r> {
    /// A pack of `objects` (in the order given: dependencies first) read from `src`.
    pub fn new(src: &'r dyn ObjectSource, objects: Vec<(ObjectKind, ContentId)>) -> PackSource<'r> {
        PackSource::from_items(src, objects.into_iter().map(|(k, id)| Item::Object(k, id)).collect())
    }

    /// A pack of `items` (dependencies first), chunk frames included:
    /// version 2 when there are any, else version 1.
    pub fn from_items(src: &'r dyn ObjectSource, objects: Vec<Item>) -> PackSource<'r> {
        PackSource {
            src,
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
            stored_chunks: false,
            prefetched: 0,
        }
    }

    /// Send chunks stored compressed in their stored encoding (frame 6,
    /// pack version 3): only for a receiver that said it reads them.
    pub fn with_stored_chunks(mut self, yes: bool) -> Self {
        self.stored_chunks = yes;
        self
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
                let chunked = self.objects.iter().any(|i| !matches!(i, Item::Object(..)));
                let stored = self.stored_chunks && self.objects.iter().any(|i| matches!(i, Item::Chunk(_)));
                let version = match (chunked, stored) {
                    (_, true) => VERSION_STORED_CHUNKS,
                    (true, false) => VERSION_CHUNKS,
                    (false, false) => VERSION,
                };
                self.buf.extend_from_slice(&version.to_le_bytes());
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
                if self.next >= self.prefetched {
                    let end = (self.next + PREFETCH).min(self.objects.len());
                    let ids: Vec<ContentId> = self.objects[self.next..end]
                        .iter()
                        .filter(|i| matches!(i, Item::Object(ObjectKind::Blob, _) | Item::Chunk(_)))
                        .map(|i| i.id())
                        .collect();
                    // Pages mapped by the last thousand reads go first: a
                    // pack of every file would otherwise map the database.
                    self.src.release_memory();
                    self.src.prefetch(&ids).map_err(to_io)?;
                    self.prefetched = end;
                }
                let item = self.objects[self.next];
                self.next += 1;
                let id = item.id();
                if let (Item::Chunk(_), true) = (item, self.stored_chunks) {
                    if let Some((codec, raw_len, stored)) = self.src.stored_chunk(&id).map_err(to_io)? {
                        check_stored(&id, codec, raw_len, &stored)?;
                        self.buf.push(FRAME_CHUNK_STORED);
                        self.buf.extend_from_slice(id.as_bytes());
                        self.buf.extend_from_slice(&(STORED_HEAD + stored.len() as u64).to_le_bytes());
                        self.buf.push(codec.tag());
                        self.buf.extend_from_slice(&(raw_len as u32).to_le_bytes());
                        self.buf.extend_from_slice(&stored);
                        return Ok(());
                    }
                }
                self.buf.push(item.code());
                self.buf.extend_from_slice(id.as_bytes());
                match item {
                    Item::Object(kind @ (ObjectKind::Commit | ObjectKind::Tree), _) => {
                        let bytes = self.src.read_node(kind, &id).map_err(to_io)?;
                        self.buf.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
                        self.buf.extend_from_slice(&bytes);
                    }
                    Item::ChunkList(_) => {
                        let list = self.src.chunk_list(&id).map_err(to_io)?.ok_or_else(|| {
                            io::Error::other(format!("{id} is not stored chunked: no chunk list to send"))
                        })?;
                        let bytes = list.encode();
                        self.buf.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
                        self.buf.extend_from_slice(&bytes);
                    }
                    // A chunk is read like any contents: by id, verified.
                    Item::Object(ObjectKind::Blob, _) | Item::Chunk(_) => {
                        let f = self.src.open_blob(&id).map_err(to_io)?;
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

/// A chunk's stored encoding is decoded and checked against its id before
/// it is sent, as every read of stored contents is: damage here is an
/// error, never bytes the receiver would refuse.
fn check_stored(id: &ContentId, codec: Codec, raw_len: u64, stored: &[u8]) -> io::Result<()> {
    if raw_len == 0 || raw_len > MAX_CHUNK_BYTES {
        return Err(io::Error::other(format!("stored chunk {id} claims {raw_len} bytes")));
    }
    let raw = oxen_chunk::codec::decode(codec, stored, raw_len)
        .map_err(|e| io::Error::other(format!("stored chunk {id} is damaged: {e}")))?;
    let actual = ContentId::of(&raw);
    if actual != *id {
        return Err(io::Error::other(format!("stored chunk {id} is damaged: its bytes hash to {actual}")));
    }
    Ok(())
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
    /// Chunk frames in the pack (counted in `objects` too).
    #[serde(default)]
    pub chunks: u64,
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
    items: Vec<(ObjectKind, ContentId, Vec<u8>)>,
    ids: HashMap<ContentId, ObjectKind>,
    bytes: usize,
    /// Small blobs verified but not yet stored (see [`BLOB_BATCH_BYTES`]).
    blobs: Vec<(ContentId, Vec<u8>)>,
    blob_bytes: usize,
    /// Blobs stored or found stored in this receive (see [`KNOWN_BLOBS_MAX`]).
    known: std::collections::HashSet<ContentId>,
    /// Blobs of the batches written.
    stored: u64,
    /// Tree id -> (height, whether it is a bucket node), for trees of this
    /// pack and stored trees looked at; see [`HEIGHT_MEMO_MAX`].
    heights: HashMap<ContentId, (u32, bool)>,
    /// The receiver's shallow boundary commits: stored without their
    /// parents (see [`oxen_store::read_shallow`]).
    boundaries: std::collections::BTreeSet<ContentId>,
    /// The sink is a partial clone: trees may name contents not sent.
    lazy_blobs: bool,
    /// Batches written since the sink last let go of its mapped pages.
    flushes: usize,
}

/// Batches written between two [`ObjectSource::release_memory`] calls:
/// receiving a million files' objects maps in the database pages they are
/// written to and looked up in. Ids are random, so one batch of a few
/// thousand touches about as many leaf pages wherever they lie: released
/// after every batch, the pages resident stay those of one batch (a few
/// MB) instead of the whole index (54 MB after a push of 300k files when
/// released every fourth batch).
const RELEASE_EVERY_FLUSHES: usize = 1;

impl Pending {
    fn has(&self, sink: &dyn ObjectSink, kind: ObjectKind, id: &ContentId) -> Result<bool> {
        if self.ids.get(id) == Some(&kind) {
            return Ok(true);
        }
        Ok(sink.has_object(kind, id)?)
    }

    /// Store the held small blobs: one lookup for the batch.
    fn store_blobs(&mut self, sink: &dyn ObjectSink) -> Result<()> {
        if self.blobs.is_empty() {
            return Ok(());
        }
        let batch: Vec<(ContentId, &[u8])> = self.blobs.iter().map(|(id, b)| (*id, b.as_slice())).collect();
        self.stored += sink.write_blobs(&batch)?;
        let ids: Vec<ContentId> = self.blobs.drain(..).map(|(id, _)| id).collect();
        self.blob_bytes = 0;
        self.know(ids);
        Ok(())
    }

    /// Remember blobs as stored in this receive.
    fn know(&mut self, ids: impl IntoIterator<Item = ContentId>) {
        if self.known.len() > KNOWN_BLOBS_MAX {
            self.known.clear();
        }
        self.known.extend(ids);
    }

    fn flush(&mut self, sink: &dyn ObjectSink) -> Result<()> {
        // Small blobs received so far are stored and recorded first: trees
        // that name them must never be visible before them.
        self.store_blobs(sink)?;
        sink.flush()?;
        self.flushes += 1;
        if self.flushes >= RELEASE_EVERY_FLUSHES {
            sink.release_memory();
            self.flushes = 0;
        }
        if self.items.is_empty() {
            return Ok(());
        }
        let nodes: Vec<(ObjectKind, &[u8])> = self.items.iter().map(|(k, _, b)| (*k, b.as_slice())).collect();
        sink.write_nodes(&nodes)?;
        self.items.clear();
        self.ids.clear();
        self.bytes = 0;
        // Only now may the memo go: every tree it knew is readable from the store.
        if self.heights.len() > HEIGHT_MEMO_MAX {
            self.heights.clear();
        }
        Ok(())
    }

    /// Height and bucket-ness of a tree that is pending or stored.
    fn height(&mut self, sink: &dyn ObjectSink, id: &ContentId) -> Result<(u32, bool)> {
        match self.heights.get(id) {
            Some(h) => Ok(*h),
            None => stored_height(sink, &mut self.heights, *id),
        }
    }
}

/// The height of a tree node from its children's heights: a file is one
/// path component, a directory one more than its tree; a bucket node adds
/// nothing (it is part of its directory's node). A bucket node inside a
/// bucket node is malformed (readers refuse it too).
fn node_height(
    id: &ContentId,
    tree: &Tree,
    mut child: impl FnMut(&ContentId) -> Result<(u32, bool)>,
) -> Result<(u32, bool)> {
    let mut h = 0u32;
    match tree {
        Tree::Entries(es) => {
            for e in es {
                let eh = match e.kind {
                    EntryKind::File => 1,
                    EntryKind::Dir => child(&e.id)?.0.saturating_add(1),
                };
                h = h.max(eh);
            }
        }
        Tree::Buckets { buckets, .. } => {
            for (_, b) in buckets {
                let (bh, nested) = child(b)?;
                if nested {
                    return Err(PackError::BadObject(*id, "nested bucket node".into()));
                }
                h = h.max(bh);
            }
        }
    }
    if h > MAX_TREE_DEPTH {
        return Err(PackError::TooDeep(*id, MAX_TREE_DEPTH));
    }
    Ok((h, matches!(tree, Tree::Buckets { .. })))
}

/// The height of a stored tree, by a walk of the stored trees below it
/// with an explicit stack (no recursion, whatever the depth), remembering
/// every height it works out.
fn stored_height(
    sink: &dyn ObjectSink,
    memo: &mut HashMap<ContentId, (u32, bool)>,
    root: ContentId,
) -> Result<(u32, bool)> {
    // (tree, its decoded node once its children have been queued)
    let mut stack: Vec<(ContentId, Option<Tree>)> = vec![(root, None)];
    while let Some((id, node)) = stack.pop() {
        if memo.contains_key(&id) {
            continue;
        }
        match node {
            Some(tree) => {
                let h = node_height(&id, &tree, |c| {
                    memo.get(c).copied().ok_or_else(|| PackError::BadObject(id, format!("subtree {c} unreadable")))
                })?;
                memo.insert(id, h);
            }
            None => {
                // Deeper than any acceptable tree (with bucket nodes, two
                // stack entries per level): stop before walking further.
                if stack.len() > 2 * MAX_TREE_DEPTH as usize + 2 {
                    return Err(PackError::TooDeep(root, MAX_TREE_DEPTH));
                }
                let tree = Tree::decode(&sink.read_node(ObjectKind::Tree, &id)?)?;
                let children: Vec<ContentId> = match &tree {
                    Tree::Entries(es) => es.iter().filter(|e| e.kind == EntryKind::Dir).map(|e| e.id).collect(),
                    Tree::Buckets { buckets, .. } => buckets.iter().map(|(_, b)| *b).collect(),
                };
                stack.push((id, Some(tree)));
                for c in children {
                    if !memo.contains_key(&c) {
                        stack.push((c, None));
                    }
                }
            }
        }
    }
    memo.get(&root).copied().ok_or_else(|| PackError::BadObject(root, "height unknown".into()))
}

/// Read a pack from `input` into `sink`. Every object is verified against
/// its id and decoded (tree names are checked for `..`, `/`, NUL, `.oxen`;
/// trees deeper than [`MAX_TREE_DEPTH`] are refused) and its dependencies
/// must already be present; large blobs go through a
/// temp file and a rename, small ones are appended to a segment, commits
/// and trees go through LMDB transactions. Objects
/// received before an error are kept (they are complete), so a retry only
/// needs the rest.
pub fn receive_pack<R: Read>(sink: &dyn ObjectSink, input: R, progress: &dyn Progress) -> Result<ReceiveStats> {
    let mut tee = Tee { inner: input, hasher: Hasher::new(), hashing: true };
    let boundaries = sink.shallow_boundaries()?;
    let mut pending = Pending {
        items: Vec::new(),
        ids: HashMap::new(),
        bytes: 0,
        blobs: Vec::new(),
        blob_bytes: 0,
        known: Default::default(),
        stored: 0,
        heights: HashMap::new(),
        boundaries,
        lazy_blobs: sink.lazy_contents(),
        flushes: 0,
    };
    let mut stats = ReceiveStats::default();
    let res = receive_inner(sink, &mut tee, &mut pending, &mut stats, progress);
    // Whatever happened, verified objects are worth keeping.
    let flushed = pending.flush(sink);
    sink.release_memory();
    stats.stored += pending.stored;
    res?;
    flushed?;
    Ok(stats)
}

fn receive_inner<R: Read>(
    sink: &dyn ObjectSink,
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
    if !(VERSION..=VERSION_STORED_CHUNKS).contains(&version) {
        return Err(PackError::BadPack(format!("unsupported pack version {version}")));
    }
    let count = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    progress.start(count);
    let mut bytes_read: u64 = 16;
    let mut small_since_flush = 0usize;
    let mut chunk_bytes_since_flush = 0u64;
    loop {
        let mut kind = [0u8; 1];
        read_exact_or(tee, &mut kind, "frame kind")?;
        bytes_read += 1;
        if kind[0] == 0 {
            break;
        }
        let code = kind[0];
        let chunk_frame = code == FRAME_CHUNK || code == FRAME_CHUNK_LIST || code == FRAME_CHUNK_STORED;
        let needs = if code == FRAME_CHUNK_STORED { VERSION_STORED_CHUNKS } else { VERSION_CHUNKS };
        if chunk_frame && version < needs {
            return Err(PackError::BadPack(format!("frame kind {code} in a version {version} pack")));
        }
        let kind = kind_from_code(code);
        if kind.is_none() && !chunk_frame {
            return Err(PackError::BadPack(format!("unknown frame kind {code}")));
        }
        if stats.objects >= count {
            return Err(PackError::BadPack(format!("more frames than the {count} announced")));
        }
        let mut head = [0u8; 24];
        read_exact_or(tee, &mut head, "frame header")?;
        bytes_read += 24;
        let id = ContentId::from_slice(&head[..16]).expect("16 bytes");
        let len = u64::from_le_bytes(head[16..24].try_into().expect("8 bytes"));
        if code == FRAME_CHUNK {
            if len == 0 || len > MAX_CHUNK_BYTES {
                return Err(PackError::BadPack(format!("chunk {id} is {len} bytes (1 to {MAX_CHUNK_BYTES} allowed)")));
            }
            let mut bytes = vec![0u8; len as usize];
            read_exact_or(tee, &mut bytes, "chunk")?;
            let actual = ContentId::of(&bytes);
            if actual != id {
                return Err(PackError::Corrupt { expected: id, actual });
            }
            store_chunk(sink, pending, stats, &mut chunk_bytes_since_flush, &id, len, || {
                sink.write_chunk(&bytes).map(|_| ()).map_err(Into::into)
            })?;
        } else if code == FRAME_CHUNK_STORED {
            if len <= STORED_HEAD || len > STORED_HEAD + MAX_CHUNK_BYTES {
                return Err(PackError::BadPack(format!("stored chunk {id} is a {len}-byte frame")));
            }
            let mut body = vec![0u8; len as usize];
            read_exact_or(tee, &mut body, "stored chunk")?;
            let codec = Codec::from_tag(body[0])
                .ok_or_else(|| PackError::BadPack(format!("stored chunk {id}: unknown codec {}", body[0])))?;
            let raw_len = u64::from(u32::from_le_bytes(body[1..5].try_into().expect("4 bytes")));
            if raw_len == 0 || raw_len > MAX_CHUNK_BYTES {
                return Err(PackError::BadPack(format!(
                    "chunk {id} is {raw_len} bytes (1 to {MAX_CHUNK_BYTES} allowed)"
                )));
            }
            let stored = &body[STORED_HEAD as usize..];
            // Bounded: the decoder's buffer is `raw_len`, and inflating
            // past it is an error.
            let raw = oxen_chunk::codec::decode(codec, stored, raw_len)
                .map_err(|e| PackError::BadObject(id, format!("stored chunk: {e}")))?;
            let actual = ContentId::of(&raw);
            if actual != id {
                return Err(PackError::Corrupt { expected: id, actual });
            }
            store_chunk(sink, pending, stats, &mut chunk_bytes_since_flush, &id, raw_len, || {
                Ok(sink.write_chunk_stored(&id, codec, stored, &raw)?)
            })?;
        } else if code == FRAME_CHUNK_LIST {
            if len > MAX_NODE_BYTES {
                return Err(PackError::BadPack(format!(
                    "chunk list {id} is {len} bytes, over the {MAX_NODE_BYTES} limit"
                )));
            }
            let mut bytes = vec![0u8; len as usize];
            read_exact_or(tee, &mut bytes, "chunk list")?;
            let list = ChunkList::decode(&bytes).map_err(|e| PackError::BadObject(id, format!("chunk list: {e}")))?;
            if !sink.has_object(ObjectKind::Blob, &id)? {
                sink.write_chunk_list(&id, &list).map_err(|e| chunk_list_error(id, e))?;
                stats.stored += 1;
            }
            pending.know([id]);
        }
        let Some(kind) = kind else {
            bytes_read += len;
            stats.objects += 1;
            progress.update(stats.objects, bytes_read);
            continue;
        };
        match kind {
            ObjectKind::Blob => {
                let mut body = Exact { inner: tee, remaining: len };
                if len <= oxen_store::SMALL_MAX as u64 {
                    // Small: verify in memory, then stored with the batch
                    // (one lookup for the batch, appended to a block: one
                    // write instead of one new file per object).
                    let mut bytes = vec![0u8; len as usize];
                    read_exact_or(tee, &mut bytes, "blob")?;
                    let actual = ContentId::of(&bytes);
                    if actual != id {
                        return Err(PackError::Corrupt { expected: id, actual });
                    }
                    pending.blob_bytes += bytes.len();
                    pending.blobs.push((id, bytes));
                    small_since_flush += 1;
                    if small_since_flush >= BATCH_OBJECTS {
                        pending.flush(sink)?;
                        small_since_flush = 0;
                    } else if pending.blob_bytes >= BLOB_BATCH_BYTES {
                        pending.store_blobs(sink)?;
                    }
                } else if pending.known.contains(&id) || sink.has_object(ObjectKind::Blob, &id)? {
                    io::copy(&mut body, &mut io::sink()).map_err(map_eof)?;
                } else {
                    match sink.write_verified_blob(&mut body, &id) {
                        Ok(_) => {
                            stats.stored += 1;
                            pending.know([id]);
                        }
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
            ObjectKind::Commit | ObjectKind::Tree => {
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
                if !pending.has(sink, kind, &id)? {
                    // The blobs a tree names are looked up among those
                    // received first.
                    pending.store_blobs(sink)?;
                    check_object(sink, &mut *pending, kind, &id, &bytes)?;
                    pending.bytes += bytes.len();
                    pending.ids.insert(id, kind);
                    pending.items.push((kind, id, bytes));
                    stats.stored += 1;
                    if pending.items.len() >= BATCH_OBJECTS || pending.bytes >= BATCH_BYTES {
                        pending.flush(sink)?;
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

/// Why a received chunk list was refused, as the peer's fault where it is.
fn chunk_list_error(id: ContentId, e: StoreError) -> PackError {
    match e {
        StoreError::Corrupt(expected, actual) => PackError::Corrupt { expected, actual },
        StoreError::CorruptContent { content, .. } => match content.problem {
            oxen_store::Mismatch::MissingChunk { chunk } => PackError::MissingDependency(id, "chunk", chunk),
            problem => PackError::BadObject(id, format!("chunk list does not match its chunks: {problem}")),
        },
        e => e.into(),
    }
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
fn check_object(
    sink: &dyn ObjectSink,
    pending: &mut Pending,
    kind: ObjectKind,
    id: &ContentId,
    bytes: &[u8],
) -> Result<()> {
    match kind {
        ObjectKind::Commit => {
            let c = Commit::decode(bytes).map_err(|e| PackError::BadObject(*id, e.to_string()))?;
            if !pending.has(sink, ObjectKind::Tree, &c.tree)? {
                return Err(PackError::MissingDependency(*id, "tree", c.tree));
            }
            // A shallow boundary (recorded by the receiver before the pack
            // came) is the one commit whose parents may be absent.
            let parents: &[ContentId] = if pending.boundaries.contains(id) { &[] } else { &c.parents };
            for p in parents {
                if !pending.has(sink, ObjectKind::Commit, p)? {
                    return Err(PackError::MissingDependency(*id, "commit", *p));
                }
            }
        }
        ObjectKind::Tree => {
            let tree = Tree::decode(bytes).map_err(|e| PackError::BadObject(*id, e.to_string()))?;
            check_tree_deps(sink, &mut *pending, id, &tree)?;
            let h = node_height(id, &tree, |c| pending.height(sink, c))?;
            pending.heights.insert(*id, h);
        }
        ObjectKind::Blob => {}
    }
    Ok(())
}

/// One verified chunk of `raw_len` bytes, written by `write` unless it is
/// held already; every [`CHUNK_FLUSH_BYTES`] of written chunks, what was
/// received is made durable (the resume point of a broken transfer).
fn store_chunk(
    sink: &dyn ObjectSink,
    pending: &mut Pending,
    stats: &mut ReceiveStats,
    since_flush: &mut u64,
    id: &ContentId,
    raw_len: u64,
    write: impl FnOnce() -> Result<()>,
) -> Result<()> {
    if !sink.has_object(ObjectKind::Blob, id)? {
        write()?;
        stats.stored += 1;
        *since_flush += raw_len;
        if *since_flush >= CHUNK_FLUSH_BYTES {
            pending.flush(sink)?;
            *since_flush = 0;
        }
    }
    stats.chunks += 1;
    Ok(())
}

/// A tree's children must be stored or pending. The blobs it names that
/// this receive has not seen are looked up in one batch.
fn check_tree_deps(sink: &dyn ObjectSink, pending: &mut Pending, id: &ContentId, tree: &Tree) -> Result<()> {
    match tree {
        Tree::Entries(es) => {
            let mut unseen = Vec::new();
            for e in es {
                match e.kind {
                    EntryKind::Dir => {
                        if !pending.has(sink, ObjectKind::Tree, &e.id)? {
                            return Err(PackError::MissingDependency(*id, "tree", e.id));
                        }
                    }
                    // A partial clone receives trees naming contents it
                    // does not hold (outside its set).
                    EntryKind::File if pending.lazy_blobs || pending.known.contains(&e.id) => {}
                    EntryKind::File => unseen.push((ObjectKind::Blob, e.id)),
                }
            }
            if !unseen.is_empty() {
                let found = sink.has_objects(&unseen)?;
                if let Some(((_, blob), _)) = unseen.iter().zip(&found).find(|(_, f)| !**f) {
                    return Err(PackError::MissingDependency(*id, "blob", *blob));
                }
                pending.know(unseen.into_iter().map(|(_, b)| b));
            }
        }
        Tree::Buckets { buckets, .. } => {
            for (_, b) in buckets {
                if !pending.has(sink, ObjectKind::Tree, b)? {
                    return Err(PackError::MissingDependency(*id, "tree", *b));
                }
            }
        }
    }
    Ok(())
}
