//! Bounded memory: add, commit, status, checkout, reset, diff, show, fsck,
//! push, fetch, clone and widening a partial clone hold per directory or
//! per batch, not per file, so their peak RSS does not grow with the
//! number of files. Each step runs on a small and a ten times larger tree
//! of the same shape (100 files a directory); the difference in peak RSS
//! (the child's own, `procs::run_measured`) must stay below what even a
//! few hundred bytes a file would cost. Before the streaming
//! rewrite, add grew by ~0.85 KB and status by ~0.6 KB a file.

use std::path::Path;

use crate::common::*;

/// Peak RSS in KiB of `oxen <args>` in `dir`, asserting success.
fn peak_kib(dir: &Path, args: &[&str]) -> u64 {
    let mut cmd = std_bin("oxen", dir);
    cmd.args(args);
    peak_of(cmd, &format!("oxen {args:?}"))
}

/// A repository of `files` tiny files, 100 a directory, with mtimes long
/// ago (so the stat cache trusts them at once).
fn tree(dir: &Path, files: usize) {
    ox(dir, &["init"]);
    tiny_files(dir, "", files);
}

/// `files` tiny files `<prefix>dNNNN/fNNNNNN.txt` in `dir`, 100 a
/// directory, with mtimes long ago.
fn tiny_files(dir: &Path, prefix: &str, files: usize) {
    for i in 0..files {
        let p = write(dir, &format!("{prefix}d{:04}/f{i:06}.txt", i / 100), format!("file {i}\n"));
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
    assert_growth(&limits, &a, &b);
}

/// A limit that is reported, not asserted.
const UNBOUNDED: u64 = u64::MAX;

/// Assert that each step's peak RSS grew less than its limit (KiB) from
/// the small tree (`a`) to the large one (`b`); every step's figures are
/// printed, and named in the failure, so one run shows them all.
fn assert_growth(limits: &[(&str, u64)], a: &[u64], b: &[u64]) {
    let report: Vec<String> =
        limits.iter().enumerate().map(|(i, (n, _))| format!("{n}: {} -> {} KiB", a[i], b[i])).collect();
    eprintln!("{report:?}");
    for (i, (name, limit)) in limits.iter().enumerate() {
        let grown = b[i].saturating_sub(a[i]);
        assert!(grown < *limit, "{name} grew {grown} KiB from 3k to 30k files ({report:?})");
    }
}

/// Peak RSS in KiB of `cmd`, asserting success (the child's own peak:
/// [`crate::procs::run_measured`]).
fn peak_of(mut cmd: std::process::Command, what: &str) -> u64 {
    cmd.env("OXEN_NO_PROGRESS", "1");
    let m = crate::procs::run_measured(cmd);
    assert!(m.status.success(), "{what} failed: {}", m.stderr);
    m.peak_rss_kib
}

/// Reset the server's VmHWM to its current RSS (as bench/scale.py does).
fn reset_peak(srv: &crate::sync_support::Server) {
    std::fs::write(format!("/proc/{}/clear_refs", srv.child.id()), "5").expect("clear_refs");
}

/// Peak RSS (KiB) of push, of the transfer of a clone (a fetch into an
/// empty repository: the clone's checkout is the checkout's own bound),
/// of a whole clone, each with the server's peak: `[push client, push
/// server, fetch client, fetch server, clone client, clone server]`.
fn sync_steps(root: &Path, files: usize) -> [u64; 6] {
    let work = root.join("work");
    std::fs::create_dir_all(&work).unwrap();
    tree(&work, files);
    ox(&work, &["add", "."]);
    ox(&work, &["commit", "-m", "all"]);
    let srv = crate::sync_support::Server::start(&root.join("srv"), &[]);
    srv.create("r");
    srv.oxen(&work, &["remote", "add", "origin", &srv.url("r")]);
    let mut out = [0u64; 6];
    reset_peak(&srv);
    let mut push = srv.std_bin("oxen", &work);
    push.args(["push", "origin", "main"]);
    out[0] = peak_of(push, "push");
    out[1] = srv.peak_rss_kb();
    let f = root.join("f");
    std::fs::create_dir_all(&f).unwrap();
    ox(&f, &["init"]);
    srv.oxen(&f, &["remote", "add", "origin", &srv.url("r")]);
    reset_peak(&srv);
    let mut fetch = srv.std_bin("oxen", &f);
    fetch.args(["fetch", "origin"]);
    out[2] = peak_of(fetch, "fetch");
    out[3] = srv.peak_rss_kb();
    reset_peak(&srv);
    let mut clone = srv.std_bin("oxen", root);
    clone.args(["clone", &srv.url("r"), "clone"]);
    out[4] = peak_of(clone, "clone");
    out[5] = srv.peak_rss_kb();
    assert_eq!(ox(&root.join("clone"), &["status", "--porcelain"]), "", "the clone's work tree matches its commit");
    out
}

#[test]
fn peak_rss_of_push_fetch_and_clone_does_not_grow_with_the_file_count() {
    let (small, large) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = sync_steps(small.path(), 3_000);
    let b = sync_steps(large.path(), 30_000);
    // 27,000 more files (30,300 objects). Measured on 2 shared cores
    // under load (KiB grown, before -> after the sync memory work): push
    // client 8,288 -> 7,688, push server 12,080 -> 11,288, fetch client
    // 10,300 -> 8,792, fetch server 19,784 -> 16,388, clone server 22,280
    // -> 17,732. At this size the fixed costs (LMDB pages of one batch,
    // malloc arenas of the server's blocking threads) dominate, so these
    // bounds guard against a return to per-file growth (a JSON value per
    // object, the whole index mapped) rather than separate before from
    // after; bench/scale.py gates 100k and 300k. The clone's own client
    // peak is its checkout's (transition.rs), reported but not bounded.
    let limits = [
        ("push (client)", 14 * 1024),
        ("push (server)", 18 * 1024),
        ("fetch (client)", 14 * 1024),
        ("fetch (server)", 26 * 1024),
        ("clone (client)", UNBOUNDED),
        ("clone (server)", 28 * 1024),
    ];
    assert_growth(&limits, &a, &b);
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
    assert_growth(&limits, &a, &b);
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
    assert_growth(&limits, &a, &b);
}

/// Peak RSS (KiB) of the path-wise commands after a few local changes:
/// `restore .` (1% of the files modified), `restore <dir>`, `checkout --
/// <dir>`, `reset -- <dir>` (its changes staged), `restore --staged
/// <dir>`, `restore --source HEAD~1 <dir>`, `rm -r --cached <dir>` and
/// `rm -r <dir>`. Each directory holds 100 files, whatever the tree's size.
fn path_steps(dir: &Path, files: usize) -> [u64; 8] {
    ox(dir, &["add", "."]);
    ox(dir, &["commit", "-m", "all"]);
    touch_one_percent(dir, files, 1);
    ox(dir, &["commit", "-a", "-m", "one percent"]);
    touch_one_percent(dir, files, 2);
    let all = peak_kib(dir, &["restore", "."]);
    let modify = |d: &str| {
        for i in 0..3 {
            let p = write(dir, &format!("{d}/f{:06}.txt", d[1..].parse::<usize>().unwrap() * 100 + i), "local\n");
            set_mtime(&p, LONG_AGO + 7);
        }
    };
    modify("d0001");
    let one = peak_kib(dir, &["restore", "d0001"]);
    modify("d0002");
    let co = peak_kib(dir, &["checkout", "--", "d0002"]);
    modify("d0003");
    ox(dir, &["add", "d0003"]);
    let reset = peak_kib(dir, &["reset", "--", "d0003"]);
    ox(dir, &["add", "d0003"]);
    let staged = peak_kib(dir, &["restore", "--staged", "d0003"]);
    let source = peak_kib(dir, &["restore", "--source", "HEAD~1", "d0000"]);
    let cached = peak_kib(dir, &["rm", "-r", "--cached", "d0004"]);
    let rm = peak_kib(dir, &["rm", "-r", "d0005"]);
    [all, one, co, reset, staged, source, cached, rm]
}

#[test]
fn peak_rss_of_restore_reset_paths_and_rm_does_not_grow_with_the_file_count() {
    let (small, large) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    tree(small.path(), 3_000);
    tree(large.path(), 30_000);
    let a = path_steps(small.path(), 3_000);
    let b = path_steps(large.path(), 30_000);
    // What each did: restored, unstaged, removed.
    assert_eq!(std::fs::read(large.path().join("d0001/f000100.txt")).unwrap(), b"file 100 round 1\n");
    assert_eq!(std::fs::read(large.path().join("d0299/f029900.txt")).unwrap(), b"file 29900 round 1\n");
    assert_eq!(std::fs::read(large.path().join("d0002/f000201.txt")).unwrap(), b"file 201\n");
    assert_eq!(std::fs::read(large.path().join("d0000/f000000.txt")).unwrap(), b"file 0\n");
    let st = ox(large.path(), &["status", "--porcelain"]);
    assert!(st.contains(" M d0003/f000300.txt"), "{st}");
    assert!(st.contains("D  d0004/f000400.txt") && st.contains("?? d0004/"), "{st}");
    assert!(st.contains("D  d0005/f000500.txt") && !large.path().join("d0005").exists(), "{st}");
    // 27,000 more files; the paths named hold the same 100 (or, for
    // `restore .`, 1% of the files changed) in both trees.
    let limits = [
        ("restore .", 8 * 1024),
        ("restore dir", 4 * 1024),
        ("checkout -- dir", 4 * 1024),
        ("reset -- dir", 4 * 1024),
        ("restore --staged dir", 4 * 1024),
        ("restore --source HEAD~1 dir", 4 * 1024),
        ("rm -r --cached dir", 4 * 1024),
        ("rm -r dir", 4 * 1024),
    ];
    assert_growth(&limits, &a, &b);
}

/// Peak RSS (KiB) of a merge of two branches that each changed one file
/// (a merge commit, no conflict), in a tree of `files` files.
fn merge_step(dir: &Path) -> u64 {
    ox(dir, &["add", "."]);
    ox(dir, &["commit", "-m", "all"]);
    ox(dir, &["checkout", "-b", "side"]);
    write(dir, "d0010/f001000.txt", "side\n");
    ox(dir, &["commit", "-a", "-m", "side"]);
    ox(dir, &["checkout", "main"]);
    write(dir, "d0011/f001100.txt", "main\n");
    ox(dir, &["commit", "-a", "-m", "main"]);
    peak_kib(dir, &["merge", "side"])
}

#[test]
fn peak_rss_of_merge_does_not_grow_with_the_file_count() {
    let (small, large) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    tree(small.path(), 3_000);
    tree(large.path(), 30_000);
    let a = merge_step(small.path());
    let b = merge_step(large.path());
    assert_eq!(std::fs::read(large.path().join("d0010/f001000.txt")).unwrap(), b"side\n");
    assert_eq!(ox(large.path(), &["status", "--porcelain"]), "");
    let log = ox(large.path(), &["log", "--oneline"]);
    assert!(log.lines().next().is_some_and(|l| l.contains("Merge 'side'")), "{log}");
    // 27,000 more files. Flattening base, ours and theirs grew 22 MiB here;
    // the planning now walks what each side changed (equal subtrees
    // skipped by id) and builds the merged tree from ours streamed (5.5
    // MiB measured: the tree builder's 2 MB write buffer and mapped pages,
    // as for commit); status and the transition stream already.
    assert_growth(&[("merge", 10 * 1024)], &[a], &[b]);
}

/// Peak RSS (KiB) of `ls-files --stage` and of moving one directory of
/// 100 files, in a committed tree of `files` files.
fn ls_mv_steps(dir: &Path) -> [u64; 2] {
    ox(dir, &["add", "."]);
    ox(dir, &["commit", "-m", "all"]);
    let mut ls = std_bin("oxen-ls-files", dir);
    ls.arg("--stage");
    let ls = peak_of(ls, "oxen-ls-files --stage");
    let mv = peak_kib(dir, &["mv", "d0002", "moved"]);
    [ls, mv]
}

#[test]
fn peak_rss_of_ls_files_and_mv_does_not_grow_with_the_file_count() {
    let (small, large) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    tree(small.path(), 3_000);
    tree(large.path(), 30_000);
    let a = ls_mv_steps(small.path());
    let b = ls_mv_steps(large.path());
    let st = ox(large.path(), &["status", "--porcelain"]);
    assert!(st.contains("R  d0002/f000200.txt -> moved/f000200.txt") && st.lines().count() == 100, "{st}");
    // 27,000 more files; the index used to be loaded whole (~12 MiB more).
    let limits = [("ls-files", 4 * 1024), ("mv dir", 4 * 1024)];
    assert_growth(&limits, &a, &b);
}

/// Peak RSS (KiB) of widening a partial clone (`fetch -- data`) to a
/// directory of `files` files (100 a subdirectory): a repository holding
/// `keep.txt` and `data/`, pushed to a server and cloned with only
/// `keep.txt`.
fn widen_step(root: &Path, files: usize) -> u64 {
    let work = root.join("work");
    std::fs::create_dir_all(&work).unwrap();
    ox(&work, &["init"]);
    write(&work, "keep.txt", "keep\n");
    tiny_files(&work, "data/", files);
    ox(&work, &["add", "."]);
    ox(&work, &["commit", "-m", "all"]);
    let srv = crate::sync_support::Server::start(&root.join("srv"), &[]);
    srv.create("r");
    srv.oxen(&work, &["remote", "add", "origin", &srv.url("r")]);
    srv.oxen(&work, &["push", "origin", "main"]);
    let p = root.join("p");
    srv.oxen(root, &["clone", "--filter", "keep.txt", &srv.url("r"), p.to_str().unwrap()]);
    assert!(!p.join("data").exists());
    let mut widen = srv.std_bin("oxen", &p);
    widen.args(["fetch", "--", "data"]);
    let peak = peak_of(widen, "fetch -- data");
    let last = (files - 1, (files - 1) / 100);
    let want = format!("file {}\n", last.0);
    assert_eq!(std::fs::read(p.join(format!("data/d{:04}/f{:06}.txt", last.1, last.0))).unwrap(), want.as_bytes());
    assert_eq!(std::fs::read_dir(p.join("data")).unwrap().count(), files / 100);
    assert_eq!(srv.oxen(&p, &["status", "--porcelain"]), "");
    peak
}

#[test]
fn peak_rss_of_widening_a_partial_clone_does_not_grow_with_the_file_count() {
    let (small, large) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = widen_step(small.path(), 3_000);
    let b = widen_step(large.path(), 30_000);
    // 27,000 more files widened. Flattening HEAD, one map of every file to
    // write and one round for every content grew 45 MiB here (46,120 KiB
    // measured); walking the named subtree, fetching and writing a batch
    // at a time, 9.3 MiB (9,332 to 9,556 KiB in three runs): the fixed
    // costs of a fetch and of a checkout writing every file (database
    // pages a batch maps), which their own bounds above allow for.
    assert_growth(&[("fetch -- <dir>", 14 * 1024)], &[a], &[b]);
}
