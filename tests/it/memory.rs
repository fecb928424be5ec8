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

/// Rewrite every hundredth file (1% of the tree), with an old mtime so
/// only the contents tell.
fn touch_one_percent(dir: &Path, files: usize, round: u32) {
    for i in (0..files).step_by(100) {
        let p = write(dir, &format!("d{:04}/f{i:06}.txt", i / 100), format!("file {i} round {round}\n"));
        set_mtime(&p, LONG_AGO + u64::from(round));
    }
}

/// Peak RSS (KiB) of diff between two commits differing in 1% of the
/// files (patch and --stat), `show`, a work-tree diff with 1% touched,
/// `diff --staged` with 1% staged, and fsck.
fn diff_fsck_steps(dir: &Path, files: usize) -> [u64; 6] {
    ox(dir, &["add", "."]);
    ox(dir, &["commit", "-m", "all"]);
    touch_one_percent(dir, files, 1);
    ox(dir, &["add", "."]);
    ox(dir, &["commit", "-m", "one percent"]);
    let pair = peak_kib(dir, &["diff", "HEAD~1", "HEAD"]);
    let show = peak_kib(dir, &["show", "--stat"]);
    touch_one_percent(dir, files, 2);
    let work = peak_kib(dir, &["diff"]);
    let stat = peak_kib(dir, &["diff", "--stat"]);
    ox(dir, &["add", "."]);
    let staged = peak_kib(dir, &["diff", "--staged"]);
    let fsck = peak_kib(dir, &["fsck"]);
    [pair, show, work, stat, staged, fsck]
}

#[test]
fn peak_rss_of_diff_show_and_fsck_does_not_grow_with_the_file_count() {
    let (small, large) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    tree(small.path(), 3_000);
    tree(large.path(), 30_000);
    let a = diff_fsck_steps(small.path(), 3_000);
    let b = diff_fsck_steps(large.path(), 30_000);
    // 27,000 more files, of which 270 more changed. What is left: the
    // database pages a batch faults in at random before they are let go
    // (with the kernel's 64 KiB fault-around each: a bounded transient that
    // a 3k-file database is too small to reach), status's own growth for
    // the work-tree diffs, and fsck's set of content ids (capped at 65,536).
    // Before streaming (measured): a diff of two commits grew 8.3 MiB,
    // the work-tree and staged diffs ~20 MiB (they loaded the whole index
    // and HEAD's files) and fsck 20 MiB (the index, and every reachable
    // content id with its referrer's name).
    let limits = [
        ("diff A B", 6 * 1024),
        ("show --stat", 6 * 1024),
        ("diff", 8 * 1024),
        ("diff --stat", 8 * 1024),
        ("diff --staged", 8 * 1024),
        ("fsck", 10 * 1024),
    ];
    let report: Vec<String> =
        limits.iter().enumerate().map(|(i, (n, _))| format!("{n}: {} -> {} KiB", a[i], b[i])).collect();
    for (i, (name, limit)) in limits.iter().enumerate() {
        let grown = b[i].saturating_sub(a[i]);
        assert!(grown < *limit, "{name} grew {grown} KiB from 3k to 30k files ({report:?})");
    }
}
