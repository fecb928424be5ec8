//! The store's edges: temp files of a killed writer are swept by the next
//! command, and a missing `.oxen/tmp` is made again.

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

#[test]
fn a_killed_add_leaves_temp_files_the_next_command_sweeps() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    ox(r, &["init"]);
    let mut caught = Vec::new();
    for attempt in 0..10u8 {
        // Large files stream through .oxen/tmp; several are staged at once.
        // New contents each attempt, so a finished add is no shortcut.
        for i in 0..4u8 {
            write(r, &format!("big{i}.bin"), vec![attempt * 4 + i; 32 << 20]);
        }
        let mut child =
            std_bin("oxen", r).arg("add").arg(".").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let seen = crate::procs::wait_until(Duration::from_secs(30), || {
            !tmp_entries(r).is_empty() || child.try_wait().unwrap().is_some()
        });
        let _ = child.kill();
        let _ = child.wait();
        caught = tmp_entries(r);
        if seen && !caught.is_empty() {
            break;
        }
    }
    assert!(!caught.is_empty(), "never caught the add with a temp file open");
    ox(r, &["status"]);
    assert_eq!(tmp_entries(r), Vec::<String>::new(), "the dead add's temp files stayed: {caught:?}");
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
    std::fs::remove_dir(r.join(".oxen/tmp")).unwrap();
    // HEAD is written through .oxen/tmp too.
    ox(r, &["switch", "-c", "other"]);
    assert_eq!(run("oxen-rev-parse", r, &["--abbrev-ref", "HEAD"]), "other");
    assert_eq!(ox(r, &["fsck"]), "checked 1 commits, 1 trees, 2 files");
}
