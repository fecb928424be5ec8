//! Scanning the work tree: every file (with its stat) below a directory,
//! skipping `.oxen` and what `.oxenignore` files exclude.
//!
//! Status on a large tree is dominated by this walk, so it is tuned: each
//! directory is read once, file types come from the directory listing
//! (d_type), stats are taken relative to the open directory (fstatat, no
//! full path lookup per file), and subdirectories are walked in parallel.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use rayon::prelude::*;

use crate::entry::FileStat;
use crate::Result;

/// A file found in the work tree.
#[derive(Clone, Debug)]
pub struct WorkFile {
    /// Repository-relative, `/`-separated.
    pub path: String,
    /// Its stat when seen.
    pub stat: FileStat,
}

/// What a walk found: the files, and what it had to skip, as warnings for
/// the caller to show (a library does not print).
#[derive(Clone, Debug, Default)]
pub struct Walk {
    /// Files, sorted by path.
    pub files: Vec<WorkFile>,
    /// Paths skipped (not UTF-8) and ignore files that could not be read.
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
fn rules_for(work: &Path, sub: &str, opts: WalkOptions, warnings: &mut Vec<String>) -> Rules {
    let mut rules = Rules::default();
    if !opts.honor_ignore {
        return rules;
    }
    let mut dir = work.to_path_buf();
    let comps: Vec<&str> = if sub.is_empty() { vec![] } else { sub.split('/').collect() };
    for i in 0..=comps.len() {
        let f = dir.join(".oxenignore");
        if f.is_file() {
            rules = rules.with_file(&dir, &f, warnings);
        }
        if i < comps.len() {
            dir = dir.join(comps[i]);
        }
    }
    rules
}

/// Every file under `work/<sub>` (sub = "" for the whole tree), sorted by path.
/// Paths that are not UTF-8 are skipped, with a warning.
pub fn walk_work_tree(work: &Path, sub: &str, opts: WalkOptions) -> Result<Walk> {
    let start = if sub.is_empty() { work.to_path_buf() } else { work.join(sub) };
    let meta = match std::fs::symlink_metadata(&start) {
        Ok(m) => m,
        Err(_) => return Ok(Walk::default()),
    };
    if !meta.is_dir() {
        let files = vec![WorkFile { path: sub.to_string(), stat: FileStat::from_metadata(&meta) }];
        return Ok(Walk { files, warnings: Vec::new() });
    }
    let mut warnings = Vec::new();
    let rules = rules_for(work, sub, opts, &mut warnings);
    let (files, more) = walk_dir(&start, sub, &rules, opts);
    warnings.extend(more);
    Ok(Walk { files, warnings })
}

fn walk_dir(abs: &Path, rel: &str, parent_rules: &Rules, opts: WalkOptions) -> (Vec<WorkFile>, Vec<String>) {
    let mut warnings = Vec::new();
    let Ok(rd) = std::fs::read_dir(abs) else { return (Vec::new(), warnings) };
    let entries: Vec<std::fs::DirEntry> = rd.filter_map(|e| e.ok()).collect();
    let rules = if opts.honor_ignore && entries.iter().any(|e| e.file_name() == ".oxenignore") {
        parent_rules.with_file(abs, &abs.join(".oxenignore"), &mut warnings)
    } else {
        parent_rules.clone()
    };
    // Each child gets a sort key: its name, plus '/' for a directory. Sorting
    // children by that key and splicing each directory's (already sorted)
    // contents in its place yields full paths in byte order, with no global
    // sort of long paths.
    let mut items: Vec<(String, Item)> = Vec::new();
    let mut dirs: Vec<(PathBuf, String)> = Vec::new();
    for e in entries {
        let name = e.file_name();
        let Some(name) = name.to_str() else {
            warnings.push(format!("skipping non-UTF-8 path {}", e.path().display()));
            continue;
        };
        if name == ".oxen" {
            continue;
        }
        let Ok(ft) = e.file_type() else { continue };
        let child_rel = if rel.is_empty() { name.to_string() } else { format!("{rel}/{name}") };
        if ft.is_dir() {
            let p = e.path();
            if !rules.0.is_empty() && rules.ignored(&p, true) {
                continue;
            }
            items.push((format!("{name}/"), Item::Dir(dirs.len())));
            dirs.push((p, child_rel));
        } else if ft.is_file() || ft.is_symlink() {
            if !rules.0.is_empty() && rules.ignored(&e.path(), false) {
                continue;
            }
            // DirEntry::metadata stats relative to the open directory.
            let Ok(m) = e.metadata() else { continue };
            items.push((name.to_string(), Item::File(WorkFile { path: child_rel, stat: FileStat::from_metadata(&m) })));
        }
    }
    let walked: Vec<(Vec<WorkFile>, Vec<String>)> =
        dirs.par_iter().map(|(p, r)| walk_dir(p, r, &rules, opts)).collect();
    let mut nested = Vec::with_capacity(walked.len());
    for (files, w) in walked {
        nested.push(files);
        warnings.extend(w);
    }
    items.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = Vec::with_capacity(items.len() + nested.iter().map(Vec::len).sum::<usize>());
    for (_, item) in items {
        match item {
            Item::File(f) => out.push(f),
            Item::Dir(i) => out.append(&mut nested[i]),
        }
    }
    (out, warnings)
}

enum Item {
    File(WorkFile),
    Dir(usize),
}
