//! `oxen-server`: serves the repositories under `SYNC_DIR` (one directory
//! per repository, the usual `.oxen` layout, no work tree needed) over
//! HTTP with bearer-token auth.
//!
//! ```text
//! GET    /api/repos                       list
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
//! A fixed pool of threads serves requests; SIGINT/SIGTERM stop accepting
//! and let in-flight requests finish.

mod service;
mod users;

pub use service::{serve, ServerConfig};
pub use users::{random_token, User, Users};

use std::path::{Path, PathBuf};

/// Errors from the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A file operation under SYNC_DIR failed (path, cause).
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// The listening socket could not be opened (address, cause).
    #[error("cannot listen on {0}: {1}")]
    Bind(String, String),
    /// The stores failed underneath (user database, repositories).
    #[error(transparent)]
    Store(#[from] oxen_store::StoreError),
    /// Anything else worth one line.
    #[error("{0}")]
    Other(String),
}

/// Result alias.
pub type Result<T> = std::result::Result<T, ServerError>;

/// `SYNC_DIR`, default `/tmp/oxen_sync`.
pub fn sync_dir_from_env() -> PathBuf {
    std::env::var_os("SYNC_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/oxen_sync"))
}

/// Create a user with a fresh token and write a client config holding it
/// to `output` (for the user to copy to `~/.oxen/user_config.toml`).
pub fn add_user(sync_dir: &Path, name: &str, email: &str, output: &Path) -> Result<String> {
    let users = Users::open(sync_dir)?;
    let token = users.add(&User { name: name.to_string(), email: email.to_string() })?;
    let cfg = oxen_store::Config {
        user: oxen_store::UserConfig { name: Some(name.to_string()), email: Some(email.to_string()) },
        token: Some(token.clone()),
        ..Default::default()
    };
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| ServerError::Io(parent.to_path_buf(), e))?;
    }
    cfg.save(output)?;
    Ok(token)
}
