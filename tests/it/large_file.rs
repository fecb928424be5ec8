//! A 200 MB file hashes and is stored with bounded memory: the peak RSS of
//! each plumbing child is measured on its own (see `procs::run_measured`),
//! so tests running beside it in this binary do not count.

use crate::common::*;
use crate::procs::run_measured;

#[test]
fn large_file_hashes_in_bounded_memory() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let path = root.join("big.bin");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut block = vec![0u8; 1 << 20];
        for i in 0..200u32 {
            for (j, b) in block.iter_mut().enumerate() {
                *b = (i as usize * 31 + j * 7) as u8;
            }
            f.write_all(&block).unwrap();
        }
    }
    let mut c = oxen(root);
    c.arg("init");
    out(c);
    let mut hash = std_bin("oxen-hash-object", root);
    hash.args(["-w", "big.bin"]);
    let hashed = run_measured(hash);
    assert!(hashed.status.success(), "hash-object failed: {hashed:?}");
    assert!(hashed.peak_rss_mib() < 100, "hash-object: peak RSS {} MiB for a 200 MB file", hashed.peak_rss_mib());
    let mut add = std_bin("oxen-update-index", root);
    add.args(["--add", "big.bin"]);
    let m = run_measured(add);
    assert!(m.status.success(), "update-index failed: {m:?}");
    assert!(m.peak_rss_mib() < 100, "update-index: peak RSS {} MiB for a 200 MB file", m.peak_rss_mib());
    // Stored as chunks (storage v2), read back whole and verified.
    let id = oxen_hash::ContentId::from_hex(hashed.stdout.trim()).unwrap();
    let repo = oxen_repo::Repo::open(root).unwrap();
    assert_eq!(repo.versions.size(&id).unwrap(), 200 << 20);
    assert_eq!(repo.versions.verify(&id).unwrap(), None);
}
