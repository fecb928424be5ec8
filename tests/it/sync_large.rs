//! A large file pushes and clones with bounded memory on both sides. It
//! writes, sends and checks out 1 GiB, so it is opt-in (`#[ignore]`); run it
//! alone so nothing else runs beside the server it measures:
//! `cargo test --test it sync_large -- --ignored`. Size in MiB from
//! OXEN_SYNC_LARGE_MB (default 1024).

use std::io::Write;

use crate::procs::run_measured;
use crate::sync_support::*;

#[test]
#[ignore = "1 GiB push and clone: cargo test --test it sync_large -- --ignored"]
fn large_file_push_and_clone_in_bounded_memory() {
    let mb: usize = std::env::var("OXEN_SYNC_LARGE_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024);
    let d = tempfile::tempdir().unwrap();
    let srv = Server::start(d.path(), &[]);
    let a = d.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    srv.oxen(&a, &["init"]);
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(a.join("big.bin")).unwrap());
        let mut block = vec![0u8; 1 << 20];
        for i in 0..mb {
            for (j, b) in block.iter_mut().enumerate().step_by(64) {
                *b = (i * 31 + j) as u8;
            }
            f.write_all(&block).unwrap();
        }
    }
    commit_all(&srv, &a, "big");
    srv.create("Big");
    srv.oxen(&a, &["remote", "add", "origin", &srv.url("Big")]);

    let mut push = srv.std_bin("oxen", &a);
    push.args(["push", "origin", "main"]);
    let pushed = run_measured(push);
    assert!(pushed.status.success(), "push failed: {pushed:?}");
    let server_kb = srv.peak_rss_kb();

    let mut clone = srv.std_bin("oxen", d.path());
    clone.args(["clone", &srv.url("Big"), "b"]);
    let cloned = run_measured(clone);
    assert!(cloned.status.success(), "clone failed: {cloned:?}");
    let server_mib = server_kb.max(srv.peak_rss_kb()) / 1024;

    let (ida, la) = oxen_hash::ContentId::of_file(&a.join("big.bin")).unwrap();
    let (idb, lb) = oxen_hash::ContentId::of_file(&d.path().join("b/big.bin")).unwrap();
    assert_eq!((ida, la), (idb, lb));
    assert_eq!(la, (mb as u64) << 20);
    let (push_mib, clone_mib) = (pushed.peak_rss_mib(), cloned.peak_rss_mib());
    eprintln!("peak RSS: push {push_mib} MiB, clone {clone_mib} MiB, server {server_mib} MiB");
    assert!(push_mib < 150, "push peak RSS {push_mib} MiB");
    assert!(server_mib < 150, "server peak RSS {server_mib} MiB");
    assert!(clone_mib < 150, "clone peak RSS {clone_mib} MiB");
}
