//! Crash consistency: `add`, `commit` and `checkout` stopped dead at
//! points spread over all their work, then checked.
//!
//! Kill points come from `OXEN_TEST_ABORT_AT_WRITE=N`: the binary aborts
//! (SIGABRT, no destructors, no flushing: what `kill -9` leaves) just before
//! its N-th durable write (every LMDB commit, versions-store write, atomic
//! small file, and each work-tree create, rename, removal and directory;
//! see `oxen_store::faults`). `OXEN_TEST_ABORT_AT_WRITE=count` runs the
//! command whole and reports how many write points it passed, so the trials
//! draw N over exactly that range. A write point stops the process before
//! the write and the trials cover every stage, which random delays hit only
//! by luck.
//!
//! After each kill: `oxen fsck` passes, the retry of the same command
//! succeeds (for `commit`, unless the kill came after the commit was
//! recorded: then it already happened), and nothing committed is lost:
//! every earlier commit still checks out byte for byte.
//!
//! CI runs [`TRIALS`] kills per command. For thousands, run
//! `tests/crash-trials 2000` (it sets `OXEN_CRASH_TRIALS`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{ox, oxen, run, snapshot, std_bin, write};

/// Kills per command in CI.
const TRIALS: u64 = 25;

/// What each command's [`TRIALS`] may take in all (debug builds on a busy
/// machine included); a run past it fails the test. Scaled up when more
/// trials are asked for.
const BUDGET: Duration = Duration::from_secs(60);

fn trials() -> u64 {
    std::env::var("OXEN_CRASH_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(TRIALS)
}

type Snap = BTreeMap<String, Vec<u8>>;

/// A repository with two commits on `main` and one on `other`, whose trees
/// differ in every way a checkout handles: changed, added and removed
/// files, a file that becomes a directory, a symlink, a file past the
/// small-file limit and small ones (stored in segments); [`new_work`] adds
/// a file past the chunking threshold (chunks plus a chunk list).
/// Returns each commit's id and snapshot, `other`'s last.
fn template(dir: &Path) -> Vec<(String, Snap)> {
    ox(dir, &["init"]);
    for i in 0..12 {
        write(dir, &format!("data/{i:02}.csv"), format!("id,v\n{i},{}\n", i * 7));
    }
    write(dir, "notes.txt", "first\n");
    write(dir, "becomes_dir", "a file for now\n");
    std::os::unix::fs::symlink("notes.txt", dir.join("link")).expect("symlink");
    ox(dir, &["add", "."]);
    ox(dir, &["commit", "-m", "c1"]);
    let id = |dir: &Path| run("oxen-rev-parse", dir, &["HEAD"]);
    let mut snaps = vec![(id(dir), snapshot(dir))];
    write(dir, "notes.txt", "second\n");
    write(dir, "big.bin", vec![7u8; 300 * 1024]);
    ox(dir, &["add", "."]);
    ox(dir, &["commit", "-m", "c2"]);
    snaps.push((id(dir), snapshot(dir)));
    ox(dir, &["checkout", "-b", "other", "HEAD~1"]);
    std::fs::remove_file(dir.join("becomes_dir")).expect("rm");
    write(dir, "becomes_dir/inside.txt", "now a dir\n");
    for i in 0..6 {
        std::fs::remove_file(dir.join(format!("data/{i:02}.csv"))).expect("rm");
    }
    for i in 0..10 {
        write(dir, &format!("more/{i}/x.txt"), format!("x{i}\n"));
    }
    write(dir, "other-big.bin", vec![9u8; 200 * 1024]);
    ox(dir, &["add", "-A"]);
    ox(dir, &["commit", "-m", "c3"]);
    snaps.push((id(dir), snapshot(dir)));
    ox(dir, &["checkout", "main"]);
    snaps
}

/// Copy a repository (links as links) into a fresh directory.
fn copy_repo(from: &Path, to: &Path) {
    let st = std::process::Command::new("cp").arg("-a").arg(format!("{}/.", from.display())).arg(to).status();
    assert!(st.expect("cp").success(), "cp -a failed");
}

/// Run `oxen <args>` with the abort point set; whether it was stopped
/// there (false: it ran to its end, successfully, or for a merge with
/// conflicts with their exit code 1).
fn run_until(dir: &Path, args: &[&str], at: &str) -> (bool, String) {
    let o = std_bin("oxen", dir).env("OXEN_TEST_ABORT_AT_WRITE", at).args(args).output().expect("run");
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    if o.status.success() || (args[0] == "merge" && o.status.code() == Some(1)) {
        return (false, err);
    }
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(o.status.signal(), Some(6), "{args:?} at {at} failed without being stopped: {err}");
    (true, err)
}

/// How many write points a whole run of `args` passes, from a copy of `repo`.
fn count_writes(repo: &Path, args: &[&str], prepare: &dyn Fn(&Path)) -> u64 {
    let t = tempfile::tempdir().expect("tempdir");
    copy_repo(repo, t.path());
    prepare(t.path());
    let (stopped, err) = run_until(t.path(), args, "count");
    assert!(!stopped);
    let n = err
        .lines()
        .find_map(|l| l.strip_prefix("oxen: write points: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no write count in: {err}"));
    assert!(n > 3, "{args:?} passed only {n} write points");
    n
}

/// The abort points of the trials: spread evenly over `1..=count`, each
/// shifted by a deterministic pseudo-random offset within its slot, so the
/// first and last writes are always among them.
fn points(count: u64, trials: u64) -> Vec<u64> {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15 ^ count;
    (0..trials)
        .map(|i| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            if i == 0 {
                return 1;
            }
            if i == trials - 1 {
                return count;
            }
            let lo = 1 + i * count / trials;
            let hi = (1 + (i + 1) * count / trials).max(lo + 1);
            (lo + seed % (hi - lo)).min(count)
        })
        .collect()
}

/// Every commit of `snaps` checks out byte for byte, and the repository is
/// whole.
fn nothing_committed_is_lost(dir: &Path, snaps: &[(String, Snap)], what: &str) {
    ox(dir, &["fsck"]);
    for (id, snap) in snaps {
        ox(dir, &["checkout", "--force", id]);
        assert_eq!(&snapshot(dir), snap, "{what}: {id} does not check out as committed");
    }
}

/// Kill `args` at each trial point (after `prepare` set up the work tree),
/// then check fsck, run `retry` (the same command, unless told otherwise)
/// and `verify`.
fn crash_trials(
    name: &str,
    args: &[&str],
    prepare: &dyn Fn(&Path),
    retry: &dyn Fn(&Path, &str),
    verify: &dyn Fn(&Path, &str),
) {
    let base = tempfile::tempdir().expect("tempdir");
    let snaps = template(base.path());
    let count = count_writes(base.path(), args, prepare);
    let start = Instant::now();
    let pts = points(count, trials());
    let mut stopped_runs = 0;
    for (i, n) in pts.iter().enumerate() {
        let budget = BUDGET * (trials().div_ceil(TRIALS)) as u32;
        assert!(start.elapsed() < budget, "{name}: {i} trials took longer than {budget:?}");
        let t = tempfile::tempdir().expect("tempdir");
        let dir = t.path();
        copy_repo(base.path(), dir);
        prepare(dir);
        let what = format!("{name} stopped at write {n} of {count}");
        let (stopped, err) = run_until(dir, args, &n.to_string());
        assert!(stopped, "{what}: ran to the end: {err}");
        stopped_runs += 1;
        // The repository is whole right after the kill.
        let o = oxen(dir).arg("fsck").output().expect("fsck");
        assert!(o.status.success(), "{what}: fsck failed: {}", String::from_utf8_lossy(&o.stdout));
        retry(dir, &what);
        verify(dir, &what);
        nothing_committed_is_lost(dir, &snaps, &what);
    }
    assert_eq!(stopped_runs as u64, trials());
    eprintln!("crash {name}: {} kills over {count} write points in {:?}", pts.len(), start.elapsed());
}

fn new_work(dir: &Path) {
    write(dir, "notes.txt", "third\n");
    for i in 0..8 {
        write(dir, &format!("new/{i}.txt"), format!("new {i}\n"));
    }
    // Past the chunking threshold, and varied, so that the add appends a
    // run of distinct chunks and then the chunk list: the kills land
    // between chunks, and between the last chunk and the list.
    write(dir, "new/big.bin", crate::common::noise(0x2545_f491_4f6c_dd1d, 1536 * 1024));
    std::fs::remove_file(dir.join("data/11.csv")).expect("rm");
}

fn no_tmp_left(dir: &Path, what: &str) {
    let leftovers: Vec<String> = snapshot(dir)
        .into_keys()
        .filter(|p| p.rsplit('/').next().is_some_and(|n| n.starts_with(".oxen-tmp")))
        .collect();
    assert!(leftovers.is_empty(), "{what}: temp files left: {leftovers:?}");
}

#[test]
fn add_survives_a_kill_at_any_write() {
    let expected = {
        let t = tempfile::tempdir().expect("tempdir");
        template(t.path());
        new_work(t.path());
        ox(t.path(), &["add", "-A"]);
        ox(t.path(), &["status", "--porcelain"])
    };
    crash_trials(
        "add",
        &["add", "-A"],
        &new_work,
        &|dir, what| {
            let o = oxen(dir).args(["add", "-A"]).output().expect("add");
            assert!(o.status.success(), "{what}: retry failed: {}", String::from_utf8_lossy(&o.stderr));
        },
        &|dir, what| {
            assert_eq!(ox(dir, &["status", "--porcelain"]), expected, "{what}");
            let staged = snapshot(dir);
            ox(dir, &["commit", "-m", "after the crash"]);
            ox(dir, &["checkout", "--force", "HEAD~1"]);
            ox(dir, &["checkout", "--force", "main"]);
            assert_eq!(snapshot(dir), staged, "{what}: what was added does not check out");
        },
    );
}

#[test]
fn commit_survives_a_kill_at_any_write() {
    let prepare = |dir: &Path| {
        new_work(dir);
        ox(dir, &["add", "-A"]);
    };
    crash_trials(
        "commit",
        &["commit", "-m", "crash"],
        &prepare,
        &|dir, what| {
            let log = ox(dir, &["log", "--oneline", "-n", "1"]);
            if log.ends_with(" crash") {
                // Killed after the commit was recorded: it happened.
                return;
            }
            let o = oxen(dir).args(["commit", "-m", "crash"]).output().expect("commit");
            assert!(o.status.success(), "{what}: retry failed: {}", String::from_utf8_lossy(&o.stderr));
        },
        &|dir, what| {
            assert!(ox(dir, &["log", "--oneline", "-n", "1"]).ends_with(" crash"), "{what}");
            assert_eq!(ox(dir, &["status", "--porcelain"]), "", "{what}");
            let committed = snapshot(dir);
            ox(dir, &["checkout", "--force", "HEAD~1"]);
            ox(dir, &["checkout", "--force", "main"]);
            assert_eq!(snapshot(dir), committed, "{what}: the new commit does not check out");
        },
    );
}

#[test]
fn checkout_survives_a_kill_at_any_write() {
    let other = {
        let t = tempfile::tempdir().expect("tempdir");
        template(t.path()).pop().expect("other").1
    };
    crash_trials(
        "checkout",
        &["checkout", "other"],
        &|_| {},
        &|dir, what| {
            let o = oxen(dir).args(["checkout", "other"]).output().expect("checkout");
            assert!(o.status.success(), "{what}: retry failed: {}", String::from_utf8_lossy(&o.stderr));
        },
        &|dir, what| {
            assert!(!dir.join(".oxen/CHECKOUT").exists(), "{what}: record left");
            assert_eq!(snapshot(dir), other, "{what}");
            no_tmp_left(dir, what);
            assert_eq!(ox(dir, &["status", "--porcelain"]), "", "{what}");
            assert_eq!(run("oxen-rev-parse", dir, &["--abbrev-ref", "HEAD"]), "other", "{what}");
        },
    );
}

/// Both branches edit `notes.txt` differently: merging `other` into `main`
/// conflicts there and merges the rest.
fn diverge(dir: &Path) {
    ox(dir, &["checkout", "other"]);
    write(dir, "notes.txt", "from other\n");
    ox(dir, &["commit", "-am", "other edits notes"]);
    ox(dir, &["checkout", "main"]);
    write(dir, "notes.txt", "from main\n");
    ox(dir, &["commit", "-am", "main edits notes"]);
}

/// A merge with conflicts writes the merged files, the conflict markers
/// and the merge state: a kill between any two of them must neither leave
/// markers without the state that explains them (the retry would refuse
/// over "uncommitted changes") nor the state without the markers.
#[test]
fn a_conflicted_merge_survives_a_kill_at_any_write() {
    let merge_conflicts = |dir: &Path, what: &str| {
        let o = oxen(dir).args(["merge", "other"]).output().expect("merge");
        assert_eq!(o.status.code(), Some(1), "{what}: merge: {}", String::from_utf8_lossy(&o.stderr));
    };
    let (expected, expected_status) = {
        let t = tempfile::tempdir().expect("tempdir");
        template(t.path());
        diverge(t.path());
        merge_conflicts(t.path(), "uninterrupted");
        (snapshot(t.path()), ox(t.path(), &["status", "--porcelain"]))
    };
    assert!(expected_status.contains("UU notes.txt"), "{expected_status}");
    crash_trials(
        "merge",
        &["merge", "other"],
        &diverge,
        &|dir, what| {
            // The next command completes an interrupted merge; a merge that
            // was not under way yet is simply run again.
            ox(dir, &["status"]);
            if !dir.join(".oxen/MERGE_HEAD").exists() {
                merge_conflicts(dir, what);
            }
        },
        &|dir, what| {
            assert!(!dir.join(".oxen/CHECKOUT").exists(), "{what}: record left");
            assert_eq!(snapshot(dir), expected, "{what}");
            assert_eq!(ox(dir, &["status", "--porcelain"]), expected_status, "{what}");
            no_tmp_left(dir, what);
            ox(dir, &["merge", "--abort"]);
        },
    );
}
