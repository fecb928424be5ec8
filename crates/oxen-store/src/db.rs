//! A repository's tables: the LMDB environment under `.oxen/db` and its
//! named databases (the default), or the repository's rows in PostgreSQL
//! (see [`crate::pg`]), behind one API.

use lmdb::{Cursor, Database, DatabaseFlags, Environment, RwTransaction, Transaction, WriteFlags};
use oxen_hash::ContentId;

use std::path::{Path, PathBuf};

use crate::{DbDamage, Layout, Result, StoreError};

/// How a repository's database is named in messages.
const REPO_DB: &str = "repository database";

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
    /// `<ref name or HEAD>` NUL `<u64 sequence, big-endian>` -> one reflog
    /// entry: every move of a ref, appended in the transaction that moves it
    Reflog,
}

impl Table {
    /// All tables, in a fixed order.
    pub const ALL: [Table; 7] =
        [Table::Refs, Table::Index, Table::Commits, Table::Trees, Table::Meta, Table::Blobs, Table::Reflog];

    /// The LMDB database name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Refs => "refs",
            Table::Index => "index",
            Table::Commits => "commits",
            Table::Trees => "trees",
            Table::Meta => "meta",
            Table::Blobs => "blobs",
            Table::Reflog => "reflog",
        }
    }

    /// The table's fixed number in PostgreSQL's `oxen_meta.tbl` (never
    /// reused: rows written by one version are read by the next).
    pub fn code(self) -> i16 {
        match self {
            Table::Refs => 0,
            Table::Index => 1,
            Table::Commits => 2,
            Table::Trees => 3,
            Table::Meta => 4,
            Table::Blobs => 5,
            Table::Reflog => 6,
        }
    }
}

/// A repository's tables: an open LMDB environment with its named
/// databases, or a repository's rows in PostgreSQL. Open an LMDB one once
/// per process (LMDB does not allow the same environment open twice in
/// one process) and clone the handle, which shares it.
#[derive(Clone)]
pub struct Db {
    backend: Backend,
    dir: PathBuf,
    /// `.oxen`, where the index stamp file is written.
    dot: PathBuf,
}

#[derive(Clone)]
enum Backend {
    Lmdb { env: std::sync::Arc<Env>, dbs: [Database; 7] },
    Pg { pg: crate::pg::Pg, repo: i64 },
}

/// Check an existing environment's data file before LMDB maps it (see
/// [`crate::envcheck`]). `what` names the database in the message.
fn check_data_file(dir: &Path, what: &'static str) -> Result<()> {
    let path = dir.join("data.mdb");
    let damaged = |damage| StoreError::DamagedDb { what, path: path.clone(), damage };
    match crate::envcheck::check(&path) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(damage)) => Err(damaged(damage)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(damaged(DbDamage::Missing)),
        Err(e) => Err(StoreError::io(&path, e)),
    }
}

/// An open LMDB environment and where its data file is mapped, found
/// once: LMDB maps the file at open, `MAP_SIZE` long, and the map stays
/// where it is for the life of the environment (we never resize it), so
/// [`Db::release_mapped_pages`] need not read `/proc/self/maps` on every
/// call (it did, and fsck got 1.7-2.6x slower).
struct Env {
    lmdb: Environment,
    /// The address ranges of this environment's shared, read-only map of
    /// `data.mdb`, filled on the first release.
    map: std::sync::OnceLock<Vec<(usize, usize)>>,
}

impl std::ops::Deref for Env {
    type Target = Environment;

    fn deref(&self) -> &Environment {
        &self.lmdb
    }
}

/// An address inside `env`'s map of its data file: a value read in a
/// read-only transaction points into the map (such a transaction has no
/// pages of its own), and every repository environment has a value (the
/// format entry in `meta`, the table records of the main database).
fn address_in_map(env: &Environment, dbs: &[Database; 7]) -> Option<usize> {
    let txn = env.begin_ro_txn().ok()?;
    for db in dbs {
        let Ok(mut cur) = txn.open_ro_cursor(*db) else { continue };
        if let Some(Ok((_, v))) = cur.iter_start().next() {
            return Some(v.as_ptr() as usize);
        }
    }
    None
}

/// The mapping of `/proc/self/maps` that holds `addr`, when it maps `data`
/// (a canonical path) shared and read-only: LMDB's map of its data file
/// without `MDB_WRITEMAP` (which we never set). Another map of the same
/// file (a second environment, as `dump_env` opens) is not it: it may be
/// unmapped and its addresses reused while this environment lives. A
/// writable or private map is never taken: dropping a private map's pages
/// would lose what was written to them. Adjacent entries continuing the
/// same map (the next file offset) are joined.
fn map_holding(addr: usize, data: &Path) -> Vec<(usize, usize)> {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else { return Vec::new() };
    let data = data.to_string_lossy();
    // (start, end, file offset) of every shared read-only map of `data`.
    let mut ours = Vec::new();
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms), Some(offset)) = (f.next(), f.next(), f.next()) else { continue };
        // device, inode, then the path.
        let path: Vec<&str> = f.skip(2).collect();
        let perms = perms.as_bytes();
        if path.join(" ") != data
            || perms.first() != Some(&b'r')
            || perms.get(1) != Some(&b'-')
            || perms.get(3) != Some(&b's')
        {
            continue;
        }
        let Some((a, b)) = range.split_once('-') else { continue };
        let hex = |x: &str| usize::from_str_radix(x, 16).ok();
        let (Some(a), Some(b), Some(off)) = (hex(a), hex(b), hex(offset)) else { continue };
        if b > a {
            ours.push((a, b, off));
        }
    }
    ours.sort_unstable();
    let Some(i) = ours.iter().position(|&(a, b, _)| a <= addr && addr < b) else { return Vec::new() };
    let (mut lo, mut hi) = (i, i);
    while lo > 0 && ours[lo - 1].1 == ours[lo].0 && ours[lo - 1].2 + (ours[lo - 1].1 - ours[lo - 1].0) == ours[lo].2 {
        lo -= 1;
    }
    while hi + 1 < ours.len()
        && ours[hi].1 == ours[hi + 1].0
        && ours[hi].2 + (ours[hi].1 - ours[hi].0) == ours[hi + 1].2
    {
        hi += 1;
    }
    ours[lo..=hi].iter().map(|&(a, b, _)| (a, b)).collect()
}

fn open_env(dir: &Path) -> Result<Environment> {
    Environment::new()
        .set_max_dbs(16)
        .set_map_size(MAP_SIZE)
        .set_max_readers(512)
        .open(dir)
        .map_err(|e| StoreError::db(dir, e))
}

/// The identity of an environment's data file (device, inode), if it exists.
fn data_file_id(dir: &Path) -> Result<Option<(u64, u64)>> {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(dir.join("data.mdb")) {
        Ok(m) => Ok(Some((m.dev(), m.ino()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io(dir.join("data.mdb"), e)),
    }
}

/// The environment of `dir`, shared by every handle of this process on
/// the same data file. LMDB must not have one file open twice in a process
/// (its reader slots are per process and thread, and closing one handle
/// drops the other's advisory locks): a program holding several handles
/// on one repository (Python `Repo` objects, an fsspec filesystem next to
/// them) failed with MDB_BAD_RSLOT. Keyed by the file's identity, not its
/// path, so a repository deleted and made again at the same path gets a
/// fresh environment.
fn shared_env(dir: &Path) -> Result<std::sync::Arc<Env>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock, Weak};
    type Open = Mutex<HashMap<(u64, u64), Weak<Env>>>;
    static OPEN: OnceLock<Open> = OnceLock::new();
    let mut open = OPEN.get_or_init(Open::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some(env) = data_file_id(dir)?.and_then(|id| open.get(&id)).and_then(Weak::upgrade) {
        return Ok(env);
    }
    let env = Arc::new(Env { lmdb: open_env(dir)?, map: OnceLock::new() });
    if let Some(id) = data_file_id(dir)? {
        open.retain(|_, w| w.strong_count() > 0);
        open.insert(id, Arc::downgrade(&env));
    }
    Ok(env)
}

impl Db {
    /// Open the environment of an existing repository, creating any named
    /// database a newer version added. The data file must be there and
    /// whole: a repository (its HEAD exists) whose database is missing,
    /// empty or cut short is damaged, not new, and says so
    /// ([`StoreError::DamagedDb`]) instead of starting over empty.
    pub fn open(layout: &Layout) -> Result<Db> {
        let dir = layout.db_dir();
        check_data_file(&dir, REPO_DB)?;
        let env = shared_env(&dir)?;
        let dbs = Self::tables(&env, &dir, true)?;
        crate::format::check_and_upgrade(&env, dbs[Table::Meta as usize], &dir)?;
        Ok(Db { backend: Backend::Lmdb { env, dbs }, dir, dot: layout.dot.clone() })
    }

    /// Create the environment and its named databases for a new
    /// repository (`init`), so that readers can always open them.
    pub fn create(layout: &Layout) -> Result<Db> {
        let dir = layout.db_dir();
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        // Left by an init that died before writing HEAD: reused, if whole.
        if std::fs::metadata(dir.join("data.mdb")).is_ok_and(|m| m.len() > 0) {
            check_data_file(&dir, REPO_DB)?;
        }
        let env = shared_env(&dir)?;
        let dbs = Self::tables(&env, &dir, false)?;
        crate::format::check_and_upgrade(&env, dbs[Table::Meta as usize], &dir)?;
        Ok(Db { backend: Backend::Lmdb { env, dbs }, dir, dot: layout.dot.clone() })
    }

    /// A repository whose tables are its rows (`repo`, its id in
    /// `oxen_repos`) in PostgreSQL. `layout` is the replica's local
    /// scratch (temp files, the index stamp); nothing there is needed by
    /// another replica. Refuses a repository recording a newer format, as
    /// [`Db::open`] does.
    pub fn open_pg(layout: &Layout, pg: &crate::pg::Pg, repo: i64) -> Result<Db> {
        let db = Db { backend: Backend::Pg { pg: pg.clone(), repo }, dir: layout.db_dir(), dot: layout.dot.clone() };
        let found = db.get(Table::Meta, crate::format::FORMAT_KEY)?;
        match found.as_deref().map(crate::format::parse) {
            Some(Some(v)) if v == crate::format::FORMAT => Ok(db),
            Some(Some(v)) if v < crate::format::FORMAT => {
                db.put(Table::Meta, crate::format::FORMAT_KEY, crate::format::FORMAT.to_string().as_bytes())?;
                Ok(db)
            }
            None => Err(StoreError::NotARepo(layout.work.clone())),
            Some(found) => Err(StoreError::NewerFormat { path: layout.db_dir(), found, known: crate::format::FORMAT }),
        }
    }

    /// Whether the tables are in PostgreSQL (not an LMDB environment).
    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Pg { .. })
    }

    /// The LMDB environment and blobs table, for the store internals that
    /// walk the block index with a cursor (gc, migrate); an error naming
    /// `what` for a PostgreSQL repository, where they are not available.
    pub(crate) fn lmdb_blobs(&self, what: &str) -> Result<(&Environment, Database)> {
        match &self.backend {
            Backend::Lmdb { env, dbs } => Ok((&env.lmdb, dbs[Table::Blobs as usize])),
            Backend::Pg { .. } => Err(StoreError::Unsupported(format!(
                "{what} is not available for a repository whose metadata is in PostgreSQL"
            ))),
        }
    }

    /// Open the named databases, creating those missing (a newer version
    /// may add one). With `existing`, not finding a single one means the
    /// environment is a new, empty one standing in for the repository's
    /// database: damage, reported before anything is written to it.
    fn tables(env: &Environment, dir: &Path, existing: bool) -> Result<[Database; 7]> {
        let mut found = Vec::with_capacity(Table::ALL.len());
        for t in Table::ALL {
            match env.open_db(Some(t.name())) {
                Ok(db) => found.push(Some(db)),
                Err(lmdb::Error::NotFound) => found.push(None),
                Err(e) => return Err(StoreError::db(dir, e)),
            }
        }
        if existing && found.iter().all(Option::is_none) {
            return Err(StoreError::DamagedDb {
                what: REPO_DB,
                path: dir.join("data.mdb"),
                damage: DbDamage::NoTables,
            });
        }
        let mut dbs = Vec::with_capacity(Table::ALL.len());
        for (t, db) in Table::ALL.into_iter().zip(found) {
            dbs.push(match db {
                Some(db) => db,
                None => env.create_db(Some(t.name()), DatabaseFlags::empty()).map_err(|e| StoreError::db(dir, e))?,
            });
        }
        Ok([dbs[0], dbs[1], dbs[2], dbs[3], dbs[4], dbs[5], dbs[6]])
    }

    /// The environment's directory (`.oxen/db`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The time of a write now by the file system's clock (see
    /// [`crate::fs_clock_now`]), taken by writing `.oxen/index-stamp` (not
    /// in `.oxen/tmp`, which holds only temp files on their way somewhere).
    pub fn fs_clock_now(&self) -> Result<i64> {
        crate::fs_clock_now(&self.dot)
    }

    /// Read one value.
    pub fn get(&self, t: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let (env, dbs) = match &self.backend {
            Backend::Lmdb { env, dbs } => (env, dbs),
            Backend::Pg { pg, repo } => return pg.get(*repo, t, key),
        };
        let txn = env.begin_ro_txn()?;
        let r = match txn.get(dbs[t as usize], &key) {
            Ok(v) => Some(v.to_vec()),
            Err(lmdb::Error::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(r)
    }

    /// Read many values at once (one snapshot in LMDB, one round trip per
    /// thousand keys in PostgreSQL), in the order of `keys`.
    pub fn get_many(&self, t: Table, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>> {
        let (env, dbs) = match &self.backend {
            Backend::Lmdb { env, dbs } => (env, dbs),
            Backend::Pg { pg, repo } => return pg.get_many(*repo, t, keys),
        };
        let txn = env.begin_ro_txn()?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(match txn.get(dbs[t as usize], key) {
                Ok(v) => Some(v.to_vec()),
                Err(lmdb::Error::NotFound) => None,
                Err(e) => return Err(e.into()),
            });
        }
        Ok(out)
    }

    /// Write one value in its own transaction.
    pub fn put(&self, t: Table, key: &[u8], value: &[u8]) -> Result<()> {
        let mut txn = self.begin_write()?;
        txn.put(t, key, value)?;
        txn.commit()
    }

    /// Write one value at once, outside any write transaction: in
    /// PostgreSQL one statement that does not wait for the repository's
    /// writer lock (for bookkeeping rows that need no read-compare-write,
    /// and may be written by a thread that holds that lock in another
    /// transaction); in LMDB, [`Db::put`].
    pub fn put_now(&self, t: Table, key: &[u8], value: &[u8]) -> Result<()> {
        match &self.backend {
            Backend::Pg { pg, repo } => pg.put_now(*repo, t, key, value),
            Backend::Lmdb { .. } => self.put(t, key, value),
        }
    }

    /// Delete one key at once, outside any write transaction, as
    /// [`Db::put_now`] writes one (in LMDB, its own transaction).
    pub fn delete_now(&self, t: Table, key: &[u8]) -> Result<()> {
        match &self.backend {
            Backend::Pg { pg, repo } => pg.delete_now(*repo, t, key),
            Backend::Lmdb { .. } => {
                let mut txn = self.begin_write()?;
                txn.delete(t, key)?;
                txn.commit()
            }
        }
    }

    /// Every key/value of a table, in key order.
    pub fn scan(&self, t: Table) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.scan_prefix(t, b"")
    }

    /// Let go of the pages of the database file this process has mapped
    /// in (LMDB reads through a shared, read-only map): they stay in the
    /// page cache, and a later read maps them in again. A walk over a
    /// table of millions of rows calls this between batches so that its
    /// resident memory stays bounded by a batch instead of growing with
    /// the file. Safe at any time: without `MDB_WRITEMAP` the map is only
    /// read, and a shared map's pages are the file's. A no-op for
    /// PostgreSQL.
    ///
    /// The one `unsafe` of the crate: no safe API reaches `madvise`, and without it a walk's resident memory grows
    /// with the database file (about 270 bytes a file), past the memory
    /// bound at a million files.
    ///
    /// The map is found once per environment (every handle on it shares
    /// it, see [`Env`]); afterwards a call is one `madvise`.
    #[allow(unsafe_code)]
    pub fn release_mapped_pages(&self) {
        let Backend::Lmdb { env, dbs } = &self.backend else { return };
        for &(a, b) in self.mapped_ranges(env, dbs) {
            // SAFETY: the range is a shared, read-only map of this
            // environment's data file (LMDB maps it so without
            // MDB_WRITEMAP, which we never set; `map_holding` takes no
            // other kind, and only the one holding a value this environment
            // read), found after the environment was opened and valid while
            // it is: LMDB neither moves nor unmaps it before
            // the environment closes, and `env` holds it open. Dropping its
            // pages from this process's page tables loses nothing (they are
            // the file's, in the page cache) and the next access faults them
            // in again. On any other memory (a private map, the heap)
            // MADV_DONTNEED would zero it: never pass another range.
            let _ =
                unsafe { rustix::mm::madvise(a as *mut std::ffi::c_void, b - a, rustix::mm::Advice::LinuxDontNeed) };
        }
    }

    /// Where this environment maps `data.mdb` (see [`Env::map`]), read
    /// from the process's map list on the first call that finds it. LMDB
    /// does not say where its map is (mdb_env_info gives the address only
    /// for a fixed map): the process's map list does. Not finding it (no
    /// read transaction could begin, say one of this thread's is open; no
    /// `/proc`) is not remembered: the next call looks again.
    fn mapped_ranges<'e>(&self, env: &'e Env, dbs: &[Database; 7]) -> &'e [(usize, usize)] {
        if let Some(found) = env.map.get() {
            return found;
        }
        let (Ok(data), Some(addr)) = (self.dir.join("data.mdb").canonicalize(), address_in_map(env, dbs)) else {
            return &[];
        };
        let found = map_holding(addr, &data);
        if found.is_empty() {
            return &[];
        }
        // Two threads finding it at once find the same map: either is kept.
        let _ = env.map.set(found);
        env.map.get().map(Vec::as_slice).unwrap_or(&[])
    }

    /// At most `limit` key/values with keys `>= from`, in key order, read
    /// in one snapshot: a page of a table, so a caller walks a table of
    /// any size in bounded memory (the next page starts after the last key
    /// of this one). No read transaction stays open between pages, so the
    /// caller may write between them.
    pub fn scan_page(&self, t: Table, from: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let (env, dbs) = match &self.backend {
            Backend::Lmdb { env, dbs } => (env, dbs),
            Backend::Pg { pg, repo } => return pg.scan_page(*repo, t, from, limit),
        };
        let txn = env.begin_ro_txn()?;
        let mut cur = txn.open_ro_cursor(dbs[t as usize])?;
        let mut out = Vec::with_capacity(limit.min(4096));
        let iter = if from.is_empty() { cur.iter_start() } else { cur.iter_from(from) };
        for item in iter {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// Key/values whose key starts with `prefix`, in key order.
    pub fn scan_prefix(&self, t: Table, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let (env, dbs) = match &self.backend {
            Backend::Lmdb { env, dbs } => (env, dbs),
            Backend::Pg { pg, repo } => return pg.scan_prefix(*repo, t, prefix),
        };
        let txn = env.begin_ro_txn()?;
        let mut cur = txn.open_ro_cursor(dbs[t as usize])?;
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

    /// The first key/value (in key order) whose key starts with `prefix`:
    /// one seek, however many keys share the prefix.
    pub fn first_with_prefix(&self, t: Table, prefix: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let (env, dbs) = match &self.backend {
            Backend::Lmdb { env, dbs } => (env, dbs),
            Backend::Pg { pg, repo } => return Ok(pg.scan_prefix(*repo, t, prefix)?.into_iter().next()),
        };
        let txn = env.begin_ro_txn()?;
        let mut cur = txn.open_ro_cursor(dbs[t as usize])?;
        let first = match cur.iter_from(prefix).next() {
            Some(item) => {
                let (k, v) = item?;
                k.starts_with(prefix).then(|| (k.to_vec(), v.to_vec()))
            }
            None => None,
        };
        Ok(first)
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
        let (env, dbs) = match &self.backend {
            Backend::Lmdb { env, dbs } => (env, dbs),
            Backend::Pg { pg, repo } => return Ok(pg.get(*repo, t, id.as_bytes())?.is_some()),
        };
        let txn = env.begin_ro_txn()?;
        let r = match txn.get(dbs[t as usize], id.as_bytes()) {
            Ok(_) => true,
            Err(lmdb::Error::NotFound) => false,
            Err(e) => return Err(e.into()),
        };
        Ok(r)
    }

    /// Store one object in its own transaction.
    pub fn put_object(&self, t: Table, bytes: &[u8]) -> Result<ContentId> {
        let mut txn = self.begin_write()?;
        let id = txn.put_object(t, bytes)?;
        txn.commit()?;
        Ok(id)
    }

    /// Start a write transaction: everything done through it lands together
    /// at [`WriteTxn::commit`] or not at all (dropping it aborts). Batching
    /// many writes in one transaction is also what makes them fast: LMDB
    /// syncs once per commit.
    /// In PostgreSQL the transaction holds the repository's advisory lock
    /// from its start to its end, so writers of one repository take turns
    /// across every replica as LMDB's writers do within a machine.
    pub fn begin_write(&self) -> Result<WriteTxn<'_>> {
        let txn = match &self.backend {
            Backend::Lmdb { env, dbs } => {
                TxnKind::Lmdb(env.begin_rw_txn().map_err(|e| StoreError::db(&self.dir, e))?, *dbs)
            }
            Backend::Pg { pg, repo } => TxnKind::Pg(Box::new(std::cell::RefCell::new(pg.begin(*repo)?))),
        };
        Ok(WriteTxn { db: self, txn })
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
        let (env, dbs) = match &self.backend {
            Backend::Lmdb { env, dbs } => (env, dbs),
            Backend::Pg { pg, repo } => {
                let Ok(last) = ContentId::from_hex(&format!("{want:f<32}")) else { return Ok(Vec::new()) };
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                let keys = pg.range(*repo, t, start.as_bytes(), last.as_bytes(), limit)?;
                return Ok(keys.iter().filter_map(|k| ContentId::from_slice(k)).collect());
            }
        };
        let txn = env.begin_ro_txn()?;
        let mut cur = txn.open_ro_cursor(dbs[t as usize])?;
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

/// A write transaction on a repository's tables, so that callers batch and
/// compare-and-swap without seeing LMDB. Reads inside it see its own writes.
pub struct WriteTxn<'db> {
    db: &'db Db,
    txn: TxnKind<'db>,
}

enum TxnKind<'db> {
    Lmdb(RwTransaction<'db>, [Database; 7]),
    // A RefCell: the connection is used by the `&self` reads too.
    Pg(Box<std::cell::RefCell<crate::pg::Txn>>),
}

impl WriteTxn<'_> {
    /// Read one value as this transaction sees it (the basis of
    /// compare-and-swap: check and write under one lock).
    pub fn get(&self, t: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let (txn, dbs) = match &self.txn {
            TxnKind::Lmdb(txn, dbs) => (txn, dbs),
            TxnKind::Pg(txn) => return txn.borrow_mut().get(t, key),
        };
        match txn.get(dbs[t as usize], &key) {
            Ok(v) => Ok(Some(v.to_vec())),
            Err(lmdb::Error::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Write one value, replacing any old one.
    pub fn put(&mut self, t: Table, key: &[u8], value: &[u8]) -> Result<()> {
        let (txn, dbs) = match &mut self.txn {
            TxnKind::Lmdb(txn, dbs) => (txn, dbs),
            TxnKind::Pg(txn) => return txn.get_mut().put(t, key, value),
        };
        txn.put(dbs[t as usize], &key, &value, WriteFlags::empty()).map_err(|e| StoreError::db(&self.db.dir, e))
    }

    /// Write one value unless the key exists; returns whether it was new.
    /// Content-addressed entries never change, so an existing one is kept.
    pub fn put_new(&mut self, t: Table, key: &[u8], value: &[u8]) -> Result<bool> {
        let (txn, dbs) = match &mut self.txn {
            TxnKind::Lmdb(txn, dbs) => (txn, dbs),
            TxnKind::Pg(txn) => return txn.get_mut().put_new(t, key, value),
        };
        match txn.put(dbs[t as usize], &key, &value, WriteFlags::NO_OVERWRITE) {
            Ok(()) => Ok(true),
            Err(lmdb::Error::KeyExist) => Ok(false),
            Err(e) => Err(StoreError::db(&self.db.dir, e)),
        }
    }

    /// [`WriteTxn::put_new`] of many entries (whether each was new is
    /// not told): one statement per thousand in PostgreSQL instead of a
    /// round trip each.
    pub fn put_new_all(&mut self, t: Table, entries: &[(&[u8], &[u8])]) -> Result<()> {
        if let TxnKind::Pg(txn) = &mut self.txn {
            return txn.get_mut().put_new_all(t, entries);
        }
        for (k, v) in entries {
            self.put_new(t, k, v)?;
        }
        Ok(())
    }

    /// Remove a key; returns whether it was there.
    pub fn delete(&mut self, t: Table, key: &[u8]) -> Result<bool> {
        let (txn, dbs) = match &mut self.txn {
            TxnKind::Lmdb(txn, dbs) => (txn, dbs),
            TxnKind::Pg(txn) => return txn.get_mut().delete(t, key),
        };
        match txn.del(dbs[t as usize], &key, None) {
            Ok(()) => Ok(true),
            Err(lmdb::Error::NotFound) => Ok(false),
            Err(e) => Err(StoreError::db(&self.db.dir, e)),
        }
    }

    /// The last key/value (in key order) whose key starts with `prefix`:
    /// where an append-only log keyed by prefix + big-endian sequence ends,
    /// found by one seek instead of a scan of the whole log.
    pub fn last_with_prefix(&self, t: Table, prefix: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        use lmdb::Cursor;
        let (txn, dbs) = match &self.txn {
            TxnKind::Lmdb(txn, dbs) => (txn, dbs),
            TxnKind::Pg(txn) => return txn.borrow_mut().last_with_prefix(t, prefix),
        };
        let cur = txn.open_ro_cursor(dbs[t as usize])?;
        // Seek to the first key past every key with the prefix, then step
        // back one; with nothing past them, the last key of the table is it.
        let found = match prefix_successor(prefix) {
            Some(past) => match cur.get(Some(&past), None, lmdb_sys::MDB_SET_RANGE) {
                Ok(_) => cur.get(None, None, lmdb_sys::MDB_PREV),
                Err(lmdb::Error::NotFound) => cur.get(None, None, lmdb_sys::MDB_LAST),
                Err(e) => Err(e),
            },
            None => cur.get(None, None, lmdb_sys::MDB_LAST),
        };
        match found {
            Ok((Some(k), v)) if k.starts_with(prefix) => Ok(Some((k.to_vec(), v.to_vec()))),
            Ok(_) | Err(lmdb::Error::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Remove every key of a table (replacing the whole index).
    pub fn clear(&mut self, t: Table) -> Result<()> {
        let (txn, dbs) = match &mut self.txn {
            TxnKind::Lmdb(txn, dbs) => (txn, dbs),
            TxnKind::Pg(txn) => return txn.get_mut().clear(t),
        };
        txn.clear_db(dbs[t as usize]).map_err(|e| StoreError::db(&self.db.dir, e))
    }

    /// Store an object under the id of its bytes; an object already stored
    /// is left as it is (same id, same bytes).
    pub fn put_object(&mut self, t: Table, bytes: &[u8]) -> Result<ContentId> {
        let id = ContentId::of(bytes);
        self.put_new(t, id.as_bytes(), bytes)?;
        Ok(id)
    }

    /// Key/values whose key starts with `prefix`, in key order, as this
    /// transaction sees them (a decision and the writes it leads to under
    /// one lock).
    pub fn scan_prefix(&self, t: Table, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        use lmdb::Cursor;
        let (txn, dbs) = match &self.txn {
            TxnKind::Lmdb(txn, dbs) => (txn, dbs),
            TxnKind::Pg(txn) => return txn.borrow_mut().scan_prefix(t, prefix),
        };
        let mut cur = txn.open_ro_cursor(dbs[t as usize])?;
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

    /// Make every write of this transaction visible at once.
    pub fn commit(self) -> Result<()> {
        crate::faults::write_point();
        match self.txn {
            TxnKind::Lmdb(txn, _) => txn.commit().map_err(|e| StoreError::db(&self.db.dir, e)),
            TxnKind::Pg(txn) => txn.into_inner().commit(),
        }
    }
}

/// The smallest byte string greater than every string starting with
/// `prefix` (`None` when there is none: the prefix is all 0xff).
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut p = prefix.to_vec();
    while let Some(last) = p.pop() {
        if last < 0xff {
            p.push(last + 1);
            return Some(p);
        }
    }
    None
}

/// A standalone store of one table of key/values, for state that lives
/// outside any repository (the server's user database): an LMDB
/// environment (keeps LMDB itself inside this crate), or the rows of one
/// named store in PostgreSQL's `oxen_kv`, shared by every replica.
pub struct KvStore {
    backend: KvBackend,
}

enum KvBackend {
    Lmdb { env: Environment, db: Database },
    Pg { pg: crate::pg::Pg, store: String },
}

impl KvStore {
    /// Open (creating the directory and table if needed) `dir` with one
    /// table called `name`, reserving `map_size` bytes of address space.
    pub fn open(dir: &std::path::Path, name: &str, map_size: usize) -> Result<KvStore> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        // A missing file is a new store; one that exists must be whole.
        if dir.join("data.mdb").exists() {
            check_data_file(dir, "database")?;
        }
        let env = Environment::new().set_max_dbs(2).set_map_size(map_size).open(dir)?;
        let db = env.create_db(Some(name), DatabaseFlags::empty())?;
        Ok(KvStore { backend: KvBackend::Lmdb { env, db } })
    }

    /// The store called `name` in PostgreSQL.
    pub fn open_pg(pg: &crate::pg::Pg, name: &str) -> KvStore {
        KvStore { backend: KvBackend::Pg { pg: pg.clone(), store: name.to_string() } }
    }

    /// Read one value.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let (env, db) = match &self.backend {
            KvBackend::Lmdb { env, db } => (env, *db),
            KvBackend::Pg { pg, store } => return pg.kv_get(store, key),
        };
        let txn = env.begin_ro_txn()?;
        let r = match txn.get(db, &key) {
            Ok(v) => Some(v.to_vec()),
            Err(lmdb::Error::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(r)
    }

    /// Write one value in its own transaction.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let (env, db) = match &self.backend {
            KvBackend::Lmdb { env, db } => (env, *db),
            KvBackend::Pg { pg, store } => return pg.kv_put(store, key, value),
        };
        let mut txn = env.begin_rw_txn()?;
        txn.put(db, &key, &value, WriteFlags::empty())?;
        txn.commit()?;
        Ok(())
    }

    /// Every key/value, in key order.
    pub fn scan(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let (env, db) = match &self.backend {
            KvBackend::Lmdb { env, db } => (env, *db),
            KvBackend::Pg { pg, store } => return pg.kv_scan(store),
        };
        let txn = env.begin_ro_txn()?;
        let mut cur = txn.open_ro_cursor(db)?;
        let mut out = Vec::new();
        for item in cur.iter_start() {
            let (k, v) = item?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// Remove a key in its own transaction; returns whether it was there.
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        let (env, db) = match &self.backend {
            KvBackend::Lmdb { env, db } => (env, *db),
            KvBackend::Pg { pg, store } => return pg.kv_delete(store, key),
        };
        let mut txn = env.begin_rw_txn()?;
        let existed = match txn.del(db, &key, None) {
            Ok(()) => true,
            Err(lmdb::Error::NotFound) => false,
            Err(e) => return Err(e.into()),
        };
        txn.commit()?;
        Ok(existed)
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
    check_data_file(dir, "database")?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn damage(layout: &Layout) -> DbDamage {
        match Db::open(layout) {
            Ok(_) => panic!("a damaged database opened"),
            Err(StoreError::DamagedDb { damage, what, path }) => {
                assert_eq!(what, "repository database");
                assert_eq!(path, layout.db_dir().join("data.mdb"));
                damage
            }
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn last_with_prefix_finds_the_end_of_a_log() {
        let d = tempfile::tempdir().unwrap();
        let layout = Layout::create(d.path()).unwrap();
        let db = Db::open(&layout).unwrap();
        let key = |name: &[u8], n: u64| [name, b"\0", &n.to_be_bytes()].concat();
        let mut txn = db.begin_write().unwrap();
        assert_eq!(txn.last_with_prefix(Table::Reflog, b"a\0").unwrap(), None);
        for n in 0..300 {
            txn.put(Table::Reflog, &key(b"a", n), b"x").unwrap();
            txn.put(Table::Reflog, &key(b"b", n), b"y").unwrap();
        }
        // A key that sorts right after the prefix, and one with 0xff bytes.
        txn.put(Table::Reflog, b"a\x01", b"z").unwrap();
        txn.put(Table::Reflog, &key(b"\xff", 7), b"w").unwrap();
        assert_eq!(txn.last_with_prefix(Table::Reflog, b"a\0").unwrap(), Some((key(b"a", 299), b"x".to_vec())));
        assert_eq!(txn.last_with_prefix(Table::Reflog, b"b\0").unwrap(), Some((key(b"b", 299), b"y".to_vec())));
        assert_eq!(txn.last_with_prefix(Table::Reflog, b"\xff\0").unwrap(), Some((key(b"\xff", 7), b"w".to_vec())));
        assert_eq!(txn.last_with_prefix(Table::Reflog, b"c\0").unwrap(), None);
        assert_eq!(txn.last_with_prefix(Table::Reflog, b"\xff\xff").unwrap(), None);
        txn.commit().unwrap();
    }

    #[test]
    fn a_missing_emptied_or_replaced_database_is_damage_not_a_new_repository() {
        let d = tempfile::tempdir().unwrap();
        let layout = Layout::create(d.path()).unwrap();
        Db::open(&layout).unwrap().put(Table::Meta, b"k", b"v").unwrap();
        let data = layout.db_dir().join("data.mdb");

        // A fresh environment without the tables in its place: refused, and
        // left as it was (no tables created in it).
        std::fs::remove_file(&data).unwrap();
        drop(Environment::new().open(&layout.db_dir()).unwrap());
        let len = std::fs::metadata(&data).unwrap().len();
        assert_eq!(damage(&layout), DbDamage::NoTables);
        assert_eq!(std::fs::metadata(&data).unwrap().len(), len);

        std::fs::write(&data, b"").unwrap();
        assert_eq!(damage(&layout), DbDamage::Empty);
        assert_eq!(std::fs::metadata(&data).unwrap().len(), 0, "LMDB initialised the empty file");

        std::fs::remove_file(&data).unwrap();
        assert_eq!(damage(&layout), DbDamage::Missing);
        assert!(!data.exists(), "LMDB created a new file");

        let e = match Db::open(&layout) {
            Err(e) => e.to_string(),
            Ok(_) => unreachable!(),
        };
        assert_eq!(e, format!("repository database {} is damaged: the file is missing", data.display()));
    }

    /// The resident KiB of the mapping starting at `start` (`/proc/self/smaps`).
    fn resident_kib(start: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let head = format!("{start:x}-");
        let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&head)).skip(1);
        let rss = lines.find(|l| l.starts_with("Rss:")).expect("the map is listed");
        rss.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[test]
    fn pages_are_released_from_this_environments_map_found_once() {
        let d = tempfile::tempdir().unwrap();
        let layout = Layout::create(d.path()).unwrap();
        let db = Db::open(&layout).unwrap();
        // Another environment of the same file (as `dump_env` opens): its
        // map is not ours, and must never be taken for it.
        let other = Environment::new().set_flags(lmdb::EnvironmentFlags::READ_ONLY).open(&layout.db_dir()).unwrap();
        let mut txn = db.begin_write().unwrap();
        for n in 0u32..2_000 {
            txn.put(Table::Trees, &n.to_be_bytes(), &[n as u8; 4000]).unwrap();
        }
        txn.commit().unwrap();
        assert!(db.get(Table::Trees, &7u32.to_be_bytes()).unwrap().is_some());
        let Backend::Lmdb { env, .. } = &db.backend else { unreachable!() };
        assert!(env.map.get().is_none(), "found before the first release");
        db.release_mapped_pages();
        let ranges = env.map.get().expect("found by the first release").clone();
        assert_eq!(ranges.len(), 1, "{ranges:?}");
        let (a, b) = ranges[0];
        assert_eq!(b - a, MAP_SIZE, "the whole map LMDB made at open");
        let data = layout.db_dir().join("data.mdb").canonicalize().unwrap();
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let line = maps.lines().find(|l| l.starts_with(&format!("{a:x}-{b:x} "))).expect("listed");
        assert!(line.ends_with(&*data.to_string_lossy()), "{line}");
        assert_eq!(line.split_whitespace().nth(1), Some("r--s"), "{line}");
        let mine = |l: &&str| l.ends_with(&*data.to_string_lossy());
        assert_eq!(maps.lines().filter(mine).count(), 2, "this one and the other environment's:\n{maps}");

        // Clones and second opens share the environment and what was found.
        let again = Db::open(&layout).unwrap();
        let Backend::Lmdb { env: env2, .. } = &again.backend else { unreachable!() };
        assert!(std::sync::Arc::ptr_eq(env, env2));
        assert!(std::ptr::eq(env.map.get().unwrap(), env2.map.get().unwrap()));

        // A walk's pages leave this process with each release.
        for n in 0u32..2_000 {
            assert!(again.get(Table::Trees, &n.to_be_bytes()).unwrap().is_some());
        }
        let walked = resident_kib(a);
        assert!(walked >= 7_000, "the walk mapped its pages in: {walked} KiB");
        again.release_mapped_pages();
        let released = resident_kib(a);
        assert!(released < 1_000, "after the release {released} KiB stay mapped (of {walked})");
        drop(other);
    }
}

#[cfg(test)]
mod kv_store_tests {
    use super::*;

    #[test]
    fn scan_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let kv = KvStore::open(dir.path(), "t", 1 << 20).unwrap();
        assert!(kv.scan().unwrap().is_empty());
        kv.put(b"b", b"2").unwrap();
        kv.put(b"a", b"1").unwrap();
        assert_eq!(kv.scan().unwrap(), vec![(b"a".to_vec(), b"1".to_vec()), (b"b".to_vec(), b"2".to_vec())]);
        assert!(kv.delete(b"a").unwrap());
        assert!(!kv.delete(b"a").unwrap());
        assert_eq!(kv.get(b"a").unwrap(), None);
        assert_eq!(kv.scan().unwrap(), vec![(b"b".to_vec(), b"2".to_vec())]);
    }
}
