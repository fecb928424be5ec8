//! Scanning the work tree: every file (with its stat) below a directory,
//! skipping `.oxen` and what `.oxenignore` files exclude.
//!
//! Status on a large tree is dominated by this walk, so it is tuned: each
//! directory is read once, file types come from the directory listing
//! (d_type), stats are taken relative to the open directory (fstatat, no
//! full path lookup per file), and subdirectories are walked in parallel.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use oxen_path::{PathError, RepoPath};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use rayon::prelude::*;

use crate::entry::FileStat;
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

    fn with_file(&self, dir: &Path, file: &Path, warnings: &mut Vec<String>) -> Rules {
        let mut b = GitignoreBuilder::new(dir);
        if b.add(file).is_some() {
            warnings.push(format!("could not read {}", file.display()));
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

/// Rules from `.oxenignore` files in `work` and every directory down to `sub`.
fn rules_for(work: &Path, sub: &RepoPath, opts: WalkOptions, warnings: &mut Vec<String>) -> Rules {
    let mut rules = Rules::default();
    if !opts.honor_ignore {
        return rules;
    }
    let mut dir = work.to_path_buf();
    let comps: Vec<&[u8]> = sub.components().collect();
    for i in 0..=comps.len() {
        let f = dir.join(".oxenignore");
        if f.is_file() {
            rules = rules.with_file(&dir, &f, warnings);
        }
        if i < comps.len() {
            dir = dir.join(OsStr::from_bytes(comps[i]));
        }
    }
    rules
}

/// Every file under `work/<sub>` (the root for the whole tree), sorted by
/// path bytes. Names are taken as the file system has them, UTF-8 or not.
pub fn walk_work_tree(work: &Path, sub: &RepoPath, opts: WalkOptions) -> Result<Walk> {
    let start = sub.abs(work);
    let meta = match std::fs::symlink_metadata(&start) {
        Ok(m) => m,
        Err(_) => return Ok(Walk::default()),
    };
    if !meta.is_dir() {
        let files = vec![WorkFile { path: sub.clone(), stat: FileStat::from_metadata(&meta) }];
        return Ok(Walk { files, ..Walk::default() });
    }
    let mut warnings = Vec::new();
    let rules = rules_for(work, sub, opts, &mut warnings);
    let mut found = walk_dir(&start, sub, &rules, opts);
    warnings.append(&mut found.warnings);
    Ok(Walk { files: found.files, refused: found.refused, warnings })
}

fn walk_dir(abs: &Path, rel: &RepoPath, parent_rules: &Rules, opts: WalkOptions) -> Walk {
    let mut found = Walk::default();
    let Ok(rd) = std::fs::read_dir(abs) else { return found };
    let entries: Vec<std::fs::DirEntry> = rd.filter_map(|e| e.ok()).collect();
    let rules = if opts.honor_ignore && entries.iter().any(|e| e.file_name() == ".oxenignore") {
        parent_rules.with_file(abs, &abs.join(".oxenignore"), &mut found.warnings)
    } else {
        parent_rules.clone()
    };
    // Each child gets a sort key: its name, plus '/' for a directory. Sorting
    // children by that key and splicing each directory's (already sorted)
    // contents in its place yields full paths in byte order, with no global
    // sort of long paths.
    let mut items: Vec<(Vec<u8>, Item)> = Vec::new();
    let mut dirs: Vec<(PathBuf, RepoPath)> = Vec::new();
    for e in entries {
        let name = e.file_name();
        let name = name.as_bytes();
        if name == b".oxen" {
            continue;
        }
        let Ok(ft) = e.file_type() else { continue };
        if !(ft.is_dir() || ft.is_file() || ft.is_symlink()) {
            continue;
        }
        let p = e.path();
        if !rules.0.is_empty() && rules.ignored(&p, ft.is_dir()) {
            continue;
        }
        let child_rel = match rel.join(name) {
            Ok(c) => c,
            Err(err) => {
                found.refused.push(err);
                continue;
            }
        };
        if ft.is_dir() {
            let mut key = name.to_vec();
            key.push(b'/');
            items.push((key, Item::Dir(dirs.len())));
            dirs.push((p, child_rel));
        } else {
            // DirEntry::metadata stats relative to the open directory.
            let Ok(m) = e.metadata() else { continue };
            items.push((name.to_vec(), Item::File(WorkFile { path: child_rel, stat: FileStat::from_metadata(&m) })));
        }
    }
    let walked: Vec<Walk> = dirs.par_iter().map(|(p, r)| walk_dir(p, r, &rules, opts)).collect();
    let mut nested = Vec::with_capacity(walked.len());
    for mut w in walked {
        nested.push(std::mem::take(&mut w.files));
        found.warnings.append(&mut w.warnings);
        found.refused.append(&mut w.refused);
    }
    items.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::with_capacity(items.len() + nested.iter().map(Vec::len).sum::<usize>());
    for (_, item) in items {
        match item {
            Item::File(f) => out.push(f),
            Item::Dir(i) => out.append(&mut nested[i]),
        }
    }
    found.files = out;
    found
}

enum Item {
    File(WorkFile),
    Dir(usize),
}
