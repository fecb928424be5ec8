//! Bounded memory: add, commit and status hold per directory, not per
//! file, so their peak RSS does not grow with the number of files. Each
//! step runs on a small and a ten times larger tree of the same shape (100
//! files a directory); the difference in peak RSS (VmHWM, polled from /proc
//! while the child runs: it only grows, so the last reading before exit is
//! the peak up to then) must stay below what even a few hundred bytes a
//! file would cost. Before the streaming rewrite, add grew by ~0.85 KB and
//! status by ~0.6 KB a file.

use std::path::Path;
use std::time::Duration;

use crate::common::*;

/// Peak RSS in KiB of `oxen <args>` in `dir`, asserting success.
fn peak_kib(dir: &Path, args: &[&str]) -> u64 {
    let mut child = std_bin("oxen", dir)
        .args(args)
        .env("OXEN_NO_PROGRESS", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status) {
            if let Some(kb) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kb);
            }
        }
        if let Some(st) = child.try_wait().expect("wait") {
            assert!(st.success(), "oxen {args:?} failed");
            return peak;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A repository of `files` tiny files, 100 a directory, with mtimes long
/// ago (so the stat cache trusts them at once).
fn tree(dir: &Path, files: usize) {
    ox(dir, &["init"]);
    for i in 0..files {
        let p = write(dir, &format!("d{:04}/f{i:06}.txt", i / 100), format!("file {i}\n"));
        set_mtime(&p, LONG_AGO);
    }
}

/// Peak RSS (KiB) of add, commit and a clean status.
fn steps(dir: &Path) -> [u64; 3] {
    let add = peak_kib(dir, &["add", "."]);
    let commit = peak_kib(dir, &["commit", "-m", "all"]);
    let status = peak_kib(dir, &["status", "--porcelain"]);
    [add, commit, status]
}

#[test]
fn peak_rss_of_add_commit_status_does_not_grow_with_the_file_count() {
    let (small, large) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    tree(small.path(), 3_000);
    tree(large.path(), 30_000);
    let a = steps(small.path());
    let b = steps(large.path());
    // 27,000 more files. Before streaming, add grew ~23 MiB and status
    // ~16 MiB here. What is left: status nothing per file; commit and add
    // a little (LMDB pages mapped between two releases, allocator slack).
    let limits = [("add", 12 * 1024), ("commit", 8 * 1024), ("status", 4 * 1024)];
    let report: Vec<String> =
        limits.iter().enumerate().map(|(i, (n, _))| format!("{n}: {} -> {} KiB", a[i], b[i])).collect();
    for (i, (name, limit)) in limits.iter().enumerate() {
        let grown = b[i].saturating_sub(a[i]);
        assert!(grown < *limit, "{name} grew {grown} KiB from 3k to 30k files ({report:?})");
    }
}

/// Peak RSS (KiB) of moving between trees: a checkout writing every file
/// (from a branch holding none), a checkout changing one file, a checkout
/// removing every file, and a reset --hard writing every file back.
fn transition_steps(dir: &Path) -> [u64; 4] {
    ox(dir, &["add", "."]);
    ox(dir, &["commit", "-m", "all"]);
    ox(dir, &["checkout", "-b", "one"]);
    write(dir, "d0000/f000000.txt", "changed\n");
    ox(dir, &["commit", "-a", "-m", "one changed"]);
    ox(dir, &["checkout", "-b", "none"]);
    ox(dir, &["rm", "-r", "."]);
    ox(dir, &["commit", "-m", "none"]);
    let all = peak_kib(dir, &["checkout", "main"]);
    let one = peak_kib(dir, &["checkout", "one"]);
    let none = peak_kib(dir, &["checkout", "none"]);
    let reset = peak_kib(dir, &["reset", "--hard", "main"]);
    [all, one, none, reset]
}

#[test]
fn peak_rss_of_checkout_and_reset_hard_does_not_grow_with_the_file_count() {
    let (small, large) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    tree(small.path(), 3_000);
    tree(large.path(), 30_000);
    let a = transition_steps(small.path());
    let b = transition_steps(large.path());
    assert_eq!(std::fs::read(large.path().join("d0299/f029999.txt")).unwrap(), b"file 29999\n");
    // 27,000 more files. Before streaming they grew 37-39 MiB (writing
    // every file), 14 MiB (one) and 21 MiB (removing) here. What is left
    // when writing: the blob-table pages a batch of 2,048 random content
    // lookups maps (released after each batch), which the small tree does
    // not fill and the large one does: bounded by the batch, not the files.
    let limits = [
        ("checkout writing every file", 12 * 1024),
        ("checkout changing one file", 4 * 1024),
        ("checkout removing every file", 6 * 1024),
        ("reset --hard writing every file", 12 * 1024),
    ];
    let report: Vec<String> =
        limits.iter().enumerate().map(|(i, (n, _))| format!("{n}: {} -> {} KiB", a[i], b[i])).collect();
    for (i, (name, limit)) in limits.iter().enumerate() {
        let grown = b[i].saturating_sub(a[i]);
        assert!(grown < *limit, "{name} grew {grown} KiB from 3k to 30k files ({report:?})");
    }
}
