//! Metadata in PostgreSQL: the second backend of [`crate::Db`] and
//! [`crate::KvStore`], for servers that run as several replicas sharing
//! one database (`oxen-server --db postgres://...`).
//!
//! ```text
//! oxen_schema  (version)                                   one row: the schema this build made
//! oxen_repos   (id bigserial, name text unique, head text) one row per repository
//! oxen_meta    (repo_id, tbl smallint, key bytea, value bytea), primary key (repo_id, tbl, key)
//!                                                          every Table of every repository
//! oxen_kv      (store text, key bytea, value bytea)        KvStore stores (the server's users)
//! ```
//!
//! - One table for every kind of [`Table`], told apart by `tbl` (the
//!   table's fixed code): a repository's refs, commits, trees, reflog and
//!   block index share one b-tree, so a scan of one kind is one range of
//!   the primary key, as in LMDB.
//! - `bytea` compares as `memcmp` then length, which is LMDB's default key
//!   order: scans and "last with prefix" return what LMDB would.
//! - A write transaction takes `pg_advisory_xact_lock(repo_id)` first, so
//!   writers of one repository run one at a time across every replica, as
//!   LMDB's single writer does within a machine: a read-compare-write
//!   inside one (a ref's compare-and-swap, a fast-forward check) cannot
//!   interleave with another's. Readers take no lock and see committed
//!   data (PostgreSQL's READ COMMITTED).
//! - A small pool of connections per process. A connection that fails is
//!   dropped, and so are the idle ones (a restarted PostgreSQL broke them
//!   all); an operation that failed on a reused connection before writing
//!   anything (a read, a transaction's BEGIN) is retried once on a fresh
//!   one, so the server recovers from a database restart by itself.
//! - The postgres client is synchronous (each connection drives its own
//!   small runtime), which suits the blocking store calls; called from a
//!   tokio worker thread it is moved off the worker first
//!   (`block_in_place`), where nesting a runtime would panic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::{Client, NoTls, Statement};

use crate::db::Table;
use crate::{Result, StoreError};

/// The schema this build creates and reads.
pub const SCHEMA_VERSION: i32 = 1;

/// Key of the advisory lock held while the schema is created or migrated
/// (repository locks use the repository's id, which is positive).
const SCHEMA_LOCK: i64 = -0x6f78_656e;

/// Key of the advisory lock an `oxen-server gc` holds for its whole run
/// (session level, on a connection of its own): two gcs never run at once,
/// and a gc killed mid-way lets go of it with its connection.
const GC_LOCK: i64 = -0x6f78_656e_6763;

/// Idle connections kept per process; more may be open at once (one per
/// concurrent operation), the surplus is closed when returned.
const MAX_IDLE: usize = 32;

/// A PostgreSQL failure, as one line.
#[derive(Debug)]
pub struct PgError(String);

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PgError {}

/// The error chain of a postgres error flattened into one line.
fn pg_err(e: &postgres::Error) -> StoreError {
    let mut msg = e.to_string();
    if let Some(db) = e.as_db_error() {
        msg = format!("{}: {}", db.severity(), db.message());
    } else {
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            let s_msg = s.to_string();
            if !msg.contains(&s_msg) {
                msg = format!("{msg}: {s_msg}");
            }
            src = s.source();
        }
    }
    StoreError::Postgres(PgError(msg.replace('\n', " ")))
}

/// Run blocking client work where a nested runtime may start: on a tokio
/// multi-thread worker, `block_in_place` leaves the worker first. (Not
/// for a current-thread runtime's own thread, which oxen never is.)
fn off_runtime<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        // Off any runtime (or on a blocking-pool thread, which has not
        // entered one) the client's own runtime may run here.
        _ => f(),
    }
}

/// One connection with its prepared statements (a statement is prepared
/// once per connection, not once per call: half the round trips).
pub(crate) struct PgConn {
    /// Always `Some` until dropped (taken out to be dropped off the runtime).
    client: Option<Client>,
    stmts: HashMap<&'static str, Statement>,
}

impl Drop for PgConn {
    fn drop(&mut self) {
        // Closing a client blocks on its own runtime, which panics on a
        // tokio thread (the server drops its pool at shutdown inside one).
        if let Some(client) = self.client.take() {
            off_runtime(move || drop(client));
        }
    }
}

impl PgConn {
    fn cl(&mut self) -> &mut Client {
        self.client.as_mut().expect("a PgConn holds its client until dropped")
    }

    fn closed(&self) -> bool {
        self.client.as_ref().is_none_or(Client::is_closed)
    }

    fn stmt(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = self.cl().prepare(sql).map_err(|e| pg_err(&e))?;
        self.stmts.insert(sql, s.clone());
        Ok(s)
    }

    fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>> {
        let s = self.stmt(sql)?;
        self.cl().query(&s, params).map_err(|e| pg_err(&e))
    }

    fn execute(&mut self, sql: &'static str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> Result<u64> {
        let s = self.stmt(sql)?;
        self.cl().execute(&s, params).map_err(|e| pg_err(&e))
    }
}

struct Inner {
    config: postgres::Config,
    /// The URL without a password, for messages.
    shown: String,
    idle: Mutex<Vec<PgConn>>,
}

/// A connection pool to one PostgreSQL database holding Oxen's metadata.
/// Cheap to clone (shared).
#[derive(Clone)]
pub struct Pg {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pg").field("url", &self.inner.shown).finish()
    }
}

/// A connection taken from the pool; returned to it when dropped unless
/// it failed.
pub(crate) struct Conn {
    pool: Arc<Inner>,
    conn: Option<PgConn>,
    /// Taken from the idle list (it may have died since it was used).
    reused: bool,
    /// Set when an operation on it failed: closed, not returned.
    broken: bool,
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            if self.broken || c.closed() {
                return;
            }
            if let Ok(mut idle) = self.pool.idle.lock() {
                if idle.len() < MAX_IDLE {
                    idle.push(c);
                }
            }
        }
    }
}

impl Conn {
    fn get(&mut self) -> &mut PgConn {
        self.conn.as_mut().expect("a Conn holds its connection until dropped")
    }
}

/// The gc lock, held while this lives (its connection is closed on drop,
/// which releases it).
pub struct GcLock {
    _conn: Conn,
}

/// A repository as the repos table records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgRepo {
    /// Its id: the key of its rows in `oxen_meta` and of its write lock.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its HEAD, as the HEAD file holds it ("ref: heads/main").
    pub head: String,
}

impl Pg {
    /// Connect to `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB`, or
    /// the key=value form), check the database answers and create or
    /// migrate Oxen's schema. Every failure is one line naming the URL
    /// (without its password).
    pub fn connect(url: &str) -> Result<Pg> {
        let shown = redact(url);
        let mut config: postgres::Config = url.parse().map_err(|e: postgres::Error| {
            StoreError::Postgres(PgError(format!("--db '{shown}' is not a PostgreSQL URL: {e}")))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let pg = Pg { inner: Arc::new(Inner { config, shown, idle: Mutex::new(Vec::new()) }) };
        pg.migrate()?;
        Ok(pg)
    }

    /// The URL without its password.
    pub fn url(&self) -> &str {
        &self.inner.shown
    }

    fn open_conn(&self) -> Result<PgConn> {
        let client = off_runtime(|| self.inner.config.connect(NoTls)).map_err(|e| match pg_err(&e) {
            StoreError::Postgres(PgError(m)) => {
                StoreError::Postgres(PgError(format!("cannot connect to {}: {m}", self.inner.shown)))
            }
            other => other,
        })?;
        Ok(PgConn { client: Some(client), stmts: HashMap::new() })
    }

    fn conn(&self) -> Result<Conn> {
        let pooled = self.inner.idle.lock().ok().and_then(|mut i| i.pop());
        let (conn, reused) = match pooled {
            Some(c) if !c.closed() => (c, true),
            _ => (self.open_conn()?, false),
        };
        Ok(Conn { pool: self.inner.clone(), conn: Some(conn), reused, broken: false })
    }

    /// Run `f` on a pooled connection; when it fails on a reused
    /// connection that turns out dead, drop the idle ones too and retry
    /// once on a fresh connection. Only for work that wrote nothing when
    /// it failed (reads, autocommit statements that did not reach the
    /// server).
    fn with_conn<T>(&self, mut f: impl FnMut(&mut PgConn) -> Result<T>) -> Result<T> {
        off_runtime(|| {
            let mut c = self.conn()?;
            match f(c.get()) {
                Ok(v) => Ok(v),
                Err(e) => {
                    c.broken = true;
                    if c.reused && c.get().closed() {
                        drop(c);
                        self.drop_idle();
                        let mut fresh = self.conn()?;
                        let r = f(fresh.get());
                        fresh.broken = r.is_err();
                        return r;
                    }
                    // A failed statement does not break a connection, but
                    // there is no telling which failures did: a fresh one
                    // costs one connect.
                    Err(e)
                }
            }
        })
    }

    fn drop_idle(&self) {
        if let Ok(mut idle) = self.inner.idle.lock() {
            idle.clear();
        }
    }

    /// Whether the database answers and takes writes (not a standby, not
    /// read-only), without writing anything.
    pub fn check(&self) -> Result<()> {
        let (recovery, read_only) = self.with_conn(|c| {
            let rows = c.query("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')", &[])?;
            let row =
                rows.first().ok_or_else(|| StoreError::Postgres(PgError("no answer to the health query".into())))?;
            Ok((row.get::<_, bool>(0), row.get::<_, String>(1)))
        })?;
        if recovery || read_only == "on" {
            return Err(StoreError::Postgres(PgError(format!("{} is read-only", self.inner.shown))));
        }
        Ok(())
    }

    fn migrate(&self) -> Result<()> {
        self.with_conn(|c| {
            // Replicas starting together: one creates, the others wait on
            // the lock and find it made.
            let r = (|| -> Result<()> {
                c.cl().batch_execute("BEGIN").map_err(|e| pg_err(&e))?;
                c.cl()
                    .execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
                    .map_err(|e| pg_err(&e))?;
                c.cl()
                    .batch_execute(
                        "CREATE TABLE IF NOT EXISTS oxen_schema (version integer NOT NULL);
                         CREATE TABLE IF NOT EXISTS oxen_repos (
                             id bigserial PRIMARY KEY,
                             name text NOT NULL UNIQUE,
                             head text NOT NULL,
                             created timestamptz NOT NULL DEFAULT now());
                         CREATE TABLE IF NOT EXISTS oxen_meta (
                             repo_id bigint NOT NULL REFERENCES oxen_repos(id) ON DELETE CASCADE,
                             tbl smallint NOT NULL,
                             key bytea NOT NULL,
                             value bytea NOT NULL,
                             PRIMARY KEY (repo_id, tbl, key));
                         CREATE TABLE IF NOT EXISTS oxen_kv (
                             store text NOT NULL,
                             key bytea NOT NULL,
                             value bytea NOT NULL,
                             PRIMARY KEY (store, key));",
                    )
                    .map_err(|e| pg_err(&e))?;
                let rows = c.cl().query("SELECT version FROM oxen_schema", &[]).map_err(|e| pg_err(&e))?;
                match rows.iter().map(|r| r.get::<_, i32>(0)).max() {
                    None => {
                        c.cl()
                            .execute("INSERT INTO oxen_schema (version) VALUES ($1)", &[&SCHEMA_VERSION])
                            .map_err(|e| pg_err(&e))?;
                    }
                    Some(v) if v > SCHEMA_VERSION => {
                        return Err(StoreError::Postgres(PgError(format!(
                            "database {} has Oxen schema {v}, newer than this oxen-server knows ({SCHEMA_VERSION}); upgrade oxen-server",
                            self.inner.shown
                        ))));
                    }
                    Some(_) => {}
                }
                c.cl().batch_execute("COMMIT").map_err(|e| pg_err(&e))
            })();
            if r.is_err() {
                let _ = c.cl().batch_execute("ROLLBACK");
            }
            r
        })
    }

    /// Take the gc lock (see [`GC_LOCK`]) without waiting: `None` when
    /// another gc holds it. Held until the guard is dropped.
    pub fn try_gc_lock(&self) -> Result<Option<GcLock>> {
        off_runtime(|| {
            let mut c = self.conn()?;
            let got = match c.get().query("SELECT pg_try_advisory_lock($1)", &[&GC_LOCK]) {
                Ok(rows) => rows.first().is_some_and(|r| r.get::<_, bool>(0)),
                Err(e) => {
                    c.broken = true;
                    return Err(e);
                }
            };
            // Never back into the pool: a session lock lives as long as
            // its connection, which is closed when the guard goes.
            c.broken = true;
            Ok(got.then_some(GcLock { _conn: c }))
        })
    }

    // --- repositories -------------------------------------------------

    /// Record a new repository with the given metadata rows (the format
    /// version, say) in one transaction: it becomes visible complete or
    /// not at all. `None` when the name is taken.
    pub fn create_repo_with(&self, name: &str, head: &str, rows: &[(Table, &[u8], &[u8])]) -> Result<Option<PgRepo>> {
        off_runtime(|| {
            let mut c = self.conn()?;
            let r = (|| -> Result<Option<PgRepo>> {
                let pc = c.get();
                pc.cl().batch_execute("BEGIN").map_err(|e| pg_err(&e))?;
                let ids = pc.query(
                    "INSERT INTO oxen_repos (name, head) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING id",
                    &[&name, &head],
                )?;
                let Some(id) = ids.first().map(|r| r.get::<_, i64>(0)) else {
                    pc.cl().batch_execute("ROLLBACK").map_err(|e| pg_err(&e))?;
                    return Ok(None);
                };
                for (t, k, v) in rows {
                    pc.execute(PUT, &[&id, &t.code(), k, v])?;
                }
                crate::faults::write_point();
                pc.cl().batch_execute("COMMIT").map_err(|e| pg_err(&e))?;
                Ok(Some(PgRepo { id, name: name.to_string(), head: head.to_string() }))
            })();
            if r.is_err() {
                c.broken = true;
            }
            r
        })
    }

    /// A repository by name.
    pub fn repo(&self, name: &str) -> Result<Option<PgRepo>> {
        self.with_conn(|c| {
            let rows = c.query("SELECT id, head FROM oxen_repos WHERE name = $1", &[&name])?;
            Ok(rows.first().map(|r| PgRepo { id: r.get(0), name: name.to_string(), head: r.get(1) }))
        })
    }

    /// Every repository's name, sorted by bytes.
    pub fn repo_names(&self) -> Result<Vec<String>> {
        self.with_conn(|c| {
            let rows = c.query("SELECT name FROM oxen_repos ORDER BY convert_to(name, 'UTF8')", &[])?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    /// Remove a repository and all its metadata (one statement: the
    /// rows go with it, `ON DELETE CASCADE`); whether it existed.
    pub fn delete_repo(&self, name: &str) -> Result<bool> {
        self.with_conn(|c| Ok(c.execute("DELETE FROM oxen_repos WHERE name = $1", &[&name])? > 0))
    }

    /// Remove the repository with this id (not a later one of the same
    /// name) and all its metadata; whether it existed.
    pub fn delete_repo_id(&self, id: i64) -> Result<bool> {
        self.with_conn(|c| Ok(c.execute("DELETE FROM oxen_repos WHERE id = $1", &[&id])? > 0))
    }

    /// One meta-table value of repository `id` (its `storage` URL, say).
    pub fn repo_meta(&self, id: i64, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get(id, Table::Meta, key)
    }

    // --- one repository's tables --------------------------------------

    pub(crate) fn get(&self, repo: i64, t: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.with_conn(|c| get_on(c, repo, t, key))
    }

    pub(crate) fn get_many(&self, repo: i64, t: Table, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.with_conn(|c| {
            let mut found: HashMap<Vec<u8>, Vec<u8>> = HashMap::with_capacity(keys.len());
            // Bounded batches: one round trip per thousand keys.
            for batch in keys.chunks(1000) {
                let rows = c.query(GET_MANY, &[&repo, &t.code(), &batch])?;
                found.extend(rows.into_iter().map(|r| (r.get::<_, Vec<u8>>(0), r.get::<_, Vec<u8>>(1))));
            }
            Ok(keys.iter().map(|k| found.get(*k).cloned()).collect())
        })
    }

    pub(crate) fn scan_prefix(&self, repo: i64, t: Table, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.with_conn(|c| scan_on(c, repo, t, prefix))
    }

    pub(crate) fn put_now(&self, repo: i64, t: Table, key: &[u8], value: &[u8]) -> Result<()> {
        self.with_conn(|c| c.execute(PUT, &[&repo, &t.code(), &key, &value]).map(|_| ()))
    }

    pub(crate) fn delete_now(&self, repo: i64, t: Table, key: &[u8]) -> Result<()> {
        self.with_conn(|c| {
            c.execute("DELETE FROM oxen_meta WHERE repo_id = $1 AND tbl = $2 AND key = $3", &[&repo, &t.code(), &key])
                .map(|_| ())
        })
    }

    pub(crate) fn scan_page(&self, repo: i64, t: Table, from: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_conn(|c| {
            let rows = c.query(
                "SELECT key, value FROM oxen_meta WHERE repo_id = $1 AND tbl = $2 AND key >= $3 ORDER BY key LIMIT $4",
                &[&repo, &t.code(), &from, &limit],
            )?;
            Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    pub(crate) fn range(&self, repo: i64, t: Table, from: &[u8], to: &[u8], limit: i64) -> Result<Vec<Vec<u8>>> {
        self.with_conn(|c| {
            let rows = c.query(
                "SELECT key FROM oxen_meta WHERE repo_id = $1 AND tbl = $2 AND key >= $3 AND key <= $4 ORDER BY key LIMIT $5",
                &[&repo, &t.code(), &from, &to, &limit],
            )?;
            Ok(rows.into_iter().map(|r| r.get(0)).collect())
        })
    }

    /// Start a write transaction on repository `repo`: BEGIN, then wait
    /// for the repository's advisory lock (held until COMMIT/ROLLBACK).
    pub(crate) fn begin(&self, repo: i64) -> Result<Txn> {
        off_runtime(|| {
            let mut c = self.conn()?;
            let begin = |c: &mut Conn| -> Result<()> {
                let pc = c.get();
                pc.cl().batch_execute("BEGIN").map_err(|e| pg_err(&e))?;
                pc.execute("SELECT pg_advisory_xact_lock($1)", &[&repo]).map(|_| ())
            };
            if let Err(e) = begin(&mut c) {
                c.broken = true;
                if !(c.reused && c.get().closed()) {
                    return Err(e);
                }
                drop(c);
                self.drop_idle();
                c = self.conn()?;
                if let Err(e) = begin(&mut c) {
                    c.broken = true;
                    return Err(e);
                }
            }
            Ok(Txn { conn: c, repo, open: true })
        })
    }
}

const PUT: &str = "INSERT INTO oxen_meta (repo_id, tbl, key, value) VALUES ($1, $2, $3, $4)
                   ON CONFLICT (repo_id, tbl, key) DO UPDATE SET value = EXCLUDED.value";
const PUT_NEW: &str = "INSERT INTO oxen_meta (repo_id, tbl, key, value) VALUES ($1, $2, $3, $4)
                       ON CONFLICT (repo_id, tbl, key) DO NOTHING";

/// Many keys of one table in one query: one index probe per key
/// (a nested loop over the array, `LIMIT 1` keeping the planner from
/// flattening it into a join it may plan otherwise). Not `key = ANY($3)`:
/// once a prepared statement goes generic (its sixth run) PostgreSQL
/// planned that as a scan of the repository's whole table with the array
/// as a filter, every row compared with every key: 200 ms for 1,000 keys
/// among 5,000 rows, the cause of slow `chunks/lists` and `upload-items`
/// on PostgreSQL.
const GET_MANY: &str = "SELECT k.key, m.value FROM unnest($3::bytea[]) AS k(key)
                        CROSS JOIN LATERAL (SELECT value FROM oxen_meta
                            WHERE repo_id = $1 AND tbl = $2 AND key = k.key LIMIT 1) m";

fn get_on(c: &mut PgConn, repo: i64, t: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
    let rows =
        c.query("SELECT value FROM oxen_meta WHERE repo_id = $1 AND tbl = $2 AND key = $3", &[&repo, &t.code(), &key])?;
    Ok(rows.first().map(|r| r.get(0)))
}

fn scan_on(c: &mut PgConn, repo: i64, t: Table, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let rows = match crate::db::prefix_successor(prefix) {
        Some(past) => c.query(
            "SELECT key, value FROM oxen_meta WHERE repo_id = $1 AND tbl = $2 AND key >= $3 AND key < $4 ORDER BY key",
            &[&repo, &t.code(), &prefix, &past],
        )?,
        None => c.query(
            "SELECT key, value FROM oxen_meta WHERE repo_id = $1 AND tbl = $2 AND key >= $3 ORDER BY key",
            &[&repo, &t.code(), &prefix],
        )?,
    };
    Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// An open write transaction (see [`Pg::begin`]). Dropped without
/// [`Txn::commit`], it rolls back; a connection that cannot roll back is
/// closed, which makes PostgreSQL roll back.
pub(crate) struct Txn {
    conn: Conn,
    repo: i64,
    open: bool,
}

impl Drop for Txn {
    fn drop(&mut self) {
        if self.open {
            let c = &mut self.conn;
            let ok = off_runtime(|| c.get().cl().batch_execute("ROLLBACK").is_ok());
            if !ok {
                c.broken = true;
            }
        }
    }
}

impl Txn {
    fn run<T>(&mut self, f: impl FnOnce(&mut PgConn, i64) -> Result<T>) -> Result<T> {
        let repo = self.repo;
        let c = &mut self.conn;
        let r = off_runtime(|| f(c.get(), repo));
        if r.is_err() {
            c.broken = true;
        }
        r
    }

    pub(crate) fn get(&mut self, t: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.run(|c, repo| get_on(c, repo, t, key))
    }

    pub(crate) fn put(&mut self, t: Table, key: &[u8], value: &[u8]) -> Result<()> {
        self.run(|c, repo| c.execute(PUT, &[&repo, &t.code(), &key, &value]).map(|_| ()))
    }

    pub(crate) fn put_new(&mut self, t: Table, key: &[u8], value: &[u8]) -> Result<bool> {
        self.run(|c, repo| Ok(c.execute(PUT_NEW, &[&repo, &t.code(), &key, &value])? == 1))
    }

    pub(crate) fn put_new_all(&mut self, t: Table, entries: &[(&[u8], &[u8])]) -> Result<()> {
        self.run(|c, repo| {
            for batch in entries.chunks(1000) {
                let keys: Vec<&[u8]> = batch.iter().map(|(k, _)| *k).collect();
                let values: Vec<&[u8]> = batch.iter().map(|(_, v)| *v).collect();
                c.execute(
                    "INSERT INTO oxen_meta (repo_id, tbl, key, value)
                     SELECT $1, $2, k, v FROM unnest($3::bytea[], $4::bytea[]) AS e(k, v)
                     ON CONFLICT (repo_id, tbl, key) DO NOTHING",
                    &[&repo, &t.code(), &keys, &values],
                )?;
            }
            Ok(())
        })
    }

    pub(crate) fn delete(&mut self, t: Table, key: &[u8]) -> Result<bool> {
        self.run(|c, repo| {
            Ok(c.execute(
                "DELETE FROM oxen_meta WHERE repo_id = $1 AND tbl = $2 AND key = $3",
                &[&repo, &t.code(), &key],
            )? == 1)
        })
    }

    pub(crate) fn clear(&mut self, t: Table) -> Result<()> {
        self.run(|c, repo| {
            c.execute("DELETE FROM oxen_meta WHERE repo_id = $1 AND tbl = $2", &[&repo, &t.code()]).map(|_| ())
        })
    }

    pub(crate) fn last_with_prefix(&mut self, t: Table, prefix: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        self.run(|c, repo| {
            let rows = match crate::db::prefix_successor(prefix) {
                Some(past) => c.query(
                    "SELECT key, value FROM oxen_meta WHERE repo_id = $1 AND tbl = $2 AND key >= $3 AND key < $4
                     ORDER BY key DESC LIMIT 1",
                    &[&repo, &t.code(), &prefix, &past],
                )?,
                None => c.query(
                    "SELECT key, value FROM oxen_meta WHERE repo_id = $1 AND tbl = $2 AND key >= $3
                     ORDER BY key DESC LIMIT 1",
                    &[&repo, &t.code(), &prefix],
                )?,
            };
            Ok(rows.first().map(|r| (r.get(0), r.get(1))))
        })
    }

    pub(crate) fn scan_prefix(&mut self, t: Table, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.run(|c, repo| scan_on(c, repo, t, prefix))
    }

    pub(crate) fn commit(mut self) -> Result<()> {
        let r = self.run(|c, _| c.cl().batch_execute("COMMIT").map_err(|e| pg_err(&e)));
        // Committed, or failed (the connection is then dropped, and
        // PostgreSQL rolls back whatever it did not commit).
        self.open = false;
        r
    }
}

// --- KvStore ---------------------------------------------------------

impl Pg {
    pub(crate) fn kv_get(&self, store: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.with_conn(|c| {
            let rows = c.query("SELECT value FROM oxen_kv WHERE store = $1 AND key = $2", &[&store, &key])?;
            Ok(rows.first().map(|r| r.get(0)))
        })
    }

    pub(crate) fn kv_put(&self, store: &str, key: &[u8], value: &[u8]) -> Result<()> {
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO oxen_kv (store, key, value) VALUES ($1, $2, $3)
                 ON CONFLICT (store, key) DO UPDATE SET value = EXCLUDED.value",
                &[&store, &key, &value],
            )
            .map(|_| ())
        })
    }

    pub(crate) fn kv_scan(&self, store: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.with_conn(|c| {
            let rows = c.query("SELECT key, value FROM oxen_kv WHERE store = $1 ORDER BY key", &[&store])?;
            Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    pub(crate) fn kv_delete(&self, store: &str, key: &[u8]) -> Result<bool> {
        self.with_conn(|c| Ok(c.execute("DELETE FROM oxen_kv WHERE store = $1 AND key = $2", &[&store, &key])? > 0))
    }
}

/// `url` with any password replaced by `***`.
fn redact(url: &str) -> String {
    // postgres://user:password@host...
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        if let Some(at) = rest.find('@') {
            let userinfo = &rest[..at];
            if let Some(colon) = userinfo.find(':') {
                return format!("{}{}:***{}", &url[..scheme_end + 3], &userinfo[..colon], &rest[at..]);
            }
        }
        return url.to_string();
    }
    // key=value form: hide password=...
    url.split_whitespace()
        .map(|kv| if kv.starts_with("password=") { "password=***" } else { kv })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::noise;
    use crate::{Db, KvStore, Layout};
    use oxen_hash::ContentId;

    /// A throwaway PostgreSQL cluster (`tests/postgres.sh`), stopped on drop.
    struct Cluster {
        dir: tempfile::TempDir,
        url: String,
    }

    impl Cluster {
        fn start() -> Cluster {
            let dir = tempfile::tempdir().unwrap();
            let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/postgres.sh");
            let out = std::process::Command::new("bash").arg(&script).arg("start").arg(dir.path()).output().unwrap();
            assert!(out.status.success(), "PostgreSQL did not start: {}", String::from_utf8_lossy(&out.stderr));
            let url = String::from_utf8_lossy(&out.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("OXEN_DB=").map(str::to_string))
                .expect("OXEN_DB printed");
            Cluster { dir, url }
        }

        fn ctl(&self, cmd: &str) {
            let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/postgres.sh");
            let st = std::process::Command::new("bash").arg(&script).arg(cmd).arg(self.dir.path()).status().unwrap();
            assert!(st.success(), "postgres.sh {cmd}");
        }
    }

    impl Drop for Cluster {
        fn drop(&mut self) {
            self.ctl("stop");
        }
    }

    /// A repository row and its `Db` (scratch layout in `scratch`).
    fn pg_repo(pg: &Pg, name: &str, scratch: &std::path::Path) -> Db {
        let rows: [(Table, &[u8], &[u8]); 1] = [(Table::Meta, crate::format::FORMAT_KEY, b"2")];
        let row = pg.create_repo_with(name, "ref: heads/main", &rows).unwrap().expect("a new name");
        let layout = Layout::at(scratch.join(name));
        Db::open_pg(&layout, pg, row.id).unwrap()
    }

    /// Deterministic keys with NULs, 0xff bytes, shared prefixes and
    /// lengths that differ only at the end (memcmp-then-length order).
    fn keys() -> Vec<Vec<u8>> {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut out = vec![
            b"".to_vec(),
            b"a".to_vec(),
            b"a\0".to_vec(),
            b"a\0\0".to_vec(),
            b"a\x01".to_vec(),
            b"ab".to_vec(),
            vec![0xff],
            vec![0xff, 0xff],
            vec![0xff, 0x00],
            vec![0x00],
            vec![0x7f, 0x80],
            vec![0x80],
        ];
        for n in 0..200u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 9) as usize;
            let mut k: Vec<u8> = x.to_be_bytes()[..len.min(8)].to_vec();
            if n % 3 == 0 {
                k.insert(0, b'a');
            }
            if n % 5 == 0 {
                k.push(0xff);
            }
            out.push(k);
        }
        out.retain(|k| !k.is_empty());
        out
    }

    /// The same script on any backend: everything it observes, in order.
    fn script(db: &Db) -> Vec<String> {
        let mut seen = Vec::new();
        let t = Table::Reflog;
        let ks = keys();
        let mut txn = db.begin_write().unwrap();
        for (i, k) in ks.iter().enumerate() {
            let new = txn.put_new(t, k, format!("v{i}").as_bytes()).unwrap();
            seen.push(format!("put_new {k:?} {new}"));
        }
        seen.push(format!("in-txn scan {:?}", txn.scan_prefix(t, b"a").unwrap()));
        txn.commit().unwrap();
        for p in [&b""[..], b"a", b"a\0", b"\xff", b"\xff\xff", b"\x00", b"zz"] {
            seen.push(format!("scan {p:?} {:?}", db.scan_prefix(t, p).unwrap()));
        }
        let mut txn = db.begin_write().unwrap();
        for p in [&b""[..], b"a", b"a\0", b"\xff", b"\xff\xff", b"\x7f", b"zz"] {
            seen.push(format!("last {p:?} {:?}", txn.last_with_prefix(t, p).unwrap()));
        }
        for k in ks.iter().step_by(7) {
            seen.push(format!("delete {k:?} {}", txn.delete(t, k).unwrap()));
            seen.push(format!("delete again {k:?} {}", txn.delete(t, k).unwrap()));
            seen.push(format!("get deleted {:?}", txn.get(t, k).unwrap()));
        }
        let more: Vec<(&[u8], &[u8])> = vec![(b"a", b"kept?"), (b"new one", b"n"), (b"\xff\x01", b"m")];
        txn.put_new_all(t, &more).unwrap();
        txn.put(t, b"a", b"replaced").unwrap();
        seen.push(format!("put_new existing {}", txn.put_new(t, b"a", b"not this").unwrap()));
        txn.commit().unwrap();
        seen.push(format!("after {:?}", db.scan(t).unwrap()));
        let probe: Vec<&[u8]> = vec![b"a", b"nope", &ks[3], &ks[7]];
        seen.push(format!("get_many {:?}", db.get_many(t, &probe).unwrap()));

        // Dropped without commit: nothing of it is visible.
        let mut txn = db.begin_write().unwrap();
        txn.put(t, b"rolled back", b"x").unwrap();
        txn.clear(Table::Reflog).unwrap();
        drop(txn);
        seen.push(format!("after rollback {:?}", db.scan(t).unwrap().len()));
        // Clear, committed, touches only its table.
        db.put(Table::Index, b"idx", b"1").unwrap();
        let mut txn = db.begin_write().unwrap();
        txn.clear(Table::Reflog).unwrap();
        txn.commit().unwrap();
        seen.push(format!("cleared {:?} {:?}", db.scan(t).unwrap(), db.scan(Table::Index).unwrap()));

        // Objects and id prefixes.
        let mut ids = Vec::new();
        for i in 0..300u32 {
            ids.push(db.put_object(Table::Commits, format!("object {i}").as_bytes()).unwrap());
        }
        seen.push(format!("has {}", db.has_object(Table::Commits, &ids[5]).unwrap()));
        seen.push(format!("get_object {:?}", db.get_object(Table::Commits, &ids[5]).unwrap()));
        let missing = ContentId::of(b"nothing");
        seen.push(format!("has missing {}", db.has_object(Table::Commits, &missing).unwrap()));
        for p in ["", "0", "a", "f", "ff", &ids[9].to_hex()[..5], &ids[9].to_hex()] {
            seen.push(format!("ids {p} {:?}", db.ids_with_prefix(Table::Commits, p, 10).unwrap()));
        }
        seen
    }

    #[test]
    fn the_postgresql_backend_behaves_as_lmdb_does() {
        let c = Cluster::start();
        let pg = Pg::connect(&c.url).unwrap();
        let d = tempfile::tempdir().unwrap();
        let on_pg = script(&pg_repo(&pg, "r", d.path()));
        let layout = Layout::create(&d.path().join("lmdb")).unwrap();
        let on_lmdb = script(&Db::open(&layout).unwrap());
        assert_eq!(on_pg.len(), on_lmdb.len());
        for (a, b) in on_pg.iter().zip(&on_lmdb) {
            assert_eq!(a, b);
        }
        // Another repository's rows are not seen.
        let other = pg_repo(&pg, "other", d.path());
        assert_eq!(other.scan(Table::Commits).unwrap(), Vec::new());
        assert!(pg.create_repo_with("r", "ref: heads/main", &[]).unwrap().is_none(), "a taken name");
        assert_eq!(pg.repo_names().unwrap(), vec!["other".to_string(), "r".to_string()]);
        assert!(pg.delete_repo("r").unwrap());
        assert!(!pg.delete_repo("r").unwrap());
        assert_eq!(pg.repo_names().unwrap(), vec!["other".to_string()]);
    }

    /// The plan of [`GET_MANY`] for `keys` as a generic plan (what a
    /// prepared statement is run with from its sixth execution on).
    fn generic_plan(pg: &Pg, repo: i64, keys: &[Vec<u8>]) -> String {
        let mut c = pg.conn().unwrap();
        let cl = c.get().cl();
        cl.batch_execute("SET plan_cache_mode = force_generic_plan").unwrap();
        cl.batch_execute(&format!("PREPARE g(bigint, smallint, bytea[]) AS {GET_MANY}")).unwrap();
        let array: Vec<String> = keys
            .iter()
            .map(|k| format!("'\\x{}'::bytea", k.iter().map(|b| format!("{b:02x}")).collect::<String>()))
            .collect();
        let sql = format!("EXPLAIN EXECUTE g({repo}, {}, ARRAY[{}])", Table::Blobs.code(), array.join(","));
        let plan: Vec<String> = cl.query(&sql, &[]).unwrap().iter().map(|r| r.get(0)).collect();
        cl.batch_execute("DEALLOCATE g; RESET plan_cache_mode").unwrap();
        plan.join("\n")
    }

    /// A batch lookup probes the index for each key whatever plan the
    /// prepared statement settles on: `key = ANY($3)` went generic as a
    /// scan of the repository's whole table filtered by the array (every
    /// row compared with every key), which made a clone's `chunks/lists`
    /// and `upload-items` hundreds of times slower than on LMDB.
    #[test]
    fn a_batch_lookup_probes_the_index_for_each_key_in_its_generic_plan() {
        let c = Cluster::start();
        let pg = Pg::connect(&c.url).unwrap();
        let d = tempfile::tempdir().unwrap();
        let db = pg_repo(&pg, "r", d.path());
        let repo = pg.repo("r").unwrap().unwrap().id;
        let entries: Vec<(Vec<u8>, Vec<u8>)> =
            (0..3000u32).map(|i| (ContentId::of(&i.to_le_bytes()).as_bytes().to_vec(), vec![7u8; 40])).collect();
        let mut txn = db.begin_write().unwrap();
        let refs: Vec<(&[u8], &[u8])> = entries.iter().map(|(k, v)| (&k[..], &v[..])).collect();
        txn.put_new_all(Table::Blobs, &refs).unwrap();
        txn.commit().unwrap();
        let asked: Vec<Vec<u8>> = entries.iter().step_by(100).map(|(k, _)| k.clone()).collect();
        // Before and after the table's statistics exist.
        for analyzed in [false, true] {
            if analyzed {
                pg.conn().unwrap().get().cl().batch_execute("ANALYZE oxen_meta").unwrap();
            }
            let plan = generic_plan(&pg, repo, &asked);
            assert!(plan.contains("Index Cond") && plan.contains("key = k.key"), "analyzed {analyzed}: {plan}");
            assert!(!plan.contains("Filter"), "analyzed {analyzed}: {plan}");
        }
        // And it answers as single lookups do, missing keys and duplicates included.
        let mut keys: Vec<&[u8]> = asked.iter().map(|k| &k[..]).collect();
        keys.push(b"absent");
        keys.push(keys[0]);
        let found = db.get_many(Table::Blobs, &keys).unwrap();
        for (k, v) in keys.iter().zip(&found) {
            assert_eq!(v, &db.get(Table::Blobs, k).unwrap());
        }
        assert_eq!(found.iter().filter(|v| v.is_none()).count(), 1);
    }

    #[test]
    fn writers_of_one_repository_take_turns_across_pools() {
        let c = Cluster::start();
        let d = tempfile::tempdir().unwrap();
        // Two pools: two replicas.
        let (p1, p2) = (Pg::connect(&c.url).unwrap(), Pg::connect(&c.url).unwrap());
        let db1 = pg_repo(&p1, "r", d.path());
        let row = p2.repo("r").unwrap().unwrap();
        let db2 = Db::open_pg(&Layout::at(d.path().join("r2")), &p2, row.id).unwrap();
        // Read-compare-write increments: without the lock, READ COMMITTED
        // would lose updates.
        std::thread::scope(|s| {
            for db in [&db1, &db2] {
                s.spawn(move || {
                    for _ in 0..40 {
                        let mut txn = db.begin_write().unwrap();
                        let n: u64 = txn
                            .get(Table::Refs, b"heads/n")
                            .unwrap()
                            .map(|v| String::from_utf8(v).unwrap().parse().unwrap())
                            .unwrap_or(0);
                        std::thread::sleep(Duration::from_millis(1));
                        txn.put(Table::Refs, b"heads/n", (n + 1).to_string().as_bytes()).unwrap();
                        txn.commit().unwrap();
                    }
                });
            }
        });
        assert_eq!(db1.get(Table::Refs, b"heads/n").unwrap().as_deref(), Some(&b"80"[..]));
        // A writer holding the lock does not block another repository's.
        let other = pg_repo(&p2, "other", d.path());
        let held = db1.begin_write().unwrap();
        other.put(Table::Refs, b"heads/x", b"1").unwrap();
        drop(held);
    }

    #[test]
    fn connections_broken_by_a_restart_are_replaced_and_a_broken_transaction_leaves_nothing() {
        let c = Cluster::start();
        let d = tempfile::tempdir().unwrap();
        let pg = Pg::connect(&c.url).unwrap();
        let db = pg_repo(&pg, "r", d.path());
        db.put(Table::Refs, b"heads/main", b"1").unwrap();
        let mut txn = db.begin_write().unwrap();
        txn.put(Table::Refs, b"heads/main", b"2").unwrap();
        txn.put(Table::Refs, b"heads/other", b"2").unwrap();
        c.ctl("restart");
        // The transaction's connection died with the server: its commit
        // fails and nothing of it is visible.
        assert!(txn.commit().is_err());
        // Pooled connections are dead too: replaced without a restart.
        assert_eq!(db.get(Table::Refs, b"heads/main").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(db.get(Table::Refs, b"heads/other").unwrap(), None);
        c.ctl("restart");
        let mut txn = db.begin_write().unwrap();
        txn.put(Table::Refs, b"heads/main", b"3").unwrap();
        txn.commit().unwrap();
        assert_eq!(db.get(Table::Refs, b"heads/main").unwrap().as_deref(), Some(&b"3"[..]));
        pg.check().unwrap();
    }

    #[test]
    fn kv_stores_newer_schemas_and_formats() {
        let c = Cluster::start();
        let pg = Pg::connect(&c.url).unwrap();
        let (a, b) = (KvStore::open_pg(&pg, "users"), KvStore::open_pg(&pg, "other"));
        a.put(b"k2", b"v2").unwrap();
        a.put(b"k1", b"v1").unwrap();
        b.put(b"k1", b"elsewhere").unwrap();
        assert_eq!(a.get(b"k1").unwrap().as_deref(), Some(&b"v1"[..]));
        assert_eq!(a.scan().unwrap(), vec![(b"k1".to_vec(), b"v1".to_vec()), (b"k2".to_vec(), b"v2".to_vec())]);
        assert!(a.delete(b"k1").unwrap());
        assert!(!a.delete(b"k1").unwrap());
        assert_eq!(a.get(b"k1").unwrap(), None);
        assert_eq!(b.get(b"k1").unwrap().as_deref(), Some(&b"elsewhere"[..]));
        // The same calls on LMDB.
        let d = tempfile::tempdir().unwrap();
        let l = KvStore::open(d.path(), "users", 1 << 20).unwrap();
        l.put(b"k2", b"v2").unwrap();
        l.put(b"k1", b"v1").unwrap();
        assert_eq!(l.scan().unwrap(), vec![(b"k1".to_vec(), b"v1".to_vec()), (b"k2".to_vec(), b"v2".to_vec())]);
        assert!(l.delete(b"k1").unwrap());
        assert!(!l.delete(b"k1").unwrap());

        // A repository recording a newer format is refused.
        let db = pg_repo(&pg, "r", d.path());
        db.put(Table::Meta, crate::format::FORMAT_KEY, b"9").unwrap();
        let id = pg.repo("r").unwrap().unwrap().id;
        match Db::open_pg(&Layout::at(d.path().join("r")), &pg, id) {
            Err(StoreError::NewerFormat { found: Some(9), .. }) => {}
            other => panic!("{:?}", other.map(|_| ())),
        }
        // A database with a newer schema is refused in one line; so is a
        // URL that is not one, and a database that does not answer.
        pg.with_conn(|c| c.execute("UPDATE oxen_schema SET version = 99", &[])).unwrap();
        let e = Pg::connect(&c.url).err().unwrap().to_string();
        assert!(e.contains("schema 99, newer than this oxen-server knows") && !e.contains('\n'), "{e}");
        let e = Pg::connect("postgres://oxen@127.0.0.1:notaport/oxen").err().unwrap().to_string();
        assert!(e.contains("is not a PostgreSQL URL") && !e.contains('\n'), "{e}");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let e = Pg::connect(&format!("postgres://oxen:pw@127.0.0.1:{port}/oxen")).err().unwrap().to_string();
        assert!(e.contains("cannot connect to postgres://oxen:***@127.0.0.1") && !e.contains("pw@"), "{e}");
    }

    /// Repository `r` as a writer's host sees it and as gc's does (each its
    /// own pool and scratch under `dir`).
    fn two_hosts(c: &Cluster, dir: &std::path::Path) -> (Db, Db) {
        let (p1, p2) = (Pg::connect(&c.url).unwrap(), Pg::connect(&c.url).unwrap());
        let db1 = pg_repo(&p1, "r", dir);
        let db2 = Db::open_pg(&Layout::at(dir.join("gc")), &p2, p2.repo("r").unwrap().unwrap().id).unwrap();
        (db1, db2)
    }

    /// A repository's versions store on PostgreSQL with blocks in `store`,
    /// scratch under `dir` (one host's view).
    fn remote_versions(db: &Db, dir: &std::path::Path, store: Arc<dyn crate::ContentStore>) -> crate::Versions {
        crate::Versions::with_segments(dir.join("versions"), dir.join("tmp"), db.clone(), Some(store))
    }

    #[test]
    fn uploads_are_journaled_in_the_database_and_gc_on_any_host_aborts_the_abandoned() {
        use crate::blockstore::UploadJournal;
        use object_store::multipart::MultipartStore;
        let c = Cluster::start();
        let d = tempfile::tempdir().unwrap();
        let (db1, db2) = two_hosts(&c, d.path());
        let bucket = crate::blockstore::tests::mem_bucket();
        let url = crate::S3Url::parse("s3://bucket/pre/r").unwrap();
        // One store per host, over the same bucket.
        let host = || Arc::new(crate::blockstore::S3Store::with_store(bucket.clone(), url.clone()));
        let mut writer = remote_versions(&db1, &d.path().join("w"), host());
        writer.set_block_max(64 << 20);
        let gc = remote_versions(&db2, &d.path().join("g"), host());
        let uploads = || db2.scan_prefix(Table::Meta, crate::gc::UPLOAD_PREFIX).unwrap();

        // A block past a part, not sealed yet: its upload is recorded in
        // the database, where a gc on another host sees it.
        let data = noise(4, 20 << 20);
        let (id, _) = writer.write_reader(&data[..], std::path::Path::new("big")).unwrap();
        let t = std::time::Instant::now();
        while uploads().is_empty() {
            assert!(t.elapsed() < Duration::from_secs(20), "the upload was not recorded");
            std::thread::sleep(Duration::from_millis(20));
        }
        // An upload a writer killed on another host left (its pid, 1, is
        // alive here, which says nothing about that host).
        let key = object_store::path::Path::from("pre/r/blocks/1-abc");
        let (b, k) = (bucket.clone(), key.clone());
        let killed = crate::blockstore::tests::block_on(async move {
            let id = b.create_multipart(&k).await.unwrap();
            b.put_part(&k, &id, 0, vec![1u8; 100].into()).await.unwrap();
            id
        });
        crate::gc::MetaJournal::new(db1.clone()).record("1-abc", &killed).unwrap();
        assert_eq!(uploads().len(), 2);
        // Within the grace period both stay; past it only the killed
        // writer's goes (the live writer is this process).
        let r = gc.compact_segments_with(false, Duration::from_secs(3600)).unwrap();
        assert_eq!(r.uploads_aborted, 0);
        let r = gc.compact_segments_with(false, Duration::ZERO).unwrap();
        assert_eq!(r.uploads_aborted, 1);
        assert!(!bucket.upload_open(&killed), "the abandoned upload was not aborted");
        assert_eq!(uploads().len(), 1);
        // The live upload completes, and its record goes with it.
        writer.flush().unwrap();
        assert!(uploads().is_empty(), "{:?}", uploads());
        assert_eq!(gc.read_all(&id).unwrap(), data);
    }

    #[test]
    fn a_gc_on_another_host_leaves_leased_blocks_and_contents_a_writer_relied_on() {
        use crate::{ContentStore, Prune};
        let c = Cluster::start();
        let d = tempfile::tempdir().unwrap();
        let (db1, db2) = two_hosts(&c, d.path());
        let store = crate::versions::tests::counting(crate::blockstore::tests::mem_bucket());
        let shared = store.clone() as Arc<dyn ContentStore>;
        let mut writer = remote_versions(&db1, &d.path().join("w"), shared.clone());
        writer.set_block_max(1 << 20);
        let gc = remote_versions(&db2, &d.path().join("g"), shared.clone());

        // A write that sealed and uploaded blocks but has not recorded
        // their locations yet (a push in flight on another host).
        let data = noise(1, 3 << 20);
        let (id, _) = writer.write_reader(&data[..], std::path::Path::new("big")).unwrap();
        let t = std::time::Instant::now();
        while store.list().unwrap().len() < 2 {
            assert!(t.elapsed() < Duration::from_secs(10), "no block was uploaded");
            std::thread::sleep(Duration::from_millis(20));
        }
        let leased = db2.scan_prefix(Table::Meta, crate::gc::LEASE_PREFIX).unwrap();
        assert!(!leased.is_empty());
        // The same blocks as a writer on another host made them (its pid
        // means nothing here): one copy with the writer's lease, one
        // without. No grace at all: only the lease keeps a block.
        let block = store.list().unwrap()[0].0.clone();
        let (_, rest) = block.split_once('-').unwrap();
        let bytes = shared.read_range(&block, 0..u64::MAX).unwrap();
        let staged = d.path().join("staged");
        std::fs::write(&staged, &bytes).unwrap();
        let (with, without) = (format!("8388607-{rest}"), format!("8388606-{rest}"));
        shared.put(&with, &staged).unwrap();
        shared.put(&without, &staged).unwrap();
        let key = [crate::gc::LEASE_PREFIX, with.as_bytes()].concat();
        db1.put(Table::Meta, &key, &crate::gc::time_value(std::time::SystemTime::now())).unwrap();
        let r = gc.compact_segments_with(false, Duration::ZERO).unwrap();
        assert_eq!((r.deleted, r.compacted), (1, 0), "{r:?}");
        let names: Vec<String> = store.list().unwrap().into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&with) && !names.contains(&without), "{names:?}");
        db1.put(Table::Meta, &key, &crate::gc::time_value(std::time::SystemTime::now() - crate::gc::LEASE_TTL))
            .unwrap();
        let r = gc.compact_segments_with(false, Duration::ZERO).unwrap();
        assert_eq!(r.deleted, 1, "an expired lease (a killed writer's) is ignored: {r:?}");
        assert!(db1.get(Table::Meta, &key).unwrap().is_none(), "and removed");
        writer.flush().unwrap();
        assert!(db2.scan_prefix(Table::Meta, crate::gc::LEASE_PREFIX).unwrap().is_empty(), "leases dropped");
        assert_eq!(writer.read_all(&id).unwrap(), data);
        let r = gc.compact_segments_with(false, Duration::ZERO).unwrap();
        assert_eq!(r.deleted, 0, "every record is live: {r:?}");
        assert_eq!(gc.read_all(&id).unwrap(), data);

        // Contents in a block two days old by its name (the store here
        // gives no write times): unreachable, and swept...
        let small = b"relied on by a writer elsewhere".to_vec();
        let small_id = writer.write_bytes(&small).unwrap();
        writer.flush().unwrap();
        let loc = crate::versions::Loc::decode(&db1.get(Table::Blobs, small_id.as_bytes()).unwrap().unwrap()).unwrap();
        let then = std::time::SystemTime::now() - Duration::from_secs(2 * 86_400);
        let old_name = format!("8388608-{:x}", then.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
        let bytes = shared.read_range(&loc.segment, 0..u64::MAX).unwrap();
        std::fs::write(&staged, bytes).unwrap();
        shared.put(&old_name, &staged).unwrap();
        let moved = crate::versions::Loc { segment: old_name.clone(), ..loc };
        db1.put(Table::Blobs, small_id.as_bytes(), &moved.encode()).unwrap();
        let live: std::collections::HashSet<ContentId> =
            [id].into_iter().chain(writer.chunk_list(&id).unwrap().unwrap().chunks().iter().map(|c| c.id)).collect();
        let dry = gc.sweep_unreachable(&live, Prune::DEFAULT, true).unwrap();
        assert_eq!(dry.records, 1, "{dry:?}");
        // ...unless a writer on another host relied on it (found it stored
        // and skipped it): then it is young again for the grace period.
        let other_host = remote_versions(&db1, &d.path().join("w2"), shared.clone());
        assert_eq!(other_host.write_bytes(&small).unwrap(), small_id);
        let r = gc.sweep_unreachable(&live, Prune::DEFAULT, false).unwrap();
        assert_eq!((r.records, r.young), (0, 1), "{r:?}");
        assert_eq!(gc.read_all(&small_id).unwrap(), small);
        assert_eq!(gc.sweep_unreachable(&live, Prune::Now, false).unwrap().records, 1);
    }

    #[test]
    fn one_gc_at_a_time() {
        let c = Cluster::start();
        let (p1, p2) = (Pg::connect(&c.url).unwrap(), Pg::connect(&c.url).unwrap());
        let held = p1.try_gc_lock().unwrap().expect("free");
        assert!(p2.try_gc_lock().unwrap().is_none());
        assert!(p1.try_gc_lock().unwrap().is_none(), "not reentrant through the pool");
        drop(held);
        assert!(p2.try_gc_lock().unwrap().is_some());
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(redact("postgres://oxen:s3cret@h:5/db"), "postgres://oxen:***@h:5/db");
        assert_eq!(redact("postgres://oxen@h:5/db"), "postgres://oxen@h:5/db");
        assert_eq!(redact("host=h password=x user=u"), "host=h password=*** user=u");
    }
}
