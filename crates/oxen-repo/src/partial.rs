//! Partial clones (`oxen clone --filter <path>`): every commit and tree is
//! here, but only the contents under a set of paths, and only those paths
//! are in the work tree. The rest stay in the index as HEAD has them (git's
//! skip-worktree), so status, add and commit leave them as they are, and a
//! content that is not here is fetched from the promisor remote when a
//! command reads it (see [`oxen_store::Promisor`]).

use oxen_path::{PathSet, RepoPath};
use oxen_store::{Config, PartialConfig};

use crate::{Repo, RepoError, Result};

impl Repo {
    /// The paths a partial clone holds (`None`: not a partial clone).
    pub fn partial_set(&self) -> Result<Option<PathSet>> {
        let cfg = Config::load(&self.layout.config_file())?;
        let Some(p) = cfg.partial else { return Ok(None) };
        let paths =
            p.paths.iter().map(|s| RepoPath::try_from(s.as_str())).collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Some(PathSet::new(paths)))
    }

    /// The promisor remote of a partial clone.
    pub fn promisor_remote(&self) -> Result<Option<String>> {
        Ok(Config::load(&self.layout.config_file())?.partial.map(|p| p.remote))
    }

    /// Record this repository as a partial clone of `remote` holding
    /// `set`; a path that is not UTF-8 is refused (the config is TOML).
    pub fn set_partial(&self, remote: &str, set: &PathSet) -> Result<()> {
        let path = self.layout.config_file();
        let mut cfg = Config::load(&path)?;
        let mut paths = Vec::new();
        for p in set.paths() {
            let s = p.to_str().ok_or_else(|| {
                RepoError::Refused(format!("partial clone path {} is not UTF-8; name a directory above it", p.quoted()))
            })?;
            paths.push(s.to_string());
        }
        cfg.partial = Some(PartialConfig { remote: remote.to_string(), paths });
        cfg.save(&path)?;
        Ok(())
    }

    /// Whether `path` is left out of the work tree (a partial clone's path
    /// outside its set): [`oxen_index::absent_on_purpose`], the one rule.
    pub(crate) fn outside(set: Option<&PathSet>, path: &RepoPath) -> bool {
        oxen_index::absent_on_purpose(set, path)
    }
}
