//! The stat cache: status on an unchanged tree reads no file contents, a
//! touched-but-identical file is read once, then remembered, and a racily
//! clean entry (file not older than the index write) is always re-read.
//! File mtimes are set explicitly, so no test waits for the clock.

use std::collections::BTreeMap;

use crate::common::*;

/// (files read, changes found) by a status of the work tree against HEAD.
fn status_hashed(root: &std::path::Path) -> (usize, usize) {
    let repo = oxen_repo::Repo::open(root).unwrap();
    let head = repo.flatten_commit(repo.head_commit().unwrap().as_ref()).unwrap();
    let flat: BTreeMap<oxen_path::RepoPath, (oxen_hash::ContentId, u32)> =
        head.into_iter().map(|(p, e)| (p, (e.id, e.mode))).collect();
    let index = repo.index().unwrap();
    let st = oxen_index::status(&repo.worktree, &repo.versions, &index, Some(&flat)).unwrap();
    (st.hashed, st.entries.len())
}

#[test]
fn unchanged_tree_is_never_rehashed() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    ox(r, &["init"]);
    for i in 0..300 {
        let p = write(r, &format!("d{}/f{i}.bin", i % 7), vec![i as u8; 1000]);
        set_mtime(&p, LONG_AGO);
    }
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "all"]);
    assert_eq!(status_hashed(r), (0, 0), "clean tree: nothing read");
    // Rewrite one file with the same bytes: its stat changed, so it is
    // read once; status records the new stat, and then it is trusted again.
    let p = r.join("d0/f0.bin");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, bytes).unwrap();
    set_mtime(&p, LONG_AGO + 60);
    assert_eq!(status_hashed(r), (1, 0));
    ox(r, &["status"]); // refreshes the index entry
    assert_eq!(status_hashed(r), (0, 0));
    // A real change is seen.
    write(r, "d1/f1.bin", "different");
    assert_eq!(status_hashed(r), (1, 1));
}

#[test]
fn racily_clean_entry_is_always_reread() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    ox(r, &["init"]);
    let old = write(r, "old.txt", "settled");
    set_mtime(&old, LONG_AGO);
    // An mtime an hour ahead is "not older than the index write" whenever
    // the index is written: the entry's stat matches but cannot be trusted
    // (the file may have changed within the same clock tick).
    let new = write(r, "new.txt", "just written");
    let in_an_hour = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    set_mtime(&new, in_an_hour);
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "both"]);
    assert_eq!(status_hashed(r), (1, 0), "only the racy entry is read");
    ox(r, &["status"]);
    assert_eq!(status_hashed(r), (1, 0), "and it stays racy however often status runs");
}
