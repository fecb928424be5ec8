//! Partial clone (`oxen clone --filter <path>`) and lazy contents, against
//! a real `oxen-server` on a loopback port: only the contents under the
//! filter travel and are checked out; the rest stay out of the work tree
//! without looking deleted, and come from the promisor remote when a
//! command reads them, with a clear error when it cannot be reached.

use std::path::{Path, PathBuf};

use crate::common::{self, *};
use crate::sync_support::*;

/// Server repository `R` holding `keep/` (small), `big/` (most bytes) and
/// `top.txt`, pushed from `a`.
fn seeded(srv: &Server, root: &Path) -> PathBuf {
    srv.create("R");
    let a = root.join("a");
    std::fs::create_dir_all(&a).unwrap();
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("keep/one.txt".into(), b"one\n".to_vec()),
        ("keep/sub/two.txt".into(), b"two\n".to_vec()),
        ("top.txt".into(), b"top\n".to_vec()),
        ("late.txt".into(), b"late\n".to_vec()),
        ("solo.bin".into(), noise(7, 3000)),
    ];
    for i in 0..40 {
        files.push((format!("big/f{i:02}.bin"), noise(i, 20_000)));
    }
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    init_with(srv, &a, &refs);
    srv.oxen(&a, &["remote", "add", "origin", &srv.url("R")]);
    srv.oxen(&a, &["push", "origin", "main"]);
    a
}

fn received_bytes(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("received ").and_then(|r| r.split(" bytes").next()).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

fn clone(srv: &Server, root: &Path, name: &str, filter: &[&str]) -> (PathBuf, u64) {
    let dir = root.join(name);
    let mut args = vec!["clone".to_string()];
    for f in filter {
        args.push("--filter".into());
        args.push(f.to_string());
    }
    args.push(srv.url("R"));
    args.push(dir.to_str().unwrap().into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, _, err) = srv.output("oxen", root, &args);
    assert!(ok, "{err}");
    (dir, received_bytes(&err))
}

#[test]
fn a_partial_clone_holds_and_checks_out_only_its_paths_and_stays_clean() {
    let d = tempfile::tempdir().unwrap();
    let srv = Server::start(d.path(), &[]);
    seeded(&srv, d.path());
    let (full, full_bytes) = clone(&srv, d.path(), "full", &[]);
    let (p, part_bytes) = clone(&srv, d.path(), "p", &["keep", "top.txt"]);
    // Contents outside the filter did not travel: the 800 KB of big/ dwarf the rest.
    assert!(full_bytes > 300_000, "full clone received {full_bytes}");
    assert!(part_bytes * 10 < full_bytes, "partial {part_bytes} vs full {full_bytes}");
    assert_eq!(std::fs::read(p.join("keep/sub/two.txt")).unwrap(), b"two\n");
    assert_eq!(std::fs::read(p.join("top.txt")).unwrap(), b"top\n");
    assert!(!p.join("big").exists() && !p.join("solo.bin").exists());
    assert!(full.join("big/f00.bin").is_file());
    // Outside paths are not deleted: status is clean, `add -A` stages nothing.
    assert_eq!(srv.oxen(&p, &["status", "--porcelain"]), "");
    srv.oxen(&p, &["add", "-A"]);
    assert_eq!(srv.oxen(&p, &["status", "--porcelain"]), "");
    // fsck: what was not fetched is counted apart, and is no problem.
    let f = run("oxen-fsck", &p, &[]);
    assert!(f.contains(" file contents not fetched (partial clone"), "{f}");
    let full_fsck = run("oxen-fsck", &full, &[]);
    assert!(!full_fsck.contains("not fetched"), "{full_fsck}");
    // gc has nothing to delete that was never fetched, and needs none of it.
    srv.oxen(&p, &["gc"]);
    assert!(run("oxen-fsck", &p, &[]).contains(" file contents not fetched (partial clone"));

    // Edit, commit and push inside: the commit keeps the outside paths as HEAD has them.
    common::write(&p, "keep/one.txt", "one, edited\n");
    commit_all(&srv, &p, "edit inside");
    let o = srv.oxen(&p, &["show", "--stat", "HEAD"]);
    assert!(o.contains("keep/one.txt") && !o.contains("big/"), "{o}");
    srv.oxen(&p, &["push", "origin", "main"]);
    srv.oxen(&full, &["pull"]);
    assert_eq!(std::fs::read(full.join("keep/one.txt")).unwrap(), b"one, edited\n");
    assert_eq!(std::fs::read(full.join("big/f03.bin")).unwrap(), noise(3, 20_000));
    assert_eq!(std::fs::read_dir(full.join("big")).unwrap().count(), 40);
}

#[test]
fn outside_contents_are_fetched_when_read_and_fetch_or_checkout_widens() {
    let d = tempfile::tempdir().unwrap();
    let srv = Server::start(d.path(), &[]);
    let a = seeded(&srv, d.path());
    // A second commit changing an outside file, for diff.
    common::write(&a, "big/f01.bin", "now small\n");
    commit_all(&srv, &a, "shrink f01");
    srv.oxen(&a, &["push", "origin", "main"]);
    let (p, _) = clone(&srv, d.path(), "p", &["keep"]);

    // cat-file of an outside content fetches it (verified).
    let o = common::out({
        let mut c = srv.bin("oxen-cat-file", &p);
        c.args(["-p", "HEAD:top.txt"]);
        c
    });
    assert_eq!(o, "top");
    // diff of outside contents fetches both sides.
    let o = srv.oxen(&p, &["diff", "HEAD~1", "HEAD", "--", "big/f01.bin"]);
    assert!(o.contains("big/f01.bin"), "{o}");
    // Reading it did not check it out.
    assert!(!p.join("top.txt").exists());
    assert_eq!(srv.oxen(&p, &["status", "--porcelain"]), "");

    // restore of an outside path writes it (and widens the set).
    srv.oxen(&p, &["restore", "top.txt"]);
    assert_eq!(std::fs::read(p.join("top.txt")).unwrap(), b"top\n");

    // checkout -- <outside path> fetches it, checks it out and widens the set.
    srv.oxen(&p, &["checkout", "--", "solo.bin"]);
    assert_eq!(std::fs::read(p.join("solo.bin")).unwrap(), noise(7, 3000));
    // fetch -- <dir> widens by a directory.
    let o = srv.oxen(&p, &["fetch", "--", "big"]);
    assert!(o.contains("checked out 40"), "{o}");
    assert_eq!(std::fs::read(p.join("big/f05.bin")).unwrap(), noise(5, 20_000));
    assert_eq!(srv.oxen(&p, &["status", "--porcelain"]), "");
    let cfg = std::fs::read_to_string(p.join(".oxen/config.toml")).unwrap();
    assert!(cfg.contains("\"big\"") && cfg.contains("\"solo.bin\"") && cfg.contains("\"keep\""), "{cfg}");
    assert!(cfg.contains("\"top.txt\""), "{cfg}");
    // Deleting a file inside the set is a deletion again.
    std::fs::remove_file(p.join("big/f05.bin")).unwrap();
    assert_eq!(srv.oxen(&p, &["status", "--porcelain"]), " D big/f05.bin");

    // Offline: a clear one-line error naming the path and the remote.
    drop(srv);
    let mut c = common::bin("oxen", &p);
    c.args(["checkout", "--", "late.txt"]);
    let e = common::err(c);
    assert!(e.starts_with("error: 'late.txt' is not fetched and remote 'origin' cannot be reached: "), "{e}");
    assert!(!p.join("late.txt").exists());
    let cfg = std::fs::read_to_string(p.join(".oxen/config.toml")).unwrap();
    assert!(!cfg.contains("late.txt"), "{cfg}");
    let mut c = common::bin("oxen-cat-file", &p);
    c.args(["-p", "HEAD:late.txt"]);
    let e = common::err(c);
    assert!(e.starts_with("error: 'HEAD:late.txt' is not fetched and remote 'origin' cannot be reached: "), "{e}");
    // What is here still reads offline.
    assert_eq!(run("oxen-cat-file", &p, &["-p", "HEAD:keep/one.txt"]), "one");
}

#[test]
fn switch_checks_out_only_the_set_and_merge_fetches_the_outside_contents_it_needs() {
    let d = tempfile::tempdir().unwrap();
    let srv = Server::start(d.path(), &[]);
    srv.create("R");
    let a = d.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    init_with(&srv, &a, &[("keep/k.txt", b"k\n"), ("notes/n.txt", b"1\n2\n3\n4\n5\n"), ("big/b.bin", b"b0\n")]);
    srv.oxen(&a, &["remote", "add", "origin", &srv.url("R")]);
    srv.oxen(&a, &["push", "origin", "main"]);
    // Branch `other` edits inside and outside; main then edits the same outside file elsewhere.
    srv.oxen(&a, &["checkout", "-b", "other"]);
    common::write(&a, "keep/k.txt", "k on other\n");
    common::write(&a, "notes/n.txt", "1\n2\n3\n4\nfive\n");
    common::write(&a, "big/b.bin", "b on other\n");
    commit_all(&srv, &a, "other");
    srv.oxen(&a, &["push", "origin", "other"]);
    srv.oxen(&a, &["checkout", "main"]);
    let (p, _) = clone(&srv, d.path(), "p", &["keep"]);

    // switch: only the set is written; the rest follows in the index.
    srv.oxen(&p, &["checkout", "-b", "other", "origin/other"]);
    assert_eq!(std::fs::read(p.join("keep/k.txt")).unwrap(), b"k on other\n");
    assert!(!p.join("big").exists() && !p.join("notes").exists());
    assert_eq!(srv.oxen(&p, &["status", "--porcelain"]), "");
    srv.oxen(&p, &["checkout", "main"]);
    assert_eq!(std::fs::read(p.join("keep/k.txt")).unwrap(), b"k\n");

    // main (elsewhere) edits line 1 of the outside file: merging other
    // needs base, ours and theirs of it, fetched from origin on the way.
    common::write(&a, "notes/n.txt", "one\n2\n3\n4\n5\n");
    commit_all(&srv, &a, "main edits notes");
    srv.oxen(&a, &["push", "origin", "main"]);
    srv.oxen(&p, &["pull"]);
    srv.oxen(&p, &["merge", "other"]);
    assert_eq!(srv.oxen(&p, &["status", "--porcelain"]), "");
    assert!(!p.join("notes").exists(), "the merged outside file stays out of the work tree");
    let merged = common::out({
        let mut c = srv.bin("oxen-cat-file", &p);
        c.args(["-p", "HEAD:notes/n.txt"]);
        c
    });
    assert_eq!(merged, "one\n2\n3\n4\nfive");
    assert_eq!(std::fs::read(p.join("keep/k.txt")).unwrap(), b"k on other\n");
    srv.oxen(&p, &["push", "origin", "main"]);
    srv.oxen(&a, &["pull"]);
    assert_eq!(std::fs::read(a.join("big/b.bin")).unwrap(), b"b on other\n");
    // A widened path's older versions come when a checkout needs them.
    srv.oxen(&p, &["fetch", "--", "big"]);
    assert_eq!(std::fs::read(p.join("big/b.bin")).unwrap(), b"b on other\n");
    srv.oxen(&p, &["checkout", "HEAD~2"]);
    assert_eq!(std::fs::read(p.join("big/b.bin")).unwrap(), b"b0\n");
    assert!(!p.join("notes").exists());
    assert_eq!(srv.oxen(&p, &["status", "--porcelain"]), "");
    assert_eq!(std::fs::read(a.join("notes/n.txt")).unwrap(), b"one\n2\n3\n4\nfive\n");
}

#[test]
fn a_directory_also_present_outside_the_filter_still_brings_its_contents() {
    // `copy/` and `keep/` are the same tree (same id); the walk meets
    // `copy/` first, outside the filter, and must not take `keep/` as done.
    let d = tempfile::tempdir().unwrap();
    let srv = Server::start(d.path(), &[]);
    srv.create("R");
    let a = d.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    init_with(
        &srv,
        &a,
        &[("copy/x.txt", b"x\n"), ("copy/s/y.txt", b"y\n"), ("keep/x.txt", b"x\n"), ("keep/s/y.txt", b"y\n")],
    );
    srv.oxen(&a, &["remote", "add", "origin", &srv.url("R")]);
    srv.oxen(&a, &["push", "origin", "main"]);
    let (p, _) = clone(&srv, d.path(), "p", &["keep/s"]);
    assert_eq!(std::fs::read(p.join("keep/s/y.txt")).unwrap(), b"y\n");
    assert!(!p.join("copy").exists() && !p.join("keep/x.txt").exists());
    assert_eq!(srv.oxen(&p, &["status", "--porcelain"]), "");
}

#[test]
fn widening_keeps_a_file_already_there_and_an_unreachable_remote_names_the_path() {
    let d = tempfile::tempdir().unwrap();
    let srv = Server::start(d.path(), &[]);
    seeded(&srv, d.path());
    let (p, _) = clone(&srv, d.path(), "p", &["keep"]);
    // A file of the user's where a widened path goes is left as it is.
    common::write(&p, "big/f00.bin", "mine\n");
    let o = srv.oxen(&p, &["fetch", "--", "big"]);
    assert!(o.contains("checked out 39"), "{o}");
    assert_eq!(std::fs::read(p.join("big/f00.bin")).unwrap(), b"mine\n");
    assert_eq!(std::fs::read(p.join("big/f39.bin")).unwrap(), noise(39, 20_000));
    assert_eq!(srv.oxen(&p, &["status", "--porcelain"]), " M big/f00.bin");
    // Offline: one line naming the path; the set and work tree stay as they were.
    drop(srv);
    let mut c = common::bin("oxen", &p);
    c.args(["fetch", "--", "solo.bin"]);
    let e = common::err(c);
    assert!(e.starts_with("error: 'solo.bin' is not fetched and remote 'origin' cannot be reached: "), "{e}");
    assert!(!p.join("solo.bin").exists());
    let cfg = std::fs::read_to_string(p.join(".oxen/config.toml")).unwrap();
    assert!(cfg.contains("\"big\"") && !cfg.contains("solo.bin"), "{cfg}");
}
