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
}

/// A repository or global config file.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Config {
    /// Author identity.
    #[serde(default)]
    pub user: UserConfig,
    /// Remotes by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub remote: BTreeMap<String, RemoteConfig>,
    /// Upstream of each local branch: branch -> remote name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub upstream: BTreeMap<String, String>,
    /// Bearer token for remotes (as written by `oxen-server add-user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Row keys for tabular files: path -> key columns, used by diff/merge.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tabular_keys: BTreeMap<String, Vec<String>>,
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
        self
    }
}

/// `~/.oxen` (or `$OXEN_HOME` when set, which tests use to isolate themselves).
pub fn global_config_dir() -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("OXEN_HOME") {
        return Some(PathBuf::from(h));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".oxen"))
}
