//! Tags travel with clone, fetch, pull and push; `fetch --prune` removes
//! remote-tracking refs of deleted branches; `push --delete` deletes remote
//! refs under a lease and never the remote's HEAD. Against a real
//! `oxen-server` on a loopback port.

use std::path::{Path, PathBuf};

use crate::common::{self, *};
use crate::sync_support::*;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn rev(dir: &Path, r: &str) -> String {
    run("oxen-rev-parse", dir, &[r]).trim().to_string()
}

fn dir(root: &Path, name: &str) -> PathBuf {
    let p = root.join(name);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// A repository `a` with `main` pushed to server repository `R` as origin.
fn seeded(srv: &Server, root: &Path) -> PathBuf {
    srv.create("R");
    let a = dir(root, "a");
    init_with(srv, &a, &[("data.csv", b"id,label\n1,cat\n")]);
    srv.oxen(&a, &["remote", "add", "origin", &srv.url("R")]);
    srv.oxen(&a, &["push", "origin", "main"]);
    a
}

/// Commit `file` on a throwaway branch, tag it `tag`, and delete the
/// branch: the tag is then the only ref reaching that commit.
fn tag_outside_branches(srv: &Server, a: &Path, tag: &str, file: &str) -> String {
    srv.oxen(a, &["checkout", "-b", "tmp"]);
    common::write(a, file, format!("only in {tag}\n"));
    commit_all(srv, a, &format!("commit for {tag}"));
    srv.oxen(a, &["tag", tag]);
    let id = rev(a, tag);
    srv.oxen(a, &["checkout", "main"]);
    srv.oxen(a, &["branch", "-D", "tmp"]);
    id
}

#[test]
fn tags_travel_with_push_clone_and_fetch_and_clobbering_is_refused() {
    let d = tmp();
    let srv = Server::start(d.path(), &[]);
    let a = seeded(&srv, d.path());
    srv.oxen(&a, &["tag", "v1"]);
    let side = tag_outside_branches(&srv, &a, "v-side", "side.txt");

    // push --tags sends every tag, with the history only the tag reaches.
    let o = srv.oxen(&a, &["push", "--tags", "origin"]);
    assert!(o.contains("tags/v1") && o.contains("tags/v-side"), "{o}");
    let refs = srv.refs("R");
    assert!(refs.contains(&format!("\"tags/v-side\":\"{side}\"")), "{refs}");
    assert!(refs.contains("\"tags/v1\""), "{refs}");

    // clone brings every tag and the objects they need.
    let b = d.path().join("b");
    srv.oxen(d.path(), &["clone", &srv.url("R"), b.to_str().unwrap()]);
    assert_eq!(srv.oxen(&b, &["tag"]), "v-side\nv1");
    assert_eq!(rev(&b, "v-side"), side);
    srv.oxen(&b, &["checkout", "v-side"]);
    assert_eq!(std::fs::read_to_string(b.join("side.txt")).unwrap(), "only in v-side\n");
    srv.oxen(&b, &["checkout", "main"]);
    run("oxen-fsck", &b, &[]);

    // A tag pushed by name (`push origin v2`) on a commit outside every
    // branch is not followed by a plain fetch (git's auto-follow), but
    // arrives with its history by `fetch --tags`.
    let v2 = tag_outside_branches(&srv, &a, "v2", "two.txt");
    srv.oxen(&a, &["push", "origin", "v2"]);
    assert_eq!(srv.oxen(&b, &["fetch"]), "");
    assert!(!srv.oxen(&b, &["tag"]).contains("v2"));
    let o = srv.oxen(&b, &["fetch", "--tags"]);
    assert!(o.contains(" * [new tag]         v2 -> v2"), "{o}");
    assert_eq!(rev(&b, "v2"), v2);
    srv.oxen(&b, &["checkout", "v2"]);
    assert_eq!(std::fs::read_to_string(b.join("two.txt")).unwrap(), "only in v2\n");
    srv.oxen(&b, &["checkout", "main"]);

    // A local tag of the same name at another commit is never clobbered:
    // reported, exit 0 like git's default fetch (once the tag's commit is
    // here, so auto-follow considers it); an error with --tags.
    let v3 = tag_outside_branches(&srv, &a, "v3", "three.txt");
    srv.oxen(&a, &["push", "origin", "v3"]);
    srv.oxen(&b, &["tag", "v3", "main"]);
    let mine = rev(&b, "v3");
    assert_ne!(mine, v3);
    srv.oxen(&a, &["branch", "has-v3", "v3"]);
    srv.oxen(&a, &["push", "origin", "has-v3"]);
    let o = srv.oxen(&b, &["fetch"]);
    assert!(o.contains(" ! [rejected]        v3 -> v3 (would clobber existing tag)"), "{o}");
    assert_eq!(rev(&b, "v3"), mine);
    let (ok, o, e) = srv.output("oxen", &b, &["fetch", "--tags"]);
    assert!(!ok, "{o}{e}");
    assert!(o.contains("[rejected]") && e.contains("could not be updated"), "{o}{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert_eq!(rev(&b, "v3"), mine);
    // pull also fetches tags and still merges despite the refused one.
    let (ok, o, e) = srv.output("oxen", &b, &["pull"]);
    assert!(ok, "{o}{e}");
    assert_eq!(rev(&b, "v3"), mine);
    // --force replaces it.
    let o = srv.oxen(&b, &["fetch", "--force"]);
    assert!(o.contains("v3 -> v3 (forced update)"), "{o}");
    assert_eq!(rev(&b, "v3"), v3);
    // Nothing left to say on the next fetch.
    assert_eq!(srv.oxen(&b, &["fetch"]), "");

    // Pushing a tag the remote has at another commit is refused unless --force.
    srv.oxen(&a, &["tag", "-d", "v1"]);
    srv.oxen(&a, &["tag", "v1", "v2"]);
    let e = srv.oxen_err(&a, &["push", "origin", "v1"]);
    assert!(e.contains("tag already exists on the remote"), "{e}");
    srv.oxen(&a, &["push", "--force", "origin", "v1"]);
    assert!(srv.refs("R").contains(&format!("\"tags/v1\":\"{v2}\"")));
    // A tag has no upstream to remember.
    let e = srv.oxen_err(&a, &["push", "-u", "origin", "v2"]);
    assert!(e.contains("-u needs a branch"), "{e}");
    assert!(!std::fs::read_to_string(a.join(".oxen/config.toml")).unwrap().contains("v2"));
}

#[test]
fn prune_removes_tracking_refs_of_branches_another_client_deleted() {
    let d = tmp();
    let srv = Server::start(d.path(), &[]);
    let a = seeded(&srv, d.path());
    for br in ["gone", "gone2", "stays"] {
        srv.oxen(&a, &["branch", br]);
        srv.oxen(&a, &["push", "origin", br]);
    }
    let b = d.path().join("b");
    srv.oxen(d.path(), &["clone", &srv.url("R"), b.to_str().unwrap()]);
    let c = d.path().join("c");
    srv.oxen(d.path(), &["clone", &srv.url("R"), c.to_str().unwrap()]);

    // Another client deletes `gone` (--delete) and `gone2` (`:ref` refspec).
    let o = srv.oxen(&c, &["push", "--delete", "origin", "gone"]);
    assert!(o.contains(" - [deleted]         heads/gone"), "{o}");
    srv.oxen(&c, &["push", "origin", ":gone2"]);
    let refs = srv.refs("R");
    assert!(!refs.contains("heads/gone") && refs.contains("heads/stays"), "{refs}");
    // Its own tracking refs went with them.
    let tracked = srv.oxen(&c, &["branch", "-a"]);
    assert!(!tracked.contains("origin/gone") && tracked.contains("origin/stays"), "{tracked}");

    // Without --prune, b keeps its stale tracking refs.
    srv.oxen(&b, &["fetch"]);
    assert!(srv.oxen(&b, &["branch", "-a"]).contains("origin/gone"));
    let o = srv.oxen(&b, &["fetch", "--prune"]);
    let deleted: Vec<&str> = o.lines().filter(|l| l.starts_with(" - [deleted]")).collect();
    assert_eq!(deleted, [" - [deleted]         (none) -> origin/gone", " - [deleted]         (none) -> origin/gone2"]);
    let tracked = srv.oxen(&b, &["branch", "-a"]);
    assert!(!tracked.contains("origin/gone") && tracked.contains("origin/stays"), "{tracked}");
    assert_eq!(srv.oxen(&b, &["fetch", "-p"]), "");

    // fetch.prune in config prunes on pull too.
    srv.oxen(&a, &["branch", "later"]);
    srv.oxen(&a, &["push", "origin", "later"]);
    srv.oxen(&b, &["fetch"]);
    srv.oxen(&a, &["push", "--delete", "origin", "later"]);
    srv.oxen(&b, &["config", "fetch.prune", "true"]);
    assert_eq!(srv.oxen(&b, &["config", "fetch.prune"]), "true");
    let o = srv.oxen(&b, &["pull"]);
    assert!(o.contains(" - [deleted]         (none) -> origin/later"), "{o}");
    let e = srv.oxen_err(&b, &["config", "fetch.prune", "yes"]);
    assert!(e.contains("true or false"), "{e}");
}

#[test]
fn push_delete_refuses_head_a_stale_lease_a_missing_ref_and_read_only_tokens() {
    let d = tmp();
    let srv = Server::start(d.path(), &[]);
    let a = seeded(&srv, d.path());
    srv.oxen(&a, &["branch", "x"]);
    srv.oxen(&a, &["push", "origin", "x"]);
    srv.oxen(&a, &["tag", "t1"]);
    srv.oxen(&a, &["push", "origin", "t1"]);
    let c = d.path().join("c");
    srv.oxen(d.path(), &["clone", &srv.url("R"), c.to_str().unwrap()]);
    let before = srv.refs("R");

    // The remote's HEAD branch: refused by the client...
    let e = srv.oxen_err(&c, &["push", "--delete", "origin", "main"]);
    assert!(e.contains("refusing to delete the remote's current branch 'main'"), "{e}");
    // ...and by the server for any client.
    let main = rev(&c, "main");
    let body = format!("{{\"updates\":[{{\"name\":\"heads/main\",\"old\":\"{main}\",\"new\":null}}],\"force\":true}}");
    let (code, msg) = srv.http("POST", "/api/repos/R/refs", Some(&srv.token), body.as_bytes());
    assert_eq!(code, 409, "{msg}");
    assert!(msg.contains("refusing to delete the current branch heads/main"), "{msg}");
    assert_eq!(srv.refs("R"), before);

    // A ref that is not there.
    let e = srv.oxen_err(&c, &["push", "--delete", "origin", "nope"]);
    assert!(e.contains("unable to delete 'nope': remote ref does not exist"), "{e}");

    // The lease: x moved on the remote since c fetched; c may not delete it.
    srv.oxen(&a, &["checkout", "x"]);
    common::write(&a, "more.txt", "more\n");
    commit_all(&srv, &a, "more on x");
    srv.oxen(&a, &["push", "origin", "x"]);
    let e = srv.oxen_err(&c, &["push", "--delete", "origin", "x"]);
    assert!(e.contains("stale info") && e.contains("fetch first"), "{e}");
    assert!(srv.refs("R").contains("heads/x"));

    // A read-only token gets the server's 403.
    let home = d.path().join("reader");
    std::fs::create_dir_all(&home).unwrap();
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("oxen-server"))
        .env("SYNC_DIR", &srv.sync_dir)
        .args(["add-user", "--email", "r@example.com", "--name", "r", "--host", &format!("http://{}", srv.addr)])
        .args(["--output", home.join("user_config.toml").to_str().unwrap(), "--read", "R"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    srv.oxen(&c, &["fetch"]);
    let o = common::std_bin("oxen", &c).env("OXEN_HOME", &home).args(["push", "--delete", "origin", "x"]).output();
    let o = o.unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(e.contains("(403)") && e.contains("needs write access"), "{e}");
    assert!(srv.refs("R").contains("heads/x"));

    // With write access: a branch and a tag (by plain name) go, and the
    // tracking ref with them.
    let o = srv.oxen(&c, &["push", "--delete", "origin", "x"]);
    assert!(o.contains("[deleted]         heads/x"), "{o}");
    srv.oxen(&c, &["push", "--delete", "origin", "t1"]);
    let refs = srv.refs("R");
    assert!(!refs.contains("heads/x") && !refs.contains("tags/t1") && refs.contains("heads/main"), "{refs}");
    assert!(!srv.oxen(&c, &["branch", "-a"]).contains("origin/x"));
}
