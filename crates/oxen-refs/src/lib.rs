//! References: the `HEAD` file and the `refs` table (`heads/<branch>`,
//! `tags/<tag>`, `remotes/<remote>/<branch>`), updated with compare-and-swap
//! inside one LMDB write transaction so concurrent writers cannot lose an
//! update.

use oxen_hash::ContentId;
use oxen_store::{Db, Layout, StoreError, Table};

/// Errors from reference operations.
#[derive(Debug, thiserror::Error)]
pub enum RefError {
    #[error("invalid ref name '{0}': {1}")]
    BadName(String, &'static str),
    #[error("ref {name} is at {actual}, expected {expected}")]
    Stale { name: String, expected: String, actual: String },
    #[error("HEAD is malformed: '{0}'")]
    BadHead(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Result alias.
pub type Result<T> = std::result::Result<T, RefError>;

/// What HEAD points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Head {
    /// A branch name (without `heads/`), which may not exist yet.
    Branch(String),
    /// A commit, detached from any branch.
    Detached(ContentId),
}

impl Head {
    /// The full ref name (`heads/x`) when on a branch.
    pub fn branch_ref(&self) -> Option<String> {
        match self {
            Head::Branch(b) => Some(format!("heads/{b}")),
            Head::Detached(_) => None,
        }
    }
}

/// Read `.oxen/HEAD`.
pub fn read_head(layout: &Layout) -> Result<Head> {
    let p = layout.head_file();
    let text = std::fs::read_to_string(&p).map_err(|e| StoreError::io(&p, e))?;
    let t = text.trim();
    if let Some(r) = t.strip_prefix("ref: ") {
        let branch = r.strip_prefix("heads/").ok_or_else(|| RefError::BadHead(t.to_string()))?;
        return Ok(Head::Branch(branch.to_string()));
    }
    ContentId::from_hex(t).map(Head::Detached).map_err(|_| RefError::BadHead(t.to_string()))
}

/// Write `.oxen/HEAD` atomically.
pub fn write_head(layout: &Layout, head: &Head) -> Result<()> {
    let text = match head {
        Head::Branch(b) => {
            validate_ref_name(&format!("heads/{b}"))?;
            format!("ref: heads/{b}\n")
        }
        Head::Detached(id) => format!("{id}\n"),
    };
    oxen_store::write_atomic(&layout.tmp_dir(), &layout.head_file(), text.as_bytes())?;
    Ok(())
}

/// Check a full ref name (`heads/main`) follows git's rules: no `..`, no
/// control characters or `~^:?*[\` or spaces, no empty components, no
/// component starting with `.` or ending in `.lock`.
pub fn validate_ref_name(name: &str) -> Result<()> {
    let bad = |why| Err(RefError::BadName(name.to_string(), why));
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > 400 {
        return bad("too long");
    }
    if name.contains("..") {
        return bad("contains '..'");
    }
    if name.contains("@{") {
        return bad("contains '@{'");
    }
    if name.chars().any(|c| c.is_control() || " ~^:?*[\\".contains(c)) {
        return bad("contains a space, control character or one of ~^:?*[\\");
    }
    for comp in name.split('/') {
        if comp.is_empty() {
            return bad("empty path component");
        }
        if comp.starts_with('.') {
            return bad("a component starts with '.'");
        }
        if comp.ends_with(".lock") {
            return bad("a component ends with '.lock'");
        }
    }
    if name.ends_with('.') {
        return bad("ends with '.'");
    }
    if name.starts_with('-') {
        return bad("starts with '-'");
    }
    Ok(())
}

/// Check a branch name (without `heads/`).
pub fn validate_branch_name(name: &str) -> Result<()> {
    if name == "HEAD" {
        return Err(RefError::BadName(name.into(), "'HEAD' is reserved"));
    }
    validate_ref_name(&format!("heads/{name}"))
}

/// Expected current value for a compare-and-swap update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Do not check.
    Any,
    /// The ref must not exist.
    Absent,
    /// The ref must be exactly this.
    Is(ContentId),
}

/// One ref change within an atomic batch.
#[derive(Clone, Debug)]
pub struct RefUpdate {
    /// Full ref name.
    pub name: String,
    /// New value; `None` deletes.
    pub new: Option<ContentId>,
    /// What the ref must be now.
    pub expect: Expect,
}

/// Typed access to the `refs` table.
pub struct Refs<'a> {
    db: &'a Db,
}

impl<'a> Refs<'a> {
    /// Wrap an open database.
    pub fn new(db: &'a Db) -> Refs<'a> {
        Refs { db }
    }

    /// Current value of a full ref name.
    pub fn get(&self, name: &str) -> Result<Option<ContentId>> {
        Ok(self.db.get(Table::Refs, name.as_bytes())?.and_then(|v| ContentId::from_slice(&v)))
    }

    /// Apply several updates atomically: either every expectation holds and
    /// all are written, or nothing changes.
    pub fn update_all(&self, updates: &[RefUpdate]) -> Result<()> {
        for u in updates {
            validate_ref_name(&u.name)?;
        }
        let mut txn = self.db.begin_write()?;
        for u in updates {
            let cur = txn.get(Table::Refs, u.name.as_bytes())?.and_then(|v| ContentId::from_slice(&v));
            let ok = match u.expect {
                Expect::Any => true,
                Expect::Absent => cur.is_none(),
                Expect::Is(id) => cur == Some(id),
            };
            if !ok {
                let show = |o: Option<ContentId>| o.map(|i| i.to_hex()).unwrap_or_else(|| "(none)".into());
                let expected = match u.expect {
                    Expect::Is(id) => id.to_hex(),
                    _ => "(none)".into(),
                };
                return Err(RefError::Stale { name: u.name.clone(), expected, actual: show(cur) });
            }
            match u.new {
                Some(id) => txn.put(Table::Refs, u.name.as_bytes(), id.as_bytes())?,
                None => {
                    txn.delete(Table::Refs, u.name.as_bytes())?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Update one ref with compare-and-swap.
    pub fn update(&self, name: &str, new: Option<ContentId>, expect: Expect) -> Result<()> {
        self.update_all(&[RefUpdate { name: name.to_string(), new, expect }])
    }

    /// All refs under a prefix (`heads/`, `tags/`, `remotes/origin/`), sorted.
    pub fn list(&self, prefix: &str) -> Result<Vec<(String, ContentId)>> {
        Ok(self
            .db
            .scan_prefix(Table::Refs, prefix.as_bytes())?
            .into_iter()
            .filter_map(|(k, v)| Some((String::from_utf8(k).ok()?, ContentId::from_slice(&v)?)))
            .collect())
    }

    /// The commit HEAD resolves to, if any (none on an unborn branch).
    pub fn head_commit(&self, layout: &Layout) -> Result<Option<ContentId>> {
        match read_head(layout)? {
            Head::Detached(id) => Ok(Some(id)),
            Head::Branch(b) => self.get(&format!("heads/{b}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_ref_name("heads/main").is_ok());
        assert!(validate_ref_name("heads/feature/x-1").is_ok());
        for bad in ["heads/../x", "heads/a b", "heads//x", "heads/x.lock", "heads/.x", "-x", ""] {
            assert!(validate_ref_name(bad).is_err(), "{bad}");
        }
    }
}
