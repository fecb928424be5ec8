//! Scanning the work tree: every file (with its stat) below a directory,
//! skipping `.oxen` and what `.oxenignore` files exclude.
//!
//! Status on a large tree is dominated by this walk, so it is tuned: each
//! directory is read once, file types come from the directory listing
//! (d_type), stats are taken relative to the open directory (fstatat, no
//! full path lookup per file), and sibling directories are read in
//! parallel (up to [`LIST_AHEAD`] siblings at a time, just ahead of the
//! walk, so memory does not grow with the number of files).
//!
//! The walk is iterative (an explicit stack of directories), so a tree
//! thousands of directories deep needs no deeper call stack than a flat one. Directories are opened through the
//! [`WorkTree`] handle: never through a symlink, which is listed as a file
//! (a link) and never entered.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use oxen_path::{PathError, RepoPath};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use rayon::prelude::*;

use crate::entry::FileStat;
use crate::worktree::{Kind, Parent, WorkTree};
use crate::Result;

/// A file found in the work tree.
#[derive(Clone, Debug)]
pub struct WorkFile {
    /// Its path in the repository.
    pub path: RepoPath,
    /// Its stat when seen.
    pub stat: FileStat,
}

/// What a walk found: the files, what cannot be versioned, and warnings
/// for the caller to show (a library does not print).
#[derive(Clone, Debug, Default)]
pub struct Walk {
    /// Files, sorted by path bytes.
    pub files: Vec<WorkFile>,
    /// Paths holding a name no tree may hold (`.oxen` in another letter
    /// case): never skipped in silence; staging them is an error.
    pub refused: Vec<PathError>,
    /// Ignore files that could not be read.
    pub warnings: Vec<String>,
}

/// Walk settings.
#[derive(Clone, Copy, Debug)]
pub struct WalkOptions {
    /// Apply `.oxenignore` rules.
    pub honor_ignore: bool,
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions { honor_ignore: true }
    }
}

/// The ignore files in force for a directory, outermost first.
#[derive(Clone, Default)]
struct Rules(Vec<Arc<Gitignore>>);

impl Rules {
    fn ignored(&self, abs: &Path, is_dir: bool) -> bool {
        // Later (deeper) files override earlier ones, as in git.
        for g in self.0.iter().rev() {
            let m = g.matched(abs, is_dir);
            if m.is_ignore() {
                return true;
            }
            if m.is_whitelist() {
                return false;
            }
        }
        false
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// These rules plus the `.oxenignore` of directory `dir` (read through
    /// the work-tree handle: an ignore file that is a symlink is not read).
    fn with_file(&self, wt: &WorkTree, dir: &RepoPath, warnings: &mut Vec<String>) -> Rules {
        let Ok(file) = dir.join(b".oxenignore") else { return self.clone() };
        let abs_dir = wt.abs(dir);
        let mut b = GitignoreBuilder::new(&abs_dir);
        let from = Some(wt.abs(&file));
        let text = match wt.open_file(&file) {
            Ok(Some(mut f)) => {
                let mut v = Vec::new();
                std::io::Read::read_to_end(&mut f, &mut v).ok().map(|_| v)
            }
            _ => None,
        };
        let mut ok = text.is_some();
        for (i, line) in text.unwrap_or_default().split(|c| *c == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Ok(line) = std::str::from_utf8(line) else {
                ok = false;
                continue;
            };
            // As git: a byte order mark before the first line is not part of it.
            let line = if i == 0 { line.trim_start_matches('\u{feff}') } else { line };
            if b.add_line(from.clone(), line).is_err() {
                ok = false;
            }
        }
        if !ok {
            warnings.push(format!("could not read {}", wt.abs(&file).display()));
        }
        match b.build() {
            Ok(g) if !g.is_empty() => {
                let mut v = self.0.clone();
                v.push(Arc::new(g));
                Rules(v)
            }
            _ => self.clone(),
        }
    }
}

/// Rules from `.oxenignore` files in the root and every directory down to `sub`.
fn rules_for(wt: &WorkTree, sub: &RepoPath, opts: WalkOptions, warnings: &mut Vec<String>) -> Rules {
    let mut rules = Rules::default();
    if !opts.honor_ignore {
        return rules;
    }
    let mut dir = RepoPath::root();
    let comps: Vec<&[u8]> = sub.components().collect();
    for i in 0..=comps.len() {
        if let Ok(f) = dir.join(b".oxenignore") {
            if wt.lstat(&f).ok().flatten().is_some_and(|m| m.kind == Kind::File) {
                rules = rules.with_file(wt, &dir, warnings);
            }
        }
        if i < comps.len() {
            match dir.join(comps[i]) {
                Ok(d) => dir = d,
                Err(_) => break,
            }
        }
    }
    rules
}

/// Whether a walk of the whole tree would skip `path` (a directory when
/// `is_dir`) by `.oxenignore` rules: it, or a directory above it, is
/// ignored. For checking a few paths without walking their directories.
pub fn is_ignored(wt: &WorkTree, path: &RepoPath, is_dir: bool) -> bool {
    let mut warnings = Vec::new();
    let comps: Vec<&[u8]> = path.components().collect();
    let mut dir = RepoPath::root();
    let mut rules = Rules::default();
    for (i, c) in comps.iter().enumerate() {
        if let Ok(f) = dir.join(b".oxenignore") {
            if wt.lstat(&f).ok().flatten().is_some_and(|m| m.kind == Kind::File) {
                rules = rules.with_file(wt, &dir, &mut warnings);
            }
        }
        let Ok(next) = dir.join(c) else { return false };
        let last = i + 1 == comps.len();
        if !rules.is_empty() && rules.ignored(&wt.abs(&next), !last || is_dir) {
            return true;
        }
        dir = next;
    }
    false
}

/// Every file under `sub` (the root for the whole tree), sorted by path
/// bytes, collected. Names are taken as the file system has them, UTF-8 or
/// not. A `sub` beyond a symlink holds nothing. [`WalkIter`] hands the
/// same files out one at a time, in bounded memory.
pub fn walk_work_tree(wt: &WorkTree, sub: &RepoPath, opts: WalkOptions) -> Result<Walk> {
    let mut it = WalkIter::new(wt, sub, opts);
    let files: Vec<WorkFile> = it.by_ref().collect();
    Ok(Walk { files, refused: it.refused, warnings: it.warnings })
}

/// How many sibling directories are listed together (in parallel) ahead
/// of the walk: enough to keep every core busy, few enough that the
/// listings held at once stay small.
const LIST_AHEAD: usize = 64;

/// The files under a directory in path byte order, one at a time.
///
/// Depth first: a directory is listed (names, file types, and a stat of
/// each file relative to the open directory), sorted, and handed out, its
/// subdirectories spliced in their places. Memory is bounded by the depth
/// times [`LIST_AHEAD`] listings, never by the number of files: the
/// subdirectories of one directory are listed in parallel, up to
/// `LIST_AHEAD` at a time, just before the walk reaches them. Iterative
/// (an explicit stack), so a tree thousands of directories deep needs no
/// deeper call stack than a flat one.
pub struct WalkIter<'a> {
    wt: &'a WorkTree,
    opts: WalkOptions,
    stack: Vec<Frame>,
    /// Paths holding a name no tree may hold, found so far.
    pub refused: Vec<PathError>,
    /// Ignore files that could not be read, found so far.
    pub warnings: Vec<String>,
}

/// One directory being handed out: its sorted entries and the next one.
struct Frame {
    items: Vec<Item>,
    pos: usize,
}

impl<'a> WalkIter<'a> {
    /// Walk below `sub` (a file `sub` is the one file; one beyond a
    /// symlink or missing is nothing).
    pub fn new(wt: &'a WorkTree, sub: &RepoPath, opts: WalkOptions) -> WalkIter<'a> {
        let mut it = WalkIter { wt, opts, stack: Vec::new(), refused: Vec::new(), warnings: Vec::new() };
        let meta = match wt.lstat(sub) {
            Ok(Some(m)) => m,
            _ => return it,
        };
        if !meta.is_dir() {
            if matches!(meta.kind, Kind::File | Kind::Symlink) {
                let f = WorkFile { path: sub.clone(), stat: meta.stat };
                it.stack.push(Frame { items: vec![Item::File(f)], pos: 0 });
            }
            return it;
        }
        let rules = rules_for(wt, sub, opts, &mut it.warnings);
        let listing = list_dir(wt, sub, &rules, opts);
        it.push_listing(listing);
        it
    }

    fn push_listing(&mut self, listing: Listing) {
        self.warnings.extend(listing.warnings);
        self.refused.extend(listing.refused);
        let mut keyed: Vec<(Vec<u8>, Item)> = listing.files;
        for (key, rel) in listing.dirs {
            keyed.push((key, Item::Dir(rel, listing.rules.clone())));
        }
        // Each child's sort key is its name, plus '/' for a directory:
        // splicing each directory's (sorted) contents in its place then
        // yields full paths in byte order, with no global sort.
        keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        self.stack.push(Frame { items: keyed.into_iter().map(|(_, i)| i).collect(), pos: 0 });
    }

    /// List the next unlisted subdirectories of the top frame, from
    /// `pos` on, up to [`LIST_AHEAD`] of them, in parallel.
    fn list_ahead(&mut self) {
        let (wt, opts) = (self.wt, self.opts);
        let Some(top) = self.stack.last_mut() else { return };
        let todo: Vec<usize> =
            (top.pos..top.items.len()).filter(|i| matches!(top.items[*i], Item::Dir(..))).take(LIST_AHEAD).collect();
        let listed: Vec<Listing> = todo
            .par_iter()
            .map(|i| match &top.items[*i] {
                Item::Dir(rel, rules) => list_dir(wt, rel, rules, opts),
                _ => unreachable!("filtered to directories"),
            })
            .collect();
        for (i, l) in todo.into_iter().zip(listed) {
            top.items[i] = Item::Listed(Box::new(l));
        }
    }
}

impl Iterator for WalkIter<'_> {
    type Item = WorkFile;

    fn next(&mut self) -> Option<WorkFile> {
        loop {
            let top = self.stack.last_mut()?;
            let Some(item) = top.items.get_mut(top.pos) else {
                self.stack.pop();
                continue;
            };
            match item {
                Item::File(_) => {
                    let Item::File(f) = std::mem::replace(item, Item::Taken) else { unreachable!() };
                    top.pos += 1;
                    return Some(f);
                }
                Item::Dir(..) => self.list_ahead(),
                Item::Listed(_) => {
                    let Item::Listed(l) = std::mem::replace(item, Item::Taken) else { unreachable!() };
                    top.pos += 1;
                    self.push_listing(*l);
                }
                Item::Taken => top.pos += 1,
            }
        }
    }
}

/// One directory's listing.
#[derive(Default)]
struct Listing {
    /// Files and symlinks, keyed by name.
    files: Vec<(Vec<u8>, Item)>,
    /// Subdirectories: sort key (name + '/') and path.
    dirs: Vec<(Vec<u8>, RepoPath)>,
    /// The rules in force below this directory.
    rules: Rules,
    refused: Vec<PathError>,
    warnings: Vec<String>,
}

fn list_dir(wt: &WorkTree, rel: &RepoPath, parent_rules: &Rules, opts: WalkOptions) -> Listing {
    let mut out = Listing::default();
    // A directory that vanished, or was replaced by a symlink or a file
    // since its parent was listed, holds nothing.
    let Ok(Parent::Dir(fd)) = wt.open_dir(rel) else {
        out.rules = parent_rules.clone();
        return out;
    };
    let Ok(dir) = rustix::fs::Dir::read_from(&*fd) else {
        out.rules = parent_rules.clone();
        return out;
    };
    let mut entries: Vec<(Vec<u8>, rustix::fs::FileType)> = Vec::new();
    for e in dir {
        let Ok(e) = e else { break };
        let name = e.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        entries.push((name.to_vec(), e.file_type()));
    }
    out.rules = if opts.honor_ignore && entries.iter().any(|(n, _)| n == b".oxenignore") {
        parent_rules.with_file(wt, rel, &mut out.warnings)
    } else {
        parent_rules.clone()
    };
    let abs_dir = if out.rules.is_empty() { None } else { Some(wt.abs(rel)) };
    for (name, ft) in entries {
        if name == b".oxen" {
            continue;
        }
        use rustix::fs::FileType as T;
        // Some file systems do not fill in the type: ask.
        let (kind, stat) = match ft {
            T::Directory => (Kind::Dir, None),
            T::RegularFile | T::Symlink | T::Unknown => match WorkTree::stat_in(&*fd, &name) {
                Ok(m) => (m.kind, Some(m.stat)),
                Err(_) => continue,
            },
            _ => continue,
        };
        if kind == Kind::Other {
            continue;
        }
        let is_dir = kind == Kind::Dir;
        if let Some(abs_dir) = &abs_dir {
            let p = abs_dir.join(OsStr::from_bytes(&name));
            if out.rules.ignored(&p, is_dir) {
                continue;
            }
        }
        let child = match rel.join(&name) {
            Ok(c) => c,
            Err(err) => {
                out.refused.push(err);
                continue;
            }
        };
        match (is_dir, stat) {
            (true, _) => {
                let mut key = name;
                key.push(b'/');
                out.dirs.push((key, child));
            }
            (false, Some(stat)) => out.files.push((name, Item::File(WorkFile { path: child, stat }))),
            (false, None) => {}
        }
    }
    out
}

enum Item {
    File(WorkFile),
    /// A subdirectory not yet listed, with the ignore rules in force in it.
    Dir(RepoPath, Rules),
    /// A subdirectory listed ahead of the walk.
    Listed(Box<Listing>),
    /// Handed out already.
    Taken,
}
