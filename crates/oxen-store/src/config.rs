//! `config.toml`: per-repository settings, layered over the global
//! `~/.oxen/config.toml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Result, StoreError};

/// Who makes commits.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserConfig {
    /// Author name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Author email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// A named remote.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RemoteConfig {
    /// `http://host:port/RepoName`, or a local path.
    pub url: String,
    /// The only branches fetch takes from this remote (`clone --depth`
    /// records the cloned branch, as git's `--single-branch`); all when
    /// unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branches: Option<Vec<String>>,
    /// `--no-tags`: fetch and pull take no tags from this remote unless
    /// asked (`clone --no-tags` writes it), as git's `remote.<name>.tagOpt`.
    #[serde(default, rename = "tagOpt", skip_serializing_if = "Option::is_none")]
    pub tag_opt: Option<String>,
}

/// How the repository is used.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CoreConfig {
    /// A bare repository is only pushed to and fetched from; its work tree
    /// is not used, so a push may move its checked-out branch. Server
    /// repositories are bare.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bare: bool,
}

impl CoreConfig {
    fn is_default(&self) -> bool {
        *self == CoreConfig::default()
    }
}

/// gc settings (`[gc]`), spelled as git spells them.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct GcConfig {
    /// How old any reflog entry must be for gc to expire it (`90d` when
    /// unset; `now`, `never` or a duration, as `--prune` takes).
    #[serde(default, rename = "reflogExpire", skip_serializing_if = "Option::is_none")]
    pub reflog_expire: Option<String>,
    /// How old a reflog entry naming a commit its ref no longer reaches
    /// must be for gc to expire it (`30d` when unset).
    #[serde(default, rename = "reflogExpireUnreachable", skip_serializing_if = "Option::is_none")]
    pub reflog_expire_unreachable: Option<String>,
}

impl GcConfig {
    fn is_default(&self) -> bool {
        *self == GcConfig::default()
    }
}

/// fetch settings (`[fetch]`), spelled as git spells them.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FetchConfig {
    /// Whether fetch and pull prune remote-tracking refs whose branch is
    /// gone on the remote, as if `--prune` were given (git's `fetch.prune`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
}

impl FetchConfig {
    fn is_default(&self) -> bool {
        *self == FetchConfig::default()
    }
}

/// What the client keeps for one server.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct HostConfig {
    /// Bearer token issued by that server (`oxen-server add-user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// A repository or global config file.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Config {
    /// Repository-wide settings (`[core]`).
    #[serde(default, skip_serializing_if = "CoreConfig::is_default")]
    pub core: CoreConfig,
    /// Author identity.
    #[serde(default)]
    pub user: UserConfig,
    /// Remotes by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub remote: BTreeMap<String, RemoteConfig>,
    /// Upstream of each local branch: branch -> remote name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub upstream: BTreeMap<String, String>,
    /// A token not tied to any server, as older `oxen-server add-user`
    /// wrote it. Never sent: a token goes only to the server it was issued
    /// for (see [`Config::host`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Per-server settings by origin (`http://localhost:3000`): a token is
    /// sent only to the server it is listed under, like a netrc.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub host: BTreeMap<String, HostConfig>,
    /// Row keys for tabular files: path -> key columns, used by diff/merge.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tabular_keys: BTreeMap<String, Vec<String>>,
    /// gc settings (`[gc]`).
    #[serde(default, skip_serializing_if = "GcConfig::is_default")]
    pub gc: GcConfig,
    /// fetch settings (`[fetch]`).
    #[serde(default, skip_serializing_if = "FetchConfig::is_default")]
    pub fetch: FetchConfig,
}

impl Config {
    /// Load a config file; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(StoreError::io(path, e)),
        };
        toml::from_str(&text).map_err(|e| {
            // One line, with where: the parser's message spans several.
            let line = e
                .span()
                .map(|s| text.as_bytes()[..s.start.min(text.len())].iter().filter(|b| **b == b'\n').count() + 1);
            let what = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
            let msg = match line {
                Some(l) => format!("line {l}: {what}"),
                None => what,
            };
            StoreError::Config { path: path.to_path_buf(), msg }
        })
    }

    /// Save atomically (temp file + rename in the same directory).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = toml::to_string_pretty(self)
            .map_err(|e| StoreError::Config { path: path.to_path_buf(), msg: e.to_string() })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        crate::write_atomic(dir, path, text.as_bytes())
    }

    /// Fill unset values of `self` from `other` (repo config over global).
    pub fn layered_over(mut self, other: &Config) -> Config {
        if self.user.name.is_none() {
            self.user.name = other.user.name.clone();
        }
        if self.user.email.is_none() {
            self.user.email = other.user.email.clone();
        }
        for (k, v) in &other.remote {
            self.remote.entry(k.clone()).or_insert_with(|| v.clone());
        }
        if self.token.is_none() {
            self.token = other.token.clone();
        }
        for (k, v) in &other.host {
            self.host.entry(k.clone()).or_insert_with(|| v.clone());
        }
        if self.gc.reflog_expire.is_none() {
            self.gc.reflog_expire = other.gc.reflog_expire.clone();
        }
        if self.gc.reflog_expire_unreachable.is_none() {
            self.gc.reflog_expire_unreachable = other.gc.reflog_expire_unreachable.clone();
        }
        if self.fetch.prune.is_none() {
            self.fetch.prune = other.fetch.prune;
        }
        self
    }

    /// The token for the server `url` points at (any URL on it), if this
    /// config holds one for exactly that origin: scheme, host and port.
    pub fn token_for(&self, url: &str) -> Option<&str> {
        let origin = server_origin(url)?;
        self.host.get(&origin)?.token.as_deref().filter(|t| !t.trim().is_empty())
    }
}

/// The origin of a server URL, `scheme://host[:port]`, normalised the way
/// [`Config::host`] keys are: scheme and host in lower case, the default
/// port (80, 443) left out, any user, path, query or fragment dropped.
/// Without a scheme (`localhost:3000`) it is `http`. `None` for anything
/// that is not an http(s) address with a host.
pub fn server_origin(url: &str) -> Option<String> {
    let url = url.trim();
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ("http".to_string(), url),
    };
    let default_port = match scheme.as_str() {
        "http" => "80",
        "https" => "443",
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    // The port follows the last ':' unless that ':' is inside [IPv6].
    let (host, port) = match hostport.rfind(':') {
        Some(i) if !hostport[i..].contains(']') => (&hostport[..i], Some(&hostport[i + 1..])),
        _ => (hostport, None),
    };
    let port = match port {
        Some(p) if p.is_empty() || p == default_port => None,
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) && p.len() <= 5 => Some(p),
        Some(_) => return None,
        None => None,
    };
    let ok = |b: u8| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b);
    if host.is_empty() || !host.bytes().all(ok) {
        return None;
    }
    let host = host.to_ascii_lowercase();
    Some(match port {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    })
}

/// The global settings: `config.toml` in [`global_config_dir`] (what
/// `oxen config --global` writes) layered over `user_config.toml` there
/// (what `oxen-server add-user` writes for a user to copy, with their
/// name, email and token), so an identity from either is found and an
/// explicit `oxen config --global` wins.
pub fn global_config() -> Result<Config> {
    let Some(dir) = global_config_dir() else { return Ok(Config::default()) };
    let user = Config::load(&dir.join("user_config.toml"))?;
    Ok(Config::load(&dir.join("config.toml"))?.layered_over(&user))
}

/// A repository's settings: its `config_file` layered over
/// [`global_config`].
pub fn repo_config(config_file: &Path) -> Result<Config> {
    Ok(Config::load(config_file)?.layered_over(&global_config()?))
}

/// `~/.oxen` (or `$OXEN_HOME` when set, which tests use to isolate themselves).
pub fn global_config_dir() -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("OXEN_HOME") {
        return Some(PathBuf::from(h));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".oxen"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let o = |s: &str| server_origin(s);
        assert_eq!(o("http://localhost:3000/MyRepo").as_deref(), Some("http://localhost:3000"));
        assert_eq!(o("localhost:3000").as_deref(), Some("http://localhost:3000"));
        assert_eq!(o("HTTPS://Data.Example.com:443/x?y").as_deref(), Some("https://data.example.com"));
        assert_eq!(o("http://example.com:80").as_deref(), Some("http://example.com"));
        assert_eq!(o("http://user@127.0.0.1:8080/R").as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(o("http://[::1]:3000/R").as_deref(), Some("http://[::1]:3000"));
        assert_eq!(o("http://[::1]/R").as_deref(), Some("http://[::1]"));
        assert_eq!(o("ftp://x"), None);
        assert_eq!(o("http://"), None);
        assert_eq!(o("http://a b:1"), None);
        assert_eq!(o("http://host:port"), None);
    }

    #[test]
    fn a_token_goes_only_to_its_origin() {
        let mut c = Config { token: Some("legacy".into()), ..Default::default() };
        c.host.insert("http://localhost:3000".into(), HostConfig { token: Some("t1".into()) });
        c.host.insert("https://data.example.com".into(), HostConfig { token: Some("t2".into()) });
        assert_eq!(c.token_for("http://localhost:3000/Repo"), Some("t1"));
        assert_eq!(c.token_for("https://data.example.com/Repo"), Some("t2"));
        assert_eq!(c.token_for("http://data.example.com/Repo"), None, "never over plain http");
        assert_eq!(c.token_for("http://localhost:3001/Repo"), None);
        assert_eq!(c.token_for("http://127.0.0.1:3000/Repo"), None);
        assert_eq!(c.token_for("http://evil/x"), None, "the legacy token is never sent");
        let text = toml::to_string_pretty(&c).unwrap();
        assert!(text.contains("[host.\"http://localhost:3000\"]"), "{text}");
        assert_eq!(toml::from_str::<Config>(&text).unwrap(), c);
    }
}
