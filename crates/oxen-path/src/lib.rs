//! Paths inside a repository, as bytes.
//!
//! Linux file names are bytes: anything but `/` and NUL. Oxen versions any
//! name Linux allows (backslashes, newlines, invalid UTF-8 ...) and escapes
//! names only when it prints them. [`RepoPath`] is the one type for a path
//! inside the work tree: index keys, walk results, status and diff entries,
//! checkout, merge, restore, rm and mv all hold it.
//!
//! A `RepoPath` is `/`-separated components, each a valid tree entry name
//! ([`validate_name`]); the empty path is the work-tree root. It is ordered
//! by bytes (git's order), which the status merge-join and the tree encoding
//! rely on. [`RepoPath::is_under`] is the one pathspec matcher. Output goes
//! through [`quote`] (git's `core.quotePath` quoting), and JSON through
//! [`RepoPath::to_json_string`].
//!
//! Built on `bstr`, whose byte strings print readably in `Debug` (escaped,
//! not a list of numbers) and come with the byte-search helpers a path
//! type needs; it is what gitoxide builds on too.

use std::borrow::{Borrow, Cow};
use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use bstr::{BStr, BString, ByteSlice};

/// Why a path cannot be a repository path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// A component no tree could hold: empty, `.`, `..`, NUL, or the reserved `.oxen`.
    #[error("invalid path {}: {why}", quote(path, Quote::C))]
    BadName {
        /// The path as given (raw bytes).
        path: BString,
        /// Which rule it breaks.
        why: &'static str,
    },
    /// A path given by the user resolves outside the work tree.
    #[error("path '{}' is outside the repository", quote(.0.as_os_str().as_bytes(), Quote::C))]
    Outside(PathBuf),
}

/// Check one path component is a name a tree may hold and a work tree may
/// create: not empty, not `.` or `..`, no `/` or NUL, and not `.oxen` in
/// any letter case (that would write into, or on a case-insensitive file
/// system over, the repository itself). Everything else, a backslash, a
/// newline, bytes that are not UTF-8, is a valid name. Returns which rule a
/// bad name breaks.
pub fn validate_name(name: &[u8]) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty name");
    }
    if name == b"." || name == b".." {
        return Err("'.' and '..' are not allowed");
    }
    if name.contains(&b'/') {
        return Err("names may not contain '/'");
    }
    if name.contains(&0) {
        return Err("names may not contain NUL");
    }
    if name.eq_ignore_ascii_case(b".oxen") {
        return Err("'.oxen' is reserved");
    }
    Ok(())
}

/// A path inside the work tree: `/`-separated valid names, or empty for the
/// root. Ordered by bytes.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RepoPath(BString);

impl RepoPath {
    /// The work-tree root (the empty path).
    pub fn root() -> RepoPath {
        RepoPath(BString::default())
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// Check and wrap `bytes`: every `/`-separated component must be a
    /// valid name (so no leading, trailing or doubled `/`). Empty is the root.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<RepoPath, PathError> {
        let bytes: Vec<u8> = bytes.into();
        if !bytes.is_empty() {
            for comp in bytes.split(|b| *b == b'/') {
                if let Err(why) = validate_name(comp) {
                    return Err(PathError::BadName { path: bytes.into(), why });
                }
            }
        }
        Ok(RepoPath(bytes.into()))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_slice()
    }

    /// The raw bytes as a `BStr` (readable `Debug`, lossy `Display`).
    pub fn as_bstr(&self) -> &BStr {
        self.0.as_bstr()
    }

    /// The raw bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0.into()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether this is the root (the empty path).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The path as UTF-8, when it is.
    pub fn to_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The path as text with invalid bytes replaced (U+FFFD): for
    /// extension checks and labels, never to name a file.
    pub fn to_str_lossy(&self) -> Cow<'_, str> {
        self.0.to_str_lossy()
    }

    /// This path with one more component. Errors if `name` is not a valid name.
    pub fn join(&self, name: &[u8]) -> Result<RepoPath, PathError> {
        if let Err(why) = validate_name(name) {
            let mut path = self.0.clone();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(name);
            return Err(PathError::BadName { path, why });
        }
        Ok(self.push_unchecked(name))
    }

    /// `rel` below this path.
    pub fn join_path(&self, rel: &RepoPath) -> RepoPath {
        if rel.is_root() {
            return self.clone();
        }
        self.push_unchecked(rel.as_bytes())
    }

    fn push_unchecked(&self, rel: &[u8]) -> RepoPath {
        if self.0.is_empty() {
            return RepoPath(rel.into());
        }
        let mut v = Vec::with_capacity(self.0.len() + 1 + rel.len());
        v.extend_from_slice(&self.0);
        v.push(b'/');
        v.extend_from_slice(rel);
        RepoPath(v.into())
    }

    /// The components, outermost first (none for the root).
    pub fn components(&self) -> impl Iterator<Item = &[u8]> {
        let b = self.as_bytes();
        b.split(|c| *c == b'/').filter(move |_| !b.is_empty())
    }

    /// The last component (empty for the root).
    pub fn name(&self) -> &[u8] {
        match self.0.rfind_byte(b'/') {
            Some(i) => &self.0[i + 1..],
            None => &self.0,
        }
    }

    /// The bytes of the parent directory (empty for a top-level path and the root).
    pub fn parent_bytes(&self) -> &[u8] {
        match self.0.rfind_byte(b'/') {
            Some(i) => &self.0[..i],
            None => b"",
        }
    }

    /// The parent directory; `None` for the root.
    pub fn parent(&self) -> Option<RepoPath> {
        if self.is_root() {
            return None;
        }
        Some(RepoPath(self.parent_bytes().into()))
    }

    /// The directories above this path, deepest first, as byte prefixes
    /// (the root not included).
    pub fn ancestors(&self) -> impl Iterator<Item = &[u8]> {
        let b = self.as_bytes();
        b.rfind_iter("/").map(move |i| &b[..i])
    }

    /// Whether this path is `spec` itself or lies below it; the root covers
    /// everything. How every pathspec is matched.
    pub fn is_under(&self, spec: &RepoPath) -> bool {
        let (p, s) = (self.as_bytes(), spec.as_bytes());
        s.is_empty() || p == s || (p.len() > s.len() && p.starts_with(s) && p[s.len()] == b'/')
    }

    /// This path moved from below `from` to below `to` (`from` itself
    /// becomes `to`); `None` if it is not under `from`.
    pub fn rebase(&self, from: &RepoPath, to: &RepoPath) -> Option<RepoPath> {
        if !self.is_under(from) {
            return None;
        }
        if from.is_root() {
            return Some(to.join_path(self));
        }
        let rest = &self.as_bytes()[from.len()..];
        let rest = rest.strip_prefix(b"/").unwrap_or(rest);
        if rest.is_empty() {
            return Some(to.clone());
        }
        Some(to.push_unchecked(rest))
    }

    /// The same path with `suffix` appended to its last component
    /// (`a/b` + `.ours` = `a/b.ours`).
    pub fn with_suffix(&self, suffix: &[u8]) -> Result<RepoPath, PathError> {
        let mut v = self.as_bytes().to_vec();
        v.extend_from_slice(suffix);
        RepoPath::new(v)
    }

    /// The path as an OS string (relative; bytes as they are).
    pub fn as_os_str(&self) -> &OsStr {
        OsStr::from_bytes(self.as_bytes())
    }

    /// The path as a relative OS path.
    pub fn as_path(&self) -> &Path {
        Path::new(self.as_os_str())
    }

    /// The file this path names inside the work tree `work`.
    pub fn abs(&self, work: &Path) -> PathBuf {
        if self.is_root() {
            return work.to_path_buf();
        }
        work.join(self.as_path())
    }

    /// A relative OS path (as found below the work tree) as a repository path.
    pub fn from_os_relative(rel: &Path) -> Result<RepoPath, PathError> {
        let mut out = RepoPath::root();
        for c in rel.components() {
            match c {
                Component::CurDir => {}
                Component::Normal(n) => out = out.join(n.as_bytes())?,
                _ => return Err(PathError::Outside(rel.to_path_buf())),
            }
        }
        Ok(out)
    }

    /// Resolve a path the user gave (relative to `cwd`, or absolute) to a
    /// path in the work tree rooted at `work`. `.` and `..` are resolved
    /// lexically, so paths that no longer exist work (deletions can be
    /// staged). Refuses anything that escapes the work tree or names
    /// `.oxen`. Any bytes are fine: arguments are OS strings.
    pub fn from_user(work: &Path, cwd: &Path, user: &Path) -> Result<RepoPath, PathError> {
        let joined = if user.is_absolute() { user.to_path_buf() } else { cwd.join(user) };
        let mut norm = PathBuf::new();
        for c in joined.components() {
            match c {
                Component::RootDir | Component::Prefix(_) => norm.push(c.as_os_str()),
                Component::CurDir => {}
                Component::ParentDir => {
                    if !norm.pop() {
                        return Err(PathError::Outside(user.to_path_buf()));
                    }
                }
                Component::Normal(n) => norm.push(n),
            }
        }
        let rel = norm.strip_prefix(work).map_err(|_| PathError::Outside(user.to_path_buf()))?;
        RepoPath::from_os_relative(rel)
    }

    /// The path quoted as git prints it in most places (`ls-files`, diff
    /// headers, messages): unchanged unless it holds control characters,
    /// `"`, `\` or bytes >= 0x80, else C-style escaped in double quotes.
    pub fn quoted(&self) -> Cow<'_, str> {
        quote(self.as_bytes(), Quote::C)
    }

    /// The path as JSON output carries it: the UTF-8 text when the path is
    /// valid UTF-8, else its quoted form ([`RepoPath::quoted`], which starts
    /// with `"`). A consumer that needs the exact bytes of a non-UTF-8 name
    /// unquotes it as a C string.
    pub fn to_json_string(&self) -> String {
        match self.to_str() {
            Some(s) => s.to_string(),
            None => self.quoted().into_owned(),
        }
    }
}

impl Borrow<[u8]> for RepoPath {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for RepoPath {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl TryFrom<&str> for RepoPath {
    type Error = PathError;
    fn try_from(s: &str) -> Result<RepoPath, PathError> {
        RepoPath::new(s.as_bytes())
    }
}

impl TryFrom<&[u8]> for RepoPath {
    type Error = PathError;
    fn try_from(b: &[u8]) -> Result<RepoPath, PathError> {
        RepoPath::new(b)
    }
}

impl std::str::FromStr for RepoPath {
    type Err = PathError;
    fn from_str(s: &str) -> Result<RepoPath, PathError> {
        RepoPath::new(s.as_bytes())
    }
}

/// Quoted as git prints it ([`RepoPath::quoted`]): safe on a terminal.
impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.quoted())
    }
}

impl fmt::Debug for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_bstr(), f)
    }
}

/// Which of git's quoting rules to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quote {
    /// `quote_c_style` with `core.quotePath`: quote when a control
    /// character, DEL, `"`, `\` or a byte >= 0x80 is present. Used by
    /// `ls-files`, `ls-tree`, diff headers and long-format status.
    C,
    /// As [`Quote::C`], and a space also makes git wrap the path in quotes
    /// (not escaped): `git status --porcelain` / `--short`.
    CSpace,
}

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == 0x7f || b == b'"' || b == b'\\' || b >= 0x80
}

/// Quote bytes the way git does (see [`Quote`]): returned unchanged when
/// nothing needs quoting, else wrapped in double quotes with `\a \b \t \n
/// \v \f \r \" \\` escapes and three-digit octal for other bytes. The
/// result is always printable ASCII when quoted, so it is safe to show.
pub fn quote(bytes: &[u8], style: Quote) -> Cow<'_, str> {
    let space = style == Quote::CSpace;
    let needs = bytes.iter().any(|&b| needs_escape(b) || (space && b == b' '));
    if !needs {
        // Nothing >= 0x80, so these bytes are ASCII.
        return bytes.to_str_lossy();
    }
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            0x0b => out.push_str("\\v"),
            0x0c => out.push_str("\\f"),
            b'\r' => out.push_str("\\r"),
            b if needs_escape(b) => out.push_str(&format!("\\{b:03o}")),
            b => out.push(b as char),
        }
    }
    out.push('"');
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &[u8]) -> RepoPath {
        RepoPath::new(s).unwrap()
    }

    #[test]
    fn names() {
        for ok in [&b"a"[..], b"back\\slash", b"new\nline", b"caf\xe9", b"...", b".oxen2", b" "] {
            assert!(validate_name(ok).is_ok(), "{:?}", ok.as_bstr());
        }
        for bad in [&b""[..], b".", b"..", b"a/b", b"x\0", b".oxen", b".OXEN", b".Oxen"] {
            assert!(validate_name(bad).is_err(), "{:?}", bad.as_bstr());
        }
        assert!(RepoPath::new(&b"a//b"[..]).is_err());
        assert!(RepoPath::new(&b"/a"[..]).is_err());
        assert!(RepoPath::new(&b"a/"[..]).is_err());
        assert!(RepoPath::new(&b"a/.oxen/b"[..]).is_err());
        assert!(RepoPath::new(&b""[..]).unwrap().is_root());
    }

    #[test]
    fn parts() {
        let x = p(b"a/b\xff/c");
        assert_eq!(x.name(), b"c");
        assert_eq!(x.parent_bytes(), b"a/b\xff");
        assert_eq!(x.parent().unwrap().parent().unwrap(), p(b"a"));
        assert_eq!(p(b"a").parent().unwrap(), RepoPath::root());
        assert!(RepoPath::root().parent().is_none());
        assert_eq!(x.components().collect::<Vec<_>>(), vec![&b"a"[..], b"b\xff", b"c"]);
        assert_eq!(RepoPath::root().components().count(), 0);
        assert_eq!(x.ancestors().collect::<Vec<_>>(), vec![&b"a/b\xff"[..], b"a"]);
        assert_eq!(p(b"a").join(b"b").unwrap(), p(b"a/b"));
        assert_eq!(RepoPath::root().join(b"b").unwrap(), p(b"b"));
        assert!(p(b"a").join(b".oxen").is_err());
        assert_eq!(p(b"a").join_path(&p(b"b/c")), p(b"a/b/c"));
        assert_eq!(p(b"a/b").with_suffix(b".ours").unwrap(), p(b"a/b.ours"));
    }

    #[test]
    fn prefixes() {
        assert!(p(b"a/b").is_under(&p(b"a")));
        assert!(p(b"a").is_under(&p(b"a")));
        assert!(!p(b"ab").is_under(&p(b"a")));
        assert!(p(b"ab").is_under(&RepoPath::root()));
        assert_eq!(p(b"a/b/c").rebase(&p(b"a/b"), &p(b"x")), Some(p(b"x/c")));
        assert_eq!(p(b"a/b").rebase(&p(b"a/b"), &p(b"x/y")), Some(p(b"x/y")));
        assert_eq!(p(b"ab").rebase(&p(b"a"), &p(b"x")), None);
        assert_eq!(p(b"a").rebase(&RepoPath::root(), &p(b"x")), Some(p(b"x/a")));
    }

    #[test]
    fn order_is_bytes() {
        // git order: '/' (0x2f) sorts before '0' and after '-' and '.'.
        let mut v = vec![p(b"a0"), p(b"a/b"), p(b"a.b"), p(b"a\xff"), p(b"a")];
        v.sort();
        assert_eq!(v, vec![p(b"a"), p(b"a.b"), p(b"a/b"), p(b"a0"), p(b"a\xff")]);
    }

    #[test]
    fn user_paths() {
        let w = Path::new("/r");
        let u = |cwd: &str, s: &str| RepoPath::from_user(w, Path::new(cwd), Path::new(s));
        assert_eq!(u("/r/a", "b/c").unwrap(), p(b"a/b/c"));
        assert_eq!(u("/r/a", "..").unwrap(), RepoPath::root());
        assert_eq!(u("/r", "x/./y/../z").unwrap(), p(b"x/z"));
        assert!(matches!(u("/r", "../x"), Err(PathError::Outside(_))));
        assert!(matches!(u("/r", ".oxen/HEAD"), Err(PathError::BadName { .. })));
        let raw = OsStr::from_bytes(b"caf\xe9");
        assert_eq!(RepoPath::from_user(w, w, Path::new(raw)).unwrap(), p(b"caf\xe9"));
        assert_eq!(p(b"a\\b").abs(w), Path::new("/r/a\\b"));
    }

    #[test]
    fn quoting_is_gits() {
        assert_eq!(quote(b"a b", Quote::C), "a b");
        assert_eq!(quote(b"a b", Quote::CSpace), "\"a b\"");
        assert_eq!(quote("é".as_bytes(), Quote::C), "\"\\303\\251\"");
        assert_eq!(quote(b"caf\xe9", Quote::C), "\"caf\\351\"");
        assert_eq!(quote(b"back\\slash", Quote::C), "\"back\\\\slash\"");
        assert_eq!(quote(b"q\"t\tn\nd\x7fz\x01", Quote::C), "\"q\\\"t\\tn\\nd\\177z\\001\"");
        assert_eq!(p(b"caf\xe9").to_string(), "\"caf\\351\"");
        assert_eq!(p("é".as_bytes()).to_json_string(), "é");
        assert_eq!(p(b"caf\xe9").to_json_string(), "\"caf\\351\"");
    }
}

/// The paths a partial clone holds contents for (`oxen clone --filter`):
/// each a file or a directory, relative to the repository root. A path is
/// in the set when it is one of them or lies below one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathSet {
    paths: Vec<RepoPath>,
}

impl PathSet {
    /// A set of `paths` (duplicates and paths below another are dropped:
    /// the set is the same).
    pub fn new(paths: impl IntoIterator<Item = RepoPath>) -> PathSet {
        let mut all: Vec<RepoPath> = paths.into_iter().collect();
        all.sort();
        all.dedup();
        let mut kept: Vec<RepoPath> = Vec::new();
        for p in all {
            if !kept.iter().any(|k| p.is_under(k)) {
                kept.retain(|k| !k.is_under(&p));
                kept.push(p);
            }
        }
        PathSet { paths: kept }
    }

    /// The paths, sorted, none below another.
    pub fn paths(&self) -> &[RepoPath] {
        &self.paths
    }

    /// Whether `path` is in the set.
    pub fn contains(&self, path: &RepoPath) -> bool {
        self.contains_bytes(path.as_bytes())
    }

    /// [`PathSet::contains`] for a path's raw bytes.
    pub fn contains_bytes(&self, p: &[u8]) -> bool {
        self.paths.iter().any(|s| {
            let s = s.as_bytes();
            s.is_empty() || p == s || (p.len() > s.len() && p.starts_with(s) && p[s.len()] == b'/')
        })
    }

    /// This set with `more` added.
    pub fn widened(&self, more: impl IntoIterator<Item = RepoPath>) -> PathSet {
        PathSet::new(self.paths.iter().cloned().chain(more))
    }
}

#[cfg(test)]
mod pathset_tests {
    use super::*;

    fn p(s: &str) -> RepoPath {
        RepoPath::try_from(s).unwrap()
    }

    #[test]
    fn a_path_set_holds_its_paths_and_what_is_below_them_only() {
        let s = PathSet::new([p("a/b"), p("c.txt"), p("a/b/c"), p("a/b")]);
        assert_eq!(s.paths(), &[p("a/b"), p("c.txt")]);
        assert!(s.contains(&p("a/b")) && s.contains(&p("a/b/x/y")) && s.contains(&p("c.txt")));
        assert!(!s.contains(&p("a/bc")) && !s.contains(&p("a")) && !s.contains(&p("c.txt2")));
        assert!(s.widened([p("a")]).contains(&p("a/z")));
        assert_eq!(s.widened([p("a")]).paths(), &[p("a"), p("c.txt")]);
    }
}
