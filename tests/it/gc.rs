//! `oxen gc` and `oxen-server gc`: segment bytes no location refers to
//! (left by a writer killed before it recorded them) are reclaimed, a live
//! writer's segment is untouched, gc itself survives a kill at any of its
//! writes, and nothing committed is lost.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::{noise, ox, ox_err, run, snapshot, std_bin, write};
use crate::sync_support::{add_user, spawn_server, spawn_server_env, Server};

type Snap = BTreeMap<String, Vec<u8>>;

fn segments(repo: &Path) -> Vec<PathBuf> {
    let dir = repo.join(".oxen/versions/segments");
    let mut v: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

fn segment_bytes(repo: &Path) -> u64 {
    segments(repo).iter().map(|p| p.metadata().unwrap().len()).sum()
}

/// Run `oxen <args>` stopped at write point `at`; whether it was stopped.
pub(crate) fn run_until(dir: &Path, args: &[&str], at: &str) -> (bool, String) {
    let o = std_bin("oxen", dir).env("OXEN_TEST_ABORT_AT_WRITE", at).args(args).output().expect("run");
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    if o.status.success() {
        return (false, err);
    }
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(o.status.signal(), Some(6), "{args:?} at {at} failed without being stopped: {err}");
    (true, err)
}

pub(crate) fn count_writes(dir: &Path, args: &[&str]) -> u64 {
    let (stopped, err) = run_until(dir, args, "count");
    assert!(!stopped);
    err.lines()
        .find_map(|l| l.strip_prefix("oxen: write points: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no write count in: {err}"))
}

/// The byte count a `gc --dry-run` summary says it would reclaim.
fn reclaimable(summary: &str) -> u64 {
    summary.lines().filter_map(|l| l.split_once("would reclaim ")?.1.split(' ').next()?.parse::<u64>().ok()).sum()
}

fn rev(dir: &Path) -> String {
    run("oxen-rev-parse", dir, &["HEAD"]).trim().to_string()
}

fn nothing_committed_is_lost(dir: &Path, snaps: &[(String, Snap)], what: &str) {
    ox(dir, &["fsck"]);
    for (id, snap) in snaps {
        ox(dir, &["checkout", "--force", id]);
        assert_eq!(&snapshot(dir), snap, "{what}: {id} does not check out as committed");
    }
}

/// A repository with two commits whose first `add` was killed just before
/// it recorded the locations of the records it had appended (then retried):
/// its segments hold records nothing refers to.
fn repo_with_orphans(dir: &Path) -> Vec<(String, Snap)> {
    ox(dir, &["init"]);
    for i in 0..20 {
        write(dir, &format!("data/{i:02}.csv"), format!("id,v\n{i},{}\n", i * 7).repeat(20));
    }
    write(dir, "big.bin", (0..300 * 1024u32).map(|i| (i * 31 % 251) as u8).collect::<Vec<u8>>());
    // Stop it at the write point just before the locations are recorded
    // (the flush after all appends): the last one after which the
    // segments hold bytes nothing refers to.
    let t = tempfile::tempdir().unwrap();
    let st = std::process::Command::new("cp").arg("-a").arg(format!("{}/.", dir.display())).arg(t.path()).status();
    assert!(st.unwrap().success());
    let n = count_writes(t.path(), &["add", "."]);
    let at = (1..=n)
        .rev()
        .find(|at| {
            let t = tempfile::tempdir().unwrap();
            let st =
                std::process::Command::new("cp").arg("-a").arg(format!("{}/.", dir.display())).arg(t.path()).status();
            assert!(st.unwrap().success());
            let (stopped, _) = run_until(t.path(), &["add", "."], &at.to_string());
            stopped && reclaimable(&ox(t.path(), &["gc", "--dry-run"])) > 0
        })
        .expect("a write point that leaves unrecorded segment bytes");
    let (stopped, _) = run_until(dir, &["add", "."], &at.to_string());
    assert!(stopped);
    assert!(segment_bytes(dir) > 0);
    ox(dir, &["add", "."]);
    ox(dir, &["commit", "-m", "c1"]);
    // And a segment half dead, for compaction: the retry's segment with a
    // second copy of its records appended (locations name the first).
    let largest = segments(dir).into_iter().max_by_key(|p| p.metadata().unwrap().len()).unwrap();
    let mut bytes = std::fs::read(&largest).unwrap();
    bytes.extend_from_within(..);
    std::fs::write(&largest, bytes).unwrap();
    let mut snaps = vec![(rev(dir), snapshot(dir))];
    write(dir, "data/00.csv", "changed\n");
    write(dir, "new.txt", "new\n");
    ox(dir, &["add", "."]);
    ox(dir, &["commit", "-m", "c2"]);
    snaps.push((rev(dir), snapshot(dir)));
    snaps
}

#[test]
fn gc_reclaims_what_a_killed_add_left_and_loses_nothing() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let snaps = repo_with_orphans(dir);
    let before = segment_bytes(dir);

    let dry = ox(dir, &["gc", "--dry-run"]);
    assert!(dry.contains("would delete segment") || dry.contains("would compact segment"), "{dry}");
    assert_eq!(segment_bytes(dir), before, "a dry run changes nothing");

    let out = ox(dir, &["gc"]);
    assert_eq!(out.lines().count(), 1, "one summary line: {out}");
    assert!(out.contains(" 1 compacted"), "{out}");
    assert!(out.starts_with("gc: "), "{out}");
    let after = segment_bytes(dir);
    assert!(after < before, "segments did not shrink ({before} -> {after}): {out}");
    assert!(out.contains(&format!("reclaimed {} bytes", before - after)), "{out}");
    nothing_committed_is_lost(dir, &snaps, "after gc");
    let again = ox(dir, &["gc"]);
    assert!(again.contains("reclaimed 0 bytes"), "{again}");
}

#[test]
fn a_live_writers_segment_is_untouched() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    repo_with_orphans(dir);
    // Garbage in a segment named after a live process (this test's).
    let live = dir.join(format!(".oxen/versions/segments/{}-abc.seg", std::process::id()));
    std::fs::write(&live, vec![5u8; 4096]).unwrap();
    ox(dir, &["gc"]);
    assert_eq!(std::fs::read(&live).unwrap(), vec![5u8; 4096]);
    ox(dir, &["fsck"]);
}

#[test]
fn gc_survives_a_kill_at_any_of_its_writes() {
    let d = tempfile::tempdir().unwrap();
    let template = d.path().join("template");
    std::fs::create_dir_all(&template).unwrap();
    let snaps = repo_with_orphans(&template);
    let copy = |to: &Path| {
        let st = std::process::Command::new("cp").arg("-a").arg(format!("{}/.", template.display())).arg(to).status();
        assert!(st.unwrap().success());
    };
    let t = tempfile::tempdir().unwrap();
    copy(t.path());
    let n = count_writes(t.path(), &["gc"]);
    // Removing the killed add's segment, and compacting: create, commit, remove.
    assert!(n >= 4, "gc passed only {n} write points");
    let clean = segment_bytes(t.path());
    for at in 1..=n {
        let t = tempfile::tempdir().unwrap();
        copy(t.path());
        let (stopped, err) = run_until(t.path(), &["gc"], &at.to_string());
        assert!(stopped, "gc at {at} of {n} ran to its end: {err}");
        let what = format!("gc killed at write {at} of {n}");
        nothing_committed_is_lost(t.path(), &snaps, &what);
        // The next run reclaims whatever the killed one left.
        ox(t.path(), &["gc"]);
        assert!(segment_bytes(t.path()) <= clean, "{what}: a rerun left more than a clean run");
        nothing_committed_is_lost(t.path(), &snaps, &format!("{what}, then rerun"));
    }
}

#[test]
fn server_gc_reclaims_what_a_killed_push_left() {
    // Find a crash point of the server inside the receive that leaves
    // unrecorded segment bytes, then retry the push and gc.
    for at in 1..200u64 {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let sync_dir = root.join("sync");
        let home = root.join("home");
        std::fs::create_dir_all(&home).unwrap();
        // The API creates the repository before the crash point counts
        // matter; create it with the plain server first.
        let (child, addr) = spawn_server(&sync_dir, &root.join("s0.log"), &[]);
        let token = add_user(&sync_dir, &format!("http://{addr}"), &home.join("user_config.toml"));
        let mut srv = Server { child, addr, sync_dir: sync_dir.clone(), home, token };
        srv.create("R");
        let client = root.join("client");
        std::fs::create_dir_all(&client).unwrap();
        srv.oxen(&client, &["init"]);
        for i in 0..20 {
            write(&client, &format!("f/{i}.txt"), format!("file {i}\n").repeat(30));
        }
        srv.oxen(&client, &["add", "."]);
        srv.oxen(&client, &["commit", "-m", "one"]);
        srv.oxen(&client, &["remote", "add", "origin", &srv.url("R")]);
        let port = srv.addr.rsplit(':').next().unwrap().to_string();
        crate::procs::terminate(&srv.child);
        let _ = srv.child.wait();
        let at_s = at.to_string();
        let (child, addr) = spawn_server_env(
            &sync_dir,
            &root.join("s1.log"),
            &["--port", &port],
            &[("OXEN_TEST_ABORT_AT_WRITE", at_s.as_str())],
        );
        srv.child = child;
        assert_eq!(addr, srv.addr);
        let (pushed, _, _) = srv.output("oxen", &client, &["push", "origin", "main"]);
        let killed = srv.child.try_wait().ok().flatten().is_some() || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            srv.child.try_wait().ok().flatten().is_some()
        };
        if pushed && !killed {
            panic!("no crash point in the receive left unrecorded segment bytes (tried up to {at})");
        }
        let _ = srv.child.wait();
        let repo = sync_dir.join("R");
        let dry = run("oxen-server", root, &["--sync-dir", sync_dir.to_str().unwrap(), "gc", "--dry-run"]);
        if reclaimable(&dry) == 0 {
            continue;
        }
        let (child, _) = spawn_server(&sync_dir, &root.join("s2.log"), &["--port", &port]);
        srv.child = child;
        let (ok, _, err) = srv.output("oxen", &client, &["push", "origin", "main"]);
        assert!(ok, "retry at {at}: {err}");
        let before = segment_bytes(&repo);
        let out = run("oxen-server", root, &["--sync-dir", sync_dir.to_str().unwrap(), "gc"]);
        let after = segment_bytes(&repo);
        assert!(after < before, "crash at {at}: segments did not shrink ({before} -> {after}): {out}");
        assert!(out.contains("R: gc: "), "{out}");
        run("oxen-fsck", &repo, &[]);
        // The pushed commit is whole: a clone checks out as the client has it.
        let cl = root.join("clone");
        srv.oxen(root, &["clone", &srv.url("R"), cl.to_str().unwrap()]);
        let mut want = snapshot(&client);
        want.retain(|k, _| !k.starts_with(".oxen"));
        let mut got = snapshot(&cl);
        got.retain(|k, _| !k.starts_with(".oxen"));
        assert_eq!(got, want);
        return;
    }
    panic!("no crash point left unrecorded segment bytes");
}

// ---- Reachability gc: what no root reaches goes, after the grace period.

pub(crate) fn hash(dir: &Path, rel: &str) -> String {
    run("oxen-hash-object", dir, &[rel]).trim().to_string()
}

/// Whether the contents of `id` are stored and read back whole and valid.
pub(crate) fn stored(dir: &Path, id: &str) -> bool {
    std_bin("oxen-cat-file", dir).args(["-e", id]).status().expect("run").success()
}

/// Drop every reflog entry with `oxen reflog expire --expire=now --all`,
/// so that only refs, HEAD, the index and merge/checkout state are roots.
fn expire_reflogs(dir: &Path) {
    let out = ox(dir, &["reflog", "expire", "--expire=now", "--all"]);
    assert!(out.starts_with("reflog: expired "), "{out}");
    assert!(oxen_store::Db::open(&oxen_store::Layout::at(dir))
        .unwrap()
        .scan(oxen_store::Table::Reflog)
        .unwrap()
        .is_empty());
}

/// The number a summary line gives before `unreachable contents`.
pub(crate) fn removed(summary: &str) -> u64 {
    let (head, _) = summary.split_once(" unreachable contents").expect("a gc summary");
    head.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn unreachable_contents_go_with_prune_now_and_stay_within_the_grace_period() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    ox(dir, &["init"]);
    let big = noise(1, 900 * 1024);
    write(dir, "big.bin", &big);
    write(dir, "a.txt", "kept\n");
    ox(dir, &["add", "."]);
    ox(dir, &["commit", "-m", "one"]);
    let mut snaps = vec![(rev(dir), snapshot(dir))];
    // A branch, then deleted: its commit and the file only it has.
    ox(dir, &["checkout", "-b", "gone"]);
    write(dir, "gone.txt", "only on the deleted branch\n");
    ox(dir, &["add", "gone.txt"]);
    ox(dir, &["commit", "-m", "gone"]);
    let gone = hash(dir, "gone.txt");
    let gone_commit = rev(dir);
    ox(dir, &["checkout", "main"]);
    ox(dir, &["branch", "-D", "gone"]);
    // Added, then unstaged and never committed: a small file and a large
    // one that shares all but its last chunks with the committed big.bin.
    let mut dead_big = big.clone();
    dead_big.extend_from_slice(&noise(2, 300 * 1024));
    write(dir, "junk.txt", "never committed\n");
    write(dir, "dead.bin", &dead_big);
    let (junk, dead) = (hash(dir, "junk.txt"), hash(dir, "dead.bin"));
    ox(dir, &["add", "junk.txt", "dead.bin"]);
    ox(dir, &["rm", "--cached", "junk.txt", "dead.bin"]);
    // Staged and not committed: the index keeps it.
    write(dir, "staged.txt", "staged only\n");
    ox(dir, &["add", "staged.txt"]);
    let staged = hash(dir, "staged.txt");
    for id in [&gone, &junk, &dead, &staged] {
        assert!(stored(dir, id));
    }

    // The default grace period (a day) keeps everything just written: an
    // add or push in flight is never robbed.
    let out = ox(dir, &["gc"]);
    assert_eq!(removed(&out), 0, "{out}");
    assert!(!out.contains(" 0 kept as younger"), "{out}");
    for id in [&gone, &junk, &dead, &staged] {
        assert!(stored(dir, id), "{id} removed within the grace period: {out}");
    }
    // The reflog keeps the deleted branch's commit (as in git); --prune=now
    // removes only what nothing reaches.
    let out = ox(dir, &["gc", "--prune=now"]);
    assert!(removed(&out) >= 3, "{out}");
    assert!(stored(dir, &gone), "the reflog keeps the deleted branch");
    assert!(!stored(dir, &junk) && !stored(dir, &dead), "{out}");
    assert!(stored(dir, &staged), "a staged content was removed");
    assert!(stored(dir, &hash(dir, "big.bin")), "a chunk shared with a dead file was removed");
    ox(dir, &["fsck"]);

    // Once its reflog entries are gone, the deleted branch's file goes too,
    // but only past the grace period.
    expire_reflogs(dir);
    let dry = ox(dir, &["gc", "--dry-run", "--prune=now"]);
    assert_eq!(removed(&dry), 1, "{dry}");
    assert!(dry.contains(", 1 commits and "), "the deleted branch's commit: {dry}");
    assert!(stored(dir, &gone), "a dry run removed something");
    let out = ox(dir, &["gc", "--prune=1h"]);
    assert_eq!(removed(&out), 0, "{out}");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let out = ox(dir, &["gc", "--prune=1s"]);
    assert_eq!(removed(&out), 1, "{out}");
    assert!(!stored(dir, &gone));
    assert!(stored(dir, &staged));
    assert!(stored(dir, &gone_commit), "commits are kept unless --prune=now");
    assert_eq!(removed(&ox(dir, &["gc", "--prune=now"])), 0, "a second run finds no contents");
    assert!(!stored(dir, &gone_commit), "--prune=now removes unreachable commits");
    std::fs::remove_file(dir.join("junk.txt")).unwrap();
    std::fs::remove_file(dir.join("dead.bin")).unwrap();
    ox(dir, &["commit", "-m", "two"]);
    snaps.push((rev(dir), snapshot(dir)));
    nothing_committed_is_lost(dir, &snaps, "after the reflog expired");
}

#[test]
fn a_detached_head_and_a_merge_in_progress_are_roots() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    ox(dir, &["init"]);
    write(dir, "f.txt", "base\n");
    ox(dir, &["add", "."]);
    ox(dir, &["commit", "-m", "base"]);
    // A commit only a detached HEAD names.
    let base = rev(dir);
    ox(dir, &["checkout", &base]);
    write(dir, "detached.txt", "on a detached head\n");
    ox(dir, &["add", "detached.txt"]);
    ox(dir, &["commit", "-m", "detached"]);
    let detached = hash(dir, "detached.txt");
    let detached_snap = (rev(dir), snapshot(dir));
    expire_reflogs(dir);
    let out = ox(dir, &["gc", "--prune=now"]);
    assert_eq!(removed(&out), 0, "{out}");
    assert!(stored(dir, &detached));
    nothing_committed_is_lost(dir, std::slice::from_ref(&detached_snap), "detached HEAD after gc");

    // A merge stopped on a conflict, whose other side is then deleted.
    ox(dir, &["checkout", "main"]);
    ox(dir, &["checkout", "-b", "theirs"]);
    write(dir, "f.txt", "theirs\n");
    write(dir, "theirs-only.txt", "only theirs has this\n");
    ox(dir, &["add", "."]);
    ox(dir, &["commit", "-m", "theirs"]);
    let theirs_only = hash(dir, "theirs-only.txt");
    ox(dir, &["checkout", "main"]);
    write(dir, "f.txt", "ours\n");
    ox(dir, &["add", "."]);
    ox(dir, &["commit", "-m", "ours"]);
    let (ok, _, _) = {
        let o = std_bin("oxen", dir).args(["merge", "theirs"]).output().unwrap();
        (o.status.success(), (), ())
    };
    assert!(!ok, "the merge should stop on the conflict");
    assert!(dir.join(".oxen/MERGE_HEAD").is_file());
    ox(dir, &["branch", "-D", "theirs"]);
    expire_reflogs(dir);
    let out = ox(dir, &["gc", "--prune=now"]);
    assert!(stored(dir, &theirs_only), "the merge in progress lost theirs: {out}");
    ox(dir, &["fsck"]);
    write(dir, "f.txt", "resolved\n");
    ox(dir, &["add", "f.txt"]);
    ox(dir, &["commit", "-m", "merged"]);
    assert_eq!(std::fs::read(dir.join("theirs-only.txt")).unwrap(), b"only theirs has this\n");
    let merged = (rev(dir), snapshot(dir));
    ox(dir, &["gc", "--prune=now"]);
    nothing_committed_is_lost(dir, &[merged], "merge after gc");
    // The detached commit is no longer named by anything.
    expire_reflogs(dir);
    ox(dir, &["gc", "--prune=now"]);
    assert!(!stored(dir, &detached));
}

#[test]
fn gc_with_prune_now_survives_a_kill_at_any_of_its_writes() {
    let d = tempfile::tempdir().unwrap();
    let template = d.path().join("template");
    std::fs::create_dir_all(&template).unwrap();
    let snaps = repo_with_orphans(&template);
    // Unreachable contents for the sweep to remove: loose and in segments.
    write(&template, "junk.txt", "never committed\n");
    write(&template, "junk.bin", noise(3, 700 * 1024));
    ox(&template, &["add", "junk.txt", "junk.bin"]);
    ox(&template, &["rm", "--cached", "junk.txt", "junk.bin"]);
    std::fs::remove_file(template.join("junk.txt")).unwrap();
    std::fs::remove_file(template.join("junk.bin")).unwrap();
    let copy = |to: &Path| {
        let st = std::process::Command::new("cp").arg("-a").arg(format!("{}/.", template.display())).arg(to).status();
        assert!(st.unwrap().success());
    };
    let t = tempfile::tempdir().unwrap();
    copy(t.path());
    let args = ["gc", "--prune=now"];
    let n = count_writes(t.path(), &args);
    assert!(n >= 5, "gc passed only {n} write points");
    for at in 1..=n {
        let t = tempfile::tempdir().unwrap();
        copy(t.path());
        let (stopped, err) = run_until(t.path(), &args, &at.to_string());
        assert!(stopped, "gc at {at} of {n} ran to its end: {err}");
        let what = format!("gc --prune=now killed at write {at} of {n}");
        nothing_committed_is_lost(t.path(), &snaps, &what);
        ox(t.path(), &args);
        assert_eq!(removed(&ox(t.path(), &args)), 0, "{what}: a rerun left something");
        nothing_committed_is_lost(t.path(), &snaps, &format!("{what}, then rerun"));
    }
}

#[test]
fn server_gc_removes_what_no_ref_or_reflog_reaches() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let srv = Server::start(root, &[]);
    srv.create("R");
    let client = root.join("client");
    std::fs::create_dir_all(&client).unwrap();
    srv.oxen(&client, &["init"]);
    write(&client, "main.txt", "on main\n");
    write(&client, "big.bin", noise(4, 800 * 1024));
    srv.oxen(&client, &["add", "."]);
    srv.oxen(&client, &["commit", "-m", "main"]);
    srv.oxen(&client, &["remote", "add", "origin", &srv.url("R")]);
    srv.oxen(&client, &["push", "origin", "main"]);
    srv.oxen(&client, &["checkout", "-b", "topic"]);
    write(&client, "topic.txt", "pushed on a branch later deleted\n");
    srv.oxen(&client, &["add", "."]);
    srv.oxen(&client, &["commit", "-m", "topic"]);
    srv.oxen(&client, &["push", "origin", "topic"]);
    let topic = hash(&client, "topic.txt");
    let repo = srv.sync_dir.join("R");
    assert!(stored(&repo, &topic));
    // The branch is deleted on the server, and what a killed push left
    // (contents received, no ref moved) lies there too.
    run("oxen-update-ref", &repo, &["-d", "heads/topic"]);
    write(&client, "orphan.txt", "received, never referred to\n");
    let orphan = hash(&client, "orphan.txt");
    run("oxen-hash-object", &repo, &["-w", client.join("orphan.txt").to_str().unwrap()]);
    let gc = |args: &[&str]| {
        let mut a = vec!["--sync-dir", srv.sync_dir.to_str().unwrap(), "gc"];
        a.extend_from_slice(args);
        run("oxen-server", root, &a)
    };
    let out = gc(&[]);
    assert!(out.contains("R: gc: 0 unreachable contents removed"), "{out}");
    // The server's reflog keeps the deleted branch's push; the orphan goes.
    let out = gc(&["--prune=now"]);
    assert!(out.contains("R: gc: 1 unreachable contents removed"), "{out}");
    assert!(stored(&repo, &topic));
    assert!(!stored(&repo, &orphan));
    // --prune=now does not shorten the reflog's limits; the repository's
    // gc.reflogExpireUnreachable does: the deleted branch's entries go
    // (the server's own branch entries stay), then what only they kept.
    ox(&repo, &["config", "gc.reflogExpireUnreachable", "now"]);
    let out = gc(&["--dry-run", "--prune=now"]);
    assert!(out.contains("R: gc: 1 unreachable contents would be removed"), "{out}");
    assert!(out.contains("; 2 reflog entries would expire"), "{out}");
    assert!(stored(&repo, &topic));
    let out = gc(&["--prune=now"]);
    assert!(out.contains("R: gc: 1 unreachable contents removed"), "{out}");
    assert!(out.contains("; 2 reflog entries expired"), "{out}");
    assert!(!stored(&repo, &topic));
    assert!(ox(&repo, &["reflog", "main"]).lines().count() >= 1, "main's reachable entries were expired");
    run("oxen-fsck", &repo, &[]);
    let cl = root.join("clone");
    srv.oxen(root, &["clone", &srv.url("R"), cl.to_str().unwrap()]);
    srv.oxen(&client, &["checkout", "main"]);
    let mut want = snapshot(&client);
    want.retain(|k, _| !k.starts_with(".oxen") && k != "orphan.txt");
    let mut got = snapshot(&cl);
    got.retain(|k, _| !k.starts_with(".oxen"));
    assert_eq!(got, want);
}

#[test]
fn a_merge_head_naming_a_missing_commit_stops_gc_and_fsck_reports_it() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    ox(dir, &["init"]);
    write(dir, "f.txt", "base\n");
    ox(dir, &["add", "."]);
    ox(dir, &["commit", "-m", "base"]);
    ox(dir, &["checkout", "-b", "theirs"]);
    write(dir, "f.txt", "theirs\n");
    ox(dir, &["commit", "-a", "-m", "theirs"]);
    let theirs = rev(dir);
    ox(dir, &["checkout", "main"]);
    write(dir, "f.txt", "ours\n");
    ox(dir, &["commit", "-a", "-m", "ours"]);
    assert!(!std_bin("oxen", dir).args(["merge", "theirs"]).status().unwrap().success());
    ox(dir, &["fsck"]);
    ox(dir, &["branch", "-D", "theirs"]);
    expire_reflogs(dir);
    // The commit MERGE_HEAD alone names is lost (a damaged store).
    {
        let db = oxen_store::Db::open(&oxen_store::Layout::at(dir)).unwrap();
        let mut txn = db.begin_write().unwrap();
        let id = oxen_hash::ContentId::from_hex(&theirs).unwrap();
        assert!(txn.delete(oxen_store::Table::Commits, id.as_bytes()).unwrap());
        txn.commit().unwrap();
    }
    let e = ox_err(dir, &["gc", "--prune=now"]);
    assert!(e.contains(&format!("commit {theirs} cannot be read")) && e.contains("nothing was removed"), "{e}");
    let o = std_bin("oxen", dir).arg("fsck").output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains(&format!("missing commit {theirs} (referenced by MERGE_HEAD)")), "{out}");
}
