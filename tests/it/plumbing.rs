//! The plumbing binaries, driven as a shell script would drive them.

use crate::common::*;
use predicates::prelude::*;

/// Lay out a small dataset with awkward names.
fn dataset(root: &std::path::Path) {
    write(root, "images/cat 1.jpg", b"meow");
    write(root, "images/caf\u{e9}/\u{1f42e}.png", b"moo");
    write(root, "empty.txt", b"");
    write(root, "data/train.csv", b"id,label\n1,cat\n2,dog\n");
    let deep: Vec<String> = (0..20).map(|i| format!("d{i}")).collect();
    write(root, &format!("{}/leaf.txt", deep.join("/")), b"deep");
    let script = write(root, "run.sh", b"#!/bin/sh\necho hi\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

const FILES: [&str; 6] = [
    "images/cat 1.jpg",
    "images/caf\u{e9}/\u{1f42e}.png",
    "empty.txt",
    "data/train.csv",
    "run.sh",
    "d0/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/d11/d12/d13/d14/d15/d16/d17/d18/d19/leaf.txt",
];

/// init + hash-object -w + update-index + write-tree + commit-tree + update-ref.
fn pipeline(root: &std::path::Path) -> (String, String) {
    out({
        let mut c = oxen(root);
        c.arg("init");
        c
    });
    for f in FILES {
        let id = out({
            let mut c = bin("oxen-hash-object", root);
            c.args(["-w", f]);
            c
        });
        assert_eq!(id.len(), 32);
    }
    let mut c = bin("oxen-update-index", root);
    c.arg("--add").arg("--stdin").write_stdin(FILES.join("\n"));
    out(c);
    let tree = out({
        let mut c = bin("oxen-write-tree", root);
        c.current_dir(root);
        c
    });
    let commit = out({
        let mut c = bin("oxen-commit-tree", root);
        c.args([tree.as_str(), "-m", "first import"]);
        c
    });
    out({
        let mut c = bin("oxen-update-ref", root);
        c.args(["main", commit.as_str(), "00000000000000000000000000000000"]);
        c
    });
    (tree, commit)
}

#[test]
fn pipeline_builds_a_readable_reproducible_commit() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    dataset(a.path());
    dataset(b.path());
    let (tree_a, commit_a) = pipeline(a.path());
    let (tree_b, commit_b) = pipeline(b.path());
    assert_eq!(tree_a, tree_b, "same inputs give the same tree id in two directories");
    assert_eq!(commit_a, commit_b, "same inputs and author/date give the same commit id");

    let root = a.path();
    let rp = |rev: &str| {
        let mut c = bin("oxen-rev-parse", root);
        c.arg(rev);
        out(c)
    };
    assert_eq!(rp("HEAD"), commit_a);
    assert_eq!(rp("main"), commit_a);
    assert_eq!(rp(&commit_a[..8]), commit_a);
    assert_eq!(rp("HEAD:"), tree_a);

    let mut c = bin("oxen-cat-file", root);
    c.args(["-t", &commit_a]);
    assert_eq!(out(c), "commit");
    let mut c = bin("oxen-cat-file", root);
    c.args(["-p", "HEAD"]);
    let text = out(c);
    assert!(text.contains(&format!("tree {tree_a}")));
    assert!(text.contains("author Test Author <test@example.com> 1700000000 +0000"));
    assert!(text.ends_with("first import"));

    let mut c = bin("oxen-ls-tree", root);
    c.args(["-r", "HEAD"]);
    let listing = out(c);
    for f in FILES {
        assert!(listing.contains(&format!("\t{f}")), "{f} missing from ls-tree:\n{listing}");
    }
    assert!(listing.contains("100755 blob"), "executable bit recorded:\n{listing}");
    let mut c = bin("oxen-ls-tree", root);
    c.arg("HEAD");
    let top = out(c);
    assert!(top.contains("040000 tree") && top.contains("\timages"));

    let mut c = bin("oxen-cat-file", root);
    c.args(["-p", "HEAD:images/cat 1.jpg"]);
    assert_eq!(out(c), "meow");
    let mut c = bin("oxen-cat-file", root);
    c.args(["-s", "HEAD:empty.txt"]);
    assert_eq!(out(c), "0");

    let mut c = bin("oxen-ls-files", root);
    c.arg("--long");
    let files = out(c);
    assert!(files.contains("tabular") && files.contains("data/train.csv"));

    // Plumbing reads the index into the same tree again.
    let mut c = bin("oxen-write-tree", root);
    c.current_dir(root);
    assert_eq!(out(c), tree_a);
}

#[test]
fn update_ref_is_compare_and_swap() {
    let d = tempfile::tempdir().unwrap();
    dataset(d.path());
    let (tree, c1) = pipeline(d.path());
    let mut c = bin("oxen-commit-tree", d.path());
    c.args([tree.as_str(), "-p", c1.as_str()]).write_stdin("second\n");
    let c2 = out(c);
    // Wrong expected old value: refused, ref unchanged.
    let mut c = bin("oxen-update-ref", d.path());
    c.args(["main", &c2, &c2]);
    assert!(err(c).contains("expected"));
    let mut c = bin("oxen-rev-parse", d.path());
    c.arg("main");
    assert_eq!(out(c), c1);
    let mut c = bin("oxen-update-ref", d.path());
    c.args(["main", &c2, &c1]);
    out(c);
    let mut c = bin("oxen-rev-parse", d.path());
    c.arg("HEAD~1");
    assert_eq!(out(c), c1);
    // Delete with the right old value.
    let mut c = bin("oxen-update-ref", d.path());
    c.args(["heads/topic", &c1]);
    out(c);
    let mut c = bin("oxen-update-ref", d.path());
    c.args(["-d", "topic", &c1]);
    out(c);
    let mut c = bin("oxen-rev-parse", d.path());
    c.arg("topic");
    err(c);
}

#[test]
fn fsck_detects_a_flipped_byte() {
    let d = tempfile::tempdir().unwrap();
    dataset(d.path());
    pipeline(d.path());
    let mut c = bin("oxen-fsck", d.path());
    c.assert().success().stdout(predicate::str::contains("checked 1 commits"));
    let mut c = bin("oxen-rev-parse", d.path());
    c.arg("HEAD:data/train.csv");
    let id = out(c);
    // Small contents live inside a segment file: flip a byte of this one.
    let (p, offset) = {
        let repo = oxen_repo::Repo::open(d.path()).unwrap();
        repo.versions.locate(&oxen_hash::ContentId::from_hex(&id).unwrap()).unwrap().expect("stored")
    };
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[offset as usize + 3] ^= 0x01;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&p, bytes).unwrap();
    let o = bin("oxen-fsck", d.path()).output().unwrap();
    assert!(!o.status.success());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains(&format!("corrupt blob {id}")), "{stdout}");
    // Reading the corrupt object fails loudly too.
    let mut c = bin("oxen-cat-file", d.path());
    c.args(["-p", &id]);
    assert!(err(c).contains("corrupt"));
}

#[test]
fn bad_input_is_one_line_and_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    // Not a repository.
    let c = bin("oxen-write-tree", root);
    assert!(err(c).contains("not an oxen repository"));
    out({
        let mut c = oxen(root);
        c.arg("init");
        c
    });
    write(root, "ok.txt", b"ok");
    let before = out({
        let mut c = bin("oxen-ls-files", root);
        c.arg("--stage");
        c
    });
    // Outside the repo, missing file, unknown id, malformed id.
    let mut c = bin("oxen-update-index", root);
    c.args(["--add", "ok.txt", "../x"]);
    assert!(err(c).contains("outside the repository"));
    let mut c = bin("oxen-update-index", root);
    c.args(["--add", "ok.txt", "nope.txt"]);
    assert!(err(c).contains("nope.txt"));
    let mut c = bin("oxen-cat-file", root);
    c.args(["-p", "0123456789abcdef0123456789abcdef"]);
    assert!(err(c).contains("unknown revision"));
    let mut c = bin("oxen-commit-tree", root);
    c.args(["zz-not-an-id", "-m", "x"]);
    assert!(err(c).contains("zz-not-an-id"));
    let mut c = bin("oxen-hash-object", root);
    c.arg("missing.bin");
    assert!(err(c).contains("missing.bin"));
    let mut c = bin("oxen-update-ref", root);
    c.args(["heads/../evil", "HEAD"]);
    err(c);
    // Nothing was staged by the failed calls.
    let after = out({
        let mut c = bin("oxen-ls-files", root);
        c.arg("--stage");
        c
    });
    assert_eq!(before, after);
    assert!(after.is_empty());
}

#[test]
fn hash_object_matches_stdin_and_help_works() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "f", b"hello world");
    let mut c = bin("oxen-hash-object", d.path());
    c.arg("f");
    let a = out(c);
    let mut c = bin("oxen-hash-object", d.path());
    c.arg("--stdin").write_stdin("hello world");
    assert_eq!(out(c), a);
    for b in [
        "oxen-hash-object",
        "oxen-update-index",
        "oxen-write-tree",
        "oxen-commit-tree",
        "oxen-update-ref",
        "oxen-cat-file",
        "oxen-ls-tree",
        "oxen-ls-files",
        "oxen-rev-parse",
        "oxen-fsck",
        "oxen",
    ] {
        let mut c = bin(b, d.path());
        c.arg("--help");
        c.assert().success().stdout(predicate::str::contains("Usage"));
    }
}
