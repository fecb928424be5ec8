//! Turning user-given paths into repository-relative ones, and quoting them
//! for output the way git does.

use std::path::{Component, Path, PathBuf};

use crate::{IndexError, Result};

/// Resolve `user` (relative to `cwd`, or absolute) to a `/`-separated path
/// relative to the work tree root `work`. `""` is the root itself. Works for
/// paths that no longer exist (so deletions can be staged) and refuses
/// anything that escapes the work tree or points into `.oxen`.
pub fn repo_path(work: &Path, cwd: &Path, user: &str) -> Result<String> {
    let joined = if Path::new(user).is_absolute() { PathBuf::from(user) } else { cwd.join(user) };
    let mut norm = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => norm.push(c.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                if !norm.pop() {
                    return Err(IndexError::OutsideRepo(user.to_string()));
                }
            }
            Component::Normal(n) => norm.push(n),
        }
    }
    let rel = norm.strip_prefix(work).map_err(|_| IndexError::OutsideRepo(user.to_string()))?;
    let s = rel.to_str().ok_or_else(|| IndexError::NotUtf8(user.to_string()))?.to_string();
    if s == ".oxen" || s.starts_with(".oxen/") {
        return Err(IndexError::BadPath(user.to_string(), "inside the .oxen directory".into()));
    }
    Ok(s)
}

/// Whether repository path `path` is `spec` itself or lies below it
/// (`""` covers everything): how every pathspec is matched.
pub fn path_is_under(path: &str, spec: &str) -> bool {
    spec.is_empty()
        || path == spec
        || (path.len() > spec.len() && path.starts_with(spec) && path.as_bytes()[spec.len()] == b'/')
}

/// Check a path is fit to stage: every component a valid tree name, and
/// short enough to be an index key.
pub fn validate_path(path: &str) -> crate::Result<()> {
    for comp in path.split('/') {
        oxen_object::validate_name(comp).map_err(|e| IndexError::BadPath(path.to_string(), e.to_string()))?;
    }
    if path.len() > crate::MAX_PATH {
        return Err(IndexError::TooLong(path.to_string()));
    }
    Ok(())
}

/// Quote a path as git's porcelain output does: wrap it in double quotes and
/// escape it when it holds spaces, quotes, backslashes, control characters
/// or non-ASCII bytes.
pub fn quote_path(p: &str) -> String {
    let needs = p.bytes().any(|b| b < 0x20 || b == 0x7f || b == b'"' || b == b'\\' || b == b' ' || b >= 0x80);
    if !needs {
        return p.to_string();
    }
    let mut out = String::from("\"");
    for b in p.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x0b => out.push_str("\\v"),
            0x0c => out.push_str("\\f"),
            b if !(0x20..0x7f).contains(&b) => out.push_str(&format!("\\{:03o}", b)),
            b => out.push(b as char),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves() {
        let w = Path::new("/r");
        assert_eq!(repo_path(w, Path::new("/r/a"), "b/c").unwrap(), "a/b/c");
        assert_eq!(repo_path(w, Path::new("/r/a"), "..").unwrap(), "");
        assert!(repo_path(w, Path::new("/r"), "../x").is_err());
        assert!(repo_path(w, Path::new("/r"), ".oxen/HEAD").is_err());
        assert_eq!(quote_path("a b"), "\"a b\"");
        assert_eq!(quote_path("é"), "\"\\303\\251\"");
    }
}
