//! Ref names as types. A [`RefName`] is a full, validated name as stored in
//! the `refs` table (`heads/<branch>`, `tags/<tag>`,
//! `remotes/<remote>/<branch>`); [`BranchName`] and [`TagName`] are the short
//! names people type. The namespace prefixes and the shorthand rules (what
//! `main` means when reading or writing a ref) live here and nowhere else.

use std::fmt;

use crate::{RefError, Result};

pub(crate) const HEADS: &str = "heads/";
pub(crate) const TAGS: &str = "tags/";
pub(crate) const REMOTES: &str = "remotes/";

/// A full ref name, checked against git's check-ref-format rules.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RefName(String);

/// A branch name without `heads/` (`main`, `feature/x`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BranchName(String);

/// A tag name without `tags/`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TagName(String);

impl RefName {
    /// Check and wrap a full name (`heads/main`).
    pub fn new(full: impl Into<String>) -> Result<RefName> {
        let full = full.into();
        validate_ref_name(&full)?;
        Ok(RefName(full))
    }

    /// `heads/<branch>`
    pub fn branch(b: &BranchName) -> RefName {
        RefName(format!("{HEADS}{}", b.0))
    }

    /// `tags/<tag>`
    pub fn tag(t: &TagName) -> RefName {
        RefName(format!("{TAGS}{}", t.0))
    }

    /// `remotes/<remote>/<branch>`: where fetch records a remote's branch.
    /// A remote name is one path component.
    pub fn remote_tracking(remote: &str, b: &BranchName) -> Result<RefName> {
        if remote.is_empty() || remote.contains('/') {
            return Err(RefError::BadName(remote.to_string(), "a remote name is one path component"));
        }
        RefName::new(format!("{REMOTES}{remote}/{}", b.0))
    }

    /// `remotes/<remote>/`: the prefix of one remote's tracking refs.
    pub fn remote_prefix(remote: &str) -> String {
        format!("{REMOTES}{remote}/")
    }

    /// The ref a name typed for *writing* means (update-ref, push, fetch-pack):
    /// `refs/` is dropped, `heads/…`, `tags/…` and `remotes/…` are taken as
    /// they are, anything else is a branch.
    pub fn from_shorthand(s: &str) -> Result<RefName> {
        let n = s.strip_prefix("refs/").unwrap_or(s);
        if [HEADS, TAGS, REMOTES].iter().any(|p| n.starts_with(p)) {
            RefName::new(n)
        } else {
            RefName::new(format!("{HEADS}{n}"))
        }
    }

    /// The refs a name typed for *reading* may mean, in the order they are
    /// tried (as git's rev-parse): itself, then as a branch, a tag and a
    /// remote-tracking ref. Invalid candidates are skipped.
    pub fn candidates(s: &str) -> Vec<RefName> {
        let n = s.strip_prefix("refs/").unwrap_or(s);
        [n.to_string(), format!("{HEADS}{n}"), format!("{TAGS}{n}"), format!("{REMOTES}{n}")]
            .into_iter()
            .filter_map(|c| RefName::new(c).ok())
            .collect()
    }

    /// The full name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The branch, for `heads/<branch>`.
    pub fn as_branch(&self) -> Option<BranchName> {
        self.0.strip_prefix(HEADS).map(|b| BranchName(b.to_string()))
    }

    /// The tag, for `tags/<tag>`.
    pub fn as_tag(&self) -> Option<TagName> {
        self.0.strip_prefix(TAGS).map(|t| TagName(t.to_string()))
    }

    /// Remote and branch, for `remotes/<remote>/<branch>`.
    pub fn as_remote_tracking(&self) -> Option<(&str, BranchName)> {
        let rest = self.0.strip_prefix(REMOTES)?;
        let (remote, b) = rest.split_once('/')?;
        Some((remote, BranchName(b.to_string())))
    }

    /// Whether this is a branch or a tag: the refs a push may move.
    pub fn is_pushable(&self) -> bool {
        self.0.starts_with(HEADS) || self.0.starts_with(TAGS)
    }
}

impl BranchName {
    /// Check and wrap a branch name: valid as `heads/<name>`, and not `HEAD`.
    pub fn new(name: impl Into<String>) -> Result<BranchName> {
        let name = name.into();
        if name == "HEAD" {
            return Err(RefError::BadName(name, "'HEAD' is reserved"));
        }
        validate_ref_name(&format!("{HEADS}{name}"))?;
        Ok(BranchName(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its full ref name, `heads/<name>`.
    pub fn to_ref(&self) -> RefName {
        RefName::branch(self)
    }
}

impl TagName {
    /// Check and wrap a tag name (valid as `tags/<name>`).
    pub fn new(name: impl Into<String>) -> Result<TagName> {
        let name = name.into();
        validate_ref_name(&format!("{TAGS}{name}"))?;
        Ok(TagName(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its full ref name, `tags/<name>`.
    pub fn to_ref(&self) -> RefName {
        RefName::tag(self)
    }
}

impl fmt::Display for RefName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for BranchName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for TagName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for BranchName {
    type Err = RefError;
    fn from_str(s: &str) -> Result<BranchName> {
        BranchName::new(s)
    }
}

/// Check a full ref name (`heads/main`) follows git's rules: no `..`, no
/// control characters or `~^:?*[\` or spaces, no empty components, no
/// component starting with `.` or ending in `.lock`.
fn validate_ref_name(name: &str) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(RefName::new("heads/main").is_ok());
        assert!(RefName::new("heads/feature/x-1").is_ok());
        for bad in ["heads/../x", "heads/a b", "heads//x", "heads/x.lock", "heads/.x", "-x", ""] {
            assert!(RefName::new(bad).is_err(), "{bad}");
        }
        assert!(BranchName::new("HEAD").is_err());
    }

    #[test]
    fn shorthands() {
        let s = |x: &str| RefName::from_shorthand(x).unwrap().as_str().to_string();
        assert_eq!(s("main"), "heads/main");
        assert_eq!(s("refs/heads/main"), "heads/main");
        assert_eq!(s("tags/v1"), "tags/v1");
        assert_eq!(s("remotes/o/b"), "remotes/o/b");
        let c: Vec<String> = RefName::candidates("o/b").iter().map(|r| r.to_string()).collect();
        assert_eq!(c, ["o/b", "heads/o/b", "tags/o/b", "remotes/o/b"]);
        let r = RefName::remote_tracking("origin", &BranchName::new("x/y").unwrap()).unwrap();
        assert_eq!(
            r.as_remote_tracking().map(|(o, b)| (o.to_string(), b.to_string())),
            Some(("origin".into(), "x/y".into()))
        );
    }
}
