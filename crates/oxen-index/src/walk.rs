//! Scanning the work tree: every file (with its stat) below a directory,
//! skipping `.oxen` and what `.oxenignore` files exclude. Walks directories
//! in parallel, since status on a large tree is dominated by stat calls.

use std::path::Path;
use std::sync::Mutex;

use ignore::{WalkBuilder, WalkState};

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

/// Every file under `work/<sub>` (sub = "" for the whole tree), sorted by path.
/// Paths that are not UTF-8 are reported on stderr and skipped.
pub fn walk_work_tree(work: &Path, sub: &str, opts: WalkOptions) -> Result<Vec<WorkFile>> {
    let start = if sub.is_empty() { work.to_path_buf() } else { work.join(sub) };
    let meta = match std::fs::symlink_metadata(&start) {
        Ok(m) => m,
        Err(_) => return Ok(Vec::new()),
    };
    if !meta.is_dir() {
        return Ok(vec![WorkFile { path: sub.to_string(), stat: FileStat::from_metadata(&meta) }]);
    }
    let mut b = WalkBuilder::new(&start);
    b.standard_filters(false).hidden(false).follow_links(false).parents(true);
    if opts.honor_ignore {
        b.add_custom_ignore_filename(".oxenignore");
    }
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(8);
    b.threads(threads);
    b.filter_entry(|e| e.file_name() != ".oxen");
    let found = Mutex::new(Vec::new());
    b.build_parallel().run(|| {
        let found = &found;
        let work = work.to_path_buf();
        struct Flush<'a>(&'a Mutex<Vec<WorkFile>>, Vec<WorkFile>);
        impl Drop for Flush<'_> {
            fn drop(&mut self) {
                if let Ok(mut g) = self.0.lock() {
                    g.append(&mut self.1);
                }
            }
        }
        let mut flush = Flush(found, Vec::new());
        Box::new(move |res| {
            let Ok(entry) = res else { return WalkState::Continue };
            let Some(ft) = entry.file_type() else { return WalkState::Continue };
            if ft.is_dir() || !(ft.is_file() || ft.is_symlink()) {
                return WalkState::Continue;
            }
            let Ok(rel) = entry.path().strip_prefix(&work) else { return WalkState::Continue };
            let Some(rel) = rel.to_str() else {
                eprintln!("warning: skipping non-UTF-8 path {}", entry.path().display());
                return WalkState::Continue;
            };
            let Ok(m) = std::fs::symlink_metadata(entry.path()) else { return WalkState::Continue };
            flush.1.push(WorkFile { path: rel.to_string(), stat: FileStat::from_metadata(&m) });
            WalkState::Continue
        })
    });
    let mut out = found.into_inner().unwrap_or_default();
    out.sort_unstable_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    Ok(out)
}
