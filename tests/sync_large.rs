//! A large file pushes and clones with bounded memory on both sides. Its
//! own test binary so nothing else runs beside it. Size in MiB from
//! OXEN_SYNC_LARGE_MB (default 1024).

mod common;
mod sync_support;

use std::io::Write;

use sync_support::*;

/// Run a command to completion and return (success, peak RSS in KiB) of
/// that process alone.
// The workspace denies unsafe code; these libc calls are being replaced
// in the tests restructuring, so the allowance is scoped to this function.
// The child is reaped by libc::wait4, which clippy cannot see.
#[allow(unsafe_code, clippy::zombie_processes)]
fn run_measured(mut cmd: std::process::Command) -> (bool, i64) {
    let child = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::inherit()).spawn().unwrap();
    let mut status = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 writes into the status and rusage we own.
    let r = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    assert_eq!(r, child.id() as i32);
    (libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, ru.ru_maxrss)
}

#[test]
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

    let mut push = std::process::Command::new(assert_cmd::cargo::cargo_bin("oxen"));
    push.current_dir(&a).env("OXEN_HOME", &srv.home).args(["push", "origin", "main"]);
    let (ok, push_kb) = run_measured(push);
    assert!(ok, "push failed");
    let server_kb = srv.peak_rss_kb();

    let mut clone = std::process::Command::new(assert_cmd::cargo::cargo_bin("oxen"));
    clone.current_dir(d.path()).env("OXEN_HOME", &srv.home).args(["clone", &srv.url("Big"), "b"]);
    let (ok, clone_kb) = run_measured(clone);
    assert!(ok, "clone failed");
    let server_kb = server_kb.max(srv.peak_rss_kb());

    let (ida, la) = oxen_hash::ContentId::of_file(&a.join("big.bin")).unwrap();
    let (idb, lb) = oxen_hash::ContentId::of_file(&d.path().join("b/big.bin")).unwrap();
    assert_eq!((ida, la), (idb, lb));
    assert_eq!(la, (mb as u64) << 20);
    let _ = writeln!(
        std::io::stderr(),
        "peak RSS: push {} MiB, clone {} MiB, server {} MiB",
        push_kb / 1024,
        clone_kb / 1024,
        server_kb / 1024
    );
    assert!(push_kb / 1024 < 150, "push peak RSS {} MiB", push_kb / 1024);
    assert!(server_kb / 1024 < 150, "server peak RSS {} MiB", server_kb / 1024);
    assert!(clone_kb / 1024 < 150, "clone peak RSS {} MiB", clone_kb / 1024);
}
