//! Where objects come from and go to, as seen by code that moves them
//! between repositories (the pack format, negotiation, receive).
//!
//! These traits live here, in the crate that owns the object stores
//! (`commits` and `trees` tables, the versions store) and their error type,
//! so that `oxen-pack` can read and write objects without depending on
//! `oxen-repo`: the repository implements them, and the dependency arrows
//! all point down (`oxen-repo` -> `oxen-pack`'s callers, `oxen-pack` ->
//! `oxen-store`).

use std::io::Read;

use oxen_hash::ContentId;

use oxen_chunk::{ChunkList, Codec};

use crate::{Blob, Result};

/// The three kinds of stored object, each with its own home: commits and
/// tree nodes in LMDB tables, file contents (blobs) in the versions store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKind {
    /// A commit.
    Commit,
    /// A tree node.
    Tree,
    /// File contents.
    Blob,
}

impl ObjectKind {
    /// `commit` / `tree` / `blob`: the name used in messages and on the wire.
    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::Commit => "commit",
            ObjectKind::Tree => "tree",
            ObjectKind::Blob => "blob",
        }
    }

    /// From [`ObjectKind::name`].
    pub fn from_name(s: &str) -> Option<ObjectKind> {
        match s {
            "commit" => Some(ObjectKind::Commit),
            "tree" => Some(ObjectKind::Tree),
            "blob" => Some(ObjectKind::Blob),
            _ => None,
        }
    }
}

/// Read access to a repository's objects, like gitoxide's `Find`: enough
/// to enumerate and send a pack.
pub trait ObjectSource {
    /// The canonical bytes of a commit or tree node, verified against `id`
    /// (a corrupt object is an error, never sent on).
    fn read_node(&self, kind: ObjectKind, id: &ContentId) -> Result<Vec<u8>>;
    /// File contents opened as a stream, so a blob of any size is sent in
    /// bounded memory.
    fn open_blob(&self, id: &ContentId) -> Result<Blob>;
    /// Whether an object is stored, without reading it.
    fn has_object(&self, kind: ObjectKind, id: &ContentId) -> Result<bool>;
    /// [`ObjectSource::has_object`] of each of `objects`, in order: a
    /// store whose lookups are round trips (PostgreSQL) answers in a few
    /// batches instead of one query each.
    fn has_objects(&self, objects: &[(ObjectKind, ContentId)]) -> Result<Vec<bool>> {
        objects.iter().map(|(k, id)| self.has_object(*k, id)).collect()
    }
    /// A hint: these contents are about to be opened one by one (a pack
    /// being sent), so a store whose lookups are round trips may read
    /// their locations in one batch. The default does nothing.
    fn prefetch(&self, _ids: &[ContentId]) -> Result<()> {
        Ok(())
    }
    /// Let go of memory that a long walk or transfer would otherwise grow
    /// with the repository's size rather than its own work: database pages
    /// mapped in by reads (an LMDB read maps the file's pages into the
    /// process, and they count as its resident memory until released).
    /// Called between batches; the default does nothing.
    fn release_memory(&self) {}
    /// The chunk list of file contents stored chunked (`None` for contents
    /// stored whole): what chunk-level sync sends instead of the bytes.
    fn chunk_list(&self, id: &ContentId) -> Result<Option<ChunkList>>;
    /// Which of `ids` (file contents or chunks: one id space) are not
    /// stored, in their order, in one batch.
    fn missing_contents(&self, ids: &[ContentId]) -> Result<Vec<ContentId>>;
    /// A chunk as stored, when stored compressed: `(codec, raw length,
    /// stored bytes)`, not yet verified (the caller decodes and checks the
    /// id). `None` (the default) sends it raw through
    /// [`ObjectSource::open_blob`]. Lets sync move chunks compressed
    /// without compressing them again.
    fn stored_chunk(&self, _id: &ContentId) -> Result<Option<(Codec, u64, Vec<u8>)>> {
        Ok(None)
    }
    /// The boundary commits of a shallow repository (see
    /// [`crate::read_shallow`]): stored without their parents, and
    /// parentless to every walk. Empty (the default) for a complete one.
    fn shallow_boundaries(&self) -> Result<std::collections::BTreeSet<ContentId>> {
        Ok(std::collections::BTreeSet::new())
    }
}

/// Write access for receiving a pack, like gitoxide's `Write`. Receiving
/// relies on the ordering contract: an object is written only after
/// everything it names is stored, and nodes naming blobs only after
/// [`ObjectSink::flush`] recorded those blobs.
pub trait ObjectSink: ObjectSource {
    /// Store commits and tree nodes (already verified) in one batch: one
    /// transaction for many objects, which is what keeps receiving fast.
    fn write_nodes(&self, nodes: &[(ObjectKind, &[u8])]) -> Result<()>;
    /// Store small, already verified file contents held in memory.
    fn write_blob(&self, bytes: &[u8]) -> Result<ContentId>;
    /// Store many small, already verified contents, each with its id,
    /// skipping those already stored; how many were written. A store whose
    /// lookups are round trips answers for the batch at once; the default
    /// asks [`ObjectSource::has_object`] for each.
    fn write_blobs(&self, blobs: &[(ContentId, &[u8])]) -> Result<u64> {
        let mut written = 0;
        for (id, bytes) in blobs {
            if !self.has_object(ObjectKind::Blob, id)? {
                self.write_blob(bytes)?;
                written += 1;
            }
        }
        Ok(written)
    }
    /// Stream file contents that must hash to `expected`; nothing becomes
    /// visible unless they do (the error is then `StoreError::Corrupt`).
    fn write_verified_blob(&self, reader: &mut dyn Read, expected: &ContentId) -> Result<u64>;
    /// Store one chunk received in sync (the caller verified its id).
    /// Recorded by the next [`ObjectSink::flush`].
    fn write_chunk(&self, bytes: &[u8]) -> Result<ContentId>;
    /// Record `list` as the contents `id`: refused (nothing written) unless
    /// every chunk is stored and their bytes in order hash to `id`.
    fn write_chunk_list(&self, id: &ContentId, list: &ChunkList) -> Result<()>;
    /// Store one chunk received in its stored encoding: `raw` (verified
    /// against `id` by the caller) is what `stored` decodes to under
    /// `codec`. A store may keep `stored` as is instead of compressing
    /// `raw` again; the default does [`ObjectSink::write_chunk`].
    fn write_chunk_stored(&self, _id: &ContentId, _codec: Codec, _stored: &[u8], raw: &[u8]) -> Result<()> {
        self.write_chunk(raw).map(|_| ())
    }
    /// Make blobs written so far durable and findable; call before writing
    /// the nodes that name them.
    fn flush(&self) -> Result<()>;
    /// Whether trees may name file contents this sink does not hold (a
    /// partial clone: its promisor remote has them). Everyone else
    /// refuses such a tree.
    fn lazy_contents(&self) -> bool {
        false
    }
}
