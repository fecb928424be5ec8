//! Streamed diffs: every comparison (two commits, index vs HEAD, work tree
//! vs index, work tree vs a commit) hands out paths in byte order as it
//! walks, including where a file becomes a directory and back, and
//! `--name-status` names them without reading contents.

use crate::common::*;

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[test]
fn name_status_is_in_path_byte_order_across_file_and_directory_swaps() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    ox(d, &["init"]);
    write(d, "a", "a file\n");
    write(d, "a-b.txt", "one\n");
    write(d, "b/x.txt", "x\n");
    write(d, "c.txt", "c\n");
    ox(d, &["add", "."]);
    ox(d, &["commit", "-m", "one"]);
    ox(d, &["rm", "a", "b/x.txt"]);
    write(d, "a/y.txt", "y\n");
    write(d, "a-b.txt", "two\n");
    write(d, "b", "b is a file now\n");
    write(d, "d.txt", "d\n");
    ox(d, &["add", "."]);
    ox(d, &["commit", "-m", "two"]);
    // "a" < "a-b.txt" < "a/y.txt" < "b" < "b/x.txt" < "d.txt": a
    // directory's paths sort after a sibling name with a byte below '/'.
    let want = ["D\ta", "M\ta-b.txt", "A\ta/y.txt", "A\tb", "D\tb/x.txt", "A\td.txt"];
    assert_eq!(lines(&ox(d, &["diff", "--name-status", "HEAD~1", "HEAD"])), want);
    // The other outputs follow the same order, written as they come.
    let stat = ox(d, &["diff", "--stat", "HEAD~1", "HEAD"]);
    let paths: Vec<&str> =
        stat.lines().filter_map(|l| l.split(" | ").next()).map(str::trim).filter(|p| !p.contains(' ')).collect();
    assert_eq!(paths, ["a", "a-b.txt", "a/y.txt", "b", "b/x.txt", "d.txt"]);
    assert!(stat.ends_with(" 6 files changed, 4 insertions(+), 3 deletions(-)"), "{stat:?}");
    let json: serde_json::Value = serde_json::from_str(&ox(d, &["diff", "--json", "HEAD~1", "HEAD"])).unwrap();
    let files: Vec<&str> = json["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(files, ["a", "a-b.txt", "a/y.txt", "b", "b/x.txt", "d.txt"]);
    // Nothing differs: an empty document, and no lines.
    assert_eq!(ox(d, &["diff", "--json", "HEAD", "HEAD"]), "{\"files\":[]}");
    assert_eq!(ox(d, &["diff", "--name-status", "HEAD", "HEAD"]), "");
}

#[test]
fn name_status_of_work_tree_index_and_head() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    ox(d, &["init"]);
    for f in ["c.txt", "d.txt", "e/f.txt"] {
        write(d, f, format!("{f}\n"));
    }
    ox(d, &["add", "."]);
    ox(d, &["commit", "-m", "one"]);
    write(d, "c.txt", "changed\n");
    std::fs::remove_file(d.join("d.txt")).unwrap();
    write(d, "untracked.txt", "not listed\n");
    assert_eq!(lines(&ox(d, &["diff", "--name-status"])), ["M\tc.txt", "D\td.txt"]);
    assert_eq!(ox(d, &["diff", "--staged", "--name-status"]), "");
    ox(d, &["add", "c.txt"]);
    write(d, "e/f.txt", "changed too\n");
    assert_eq!(lines(&ox(d, &["diff", "--staged", "--name-status"])), ["M\tc.txt"]);
    assert_eq!(lines(&ox(d, &["diff", "--name-status"])), ["D\td.txt", "M\te/f.txt"]);
    // Work tree against HEAD: staged and unstaged together.
    assert_eq!(lines(&ox(d, &["diff", "--name-status", "HEAD"])), ["M\tc.txt", "D\td.txt", "M\te/f.txt"]);
}
