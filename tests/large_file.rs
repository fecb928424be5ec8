//! A 200 MB file hashes and is stored with bounded memory. Its own test
//! binary, so that the children's peak RSS measured here is only this one.

mod common;

use common::*;

// The workspace denies unsafe code; these libc calls are being replaced
// in the tests restructuring, so the allowance is scoped to this function.
#[allow(unsafe_code)]
fn peak_child_rss_kb() -> i64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    ru.ru_maxrss
}

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
    let mut c = bin("oxen-hash-object", root);
    c.args(["-w", "big.bin"]);
    let id = out(c);
    let mut c = bin("oxen-update-index", root);
    c.args(["--add", "big.bin"]);
    out(c);
    let rss_mb = peak_child_rss_kb() / 1024;
    assert!(rss_mb < 100, "peak RSS {rss_mb} MB for a 200 MB file");
    let stored = root.join(".oxen/versions").join(&id[..2]).join(&id[2..]);
    assert_eq!(std::fs::metadata(stored).unwrap().len(), 200 << 20);
}
