//! Users and their tokens, in a key-value store (LMDB under
//! `SYNC_DIR/.oxen-server/users` today), opened through [`Users::open`]
//! only, so that a shared database for several replicas is one change.
//!
//! A token is `<id>.<secret>`: the id (16 hex digits) is public — it is
//! what logs, `list-users` and `revoke --token-id` show — and the secret
//! (64 hex digits, 256 random bits) is known only to the client. The store
//! keeps `token/<id>` → the secret's SHA-256, the user, the scopes and the
//! creation time, so reading it does not reveal a usable token. A request's
//! token is looked up by its id and the hashes are compared in constant
//! time: how long a comparison takes says nothing about how much of a
//! guessed secret was right. (A fast hash is enough: the secrets are
//! random, not passwords, so there is nothing to brute-force.)
//!
//! Users added before scopes existed are stored as `sha256(token)` (64 hex
//! digits) → `{name, email}` and their tokens have no id; they keep
//! working, as admins (they could do everything then), with the id
//! `legacy-` plus the first 12 digits of that hash.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{Result, ServerError};

/// A registered user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
}

/// What a request needs of a repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Reading: info, refs, fetching.
    Read,
    /// Writing (implies reading): pushing.
    Write,
}

impl Access {
    /// `read` or `write`, as messages say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
        }
    }
}

/// What a token may do: everything (admin), or read or write named
/// repositories (write implies read).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scopes {
    /// Every repository, and creating and deleting them.
    #[serde(default)]
    pub admin: bool,
    /// Repositories it may read.
    #[serde(default)]
    pub read: BTreeSet<String>,
    /// Repositories it may read and write.
    #[serde(default)]
    pub write: BTreeSet<String>,
}

impl Scopes {
    /// An admin's scopes.
    pub fn admin() -> Scopes {
        Scopes { admin: true, ..Default::default() }
    }

    /// The access these scopes give to `repo`, if any.
    pub fn access_to(&self, repo: &str) -> Option<Access> {
        if self.admin || self.write.contains(repo) {
            Some(Access::Write)
        } else if self.read.contains(repo) {
            Some(Access::Read)
        } else {
            None
        }
    }

    /// Whether these scopes give `need` on `repo`.
    pub fn allows(&self, repo: &str, need: Access) -> bool {
        self.access_to(repo).is_some_and(|have| have >= need)
    }

    /// One line: `admin`, `read:a,b write:c`, or `none`.
    pub fn describe(&self) -> String {
        if self.admin {
            return "admin".into();
        }
        let mut parts = Vec::new();
        // A repository both read and written is shown once, as written.
        let read: Vec<&str> = self.read.iter().filter(|r| !self.write.contains(*r)).map(String::as_str).collect();
        if !read.is_empty() {
            parts.push(format!("read:{}", read.join(",")));
        }
        if !self.write.is_empty() {
            parts.push(format!("write:{}", self.write.iter().map(String::as_str).collect::<Vec<_>>().join(",")));
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(" ")
        }
    }
}

/// Who a request comes from: the token's id, its user and what it may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The token's public id (logged; never the token).
    pub token_id: String,
    /// Its user.
    pub user: User,
    /// What it may do.
    pub scopes: Scopes,
}

/// One token as `list-users` shows it (no secret, no hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Its public id.
    pub token_id: String,
    /// Its user.
    pub user: User,
    /// What it may do.
    pub scopes: Scopes,
    /// When it was made (seconds since the epoch); unknown for legacy tokens.
    pub created: Option<u64>,
}

/// A freshly made token: its id and the whole token, shown once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewToken {
    /// Its public id.
    pub token_id: String,
    /// `<id>.<secret>`, the only time it exists in clear.
    pub token: String,
}

/// A token's record in the store.
#[derive(Serialize, Deserialize)]
struct TokenRecord {
    name: String,
    email: String,
    /// SHA-256 of the secret, hex.
    secret_sha256: String,
    scopes: Scopes,
    created: u64,
}

/// Key prefix of the token records (legacy keys are bare hex hashes).
const TOKEN_PREFIX: &str = "token/";
/// Length of a token id in hex digits.
const ID_HEX: usize = 16;

/// The user database.
pub struct Users {
    kv: oxen_store::KvStore,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    if !is_hex(s, 64) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn legacy_id(hash_hex: &str) -> String {
    format!("legacy-{}", &hash_hex[..12])
}

fn bad_record(e: serde_json::Error) -> ServerError {
    ServerError::Other(format!("user database: unreadable record: {e}"))
}

impl Users {
    /// Open (creating) the user database under `sync_dir`: the one place
    /// that says where users live.
    pub fn open(sync_dir: &Path) -> Result<Users> {
        let dir = sync_dir.join(".oxen-server").join("users");
        Ok(Users { kv: oxen_store::KvStore::open(&dir, "users", 1 << 30)? })
    }

    /// The user database shared by every replica, in PostgreSQL.
    pub fn open_pg(pg: &oxen_store::pg::Pg) -> Users {
        Users { kv: oxen_store::KvStore::open_pg(pg, "users") }
    }

    /// Register a token for `user` with `scopes`; returns its id and the
    /// token (the only time it exists in clear).
    pub fn add(&self, user: &User, scopes: &Scopes) -> Result<NewToken> {
        // 64 random bits: a clash is all but impossible, and checked anyway
        // so that no token can replace another's record.
        let mut token_id = random_hex(ID_HEX / 2)?;
        while self.kv.get(format!("{TOKEN_PREFIX}{token_id}").as_bytes())?.is_some() {
            token_id = random_hex(ID_HEX / 2)?;
        }
        let secret = random_hex(32)?;
        let created =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let rec = TokenRecord {
            name: user.name.clone(),
            email: user.email.clone(),
            secret_sha256: hex(&sha256(secret.as_bytes())),
            scopes: scopes.clone(),
            created,
        };
        let value = serde_json::to_vec(&rec).map_err(|e| ServerError::Other(e.to_string()))?;
        self.kv.put(format!("{TOKEN_PREFIX}{token_id}").as_bytes(), &value)?;
        Ok(NewToken { token: format!("{token_id}.{secret}"), token_id })
    }

    /// Who `token` belongs to (`None`: no such token, or revoked).
    pub fn authenticate(&self, token: &str) -> Result<Option<Caller>> {
        let Some((id, secret)) = token.split_once('.') else {
            return self.authenticate_legacy(token);
        };
        if !is_hex(id, ID_HEX) {
            return Ok(None);
        }
        let Some(value) = self.kv.get(format!("{TOKEN_PREFIX}{id}").as_bytes())? else { return Ok(None) };
        let rec: TokenRecord = serde_json::from_slice(&value).map_err(bad_record)?;
        let Some(stored) = unhex32(&rec.secret_sha256) else { return Ok(None) };
        let given = sha256(secret.as_bytes());
        if !bool::from(given.ct_eq(&stored)) {
            return Ok(None);
        }
        Ok(Some(Caller {
            token_id: id.to_string(),
            user: User { name: rec.name, email: rec.email },
            scopes: rec.scopes,
        }))
    }

    /// A token made before scopes existed: found by its hash (the lookup
    /// itself is the comparison, and it is of hashes, not of the token).
    fn authenticate_legacy(&self, token: &str) -> Result<Option<Caller>> {
        let hash = hex(&sha256(token.as_bytes()));
        let Some(value) = self.kv.get(hash.as_bytes())? else { return Ok(None) };
        let user: User = serde_json::from_slice(&value).map_err(bad_record)?;
        Ok(Some(Caller { token_id: legacy_id(&hash), user, scopes: Scopes::admin() }))
    }

    /// Every token, with its store key, sorted by email then id.
    fn entries(&self) -> Result<Vec<(Vec<u8>, TokenInfo)>> {
        let mut out = Vec::new();
        for (key, value) in self.kv.scan()? {
            let Ok(k) = std::str::from_utf8(&key) else { continue };
            let info = if let Some(id) = k.strip_prefix(TOKEN_PREFIX) {
                let rec: TokenRecord = serde_json::from_slice(&value).map_err(bad_record)?;
                TokenInfo {
                    token_id: id.to_string(),
                    user: User { name: rec.name, email: rec.email },
                    scopes: rec.scopes,
                    created: Some(rec.created),
                }
            } else if is_hex(k, 64) {
                let user: User = serde_json::from_slice(&value).map_err(bad_record)?;
                TokenInfo { token_id: legacy_id(k), user, scopes: Scopes::admin(), created: None }
            } else {
                continue;
            };
            out.push((key, info));
        }
        out.sort_by(|a, b| (&a.1.user.email, &a.1.token_id).cmp(&(&b.1.user.email, &b.1.token_id)));
        Ok(out)
    }

    /// Every token (ids, users, scopes; never a secret or its hash).
    pub fn list(&self) -> Result<Vec<TokenInfo>> {
        Ok(self.entries()?.into_iter().map(|(_, i)| i).collect())
    }

    /// Revoke every token of the user with `email`; the ids revoked.
    pub fn revoke_email(&self, email: &str) -> Result<Vec<String>> {
        self.revoke_where(|i| i.user.email == email)
    }

    /// Revoke the token with this id; the ids revoked (none or one).
    pub fn revoke_id(&self, token_id: &str) -> Result<Vec<String>> {
        self.revoke_where(|i| i.token_id == token_id)
    }

    fn revoke_where(&self, pick: impl Fn(&TokenInfo) -> bool) -> Result<Vec<String>> {
        let mut revoked = Vec::new();
        for (key, info) in self.entries()? {
            if pick(&info) && self.kv.delete(&key)? {
                revoked.push(info.token_id);
            }
        }
        Ok(revoked)
    }

    /// Whether the database answers (a read), for health checks.
    pub fn check(&self) -> Result<()> {
        self.kv.get(b"health")?;
        Ok(())
    }

    /// Write a user the way servers before scopes did (`sha256(token)` →
    /// `{name, email}`), for the tests of the compatibility path.
    #[doc(hidden)]
    pub fn add_legacy(&self, user: &User, token: &str) -> Result<()> {
        let value = serde_json::to_vec(user).map_err(|e| ServerError::Other(e.to_string()))?;
        self.kv.put(hex(&sha256(token.as_bytes())).as_bytes(), &value)?;
        Ok(())
    }
}

/// `n` random bytes from the kernel, as hex.
fn random_hex(n: usize) -> Result<String> {
    let mut buf = vec![0u8; n];
    let p = Path::new("/dev/urandom");
    std::fs::File::open(p).and_then(|mut f| f.read_exact(&mut buf)).map_err(|e| ServerError::Io(p.to_path_buf(), e))?;
    Ok(hex(&buf))
}

/// 32 random bytes from the kernel, as 64 hex characters.
pub fn random_token() -> Result<String> {
    random_hex(32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ada() -> User {
        User { name: "Ada".into(), email: "ada@example.com".into() }
    }

    fn scopes(read: &[&str], write: &[&str]) -> Scopes {
        Scopes {
            admin: false,
            read: read.iter().map(|s| s.to_string()).collect(),
            write: write.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn tokens_authenticate_by_id_and_secret() {
        let dir = tempfile::tempdir().unwrap();
        let users = Users::open(dir.path()).unwrap();
        let t = users.add(&ada(), &scopes(&["a"], &[])).unwrap();
        let (id, secret) = t.token.split_once('.').unwrap();
        assert_eq!(id, t.token_id);
        assert!(is_hex(secret, 64));
        let c = users.authenticate(&t.token).unwrap().unwrap();
        assert_eq!((c.token_id.as_str(), c.user.email.as_str()), (id, "ada@example.com"));
        assert!(c.scopes.allows("a", Access::Read) && !c.scopes.allows("a", Access::Write));
        // A wrong secret, a secret one digit off, an unknown id, junk.
        // (The last digit is changed to one it is not: always '0' failed
        // the one run in sixteen whose secret ends in '0'.)
        let last = if secret.ends_with('0') { '1' } else { '0' };
        let flipped = format!("{id}.{}{last}", &secret[..63]);
        for bad in [format!("{id}.{}", "0".repeat(64)), flipped, format!("{}.{secret}", "0".repeat(16)), "x.y".into()] {
            assert_eq!(users.authenticate(&bad).unwrap(), None, "{bad}");
        }
        // Nothing in the store is the token or its secret.
        for (k, v) in users.kv.scan().unwrap() {
            let all = format!("{}{}", String::from_utf8_lossy(&k), String::from_utf8_lossy(&v));
            assert!(!all.contains(secret), "{all}");
        }
    }

    #[test]
    fn legacy_users_are_admins_and_can_be_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let users = Users::open(dir.path()).unwrap();
        let old = random_token().unwrap();
        users.add_legacy(&ada(), &old).unwrap();
        let c = users.authenticate(&old).unwrap().unwrap();
        assert!(c.scopes.admin);
        assert!(c.token_id.starts_with("legacy-"));
        let list = users.list().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].token_id, c.token_id);
        assert_eq!(users.revoke_id(&c.token_id).unwrap(), vec![c.token_id.clone()]);
        assert_eq!(users.authenticate(&old).unwrap(), None);
    }

    #[test]
    fn revoke_by_email_takes_every_token_of_that_user() {
        let dir = tempfile::tempdir().unwrap();
        let users = Users::open(dir.path()).unwrap();
        let a1 = users.add(&ada(), &Scopes::admin()).unwrap();
        let a2 = users.add(&ada(), &scopes(&[], &["x"])).unwrap();
        let bob = users.add(&User { name: "Bob".into(), email: "bob@example.com".into() }, &Scopes::admin()).unwrap();
        let mut revoked = users.revoke_email("ada@example.com").unwrap();
        revoked.sort();
        let mut want = vec![a1.token_id.clone(), a2.token_id.clone()];
        want.sort();
        assert_eq!(revoked, want);
        assert_eq!(users.authenticate(&a1.token).unwrap(), None);
        assert_eq!(users.authenticate(&a2.token).unwrap(), None);
        assert!(users.authenticate(&bob.token).unwrap().is_some());
        assert!(users.revoke_email("nobody@example.com").unwrap().is_empty());
    }

    #[test]
    fn scopes_write_implies_read() {
        let s = scopes(&["r", "both"], &["w", "both"]);
        assert!(s.allows("w", Access::Read) && s.allows("w", Access::Write));
        assert!(s.allows("r", Access::Read) && !s.allows("r", Access::Write));
        assert!(!s.allows("other", Access::Read));
        assert_eq!(s.describe(), "read:r write:both,w");
        assert_eq!(Scopes::admin().describe(), "admin");
        assert_eq!(Scopes::default().describe(), "none");
    }
}
