//! The repository as an object source and sink for `oxen-pack`: packs are
//! read from and received into a `Repo` through these traits, so the pack
//! code needs no repository type.

use std::io::Read;
use std::path::Path;

use oxen_hash::ContentId;
use oxen_store::{Blob, ObjectKind, ObjectSink, ObjectSource, Result, StoreError, Table};

use crate::Repo;

fn table(kind: ObjectKind) -> Option<Table> {
    match kind {
        ObjectKind::Commit => Some(Table::Commits),
        ObjectKind::Tree => Some(Table::Trees),
        ObjectKind::Blob => None,
    }
}

impl ObjectSource for Repo {
    fn read_node(&self, kind: ObjectKind, id: &ContentId) -> Result<Vec<u8>> {
        match table(kind) {
            Some(t) => self.db.get_object(t, id),
            None => self.versions.read_all(id),
        }
    }

    fn open_blob(&self, id: &ContentId) -> Result<Blob> {
        self.versions.open(id)
    }

    fn has_object(&self, kind: ObjectKind, id: &ContentId) -> Result<bool> {
        match table(kind) {
            Some(t) => self.db.has_object(t, id),
            None => Ok(self.versions.has(id)),
        }
    }

    fn has_objects(&self, objects: &[(ObjectKind, ContentId)]) -> Result<Vec<bool>> {
        has_objects(&self.db, &self.versions, objects)
    }

    fn chunk_list(&self, id: &ContentId) -> Result<Option<oxen_store::ChunkList>> {
        self.versions.chunk_list(id)
    }

    fn missing_contents(&self, ids: &[ContentId]) -> Result<Vec<ContentId>> {
        self.versions.missing(ids)
    }

    fn prefetch(&self, ids: &[ContentId]) -> Result<()> {
        self.versions.prefetch(ids)
    }

    fn release_memory(&self) {
        self.db.release_mapped_pages();
    }

    fn stored_chunk(&self, id: &ContentId) -> Result<Option<(oxen_store::Codec, u64, Vec<u8>)>> {
        self.versions.read_stored(id)
    }

    fn shallow_boundaries(&self) -> Result<std::collections::BTreeSet<ContentId>> {
        oxen_store::read_shallow(&self.layout)
    }
}

impl ObjectSink for Repo {
    fn write_nodes(&self, nodes: &[(ObjectKind, &[u8])]) -> Result<()> {
        let mut txn = self.db.begin_write()?;
        for (kind, bytes) in nodes {
            let t = table(*kind)
                .ok_or_else(|| StoreError::io("pack", std::io::Error::other("a blob cannot be written as a node")))?;
            txn.put_object(t, bytes)?;
        }
        txn.commit()
    }

    fn write_blob(&self, bytes: &[u8]) -> Result<ContentId> {
        self.versions.write_bytes(bytes)
    }

    fn write_blobs(&self, blobs: &[(ContentId, &[u8])]) -> Result<u64> {
        self.versions.write_many(blobs)
    }

    fn write_verified_blob(&self, reader: &mut dyn Read, expected: &ContentId) -> Result<u64> {
        self.versions.write_verified(reader, expected, Path::new("pack"))
    }

    fn write_chunk(&self, bytes: &[u8]) -> Result<ContentId> {
        self.versions.write_chunk(bytes)
    }

    fn write_chunk_list(&self, id: &ContentId, list: &oxen_store::ChunkList) -> Result<()> {
        self.versions.write_chunk_list(id, list)
    }

    fn write_chunk_stored(&self, id: &ContentId, codec: oxen_store::Codec, stored: &[u8], raw: &[u8]) -> Result<()> {
        self.versions.write_chunk_stored(id, codec, stored, raw)
    }

    fn flush(&self) -> Result<()> {
        self.versions.flush()
    }

    fn lazy_contents(&self) -> bool {
        self.partial_set().ok().flatten().is_some()
    }
}

/// One operation on a repository that many share (an `oxen-server` opens
/// each repository once and serves every request from it): the same
/// objects, but a versions handle of its own ([`oxen_store::Versions::operation`]),
/// so its flush fails when a failed block seal dropped contents this
/// operation wrote or relied on, whatever other requests flush meanwhile.
/// A server receives each pack into one of these.
pub struct RepoOperation<'a> {
    repo: &'a Repo,
    versions: oxen_store::Versions,
}

impl Repo {
    /// Start an operation of its own on this repository (see [`RepoOperation`]).
    pub fn operation(&self) -> RepoOperation<'_> {
        RepoOperation { repo: self, versions: self.versions.operation() }
    }
}

impl ObjectSource for RepoOperation<'_> {
    fn read_node(&self, kind: ObjectKind, id: &ContentId) -> Result<Vec<u8>> {
        match table(kind) {
            Some(t) => self.repo.db.get_object(t, id),
            None => self.versions.read_all(id),
        }
    }

    fn open_blob(&self, id: &ContentId) -> Result<Blob> {
        self.versions.open(id)
    }

    fn has_object(&self, kind: ObjectKind, id: &ContentId) -> Result<bool> {
        match table(kind) {
            Some(t) => self.repo.db.has_object(t, id),
            None => Ok(self.versions.has(id)),
        }
    }

    fn has_objects(&self, objects: &[(ObjectKind, ContentId)]) -> Result<Vec<bool>> {
        has_objects(&self.repo.db, &self.versions, objects)
    }

    fn chunk_list(&self, id: &ContentId) -> Result<Option<oxen_store::ChunkList>> {
        self.versions.chunk_list(id)
    }

    fn missing_contents(&self, ids: &[ContentId]) -> Result<Vec<ContentId>> {
        self.versions.missing(ids)
    }

    fn shallow_boundaries(&self) -> Result<std::collections::BTreeSet<ContentId>> {
        oxen_store::read_shallow(&self.repo.layout)
    }

    fn prefetch(&self, ids: &[ContentId]) -> Result<()> {
        self.versions.prefetch(ids)
    }

    fn release_memory(&self) {
        self.repo.db.release_mapped_pages();
    }
}

impl ObjectSink for RepoOperation<'_> {
    fn write_nodes(&self, nodes: &[(ObjectKind, &[u8])]) -> Result<()> {
        self.repo.write_nodes(nodes)
    }

    fn write_blob(&self, bytes: &[u8]) -> Result<ContentId> {
        self.versions.write_bytes(bytes)
    }

    fn write_blobs(&self, blobs: &[(ContentId, &[u8])]) -> Result<u64> {
        self.versions.write_many(blobs)
    }

    fn write_verified_blob(&self, reader: &mut dyn Read, expected: &ContentId) -> Result<u64> {
        self.versions.write_verified(reader, expected, Path::new("pack"))
    }

    fn write_chunk(&self, bytes: &[u8]) -> Result<ContentId> {
        self.versions.write_chunk(bytes)
    }

    fn write_chunk_list(&self, id: &ContentId, list: &oxen_store::ChunkList) -> Result<()> {
        self.versions.write_chunk_list(id, list)
    }

    fn flush(&self) -> Result<()> {
        self.versions.flush()
    }
}

/// Which of `objects` are stored, in batches: one lookup of many keys per
/// table (nodes) and one `missing` query for contents.
fn has_objects(
    db: &oxen_store::Db,
    versions: &oxen_store::Versions,
    objects: &[(ObjectKind, ContentId)],
) -> Result<Vec<bool>> {
    let mut out = vec![false; objects.len()];
    for t in [Table::Commits, Table::Trees] {
        let at: Vec<usize> = (0..objects.len()).filter(|&i| table(objects[i].0) == Some(t)).collect();
        let keys: Vec<&[u8]> = at.iter().map(|&i| &objects[i].1.as_bytes()[..]).collect();
        for (i, v) in at.iter().zip(db.get_many(t, &keys)?) {
            out[*i] = v.is_some();
        }
    }
    let blobs: Vec<usize> = (0..objects.len()).filter(|&i| table(objects[i].0).is_none()).collect();
    let ids: Vec<ContentId> = blobs.iter().map(|&i| objects[i].1).collect();
    let missing: std::collections::HashSet<ContentId> = versions.missing(&ids)?.into_iter().collect();
    for (i, id) in blobs.iter().zip(&ids) {
        out[*i] = !missing.contains(id);
    }
    Ok(out)
}
