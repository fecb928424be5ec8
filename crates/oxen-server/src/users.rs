//! Users and their tokens, in an LMDB environment under
//! `SYNC_DIR/.oxen-server/users`. Only a SHA-256 of each token is stored,
//! so reading the database does not reveal a usable token.

use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Result, ServerError};

/// A registered user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
}

/// The user database.
pub struct Users {
    kv: oxen_store::KvStore,
}

fn hash_token(token: &str) -> String {
    let d = Sha256::digest(token.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

impl Users {
    /// Open (creating) the user database under `sync_dir`.
    pub fn open(sync_dir: &Path) -> Result<Users> {
        let dir = sync_dir.join(".oxen-server").join("users");
        Ok(Users { kv: oxen_store::KvStore::open(&dir, "users", 1 << 30)? })
    }

    /// The user database shared by every replica, in PostgreSQL.
    pub fn open_pg(pg: &oxen_store::pg::Pg) -> Users {
        Users { kv: oxen_store::KvStore::open_pg(pg, "users") }
    }

    /// Register a user under a fresh random token; returns the token (the
    /// only time it exists in clear).
    pub fn add(&self, user: &User) -> Result<String> {
        let token = random_token()?;
        let value = serde_json::to_vec(user).map_err(|e| ServerError::Other(e.to_string()))?;
        self.kv.put(hash_token(&token).as_bytes(), &value)?;
        Ok(token)
    }

    /// The user a token belongs to.
    pub fn authenticate(&self, token: &str) -> Result<Option<User>> {
        Ok(self.kv.get(hash_token(token).as_bytes())?.and_then(|v| serde_json::from_slice(&v).ok()))
    }
}

/// 32 random bytes from the kernel, as 64 hex characters.
pub fn random_token() -> Result<String> {
    let mut buf = [0u8; 32];
    let p = Path::new("/dev/urandom");
    std::fs::File::open(p).and_then(|mut f| f.read_exact(&mut buf)).map_err(|e| ServerError::Io(p.to_path_buf(), e))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
