//! The binaries' edge: a closed pipe ends any command quietly (no panic,
//! no message, status 0 or 141), clap refuses bad fixed choices, and
//! `cat-file -e` answers through its exit status.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::*;

/// A repository whose every listing is far larger than a pipe buffer:
/// 3,000 tracked files (all modified in the work tree), 600 commits, a
/// 2 MiB blob.
fn big_repo(root: &Path) {
    ox(root, &["init"]);
    for i in 0..3000 {
        write(root, &format!("a-rather-long-directory-name/file-number-{i:05}.txt"), format!("line {i}\n"));
    }
    write(root, "big.bin", vec![7u8; 2 << 20]);
    ox(root, &["add", "."]);
    ox(root, &["commit", "-m", "first"]);
    // Many commits, made in-process: one process per commit would be slow.
    {
        let repo = oxen_repo::Repo::open(root).unwrap();
        let mut parent = repo.head_commit().unwrap().unwrap();
        let tree = repo.read_commit(&parent).unwrap().tree;
        for i in 0..600 {
            let author = oxen_object::Signature {
                name: "T".into(),
                email: "t@x".into(),
                time: 1_700_000_000 + i,
                tz_minutes: 0,
            };
            let c = oxen_object::Commit { tree, parents: vec![parent], author, message: format!("commit {i}\n") };
            parent = repo.write_commit(&c).unwrap();
        }
        let main = oxen_refs::BranchName::new("main").unwrap().to_ref();
        repo.refs().update(&main, Some(parent), oxen_refs::Expect::Any, "test").unwrap();
    }
    for i in 0..3000 {
        write(root, &format!("a-rather-long-directory-name/file-number-{i:05}.txt"), format!("line {i}\nchanged\n"));
    }
}

/// Run `bin args` in `dir`, read one line of stdout, close the pipe, and
/// return the exit status and everything on stderr.
fn close_after_first_line(bin: &str, dir: &Path, args: &[String]) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin(bin))
        .current_dir(dir)
        .env("OXEN_HOME", dir.join(".oxen-home-for-tests"))
        .env("OXEN_AUTHOR_NAME", "T")
        .env("OXEN_AUTHOR_EMAIL", "t@x")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 1];
    let _ = stdout.read(&mut first);
    drop(stdout);
    let mut stderr = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("read stderr");
    (child.wait().expect("wait"), stderr)
}

fn quiet_exit(status: std::process::ExitStatus) -> bool {
    status.code() == Some(0) || status.code() == Some(141) || status.signal() == Some(libc_sigpipe())
}

fn libc_sigpipe() -> i32 {
    13
}

#[test]
fn a_closed_stdout_ends_every_printing_command_quietly() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    big_repo(r);
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let mut heads = vec!["HEAD".to_string(); 20_000];
    heads.insert(0, "--short".into());
    let cases: BTreeMap<&str, (&str, Vec<String>)> = BTreeMap::from([
        ("rev-parse", ("oxen-rev-parse", s(&["HEAD"]).into_iter().chain(vec!["HEAD".to_string(); 19_999]).collect())),
        ("rev-parse --short", ("oxen-rev-parse", heads)),
        ("log", ("oxen", s(&["log"]))),
        ("log --oneline", ("oxen", s(&["log", "--oneline"]))),
        ("ls-files", ("oxen-ls-files", s(&["--stage"]))),
        ("ls-tree", ("oxen-ls-tree", s(&["-r", "HEAD"]))),
        ("cat-file", ("oxen-cat-file", s(&["-p", "HEAD:big.bin"]))),
        ("status", ("oxen", s(&["status"]))),
        ("status --porcelain", ("oxen", s(&["status", "--porcelain"]))),
        ("diff", ("oxen", s(&["diff"]))),
        ("show", ("oxen", s(&["show", "HEAD~600"]))),
        ("kvdb-inspect", ("oxen", s(&["kvdb-inspect", ".oxen/db"]))),
        ("upload-pack", ("oxen-upload-pack", s(&["--want", "HEAD", "."]))),
    ]);
    for (what, (bin, args)) in cases {
        let (status, stderr) = close_after_first_line(bin, r, &args);
        assert!(quiet_exit(status), "{what}: exit {status:?}, stderr: {stderr}");
        assert!(stderr.is_empty(), "{what}: expected no stderr, got: {stderr}");
    }
}

#[test]
fn a_closed_stderr_is_no_panic_either() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    ox(r, &["init"]);
    write(r, "a.txt", "a\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "one"]);
    // Messages go to stderr; with it closed the command still succeeds
    // quietly, and a failing one keeps its status.
    for (args, ok) in [(vec!["switch", "-c", "other"], true), (vec!["log", "no-such-rev"], false)] {
        let o = Command::new(assert_cmd::cargo::cargo_bin("oxen"))
            .current_dir(r)
            .env("OXEN_HOME", r.join(".oxen-home-for-tests"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                drop(c.stderr.take());
                c.wait()
            })
            .expect("run");
        assert_eq!(o.success(), ok, "{args:?}: {o:?}");
        assert!(o.code().is_some(), "{args:?} died of a signal: {o:?}");
    }
}

#[test]
fn status_refuses_an_unknown_untracked_mode() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    ox(r, &["init"]);
    write(r, "dir/new.txt", "x");
    let o = oxen(r).args(["status", "-u", "bogus"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "clap refuses it: {o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("possible values"));
    // `-u` alone still means `all`, and the default is `normal`.
    assert_eq!(ox(r, &["status", "--porcelain", "-u"]), "?? dir/new.txt");
    assert_eq!(ox(r, &["status", "--porcelain"]), "?? dir/");
    assert_eq!(ox(r, &["status", "--porcelain", "-u", "no"]), "");
}

#[test]
fn cat_file_e_answers_with_its_exit_status() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    ox(r, &["init"]);
    write(r, "a.txt", "a\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "one"]);
    for (obj, code) in [("HEAD", 0), ("HEAD:a.txt", 0), ("HEAD:missing.txt", 1), ("no-such-ref", 1)] {
        let o = bin("oxen-cat-file", r).args(["-e", obj]).output().unwrap();
        assert_eq!(o.status.code(), Some(code), "{obj}");
        assert!(o.stdout.is_empty() && o.stderr.is_empty(), "{obj}: -e prints nothing");
    }
}
