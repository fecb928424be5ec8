//! The store's edges: temp files of a killed writer (a pack receive) are swept by
//! the next command, a missing `.oxen/tmp` is made again, a full disk is named as
//! such with its path, and a garbage config is reported before any output.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::common::*;

fn tmp_entries(r: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(r.join(".oxen/tmp"))
        .map(|rd| rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// A pid no process has: past the kernel's largest pid_max (2^22).
const DEAD_PID: u32 = 1 << 23;

#[test]
fn a_planted_temp_file_of_a_dead_writer_is_swept() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    ox(r, &["init"]);
    let dead = format!("{DEAD_PID}-leftover.tmp");
    write(r, &format!(".oxen/tmp/{dead}"), vec![0u8; 4096]);
    // A live writer's file (this test process is alive) stays.
    let live = format!("{}-inflight.tmp", std::process::id());
    write(r, &format!(".oxen/tmp/{live}"), b"being written");
    ox(r, &["status"]);
    assert_eq!(tmp_entries(r), vec![live]);
}

/// Block files of writer `pid` in a repository's segments directory.
fn blocks_of(r: &Path, pid: u32) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(r.join(".oxen/versions/segments"))
        .map(|rd| rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.retain(|n| n.starts_with(&format!("{pid}-")));
    v.sort();
    v
}

#[test]
fn a_killed_fetch_leaves_blocks_gc_reclaims_and_the_retry_works() {
    let d = tempfile::tempdir().unwrap();
    let remote = d.path().join("remote");
    std::fs::create_dir_all(&remote).unwrap();
    ox(&remote, &["init"]);
    write(&remote, "a.txt", "a\n");
    ox(&remote, &["add", "."]);
    ox(&remote, &["commit", "-m", "first"]);
    ox(d.path(), &["clone", remote.to_str().unwrap(), "local"]);
    let r = &d.path().join("local");
    let mut caught = Vec::new();
    let mut pid = 0;
    for attempt in 0..10u8 {
        // Received contents go into blocks of the receiving process (named
        // after its pid), recorded only when the fetch finishes. New
        // contents each attempt, so a finished fetch is no shortcut.
        for i in 0..4u8 {
            write(&remote, &format!("big{i}.bin"), vec![attempt * 4 + i; 32 << 20]);
        }
        ox(&remote, &["add", "."]);
        ox(&remote, &["commit", "-m", &format!("attempt {attempt}")]);
        let mut child =
            std_bin("oxen", r).args(["fetch", "origin"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        pid = child.id();
        let seen = crate::procs::wait_until(Duration::from_secs(30), || {
            !blocks_of(r, pid).is_empty() || child.try_wait().unwrap().is_some()
        });
        let done = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        let _ = child.wait();
        caught = blocks_of(r, pid);
        if seen && !done && !caught.is_empty() {
            break;
        }
    }
    assert!(!caught.is_empty(), "never caught the fetch writing a block");
    // Nothing it wrote is visible; gc reclaims its blocks.
    ox(r, &["fsck"]);
    ox(r, &["gc"]);
    assert_eq!(blocks_of(r, pid), Vec::<String>::new(), "the dead fetch's blocks stayed: {caught:?}");
    ox(r, &["fetch", "origin"]);
    ox(r, &["fsck"]);
}

#[test]
fn a_missing_tmp_directory_is_made_again() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    ox(r, &["init"]);
    std::fs::remove_dir(r.join(".oxen/tmp")).unwrap();
    write(r, "big.bin", vec![9u8; 3 << 20]);
    write(r, "small.txt", "s\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "one"]);
    // Gone again if add or commit made it (chunked contents do not pass
    // through it): HEAD is written through .oxen/tmp too.
    if r.join(".oxen/tmp").exists() {
        std::fs::remove_dir(r.join(".oxen/tmp")).unwrap();
    }
    ox(r, &["switch", "-c", "other"]);
    assert_eq!(run("oxen-rev-parse", r, &["--abbrev-ref", "HEAD"]), "other");
    assert_eq!(ox(r, &["fsck"]), "checked 1 commits, 1 trees, 2 files");
}

#[test]
fn a_garbage_config_is_reported_before_any_output() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    ox(r, &["init"]);
    write(r, "a.txt", "a\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "one"]);
    write(r, "b.txt", "b\n");
    std::fs::write(r.join(".oxen/config.toml"), "[user\nname = 1\n").unwrap();
    for args in [vec!["status"], vec!["status", "--porcelain"], vec!["log"], vec!["diff"], vec!["show"], vec!["branch"]]
    {
        let mut c = oxen(r);
        c.args(&args);
        let o = c.output().unwrap();
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(o.stdout.is_empty(), "{args:?} printed before failing: {}", String::from_utf8_lossy(&o.stdout));
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(e.lines().count(), 1, "{args:?}: {e}");
        assert!(e.starts_with("error: config ") && e.contains("config.toml: line 1"), "{args:?}: {e}");
    }
}

/// A small tmpfs mounted for one test (needs root; skipped otherwise).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_says_no_space_left_on_the_file() {
    let d = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&d.path().join("mnt"), "4m") else {
        eprintln!("cannot mount a tmpfs (not root?); skipping");
        return;
    };
    let r = fs.0.join("repo");
    std::fs::create_dir_all(&r).unwrap();
    ox(&r, &["init"]);
    // The work-tree file and its copy in the store cannot both fit
    // (incompressible bytes with no repeated chunk).
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..5usize << 19)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    write(&r, "big.bin", noise);
    let e = ox_err(&r, &["add", "big.bin"]);
    assert!(e.starts_with("error: no space left on "), "{e}");
    assert!(e.contains(&r.join(".oxen").display().to_string()), "{e}");
    assert_eq!(tmp_entries(&r), Vec::<String>::new(), "the failed write's temp file stayed");
    // With room again, the same add works.
    std::fs::write(r.join("big.bin"), vec![5u8; 1 << 19]).unwrap();
    ox(&r, &["add", "big.bin"]);
    ox(&r, &["commit", "-m", "fits"]);
}
