//! Shallow clones (`clone --depth`, `fetch --depth/--deepen/--unshallow`)
//! and tag auto-follow, against a real `oxen-server` on a loopback port.

use std::path::{Path, PathBuf};

use crate::common::{self, *};
use crate::sync_support::*;

fn rev(dir: &Path, r: &str) -> String {
    run("oxen-rev-parse", dir, &[r]).trim().to_string()
}

fn log_lines(srv: &Server, dir: &Path) -> Vec<String> {
    srv.oxen(dir, &["log", "--oneline"]).lines().map(str::to_string).collect()
}

/// Server repository `R` whose `main` has six commits (`f.txt` says
/// `v<i>` and `c<i>.txt` is added at commit i), tag `v-old` at the first
/// and `v-new` at the last; returns the pushing work tree.
fn six_commits(srv: &Server, root: &Path) -> PathBuf {
    srv.create("R");
    let a = root.join("a");
    std::fs::create_dir_all(&a).unwrap();
    srv.oxen(&a, &["init"]);
    for i in 1..=6 {
        common::write(&a, "f.txt", format!("v{i}\n"));
        common::write(&a, &format!("c{i}.txt"), format!("commit {i}\n"));
        commit_all(srv, &a, &format!("commit {i}"));
        if i == 1 {
            srv.oxen(&a, &["tag", "v-old"]);
        }
    }
    srv.oxen(&a, &["tag", "v-new"]);
    srv.oxen(&a, &["remote", "add", "origin", &srv.url("R")]);
    srv.oxen(&a, &["push", "origin", "main"]);
    srv.oxen(&a, &["push", "--tags", "origin"]);
    a
}

fn clone(srv: &Server, root: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let dir = root.join(name);
    let url = srv.url("R");
    let mut args = vec!["clone"];
    args.extend_from_slice(extra);
    args.extend([url.as_str(), dir.to_str().unwrap()]);
    srv.oxen(root, &args);
    dir
}

#[test]
fn depth_clones_hold_n_commits_check_clean_and_push() {
    let d = tempfile::tempdir().unwrap();
    let srv = Server::start(d.path(), &[]);
    let a = six_commits(&srv, d.path());

    let one = clone(&srv, d.path(), "one", &["--depth", "1"]);
    assert_eq!(log_lines(&srv, &one).len(), 1);
    assert_eq!(std::fs::read_to_string(one.join("f.txt")).unwrap(), "v6\n");
    assert_eq!(std::fs::read_to_string(one.join("c1.txt")).unwrap(), "commit 1\n");
    let shallow = std::fs::read_to_string(one.join(".oxen/shallow")).unwrap();
    assert_eq!(shallow.trim(), rev(&a, "main"));
    // fsck accepts the boundary's missing parents; gc keeps the boundary.
    run("oxen-fsck", &one, &[]);
    srv.oxen(&one, &["gc", "--prune", "now"]);
    run("oxen-fsck", &one, &[]);
    assert_eq!(log_lines(&srv, &one).len(), 1);
    // Only the tag into the history fetched; the one outside is left.
    assert_eq!(srv.oxen(&one, &["tag"]), "v-new");
    assert_eq!(srv.oxen(&one, &["status"]).lines().last().unwrap(), "nothing to commit, working tree clean");

    let three = clone(&srv, d.path(), "three", &["--depth", "3"]);
    let lines = log_lines(&srv, &three);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[2].ends_with("commit 4"), "{lines:?}");
    run("oxen-fsck", &three, &[]);

    // A commit made in the shallow clone pushes: the server has the boundary.
    common::write(&three, "f.txt", "v7\n");
    commit_all(&srv, &three, "commit 7");
    srv.oxen(&three, &["push"]);
    let full = clone(&srv, d.path(), "full", &[]);
    assert_eq!(log_lines(&srv, &full).len(), 7);
    assert!(!full.join(".oxen/shallow").exists());
    run("oxen-fsck", &full, &[]);

    // pull into a shallow clone fast-forwards.
    let o = srv.oxen(&one, &["pull"]);
    assert!(o.contains("Fast-forward"), "{o}");
    assert_eq!(log_lines(&srv, &one).len(), 2);
    assert_eq!(std::fs::read_to_string(one.join("f.txt")).unwrap(), "v7\n");
    run("oxen-fsck", &one, &[]);

    // Pushing to a repository that lacks the boundary fails, clearly.
    srv.create("R2");
    srv.oxen(&one, &["remote", "add", "r2", &srv.url("R2")]);
    let e = srv.oxen_err(&one, &["push", "r2", "main"]);
    assert!(e.contains("shallow clone") && e.contains("--unshallow"), "{e}");
}

#[test]
fn deepen_and_unshallow_give_the_full_history() {
    let d = tempfile::tempdir().unwrap();
    let srv = Server::start(d.path(), &[]);
    six_commits(&srv, d.path());
    let full = clone(&srv, d.path(), "full", &[]);
    let s = clone(&srv, d.path(), "s", &["--depth", "1"]);

    let e = srv.oxen_err(&full, &["fetch", "--unshallow"]);
    assert!(e.contains("shallow repository"), "{e}");

    srv.oxen(&s, &["fetch", "--deepen", "2"]);
    assert_eq!(log_lines(&srv, &s).len(), 3);
    run("oxen-fsck", &s, &[]);
    assert!(s.join(".oxen/shallow").exists());

    srv.oxen(&s, &["fetch", "--unshallow"]);
    assert_eq!(srv.oxen(&s, &["log"]), srv.oxen(&full, &["log"]));
    assert!(!s.join(".oxen/shallow").exists());
    run("oxen-fsck", &s, &[]);
    // The tag outside the shallow history is followed once its commit is here.
    assert_eq!(srv.oxen(&s, &["tag"]), "v-new\nv-old");
}

#[test]
fn merge_base_beyond_the_boundary_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let srv = Server::start(d.path(), &[]);
    let a = six_commits(&srv, d.path());
    // side forks from commit 2.
    srv.oxen(&a, &["checkout", "-b", "side", "main~4"]);
    common::write(&a, "side.txt", "side\n");
    commit_all(&srv, &a, "side work");
    srv.oxen(&a, &["push", "origin", "side"]);

    let s = clone(&srv, d.path(), "s", &["--depth", "1"]);
    // The clone follows main only (git's --single-branch), fetches too.
    assert!(!srv.oxen(&s, &["branch", "-a"]).contains("side"));
    srv.oxen(&s, &["fetch"]);
    assert!(!srv.oxen(&s, &["branch", "-a"]).contains("side"));
    srv.oxen(&s, &["remote", "add", "up", &srv.url("R")]);
    srv.oxen(&s, &["fetch", "--depth", "1", "up"]);
    let e = srv.oxen_err(&s, &["merge", "up/side"]);
    assert!(e.contains("beyond the shallow history") && e.contains("--unshallow"), "{e}");
    srv.oxen(&s, &["fetch", "--unshallow", "up"]);
    assert!(!s.join(".oxen/shallow").exists());
    srv.oxen(&s, &["merge", "up/side"]);
    assert_eq!(std::fs::read_to_string(s.join("side.txt")).unwrap(), "side\n");
    assert_eq!(std::fs::read_to_string(s.join("f.txt")).unwrap(), "v6\n");
    run("oxen-fsck", &s, &[]);
}

#[test]
fn no_tags_clone_and_tag_opt_config() {
    let d = tempfile::tempdir().unwrap();
    let srv = Server::start(d.path(), &[]);
    let a = six_commits(&srv, d.path());
    let n = clone(&srv, d.path(), "n", &["--no-tags"]);
    assert_eq!(srv.oxen(&n, &["tag"]), "");
    assert_eq!(srv.oxen(&n, &["config", "remote.origin.tagOpt"]), "--no-tags");
    // Later fetches take none either, until asked.
    common::write(&a, "f.txt", "v7\n");
    commit_all(&srv, &a, "commit 7");
    srv.oxen(&a, &["tag", "v7"]);
    srv.oxen(&a, &["push", "origin", "main"]);
    srv.oxen(&a, &["push", "origin", "v7"]);
    srv.oxen(&n, &["fetch"]);
    assert_eq!(srv.oxen(&n, &["tag"]), "");
    srv.oxen(&n, &["config", "--unset", "remote.origin.tagOpt"]);
    srv.oxen(&n, &["fetch"]);
    // Auto-follow: both old tags and v7 point into the fetched history.
    assert_eq!(srv.oxen(&n, &["tag"]), "v-new\nv-old\nv7");

    let f = clone(&srv, d.path(), "f", &[]);
    assert_eq!(srv.oxen(&f, &["tag"]), "v-new\nv-old\nv7");
    // Set by hand (the value starts with a dash), it stops tags again.
    srv.oxen(&f, &["config", "remote.origin.tagOpt", "--no-tags"]);
    common::write(&a, "f.txt", "v8\n");
    commit_all(&srv, &a, "commit 8");
    srv.oxen(&a, &["tag", "v8"]);
    srv.oxen(&a, &["push", "origin", "main"]);
    srv.oxen(&a, &["push", "origin", "v8"]);
    srv.oxen(&f, &["fetch"]);
    assert!(!srv.oxen(&f, &["tag"]).contains("v8"));
    srv.oxen(&f, &["pull", "--no-tags"]);
    assert!(!srv.oxen(&f, &["tag"]).contains("v8"));
    srv.oxen(&f, &["fetch", "--tags"]);
    assert!(srv.oxen(&f, &["tag"]).contains("v8"));
    let e = srv.oxen_err(&f, &["config", "remote.origin.tagOpt", "sometimes"]);
    assert!(e.contains("--no-tags or --tags"), "{e}");
}

#[test]
fn revisions_past_the_boundary_and_clones_of_a_shallow_clone() {
    let d = tempfile::tempdir().unwrap();
    let srv = Server::start(d.path(), &[]);
    six_commits(&srv, d.path());
    let s = clone(&srv, d.path(), "s", &["--depth", "2"]);
    srv.oxen(&s, &["log", "HEAD~1"]);
    let e = srv.oxen_err(&s, &["log", "HEAD~2"]);
    assert!(e.contains("'HEAD~2' is beyond the shallow history"), "{e}");
    let e = srv.oxen_err(&s, &["show", "HEAD~1^"]);
    assert!(e.contains("beyond the shallow history"), "{e}");
    // A clone of a shallow clone (by path) is shallow at the same place.
    let s2 = d.path().join("s2");
    srv.oxen(d.path(), &["clone", s.to_str().unwrap(), s2.to_str().unwrap()]);
    assert_eq!(log_lines(&srv, &s2).len(), 2);
    assert_eq!(
        std::fs::read_to_string(s2.join(".oxen/shallow")).unwrap(),
        std::fs::read_to_string(s.join(".oxen/shallow")).unwrap()
    );
    run("oxen-fsck", &s2, &[]);
    let e = srv.oxen_err(&s2, &["fetch", "--unshallow"]);
    assert!(e.contains("is the remote shallow itself?"), "{e}");
    // Unshallowing the first makes the second's unshallow work.
    srv.oxen(&s, &["fetch", "--unshallow"]);
    srv.oxen(&s2, &["fetch", "--unshallow"]);
    assert_eq!(log_lines(&srv, &s2).len(), 6);
    assert!(!s2.join(".oxen/shallow").exists());
}
