//! The LMDB environment under `.oxen/db` and its named databases.

use lmdb::{Cursor, Database, DatabaseFlags, Environment, RwTransaction, Transaction, WriteFlags};
use oxen_hash::ContentId;

use crate::{Layout, Result, StoreError};

/// LMDB reserves address space, not disk: 1 TiB lets a repository grow
/// without ever hitting MDB_MAP_FULL, and costs nothing until used.
const MAP_SIZE: usize = 1 << 40;

/// The named databases inside the environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// ref name (`heads/main`, `tags/v1`, `remotes/origin/main`) -> 16-byte commit id
    Refs,
    /// path -> encoded index entry
    Index,
    /// commit id -> canonical commit bytes
    Commits,
    /// tree id -> canonical tree bytes
    Trees,
    /// small bookkeeping values (index write time, ...)
    Meta,
    /// content id -> location of small contents inside a segment file
    Blobs,
}

impl Table {
    /// All tables, in a fixed order.
    pub const ALL: [Table; 6] = [Table::Refs, Table::Index, Table::Commits, Table::Trees, Table::Meta, Table::Blobs];

    /// The LMDB database name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Refs => "refs",
            Table::Index => "index",
            Table::Commits => "commits",
            Table::Trees => "trees",
            Table::Meta => "meta",
            Table::Blobs => "blobs",
        }
    }
}

/// An open LMDB environment with its named databases. Open it once per
/// process: LMDB does not allow the same environment open twice in one
/// process.
pub struct Db {
    /// The environment, for callers that batch many operations in one
    /// transaction.
    pub env: std::sync::Arc<Environment>,
    dbs: [Database; 6],
}

impl Db {
    /// Open (creating the named databases if needed) the environment of a repository.
    pub fn open(layout: &Layout) -> Result<Db> {
        let dir = layout.db_dir();
        if !dir.is_dir() {
            return Err(StoreError::NotARepo(layout.work.clone()));
        }
        let env = Environment::new().set_max_dbs(16).set_map_size(MAP_SIZE).set_max_readers(512).open(&dir)?;
        let mut dbs = Vec::with_capacity(Table::ALL.len());
        for t in Table::ALL {
            let db = match env.open_db(Some(t.name())) {
                Ok(db) => db,
                Err(lmdb::Error::NotFound) => env.create_db(Some(t.name()), DatabaseFlags::empty())?,
                Err(e) => return Err(e.into()),
            };
            dbs.push(db);
        }
        let dbs: [Database; 6] = [dbs[0], dbs[1], dbs[2], dbs[3], dbs[4], dbs[5]];
        Ok(Db { env: std::sync::Arc::new(env), dbs })
    }

    /// The handle of a named database.
    pub fn table(&self, t: Table) -> Database {
        self.dbs[t as usize]
    }

    /// Read one value.
    pub fn get(&self, t: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let txn = self.env.begin_ro_txn()?;
        let r = match txn.get(self.table(t), &key) {
            Ok(v) => Some(v.to_vec()),
            Err(lmdb::Error::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(r)
    }

    /// Write one value in its own transaction.
    pub fn put(&self, t: Table, key: &[u8], value: &[u8]) -> Result<()> {
        let mut txn = self.env.begin_rw_txn()?;
        txn.put(self.table(t), &key, &value, WriteFlags::empty())?;
        txn.commit()?;
        Ok(())
    }

    /// Every key/value of a table, in key order.
    pub fn scan(&self, t: Table) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.scan_prefix(t, b"")
    }

    /// Key/values whose key starts with `prefix`, in key order.
    pub fn scan_prefix(&self, t: Table, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let txn = self.env.begin_ro_txn()?;
        let mut cur = txn.open_ro_cursor(self.table(t))?;
        let mut out = Vec::new();
        let iter = if prefix.is_empty() { cur.iter_start() } else { cur.iter_from(prefix) };
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(prefix) {
                break;
            }
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// Fetch an object (tree or commit) and check its bytes still hash to its id.
    pub fn get_object(&self, t: Table, id: &ContentId) -> Result<Vec<u8>> {
        let bytes = self.get(t, id.as_bytes())?.ok_or(StoreError::MissingObject(*id))?;
        let actual = ContentId::of(&bytes);
        if actual != *id {
            return Err(StoreError::Corrupt(*id, actual));
        }
        Ok(bytes)
    }

    /// Whether an object exists, without reading or verifying it.
    pub fn has_object(&self, t: Table, id: &ContentId) -> Result<bool> {
        let txn = self.env.begin_ro_txn()?;
        let r = match txn.get(self.table(t), id.as_bytes()) {
            Ok(_) => true,
            Err(lmdb::Error::NotFound) => false,
            Err(e) => return Err(e.into()),
        };
        Ok(r)
    }

    /// Store an object under the id of its bytes, inside a caller's transaction.
    /// Writing an object that already exists is a no-op.
    pub fn put_object_in(&self, txn: &mut RwTransaction<'_>, t: Table, bytes: &[u8]) -> Result<ContentId> {
        let id = ContentId::of(bytes);
        match txn.put(self.table(t), id.as_bytes(), &bytes, WriteFlags::NO_OVERWRITE) {
            Ok(()) | Err(lmdb::Error::KeyExist) => Ok(id),
            Err(e) => Err(e.into()),
        }
    }

    /// Store one object in its own transaction.
    pub fn put_object(&self, t: Table, bytes: &[u8]) -> Result<ContentId> {
        let mut txn = self.env.begin_rw_txn()?;
        let id = self.put_object_in(&mut txn, t, bytes)?;
        txn.commit()?;
        Ok(id)
    }

    /// Ids in a table whose hex form starts with `hex_prefix` (up to `limit`).
    pub fn ids_with_prefix(&self, t: Table, hex_prefix: &str, limit: usize) -> Result<Vec<ContentId>> {
        // Seek to the first key >= the prefix padded with zeros, then walk
        // while the hex form still matches.
        let padded = format!("{:0<32}", hex_prefix.to_ascii_lowercase());
        let start = match ContentId::from_hex(&padded) {
            Ok(id) => id,
            Err(_) => return Ok(Vec::new()),
        };
        let want = hex_prefix.to_ascii_lowercase();
        let txn = self.env.begin_ro_txn()?;
        let mut cur = txn.open_ro_cursor(self.table(t))?;
        let mut out = Vec::new();
        for item in cur.iter_from(start.as_bytes()) {
            let (k, _) = item?;
            let Some(id) = ContentId::from_slice(k) else { continue };
            if !id.to_hex().starts_with(&want) {
                break;
            }
            out.push(id);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}

/// One named database of an environment, dumped for inspection.
#[derive(Clone, Debug, Default)]
pub struct DumpedTable {
    /// The database's name.
    pub name: String,
    /// Every key and value, in key order.
    pub rows: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Every named database (or only `only`) of the LMDB environment in `dir`,
/// opened read-only, for debugging dumps (`oxen kvdb-inspect`). Any
/// environment works, not only a repository's: the server's user database
/// too.
pub fn dump_env(dir: &std::path::Path, only: Option<&str>) -> Result<Vec<DumpedTable>> {
    if !dir.join("data.mdb").is_file() {
        return Err(StoreError::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no data.mdb: not an LMDB environment"),
        ));
    }
    let env = Environment::new().set_max_dbs(64).set_flags(lmdb::EnvironmentFlags::READ_ONLY).open(dir)?;
    let mut names = Vec::new();
    {
        let main = env.open_db(None)?;
        let txn = env.begin_ro_txn()?;
        let mut cur = txn.open_ro_cursor(main)?;
        for item in cur.iter_start() {
            let (k, _) = item?;
            names.push(String::from_utf8_lossy(k).into_owned());
        }
    }
    let mut out = Vec::new();
    for name in names {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let db = env.open_db(Some(&name))?;
        let txn = env.begin_ro_txn()?;
        let mut cur = txn.open_ro_cursor(db)?;
        let mut rows = Vec::new();
        for item in cur.iter_start() {
            let (k, v) = item?;
            rows.push((k.to_vec(), v.to_vec()));
        }
        out.push(DumpedTable { name, rows });
    }
    Ok(out)
}
