//! The stat cache: status on an unchanged tree reads no file contents, and
//! a touched-but-identical file is read once, then remembered.

use std::collections::BTreeMap;

use crate::common::*;

fn status_hashed(root: &std::path::Path) -> (usize, usize) {
    let repo = oxen_repo::Repo::open(root).unwrap();
    let head = repo.flatten_commit(repo.head_commit().unwrap().as_ref()).unwrap();
    let flat: BTreeMap<String, (oxen_hash::ContentId, u32)> =
        head.into_iter().map(|(p, e)| (p, (e.id, e.mode))).collect();
    let index = repo.index().unwrap();
    let st = oxen_index::status(&repo.layout.work, &repo.versions, &index, Some(&flat)).unwrap();
    (st.hashed, st.entries.len())
}

#[test]
fn unchanged_tree_is_never_rehashed() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    ox(r, &["init"]);
    for i in 0..300 {
        write(r, &format!("d{}/f{i}.bin", i % 7), vec![i as u8; 1000]);
    }
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "all"]);
    // Wait out the racy-clean window so entries are trusted.
    std::thread::sleep(std::time::Duration::from_millis(120));
    ox(r, &["add", "."]);
    assert_eq!(status_hashed(r), (0, 0), "clean tree: nothing read");
    // Touch one file without changing it: read once, then cached again.
    let p = r.join("d0/f0.bin");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, bytes).unwrap();
    assert_eq!(status_hashed(r), (1, 0));
    std::thread::sleep(std::time::Duration::from_millis(120));
    ox(r, &["status"]); // refreshes the index entry
    assert_eq!(status_hashed(r), (0, 0));
    // A real change is seen.
    write(r, "d1/f1.bin", "different");
    assert_eq!(status_hashed(r), (1, 1));
}
