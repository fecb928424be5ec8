//! Restore, `checkout -- <path>`, `reset -- <path>` and rm read only the
//! subtrees their pathspecs name, in path order (`oxen-repo/src/restore.rs`):
//! neighbouring names (`a`, `a.txt`, `a/b/...`), nested directories and
//! several pathspecs at once behave as one pass over the whole index did.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::common::{ox, ox_err, write};

fn repo() -> tempfile::TempDir {
    let t = tempfile::tempdir().expect("tempdir");
    let r = t.path();
    ox(r, &["init"]);
    for (p, c) in [("a/b/c/deep.txt", "deep\n"), ("a/top.txt", "top\n"), ("a.txt", "a\n"), ("ab/x.txt", "x\n")] {
        write(r, p, c);
    }
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "base"]);
    t
}

fn read(r: &Path, p: &str) -> String {
    String::from_utf8(std::fs::read(r.join(p)).unwrap()).unwrap()
}

#[test]
fn restore_of_neighbouring_and_nested_paths_writes_only_those() {
    let t = repo();
    let r = t.path();
    write(r, "a/b/c/deep.txt", "changed\n");
    write(r, "a.txt", "changed\n");
    write(r, "ab/x.txt", "changed\n");
    ox(r, &["restore", "a.txt", "a", "a/b"]);
    assert_eq!(read(r, "a/b/c/deep.txt"), "deep\n");
    assert_eq!(read(r, "a.txt"), "a\n");
    assert_eq!(ox(r, &["status", "--porcelain"]), " M ab/x.txt");
    // A pathspec naming nothing refuses before anything is written.
    let e = ox_err(r, &["restore", "ab", "nothing"]);
    assert!(e.contains("pathspec 'nothing' did not match any file known to oxen"), "{e}");
    assert_eq!(read(r, "ab/x.txt"), "changed\n");
}

#[test]
fn restore_rewrites_only_files_that_differ() {
    let t = repo();
    let r = t.path();
    let ino = |p: &str| std::fs::symlink_metadata(r.join(p)).unwrap().ino();
    let (top, deep) = (ino("a/top.txt"), ino("a/b/c/deep.txt"));
    write(r, "a/b/c/deep.txt", "changed\n");
    ox(r, &["restore", "."]);
    assert_eq!(read(r, "a/b/c/deep.txt"), "deep\n");
    assert_eq!(ino("a/top.txt"), top, "a file that already matched is left as it is");
    assert_ne!(ino("a/b/c/deep.txt"), deep, "a changed file is replaced (temp file and rename)");
    assert_eq!(ox(r, &["status", "--porcelain"]), "");
}

#[test]
fn restore_from_a_revision_and_reset_of_a_directory() {
    let t = repo();
    let r = t.path();
    write(r, "a/b/c/deep.txt", "second\n");
    write(r, "a/b/new.txt", "new\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "second"]);
    // The work tree only: the index keeps HEAD's version.
    ox(r, &["restore", "--source", "HEAD~1", "a/b"]);
    assert_eq!(read(r, "a/b/c/deep.txt"), "deep\n");
    assert_eq!(read(r, "a/b/new.txt"), "new\n", "a file the source lacks is left alone");
    assert_eq!(ox(r, &["status", "--porcelain"]), " M a/b/c/deep.txt");
    // reset -- <dir> to a revision: the index only, a file new since unstaged.
    ox(r, &["reset", "HEAD~1", "--", "a"]);
    let st = ox(r, &["status", "--porcelain"]);
    assert_eq!(st, "M  a/b/c/deep.txt\nD  a/b/new.txt\n?? a/b/new.txt", "{st}");
    ox(r, &["restore", "--staged", "a"]);
    assert_eq!(ox(r, &["status", "--porcelain"]), " M a/b/c/deep.txt");
}

#[test]
fn rm_of_several_paths_prints_and_refuses_in_path_order() {
    let t = repo();
    let r = t.path();
    write(r, "a/top.txt", "unstaged\n");
    write(r, "a.txt", "staged\n");
    ox(r, &["add", "a.txt"]);
    // The first changed path in path order: `a.txt` sorts before `a/...`.
    let e = ox_err(r, &["rm", "-r", "a", "a.txt"]);
    assert!(e.contains("'a.txt' has local changes"), "{e}");
    // Local changes are found before the pathspecs are checked.
    let e = ox_err(r, &["rm", "a"]);
    assert!(e.contains("'a/top.txt' has local changes"), "{e}");
    let e = ox_err(r, &["rm", "ab"]);
    assert!(e.contains("not removing 'ab' recursively without -r"), "{e}");
    let e = ox_err(r, &["rm", "-r", "ab", "nothing"]);
    assert!(e.contains("pathspec 'nothing' did not match any files"), "{e}");
    assert!(r.join("ab/x.txt").exists());
    let o = ox(r, &["rm", "-r", "--cached", "a", "a/b", "a.txt"]);
    assert_eq!(o, "rm 'a.txt'\nrm 'a/b/c/deep.txt'\nrm 'a/top.txt'");
    assert_eq!(read(r, "a/top.txt"), "unstaged\n");
    let o = ox(r, &["rm", "-r", "ab"]);
    assert_eq!(o, "rm 'ab/x.txt'");
    assert!(!r.join("ab").exists());
    let st = ox(r, &["status", "--porcelain"]);
    assert_eq!(st, "D  a.txt\nD  a/b/c/deep.txt\nD  a/top.txt\nD  ab/x.txt\n?? a.txt\n?? a/", "{st}");
}
