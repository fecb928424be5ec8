//! Partial clones (`oxen clone --filter <path>`): every commit and tree is
//! here, but only the contents under a set of paths, and only those paths
//! are in the work tree. The rest stay in the index as HEAD has them (git's
//! skip-worktree), so status, add and commit leave them as they are, and a
//! content that is not here is fetched from the promisor remote when a
//! command reads it (see [`oxen_store::Promisor`]).

use oxen_hash::ContentId;
use oxen_object::EntryKind;
use oxen_path::{PathSet, RepoPath};
use oxen_store::{Config, NoProgress, PartialConfig};

use crate::join::disjoint_specs;
use crate::plan::{Applier, BATCH};
use crate::worktree::{wt_error, CheckoutReport};
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

    /// Widen a partial clone to `specs` too (`oxen fetch -- <path>`).
    /// HEAD's files under the specs that were outside the set are handed
    /// to `fetch` a batch (2,048) at a time, to bring their contents here from
    /// the promisor remote; then the set records the specs; then those
    /// files are written into the work tree with their index rows through
    /// the batches of a transition's applier (a file already in the work tree is
    /// left as it is). Only the subtrees of HEAD the specs name are read
    /// (twice: fetching, then writing), and one batch is held. A failed
    /// fetch leaves the set and the work tree as they were.
    pub fn widen_partial<E, F>(&self, specs: &[RepoPath], mut fetch: F) -> std::result::Result<CheckoutReport, E>
    where
        E: From<RepoError>,
        F: FnMut(&[(RepoPath, ContentId)]) -> std::result::Result<(), E>,
    {
        let set = self
            .partial_set()?
            .ok_or_else(|| RepoError::Refused("not a partial clone: every path is here already".into()))?;
        let head = self.head_tree()?;
        let named = disjoint_specs(specs, |s| {
            Ok(match &head {
                Some(t) => self.tree_entry_at(t, s)?.is_some_and(|e| e.kind == EntryKind::File),
                None => false,
            })
        })?;
        // Below a spec the set holds already, every file is here.
        let named: Vec<RepoPath> = named.into_iter().filter(|s| !set.contains(s)).collect();
        let mut batch: Vec<(RepoPath, ContentId)> = Vec::with_capacity(BATCH);
        for s in &named {
            for f in self.tree_files_under(head.as_ref(), s)? {
                let (p, e) = f?;
                if set.contains(&p) {
                    continue;
                }
                batch.push((p, e.id));
                if batch.len() >= BATCH {
                    fetch(&batch)?;
                    batch.clear();
                }
            }
        }
        if !batch.is_empty() {
            fetch(&batch)?;
        }
        let remote = self.promisor_remote()?.unwrap_or_else(|| "origin".into());
        self.set_partial(&remote, &set.widened(specs.iter().cloned()))?;
        let mut out = Applier::new(self, &NoProgress, None, false)?;
        for s in &named {
            for f in self.tree_files_under(head.as_ref(), s)? {
                let (p, e) = f?;
                if set.contains(&p) || self.worktree.lstat(&p).map_err(|e| wt_error(self, &p, e))?.is_some() {
                    continue;
                }
                out.write(p, e)?;
            }
        }
        Ok(out.finish()?)
    }
}
