//! `oxen-server`: serves the repositories under `SYNC_DIR` (one directory
//! per repository, the usual `.oxen` layout, no work tree needed) over
//! HTTP with bearer-token auth.
//!
//! ```text
//! GET    /api/health                      200 {"status": "ok"} or 503 naming what failed (no token)
//! GET    /api/version                     {"version", "format"} (no token)
//! GET    /api/repos                       list (those the token can read)
//! POST   /api/repos {"name": "X"}         create (409 exists, 400 bad name)
//! GET    /api/repos/X                     info
//! DELETE /api/repos/X                     delete
//! GET    /api/repos/X/refs                refs and HEAD
//! POST   /api/repos/X/missing             which of these objects are absent
//! POST   /api/repos/X/receive-pack        pack stream in (push)
//! POST   /api/repos/X/refs                ref updates (CAS, fast-forward unless forced)
//! POST   /api/repos/X/upload-pack         wants/haves in, pack stream out (fetch)
//! ```
//!
//! Tokens carry scopes (admin, or read or write access to named
//! repositories): no, unknown or revoked token is 401, a token without
//! the access a route needs ([`router::Route::need`]) is 403.
//!
//! The layers, each in its module: the transport (the private `http` module:
//! hyper on tokio, limits and timeouts, graceful shutdown, request logs),
//! [`router`] (method and path to a typed route), [`auth`] (who is
//! asking), [`api`] (the handlers, blocking, with no HTTP types) and
//! [`repos`] (where repositories live, behind [`repos::RepoStore`]).

pub mod api;
pub mod auth;
pub mod error;
mod http;
pub mod repos;
pub mod router;
pub mod sweep;
mod users;

pub use users::{random_token, Access, Caller, NewToken, Scopes, TokenInfo, User, Users};

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Errors from the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A file operation under SYNC_DIR failed (path, cause).
    #[error("{0}: {1}")]
    Io(PathBuf, #[source] std::io::Error),
    /// The listening socket could not be opened (address, cause).
    #[error("cannot listen on {0}: {1}")]
    Bind(String, String),
    /// No repository by that name.
    #[error("repository '{0}' not found")]
    NotFound(String),
    /// A repository by that name exists already.
    #[error("repository '{0}' already exists")]
    Exists(String),
    /// Not a name a repository may have.
    #[error("invalid repository name '{0}'")]
    BadName(String),
    /// The stores failed underneath (user database, repositories).
    #[error(transparent)]
    Store(#[from] oxen_store::StoreError),
    /// A repository failed to open or work.
    #[error(transparent)]
    Repo(#[from] oxen_repo::RepoError),
    /// A repository's refs or HEAD could not be written.
    #[error(transparent)]
    Ref(#[from] oxen_refs::RefError),
    /// Anything else worth one line.
    #[error("{0}")]
    Other(String),
}

/// Result alias.
pub type Result<T> = std::result::Result<T, ServerError>;

/// How to run the server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Where repositories live.
    pub sync_dir: PathBuf,
    /// Address to bind.
    pub host: String,
    /// Port (0 = any free port).
    pub port: u16,
    /// Requests whose handlers run at once (the blocking pool's size).
    pub threads: usize,
    /// Largest request body accepted, in bytes.
    pub max_body: u64,
    /// Connections open at once; more are refused with 503.
    pub max_connections: usize,
    /// Time a client has to send a request's headers (also how long an
    /// idle keep-alive connection stays open).
    pub header_timeout: Duration,
    /// Longest a request body may stall, or a response go unread (408 /
    /// connection closed).
    pub body_timeout: Duration,
    /// Longest SIGINT/SIGTERM waits for requests in flight.
    pub shutdown_grace: Duration,
    /// Where the repositories' blocks (file contents) live: `None` for
    /// their local `.oxen/versions`, else an S3 bucket and prefix (each
    /// repository under `PREFIX/<repo>/blocks/`).
    pub storage: Option<oxen_store::S3Url>,
    /// Where metadata lives: `None` for LMDB under `sync_dir`, else a
    /// PostgreSQL URL shared by every replica (needs `storage`).
    pub db: Option<String>,
}

impl ServerConfig {
    /// Defaults for everything but where to serve from and where to listen.
    pub fn new(sync_dir: PathBuf, host: String, port: u16) -> ServerConfig {
        ServerConfig {
            sync_dir,
            host,
            port,
            threads: 16,
            max_body: 64 << 30,
            max_connections: 512,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(30),
            storage: None,
            db: None,
        }
    }
}

/// Sweep the repositories' temp files left by dead writers, bind, print
/// `listening on http://ADDR` to `announce`, and serve until SIGINT or
/// SIGTERM. Requests are logged through `tracing` (see [`init_logging`]).
pub fn serve(cfg: ServerConfig, announce: &mut dyn Write) -> Result<()> {
    std::fs::create_dir_all(&cfg.sync_dir).map_err(|e| ServerError::Io(cfg.sync_dir.clone(), e))?;
    if let Some(url) = &cfg.storage {
        check_storage(url)?;
    }
    let swept = sweep::sweep_repos(&cfg.sync_dir);
    if swept.files > 0 {
        tracing::info!(files = swept.files, bytes = swept.bytes, "removed temp files of interrupted writes");
    }
    let (users, repos) = open_meta(&cfg)?;
    http::run(cfg, api::Api { repos }, Arc::new(users), announce)
}

/// Replicas share a repository's contents only through object storage:
/// PostgreSQL metadata with blocks on one replica's disk would name
/// contents the others cannot read.
const DB_NEEDS_STORAGE: &str =
    "--db needs --storage s3://BUCKET: replicas sharing a database must share the repositories' contents too";

/// Connect to the metadata database of `--db` (creating or migrating its
/// schema), as one line on failure.
pub fn connect_db(url: &str) -> Result<oxen_store::pg::Pg> {
    Ok(oxen_store::pg::Pg::connect(url)?)
}

/// The users and repositories `cfg` says: LMDB and directories under
/// `SYNC_DIR` by default, PostgreSQL and the S3 bucket with `--db`.
fn open_meta(cfg: &ServerConfig) -> Result<(Users, Arc<dyn repos::RepoStore>)> {
    match &cfg.db {
        None => {
            let users = Users::open(&cfg.sync_dir)?;
            let repos = repos::LocalRepos::new(&cfg.sync_dir).with_storage(cfg.storage.clone());
            Ok((users, Arc::new(repos)))
        }
        Some(url) => {
            let storage = cfg.storage.clone().ok_or_else(|| ServerError::Other(DB_NEEDS_STORAGE.into()))?;
            let pg = connect_db(url)?;
            let users = Users::open_pg(&pg);
            Ok((users, Arc::new(repos::PgRepos::new(pg, &cfg.sync_dir, storage))))
        }
    }
}

/// The user database: LMDB under `sync_dir`, or PostgreSQL's with `db`.
pub fn open_users(sync_dir: &Path, db: Option<&str>) -> Result<Users> {
    match db {
        None => Users::open(sync_dir),
        Some(url) => Ok(Users::open_pg(&connect_db(url)?)),
    }
}

/// Check that the bucket of `url` exists and answers with the configured
/// credentials (retried with backoff for 500/503 and unreachable
/// endpoints, within the retry time), as one line if not.
pub fn check_storage(url: &oxen_store::S3Url) -> Result<()> {
    let store = oxen_store::S3Store::from_env(url).map_err(|e| ServerError::Other(format!("storage {url}: {e}")))?;
    store.check().map_err(|e| {
        ServerError::Other(if e.kind() == std::io::ErrorKind::NotFound {
            format!("storage {url}: bucket '{}' does not exist", url.bucket)
        } else {
            format!("storage {url}: {e}")
        })
    })
}

/// Log to stderr through `tracing`, filtered by `RUST_LOG` (default
/// `info`: one line per request). Does nothing if a subscriber is set.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false).try_init();
}

/// `SYNC_DIR`, default `/tmp/oxen_sync`.
pub fn sync_dir_from_env() -> PathBuf {
    std::env::var_os("SYNC_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/oxen_sync"))
}

/// Create a user with a fresh token carrying `scopes` and write a client
/// config holding it for the server at `server` (a URL like
/// `http://localhost:3000`, or `host:port` for plain HTTP) to `output`, for
/// the user to copy to `~/.oxen/user_config.toml`. The client sends the
/// token to that server only. Returns the token and the server's
/// normalised origin.
pub fn add_user(
    sync_dir: &Path,
    name: &str,
    email: &str,
    scopes: &Scopes,
    server: &str,
    output: &Path,
) -> Result<(NewToken, String)> {
    // Checked before the user database is opened (or created).
    let origin = check_add_user(scopes, server)?;
    add_user_in(&Users::open(sync_dir)?, name, email, scopes, &origin, output)
}

/// A server address `add-user` accepted: the normalised origin
/// (`http://host:port`) the client config names, made only by
/// [`check_add_user`] so a user is never written for an unchecked address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedOrigin(String);

impl CheckedOrigin {
    /// The origin as the client config spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The checks of `add-user`'s arguments (the server address, the scopes'
/// repository names), made before any user database is opened; returns
/// the server's normalised origin.
pub fn check_add_user(scopes: &Scopes, server: &str) -> Result<CheckedOrigin> {
    let origin = oxen_store::server_origin(server).ok_or_else(|| {
        ServerError::Other(format!(
            "'{server}' is not a server address: use http(s)://host[:port] or host:port (the address clients will use)"
        ))
    })?;
    for repo in scopes.read.iter().chain(&scopes.write) {
        if !oxen_pack::wire::valid_repo_name(repo) {
            return Err(ServerError::BadName(repo.clone()));
        }
    }
    Ok(CheckedOrigin(origin))
}

/// [`add_user`] into `users` (the LMDB or PostgreSQL user database), for
/// the server `origin` that [`check_add_user`] accepted with these `scopes`.
pub fn add_user_in(
    users: &Users,
    name: &str,
    email: &str,
    scopes: &Scopes,
    origin: &CheckedOrigin,
    output: &Path,
) -> Result<(NewToken, String)> {
    let origin = origin.as_str().to_string();
    let token = users.add(&User { name: name.to_string(), email: email.to_string() }, scopes)?;
    let mut cfg = oxen_store::Config {
        user: oxen_store::UserConfig { name: Some(name.to_string()), email: Some(email.to_string()) },
        ..Default::default()
    };
    cfg.host.insert(origin.clone(), oxen_store::HostConfig { token: Some(token.token.clone()) });
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| ServerError::Io(parent.to_path_buf(), e))?;
    }
    cfg.save(output)?;
    Ok((token, origin))
}

/// What [`revoke`] revokes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revoke {
    /// Every token of the user with this email.
    Email(String),
    /// The token with this id.
    TokenId(String),
}

/// Revoke tokens: requests with them get 401 from then on (the servers
/// read the database on every request). Returns the ids revoked; none
/// found is an error.
pub fn revoke(sync_dir: &Path, what: &Revoke) -> Result<Vec<String>> {
    revoke_in(&Users::open(sync_dir)?, what)
}

/// [`revoke`] in `users` (the LMDB or PostgreSQL user database).
pub fn revoke_in(users: &Users, what: &Revoke) -> Result<Vec<String>> {
    let (revoked, none) = match what {
        Revoke::Email(e) => (users.revoke_email(e)?, format!("no tokens for '{e}'")),
        Revoke::TokenId(id) => (users.revoke_id(id)?, format!("no token with id '{id}'")),
    };
    if revoked.is_empty() {
        return Err(ServerError::Other(format!("{none} (see `oxen-server list-users`)")));
    }
    Ok(revoked)
}

/// Every token: id, user, scopes (never a token or its hash).
pub fn list_users(sync_dir: &Path) -> Result<Vec<TokenInfo>> {
    Users::open(sync_dir)?.list()
}

/// [`list_users`] of `users` (the LMDB or PostgreSQL user database).
pub fn list_users_in(users: &Users) -> Result<Vec<TokenInfo>> {
    users.list()
}
