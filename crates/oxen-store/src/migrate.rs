//! `oxen migrate`: rewrite contents stored the v1 way (loose files, raw
//! whole segment records of [`CHUNK_THRESHOLD`] bytes or more) into the v2
//! encoding: chunked (from the threshold) or one record compressed when
//! that pays (below it).
//!
//! Each content is read through the verified read path and re-cut by the
//! normal chunker; its id is checked against the bytes before anything
//! refers to the new copy. The new records are synced and their locations
//! recorded (one transaction) before the old copy goes: a loose file is
//! removed after, a segment record's location is switched in the same
//! transaction only if it still names the old record, and the old bytes are
//! left to compaction. A kill at any point leaves every content readable
//! from one copy or the other; a rerun finishes the job. Idempotent: a
//! content already in v2 form is not a candidate.

use std::io::{self, Read};

use lmdb::Transaction;
use oxen_chunk::{chunk_stream, ChunkError, Codec, Encoder};
use oxen_hash::ContentId;

use crate::versions::{Kind, Loc, CHUNK_THRESHOLD};
use crate::{faults, Result, StoreError, Versions};

/// What `migrate` rewrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrateReport {
    /// Loose files rewritten into segments (and removed).
    pub loose: u64,
    /// Raw whole segment records rewritten as chunks.
    pub records: u64,
    /// The contents' bytes (raw length) rewritten.
    pub bytes: u64,
}

/// Where a content's v1 copy lives.
enum Old {
    Loose(std::path::PathBuf),
    Record(Loc),
}

impl Versions {
    /// The ids stored the v1 way (see the module docs), in id order.
    pub fn migrate_candidates(&self) -> Result<Vec<ContentId>> {
        let Some(s) = &self.segments else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        {
            let (env, table) = s.db.lmdb_blobs("migrate")?;
            let txn = env.begin_ro_txn()?;
            let mut cur = txn.open_ro_cursor(table)?;
            for item in lmdb::Cursor::iter_start(&mut cur) {
                let (k, v) = item?;
                let (Some(id), Some(loc)) = (ContentId::from_slice(k), Loc::decode(v)) else { continue };
                if is_v1_large(&loc) {
                    out.push(id);
                }
            }
        }
        out.extend(self.loose_files()?.into_iter().map(|(id, _)| id));
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Rewrite one content into the v2 encoding (see the module docs).
    /// Returns its length, or `None` when it was not stored the v1 way.
    pub fn migrate_content(&self, id: &ContentId) -> Result<Option<u64>> {
        let Some(s) = &self.segments else { return Ok(None) };
        let loose = self.path(id);
        let old = if loose.is_file() {
            // A rerun after a kill that came after the new location was
            // recorded: only the loose copy is left to remove.
            if s.lookup(id)?.is_some_and(|l| !is_v1_large(&l)) {
                remove_loose(&loose)?;
                return Ok(Some(0));
            }
            Old::Loose(loose.clone())
        } else {
            match s.lookup(id)? {
                Some(l) if is_v1_large(&l) => Old::Record(l),
                _ => return Ok(None),
            }
        };
        let mut blob = self.open(id)?;
        let len = blob.len();
        let what = match &old {
            Old::Loose(p) => p.clone(),
            Old::Record(l) => s.path(&l.segment),
        };
        if len >= CHUNK_THRESHOLD {
            let chunked = chunk_stream(&mut blob, |c| self.write_chunk(c.data).map(|_| ())).map_err(|e| match e {
                ChunkError::Read(e) => StoreError::io(&what, e),
                ChunkError::Sink(e) => e,
                ChunkError::Params(p) => StoreError::io(&what, io::Error::other(format!("chunk parameters {p:?}"))),
            })?;
            if chunked.id != *id {
                return Err(StoreError::Corrupt(*id, chunked.id));
            }
            s.append_record(id, &chunked.list.encode(), len, Codec::Raw, Kind::ChunkList)?;
        } else {
            let mut raw = Vec::with_capacity(len as usize);
            blob.read_to_end(&mut raw).map_err(|e| blob.store_error(e))?;
            let actual = ContentId::of(&raw);
            if actual != *id {
                return Err(StoreError::Corrupt(*id, actual));
            }
            let mut enc = Encoder::new().map_err(|e| StoreError::io(&what, e))?;
            let e = enc.encode(&raw).map_err(|e| StoreError::io(&what, e))?;
            s.append_record(id, &e.bytes, len, e.codec, Kind::Bytes)?;
        }
        let new = s.pending.lock().map_err(crate::versions::poisoned)?.get(id).cloned();
        // Syncs the segment and records the chunks (and, for a loose file,
        // the new location: its id is not in the table yet).
        self.flush()?;
        match old {
            Old::Loose(p) => {
                if s.lookup(id)?.is_some() {
                    remove_loose(&p)?;
                }
            }
            Old::Record(from) => {
                let Some(to) = new else { return Ok(None) };
                faults::write_point();
                let mut txn = s.db.begin_write()?;
                let current = txn.get(crate::Table::Blobs, id.as_bytes())?.and_then(|v| Loc::decode(&v));
                // Moved meanwhile (compacted by a gc): the record is still
                // v1 and the next run takes it.
                if current.as_ref() == Some(&from) {
                    txn.put(crate::Table::Blobs, id.as_bytes(), &to.encode())?;
                }
                txn.commit()?;
            }
        }
        Ok(Some(len))
    }

    /// Rewrite every v1 content ([`Versions::migrate_content`]), then
    /// compact the segments the old records leave dead.
    pub fn migrate(&self) -> Result<(MigrateReport, crate::GcReport)> {
        let mut report = MigrateReport::default();
        for id in self.migrate_candidates()? {
            let was_loose = self.path(&id).is_file();
            if let Some(len) = self.migrate_content(&id)? {
                if was_loose {
                    report.loose += 1;
                } else {
                    report.records += 1;
                }
                report.bytes += len;
            }
        }
        let gc = self.compact_segments(false)?;
        Ok((report, gc))
    }
}

/// A raw whole record from the threshold up: v1's way to store it.
fn is_v1_large(l: &Loc) -> bool {
    l.kind == Kind::Bytes && l.codec == Codec::Raw && l.raw_len == l.len && l.len >= CHUNK_THRESHOLD
}

fn remove_loose(p: &std::path::Path) -> Result<()> {
    faults::write_point();
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io(p, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::versions::tests::store;

    fn noise(seed: u64, len: usize) -> Vec<u8> {
        // Hex digits: compressible, unlike crate::testutil::noise.
        crate::testutil::xorshift(seed).map(|x| (x % 16) as u8 + b'0').take(len).collect()
    }

    #[test]
    fn v1_records_and_loose_files_become_chunks_and_compressed_records() {
        let (_d, _db, v) = store();
        let s = v.segments.clone().unwrap();
        // As the round-1 release stored them: a raw whole record from the
        // threshold up, and loose files (what a push received).
        let record = noise(1, 700 * 1024);
        let rid = ContentId::of(&record);
        s.append(&rid, &record).unwrap();
        let big = noise(2, 600 * 1024);
        let small = b"a small loose file, compressible compressible compressible".repeat(20);
        let (bid, sid) = (ContentId::of(&big), ContentId::of(&small));
        // (A store without segments writes loose files, as that release's
        // receiver did; today's receiver writes into blocks.)
        let loose = Versions::new(v.dir.clone(), v.tmp.clone());
        loose.write_verified(&big[..], &bid, std::path::Path::new("big")).unwrap();
        loose.write_verified(&small[..], &sid, std::path::Path::new("small")).unwrap();
        // Below the threshold in a segment: already how v2 stores it.
        let kept = v.write_bytes(b"small record").unwrap();
        v.flush().unwrap();
        assert!(v.path(&bid).is_file() && v.path(&sid).is_file());
        let mut want = vec![rid, bid, sid];
        want.sort();
        assert_eq!(v.migrate_candidates().unwrap(), want);

        let (r, _) = v.migrate().unwrap();
        assert_eq!((r.records, r.loose, r.bytes), (1, 2, (record.len() + big.len() + small.len()) as u64));
        assert!(!v.path(&bid).exists() && !v.path(&sid).exists(), "loose copies removed");
        for (id, bytes) in [(rid, &record[..]), (bid, &big[..]), (sid, &small[..]), (kept, &b"small record"[..])] {
            assert_eq!(v.read_all(&id).unwrap(), bytes);
            assert_eq!(v.verify(&id).unwrap(), None);
        }
        assert!(v.chunk_list(&rid).unwrap().is_some() && v.chunk_list(&bid).unwrap().is_some());
        let small_loc = s.lookup(&sid).unwrap().unwrap();
        assert_eq!((small_loc.kind, small_loc.codec), (Kind::Bytes, Codec::Zstd));
        assert!(v.migrate_candidates().unwrap().is_empty());
        assert_eq!(v.migrate().unwrap().0, MigrateReport::default(), "idempotent");
    }
}
