//! The start-up sweep: temp files left in the repositories' `.oxen/tmp`
//! by writes that were killed (a server killed mid-push leaves the blob it
//! was receiving, tens of MB). Only files no live process holds are
//! removed (see [`oxen_store::sweep_tmp`]), so a plumbing command writing
//! to a served repository meanwhile is safe.
//!
//! Not swept here: bytes appended to a segment whose location was never
//! recorded (small objects of an interrupted push). They are unreachable
//! and harmless, and belong to a garbage collection that can compact
//! segments.

use std::path::Path;

use oxen_store::{Layout, Swept};

/// Sweep every repository under `sync_dir` (best effort, as each sweep is).
pub fn sweep_repos(sync_dir: &Path) -> Swept {
    let mut all = Swept::default();
    let Ok(entries) = std::fs::read_dir(sync_dir) else { return all };
    for entry in entries.flatten() {
        let layout = Layout::at(entry.path());
        if !layout.head_file().is_file() {
            continue;
        }
        let s = oxen_store::sweep_tmp(&layout.tmp_dir());
        all.files += s.files;
        all.bytes += s.bytes;
    }
    all
}
