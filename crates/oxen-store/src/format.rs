//! The store's format version, kept in the meta table under `format`.
//!
//! - v1: what the round-1 release wrote (raw segment records, loose files);
//!   it wrote no `format` entry, so a repository without one is v1.
//! - v2: storage v2 (chunked and compressed records, the longer `blobs`
//!   location encoding). This build reads v1 and v2 alike.
//!
//! Opening a v1 repository records v2 (the upgrade in place: new writes use
//! v2 encodings, old ones stay readable, `oxen migrate` rewrites them). A
//! repository recording a format newer than this build knows is refused
//! before anything is written to it: an older build could not read what a
//! newer one wrote, and must not write beside it.

use lmdb::{Database, Environment, Transaction, WriteFlags};

use crate::{Result, StoreError};

/// The meta table's key for the format version.
pub const FORMAT_KEY: &[u8] = b"format";

/// The format this build writes (and the newest it reads).
pub const FORMAT: u32 = 2;

/// A format version as the meta table holds it: ASCII decimal, so
/// `oxen kvdb-inspect` shows it as is.
pub(crate) fn parse(v: &[u8]) -> Option<u32> {
    std::str::from_utf8(v).ok()?.trim().parse().ok()
}

/// The recorded format (1 when none is recorded), or `None` when the entry
/// is there but not a number this build can read.
pub(crate) fn read(env: &Environment, meta: Database) -> Result<Option<u32>> {
    let txn = env.begin_ro_txn()?;
    let r = match txn.get(meta, &FORMAT_KEY) {
        Ok(v) => parse(v),
        Err(lmdb::Error::NotFound) => Some(1),
        Err(e) => return Err(e.into()),
    };
    Ok(r)
}

/// Refuse a format newer than [`FORMAT`] (or unreadable); record [`FORMAT`]
/// over an older one.
pub(crate) fn check_and_upgrade(env: &Environment, meta: Database, db_dir: &std::path::Path) -> Result<()> {
    match read(env, meta)? {
        Some(v) if v == FORMAT => Ok(()),
        Some(v) if v < FORMAT => record(env, meta, db_dir),
        found => Err(StoreError::NewerFormat { path: db_dir.to_path_buf(), found, known: FORMAT }),
    }
}

/// Write [`FORMAT`] (a new repository, or an upgrade).
pub(crate) fn record(env: &Environment, meta: Database, db_dir: &std::path::Path) -> Result<()> {
    let db_err = |e| StoreError::db(db_dir, e);
    let mut txn = env.begin_rw_txn().map_err(db_err)?;
    txn.put(meta, &FORMAT_KEY, &FORMAT.to_string(), WriteFlags::empty()).map_err(db_err)?;
    txn.commit().map_err(db_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Db, Layout, Table};

    /// The entry as stored, read without `Db::open`'s check.
    fn raw(layout: &Layout) -> Option<Vec<u8>> {
        let env = Environment::new().set_max_dbs(16).open(&layout.db_dir()).unwrap();
        let meta = env.open_db(Some(Table::Meta.name())).unwrap();
        let txn = env.begin_ro_txn().unwrap();
        let r = match txn.get(meta, &FORMAT_KEY) {
            Ok(v) => Some(v.to_vec()),
            Err(lmdb::Error::NotFound) => None,
            Err(e) => panic!("{e}"),
        };
        r
    }

    #[test]
    fn v1_is_upgraded_and_newer_or_unreadable_is_refused_untouched() {
        let d = tempfile::tempdir().unwrap();
        let layout = Layout::create(d.path()).unwrap();
        let db = Db::open(&layout).unwrap();
        assert_eq!(db.get(Table::Meta, FORMAT_KEY).unwrap().as_deref(), Some(&b"2"[..]), "init records it");
        // A repository of the round-1 release: no entry.
        let mut txn = db.begin_write().unwrap();
        assert!(txn.delete(Table::Meta, FORMAT_KEY).unwrap());
        txn.commit().unwrap();
        drop(db);
        assert_eq!(raw(&layout), None);
        let mut db = Db::open(&layout).unwrap();
        assert_eq!(db.get(Table::Meta, FORMAT_KEY).unwrap().as_deref(), Some(&b"2"[..]), "upgraded in place");
        for (v, found) in [(&b"3"[..], Some(3)), (b"99", Some(99)), (b"two", None), (b"", None)] {
            db.put(Table::Meta, FORMAT_KEY, v).unwrap();
            drop(db);
            match Db::open(&layout) {
                Err(e @ StoreError::NewerFormat { .. }) => {
                    let StoreError::NewerFormat { found: f, known, .. } = &e else { unreachable!() };
                    assert_eq!((*f, *known), (found, FORMAT));
                    let msg = e.to_string();
                    assert!(msg.contains("is newer than this oxen understands") && !msg.contains('\n'), "{msg}");
                }
                other => panic!("format {v:?} opened: {:?}", other.map(|_| ())),
            }
            assert_eq!(raw(&layout).as_deref(), Some(v), "a refused repository was written");
            // The current format back, for the next round.
            {
                let env = Environment::new().set_max_dbs(16).open(&layout.db_dir()).unwrap();
                let meta = env.open_db(Some(Table::Meta.name())).unwrap();
                record(&env, meta, &layout.db_dir()).unwrap();
            }
            db = Db::open(&layout).unwrap();
        }
    }
}
