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
    // A content missing from a full clone stays an error.
    let full_fsck_ok = run("oxen-fsck", &full, &[]);
    assert!(!full_fsck_ok.contains("not fetched"), "{full_fsck_ok}");

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
    assert!(e.contains("is not fetched and remote 'origin' cannot be reached: "), "{e}");
    // What is here still reads offline.
    assert_eq!(run("oxen-cat-file", &p, &["-p", "HEAD:keep/one.txt"]), "one");
}
