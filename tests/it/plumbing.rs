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
    ox(root, &["init"]);
    for f in FILES {
        let id = run("oxen-hash-object", root, &["-w", f]);
        assert_eq!(id.len(), 32);
    }
    run_stdin("oxen-update-index", root, &["--add", "--stdin"], FILES.join("\n"));
    let tree = run("oxen-write-tree", root, &[]);
    let commit = run("oxen-commit-tree", root, &[tree.as_str(), "-m", "first import"]);
    run("oxen-update-ref", root, &["main", commit.as_str(), "00000000000000000000000000000000"]);
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
    let rp = |rev: &str| run("oxen-rev-parse", root, &[rev]);
    assert_eq!(rp("HEAD"), commit_a);
    assert_eq!(rp("main"), commit_a);
    assert_eq!(rp(&commit_a[..8]), commit_a);
    assert_eq!(rp("HEAD:"), tree_a);

    assert_eq!(run("oxen-cat-file", root, &["-t", &commit_a]), "commit");
    let text = run("oxen-cat-file", root, &["-p", "HEAD"]);
    assert!(text.contains(&format!("tree {tree_a}")));
    assert!(text.contains("author Test Author <test@example.com> 1700000000 +0000"));
    assert!(text.ends_with("first import"));

    // Names print as git prints them (core.quotePath): quoted when not ASCII;
    // -z gives the raw bytes.
    let listing = run("oxen-ls-tree", root, &["-r", "HEAD"]);
    for f in FILES {
        let shown = oxen_path::quote(f.as_bytes(), oxen_path::Quote::C);
        assert!(
            listing.contains(&format!("\t{shown}\n")) || listing.ends_with(&format!("\t{shown}")),
            "{f} missing from ls-tree:\n{listing}"
        );
    }
    assert!(listing.contains("\t\"images/caf\\303\\251/\\360\\237\\220\\256.png\"\n"), "{listing}");
    let raw = run("oxen-ls-tree", root, &["-r", "-z", "HEAD"]);
    for f in FILES {
        assert!(raw.contains(&format!("\t{f}\0")), "{f} missing from ls-tree -z:\n{raw}");
    }
    assert!(listing.contains("100755 blob"), "executable bit recorded:\n{listing}");
    let top = run("oxen-ls-tree", root, &["HEAD"]);
    assert!(top.contains("040000 tree") && top.contains("\timages"));

    assert_eq!(run("oxen-cat-file", root, &["-p", "HEAD:images/cat 1.jpg"]), "meow");
    assert_eq!(run("oxen-cat-file", root, &["-s", "HEAD:empty.txt"]), "0");

    let files = run("oxen-ls-files", root, &["--long"]);
    assert!(files.contains("tabular") && files.contains("data/train.csv"));

    // Plumbing reads the index into the same tree again.
    assert_eq!(run("oxen-write-tree", root, &[]), tree_a);
}

#[test]
fn update_ref_is_compare_and_swap() {
    let d = tempfile::tempdir().unwrap();
    dataset(d.path());
    let (tree, c1) = pipeline(d.path());
    let c2 = run_stdin("oxen-commit-tree", d.path(), &[&tree, "-p", &c1], "second\n");
    // Wrong expected old value: refused, ref unchanged.
    assert!(run_err("oxen-update-ref", d.path(), &["main", &c2, &c2]).contains("expected"));
    assert_eq!(run("oxen-rev-parse", d.path(), &["main"]), c1);
    run("oxen-update-ref", d.path(), &["main", &c2, &c1]);
    assert_eq!(run("oxen-rev-parse", d.path(), &["HEAD~1"]), c1);
    // Delete with the right old value.
    run("oxen-update-ref", d.path(), &["heads/topic", &c1]);
    run("oxen-update-ref", d.path(), &["-d", "topic", &c1]);
    run_err("oxen-rev-parse", d.path(), &["topic"]);
}

#[test]
fn fsck_detects_a_flipped_byte() {
    let d = tempfile::tempdir().unwrap();
    dataset(d.path());
    pipeline(d.path());
    let mut c = bin("oxen-fsck", d.path());
    c.assert().success().stdout(predicate::str::contains("checked 1 commits"));
    let id = run("oxen-rev-parse", d.path(), &["HEAD:data/train.csv"]);
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
    assert!(run_err("oxen-cat-file", d.path(), &["-p", &id]).contains("corrupt"));
}

#[test]
fn bad_input_is_one_line_and_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    // Not a repository.
    assert!(run_err("oxen-write-tree", root, &[]).contains("not an oxen repository"));
    ox(root, &["init"]);
    write(root, "ok.txt", b"ok");
    let before = run("oxen-ls-files", root, &["--stage"]);
    // Outside the repo, missing file, unknown id, malformed id.
    assert!(run_err("oxen-update-index", root, &["--add", "ok.txt", "../x"]).contains("outside the repository"));
    assert!(run_err("oxen-update-index", root, &["--add", "ok.txt", "nope.txt"]).contains("nope.txt"));
    assert!(run_err("oxen-cat-file", root, &["-p", "0123456789abcdef0123456789abcdef"]).contains("unknown revision"));
    assert!(run_err("oxen-commit-tree", root, &["zz-not-an-id", "-m", "x"]).contains("zz-not-an-id"));
    assert!(run_err("oxen-hash-object", root, &["missing.bin"]).contains("missing.bin"));
    run_err("oxen-update-ref", root, &["heads/../evil", "HEAD"]);
    // Nothing was staged by the failed calls.
    let after = run("oxen-ls-files", root, &["--stage"]);
    assert_eq!(before, after);
    assert!(after.is_empty());
}

#[test]
fn hash_object_matches_stdin_and_help_works() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "f", b"hello world");
    let a = run("oxen-hash-object", d.path(), &["f"]);
    assert_eq!(run_stdin("oxen-hash-object", d.path(), &["--stdin"], "hello world"), a);
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
