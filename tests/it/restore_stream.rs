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
    // A tracked file the source lacks leaves the work tree (git's
    // no-overlay default); the index keeps it.
    assert!(!r.join("a/b/new.txt").exists());
    assert_eq!(ox(r, &["status", "--porcelain"]), " M a/b/c/deep.txt\n D a/b/new.txt");
    write(r, "a/b/new.txt", "new\n");
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

/// git, with no user or system configuration.
fn git(dir: &Path, args: &[&str]) -> (bool, String) {
    let o = std::process::Command::new("git")
        .args(["-c", "core.quotePath=true", "-c", "user.name=T", "-c", "user.email=t@e", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir.join(".git"))
        .output()
        .expect("git runs");
    (o.status.success(), String::from_utf8(o.stdout).unwrap().trim_end().to_string())
}

/// The same history and local changes in an Oxen and a git work tree:
/// two commits (the second edits, removes and adds under `a/`), then an
/// unstaged edit, a staged new file, a staged-then-edited file and a
/// tracked file edited again.
fn twin_repos() -> (tempfile::TempDir, tempfile::TempDir) {
    let (o, g) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    ox(o.path(), &["init"]);
    assert!(git(g.path(), &["init", "-q", "-b", "main"]).0);
    type Step<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], Option<&'a str>);
    let steps: [Step; 3] = [
        (&[("a/x", "x1\n"), ("a/y", "y1\n"), ("b.txt", "b1\n")], &["add", "."], Some("one")),
        (&[("a/x", "x2\n"), ("a/new", "n2\n"), ("b.txt", "b2\n")], &["add", "."], Some("two")),
        (
            &[("a/x", "x3\n"), ("a/staged", "s3\n"), ("a/new", "w3\n"), ("b.txt", "b3\n")],
            &["add", "a/staged", "b.txt"],
            None,
        ),
    ];
    for (i, (files, add, commit)) in steps.iter().enumerate() {
        for (p, c) in *files {
            write(o.path(), p, c);
            write(g.path(), p, c);
        }
        if i == 1 {
            ox(o.path(), &["rm", "a/y"]);
            assert!(git(g.path(), &["rm", "-q", "a/y"]).0);
        }
        ox(o.path(), add);
        assert!(git(g.path(), add).0);
        if let Some(m) = commit {
            ox(o.path(), &["commit", "-m", m]);
            assert!(git(g.path(), &["commit", "-q", "-m", m]).0);
        }
    }
    write(o.path(), "b.txt", "b4\n");
    write(g.path(), "b.txt", "b4\n");
    (o, g)
}

/// Each path-wise command leaves index and work tree as git's does: the
/// same `status --porcelain` and the same files. `checkout <rev> -- <path>`
/// takes the revision's versions into the index too (overlay: a tracked
/// file the revision lacks stays); `restore --source` without `--staged`
/// changes the work tree only, removing tracked files the source lacks
/// (git's no-overlay default).
#[test]
fn checkout_restore_and_reset_of_paths_match_git() {
    if std::process::Command::new("git").arg("--version").output().is_err() {
        return;
    }
    let table: &[&[&str]] = &[
        &["checkout", "HEAD~1", "--", "a"],
        &["checkout", "HEAD~1", "--", "b.txt"],
        &["checkout", "--", "a"],
        &["restore", "a"],
        &["restore", "--source", "HEAD~1", "a"],
        &["restore", "--source", "HEAD~1", "a/new"],
        &["restore", "--staged", "a"],
        &["restore", "--staged", "--worktree", "--source", "HEAD~1", "a"],
        &["restore", "--staged", "--worktree", "--source", "HEAD~1", "b.txt"],
        &["reset", "HEAD~1", "--", "a"],
        &["reset", "HEAD~1", "--", "a/new"],
    ];
    for cmd in table {
        let (o, g) = twin_repos();
        let (o, g) = (o.path(), g.path());
        // git's reset prints what stays unstaged; only the state matters.
        let ok = git(g, cmd).0;
        assert!(ok || cmd[0] == "reset", "git {cmd:?}");
        ox(o, cmd);
        let want = git(g, &["status", "--porcelain"]).1;
        assert_eq!(ox(o, &["status", "--porcelain"]), want, "after {cmd:?}");
        assert_eq!(crate::common::snapshot(o), crate::common::snapshot(g), "work tree after {cmd:?}");
    }
    // Overlay mode needs the path in the revision, as git's checkout.
    let (o, g) = twin_repos();
    assert!(!git(g.path(), &["checkout", "HEAD~1", "--", "a/new"]).0);
    let e = ox_err(o.path(), &["checkout", "HEAD~1", "--", "a/new"]);
    assert!(e.contains("pathspec 'a/new' did not match any file known to oxen"), "{e}");
}
