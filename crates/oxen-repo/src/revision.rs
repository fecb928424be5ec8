//! Naming objects: `HEAD`, branches, tags, remote-tracking refs, full ids,
//! unique id prefixes, reflog entries (`HEAD@{N}`, `<ref>@{N}`, `@{N}`),
//! `<rev>~N`, `<rev>^N` and `<rev>:<path>`.

use oxen_hash::{is_hex_prefix, ContentId};
use oxen_object::EntryKind;
use oxen_refs::{Head, LogName};
use oxen_store::Table;

use crate::{Repo, RepoError, Result};

/// What kind of object an id names (commit, tree, blob).
pub use oxen_store::ObjectKind;

/// A resolved name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// The id.
    pub id: ContentId,
    /// Its kind.
    pub kind: ObjectKind,
}

impl Repo {
    /// The kind of object stored under `id`, if any.
    pub fn object_kind(&self, id: &ContentId) -> Result<Option<ObjectKind>> {
        if self.db.has_object(Table::Commits, id)? {
            return Ok(Some(ObjectKind::Commit));
        }
        if self.db.has_object(Table::Trees, id)? {
            return Ok(Some(ObjectKind::Tree));
        }
        if self.versions.has(id) {
            return Ok(Some(ObjectKind::Blob));
        }
        Ok(None)
    }

    /// `<ref>@{N}`: where the ref was N moves ago, from its reflog (0 is
    /// now). `@{N}` alone is the current branch's (HEAD's when detached),
    /// as in git. `None` when `name` is not of that form.
    fn resolve_reflog(&self, name: &str) -> Result<Option<Target>> {
        let Some(open) = name.rfind("@{") else { return Ok(None) };
        let Some(n) = name[open + 2..].strip_suffix('}') else { return Ok(None) };
        let unknown = || RepoError::UnknownRevision(name.to_string());
        // Dates (`@{yesterday}`) and `@{upstream}` are not supported: an
        // unknown revision, not a guess.
        let n: usize = n.parse().map_err(|_| unknown())?;
        let base = &name[..open];
        let log = match base {
            "" | "@" => match self.head()? {
                Head::Branch(b) => LogName::Ref(b.to_ref()),
                Head::Detached(_) => LogName::Head,
            },
            _ => self.refs().log_named(base)?.ok_or_else(unknown)?,
        };
        let entries = self.refs().reflog(&log)?;
        let shown = if base.is_empty() || base == "@" { log.to_string() } else { base.to_string() };
        let entry = entries.iter().rev().nth(n).ok_or(RepoError::ReflogTooShort(shown, entries.len()))?;
        let id = entry.new.ok_or_else(|| RepoError::ReflogDeleted(name.to_string()))?;
        Ok(Some(Target { id, kind: ObjectKind::Commit }))
    }

    /// Resolve a ref-ish name (no `~`, `^`, `:` suffixes) to an object.
    fn resolve_base(&self, name: &str) -> Result<Target> {
        let unknown = || RepoError::UnknownRevision(name.to_string());
        if let Some(t) = self.resolve_reflog(name)? {
            return Ok(t);
        }
        if name == "HEAD" || name == "@" {
            let id = self.head_commit()?.ok_or_else(unknown)?;
            return Ok(Target { id, kind: ObjectKind::Commit });
        }
        if let Some((_, id)) = self.refs().resolve(name)? {
            return Ok(Target { id, kind: ObjectKind::Commit });
        }
        if let Ok(id) = ContentId::from_hex(name) {
            return match self.object_kind(&id)? {
                Some(kind) => Ok(Target { id, kind }),
                None => Err(unknown()),
            };
        }
        if name.len() >= 4 && is_hex_prefix(name) {
            let mut found: Vec<Target> = Vec::new();
            for (t, kind) in [(Table::Commits, ObjectKind::Commit), (Table::Trees, ObjectKind::Tree)] {
                for id in self.db.ids_with_prefix(t, name, 2)? {
                    found.push(Target { id, kind });
                }
            }
            return match found.len() {
                0 => Err(unknown()),
                1 => Ok(found[0]),
                _ => Err(RepoError::Ambiguous(name.to_string())),
            };
        }
        Err(unknown())
    }

    /// Resolve a revision expression to an object.
    pub fn resolve(&self, spec: &str) -> Result<Target> {
        if let Some((rev, path)) = spec.split_once(':') {
            let base = if rev.is_empty() { "HEAD" } else { rev };
            let tree = self.resolve_tree(base)?;
            let path = path.trim_matches('/');
            if path.is_empty() {
                return Ok(Target { id: tree, kind: ObjectKind::Tree });
            }
            let no_such = || RepoError::NoSuchPath(base.to_string(), path.to_string());
            let clean: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
            let rp = oxen_path::RepoPath::new(clean.join("/")).map_err(|_| no_such())?;
            let e = self
                .tree_entry_at(&tree, &rp)?
                .ok_or_else(|| RepoError::NoSuchPath(base.to_string(), path.to_string()))?;
            let kind = if e.kind == EntryKind::Dir { ObjectKind::Tree } else { ObjectKind::Blob };
            return Ok(Target { id: e.id, kind });
        }
        // Split "base" and a chain of ~N / ^N suffixes.
        let cut = spec.find(['~', '^']).unwrap_or(spec.len());
        let (base, mut rest) = spec.split_at(cut);
        if base.is_empty() {
            return Err(RepoError::UnknownRevision(spec.to_string()));
        }
        let mut t = self.resolve_base(base)?;
        while !rest.is_empty() {
            let op = rest.as_bytes()[0];
            rest = &rest[1..];
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            rest = &rest[digits.len()..];
            let n: usize = if digits.is_empty() {
                1
            } else {
                digits.parse().map_err(|_| RepoError::UnknownRevision(spec.to_string()))?
            };
            if t.kind != ObjectKind::Commit {
                return Err(RepoError::WrongKind(t.id.to_hex(), t.kind.name(), "commit"));
            }
            match op {
                b'~' => {
                    for _ in 0..n {
                        // A shallow clone's boundary has parents it does not
                        // hold: say so, rather than "object not found".
                        if self.shallow_boundaries()?.contains(&t.id) {
                            return Err(RepoError::BeyondShallow(format!("'{spec}'")));
                        }
                        let c = self.read_commit(&t.id)?;
                        let p = *c.parents.first().ok_or_else(|| RepoError::UnknownRevision(spec.to_string()))?;
                        t = Target { id: p, kind: ObjectKind::Commit };
                    }
                }
                _ => {
                    if n == 0 {
                        continue;
                    }
                    if self.shallow_boundaries()?.contains(&t.id) {
                        return Err(RepoError::BeyondShallow(format!("'{spec}'")));
                    }
                    let c = self.read_commit(&t.id)?;
                    let p = *c.parents.get(n - 1).ok_or_else(|| RepoError::UnknownRevision(spec.to_string()))?;
                    t = Target { id: p, kind: ObjectKind::Commit };
                }
            }
        }
        Ok(t)
    }

    /// Resolve to a commit id.
    pub fn resolve_commit(&self, spec: &str) -> Result<ContentId> {
        let t = self.resolve(spec)?;
        if t.kind != ObjectKind::Commit {
            return Err(RepoError::WrongKind(spec.to_string(), t.kind.name(), "commit"));
        }
        Ok(t.id)
    }

    /// Resolve a tree-ish (a commit gives its tree).
    pub fn resolve_tree(&self, spec: &str) -> Result<ContentId> {
        let t = self.resolve(spec)?;
        match t.kind {
            ObjectKind::Commit => Ok(self.read_commit(&t.id)?.tree),
            ObjectKind::Tree => Ok(t.id),
            ObjectKind::Blob => Err(RepoError::WrongKind(spec.to_string(), "blob", "tree")),
        }
    }
}
