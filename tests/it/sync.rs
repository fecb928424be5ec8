//! Sync end to end against a real `oxen-server` on a loopback port.

use crate::common::{self, *};
use crate::procs::wait_until;
use crate::sync_support::*;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Objects a push reported sending ("sent N objects"), 0 when none.
fn sent_objects(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("sent ").and_then(|r| r.split_whitespace().next()).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

#[test]
fn curl_usage_list_create_info_delete() {
    let d = tmp();
    let srv = Server::start(d.path(), &[]);
    let t = srv.token.clone();
    let (code, body) = srv.http("GET", "/api/repos", Some(&t), b"");
    assert_eq!((code, body.as_str()), (200, "{\"repos\":[]}"));
    let (code, body) = srv.http("POST", "/api/repos", Some(&t), br#"{"name": "MyRepo"}"#);
    assert_eq!(code, 201, "{body}");
    let (code, _) = srv.http("POST", "/api/repos", Some(&t), br#"{"name": "MyRepo"}"#);
    assert_eq!(code, 409);
    for bad in ["../evil", "a/b", "..", ".hidden", "x y", ""] {
        let (code, body) = srv.http("POST", "/api/repos", Some(&t), format!("{{\"name\": {:?}}}", bad).as_bytes());
        assert_eq!(code, 400, "{bad}: {body}");
    }
    let (code, body) = srv.http("GET", "/api/repos", Some(&t), b"");
    assert_eq!(code, 200);
    assert!(body.contains("\"MyRepo\""), "{body}");
    let (code, body) = srv.http("GET", "/api/repos/MyRepo", Some(&t), b"");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"branches\":0"), "{body}");
    let (code, _) = srv.http("GET", "/api/repos/Nope", Some(&t), b"");
    assert_eq!(code, 404);
    let (code, _) = srv.http("DELETE", "/api/repos/MyRepo", Some(&t), b"");
    assert_eq!(code, 200);
    let (_, body) = srv.http("GET", "/api/repos", Some(&t), b"");
    assert!(!body.contains("MyRepo"));
    assert!(!srv.sync_dir.join("MyRepo").exists());
}

#[test]
fn no_token_or_wrong_token_is_401_and_changes_nothing() {
    let d = tmp();
    let srv = Server::start(d.path(), &[]);
    for tok in [None, Some("0123456789abcdef"), Some("")] {
        let (code, body) = srv.http("POST", "/api/repos", tok, br#"{"name": "Sneaky"}"#);
        assert_eq!(code, 401, "{body}");
        assert!(body.contains("\"error\""), "{body}");
        let (code, _) = srv.http("GET", "/api/repos", tok, b"");
        assert_eq!(code, 401);
    }
    assert!(!srv.sync_dir.join("Sneaky").exists());
    // A client without a token gets a clear one-line error.
    let a = d.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    init_with(&srv, &a, &[("f.txt", b"x")]);
    srv.create("Repo");
    let mut c = common::bin("oxen", &a);
    c.env("OXEN_HOME", d.path().join("nohome")).args(["push", &srv.url("Repo"), "main"]);
    let e = err(c);
    assert!(e.contains("401"), "{e}");
    assert_eq!(srv.refs("Repo"), "{\"head\":\"heads/main\",\"refs\":{}}");
    srv.assert_alive();
}

#[test]
fn push_clone_commit_push_pull_round_trip() {
    let d = tmp();
    let srv = Server::start(d.path(), &[]);
    let a = d.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    init_with(
        &srv,
        &a,
        &[("data/train.csv", b"id,label\n1,cat\n"), ("images/cat 1.jpg", &[0u8, 1, 2, 255]), ("README.md", b"hello\n")],
    );
    // Pushing to a repository that does not exist says how to create it.
    let e = srv.oxen_err(&a, &["push", &srv.url("Data"), "main"]);
    assert!(e.contains("create it first"), "{e}");
    srv.create("Data");
    srv.oxen(&a, &["remote", "add", "origin", &srv.url("Data")]);
    assert!(srv.oxen(&a, &["remote", "-v"]).contains(&srv.url("Data")));
    srv.oxen(&a, &["push", "-u", "origin", "main"]);
    // Second push of the same data: nothing travels.
    let (ok, stdout, stderr) = srv.output("oxen", &a, &["push"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("up-to-date heads/main"), "{stdout}");
    assert_eq!(sent_objects(&stderr), 0);

    // Clone into a second directory: byte-identical work tree.
    let b = d.path().join("b");
    srv.oxen(d.path(), &["clone", &srv.url("Data"), b.to_str().unwrap()]);
    assert_eq!(snapshot(&a), snapshot(&b));
    assert!(srv.oxen(&b, &["status"]).contains("Your branch is up to date with 'origin/main'."));

    // Commit in the clone, push, pull in the first.
    write(&b, "data/train.csv", b"id,label\n1,cat\n2,dog\n");
    write(&b, "new/file.bin", vec![7u8; 5000]);
    commit_all(&srv, &b, "more data");
    assert!(srv.oxen(&b, &["status"]).contains("Your branch is ahead of 'origin/main' by 1 commit."));
    srv.oxen(&b, &["push"]);
    assert!(srv.oxen(&b, &["status"]).contains("Your branch is up to date with 'origin/main'."));
    srv.oxen(&a, &["pull"]);
    assert_eq!(snapshot(&a), snapshot(&b));
    srv.oxen(&a, &["fsck"]);
    assert!(srv.refs("Data").contains("heads/main"));
}

#[test]
fn only_missing_objects_travel() {
    let d = tmp();
    let srv = Server::start(d.path(), &[]);
    let a = d.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    srv.oxen(&a, &["init"]);
    for i in 0..100 {
        write(&a, &format!("dir{}/f{i}.txt", i % 10), format!("file {i}\n").repeat(50));
    }
    commit_all(&srv, &a, "base");
    srv.create("R");
    srv.oxen(&a, &["remote", "add", "origin", &srv.url("R")]);
    let (ok, _, stderr) = srv.output("oxen-send-pack", &a, &["origin", "main"]);
    assert!(ok, "{stderr}");
    // 100 blobs + 11 trees + 1 commit.
    assert_eq!(sent_objects(&stderr), 112, "{stderr}");
    // A branch changing one file of 100 sends that blob, two trees, one commit.
    srv.oxen(&a, &["checkout", "-b", "feature"]);
    write(&a, "dir3/f3.txt", b"changed\n");
    commit_all(&srv, &a, "change one");
    let (ok, stdout, stderr) = srv.output("oxen-send-pack", &a, &["origin", "feature"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("new ") && stdout.contains("heads/feature"), "{stdout}");
    assert_eq!(sent_objects(&stderr), 4, "{stderr}");
    // And again: nothing.
    let (ok, stdout, stderr) = srv.output("oxen-send-pack", &a, &["origin", "feature", "main"]);
    assert!(ok, "{stderr}");
    assert_eq!(sent_objects(&stderr), 0, "{stderr}");
    assert_eq!(stdout.matches("up-to-date").count(), 2, "{stdout}");
}

#[test]
fn concurrent_pushes_one_wins_the_other_fetches_first_and_loses_nothing() {
    let d = tmp();
    let srv = Server::start(d.path(), &[]);
    let a = d.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    init_with(&srv, &a, &[("base.txt", b"base\n")]);
    srv.create("R");
    srv.oxen(&a, &["remote", "add", "origin", &srv.url("R")]);
    srv.oxen(&a, &["push", "-u", "origin", "main"]);
    let b = d.path().join("b");
    let c = d.path().join("c");
    srv.oxen(d.path(), &["clone", &srv.url("R"), "b"]);
    srv.oxen(d.path(), &["clone", &srv.url("R"), "c"]);
    write(&b, "from_b.txt", b"b\n");
    commit_all(&srv, &b, "b");
    write(&c, "from_c.txt", b"c\n");
    commit_all(&srv, &c, "c");
    let (rb, rc) = std::thread::scope(|s| {
        let hb = s.spawn(|| srv.output("oxen", &b, &["push"]));
        let hc = s.spawn(|| srv.output("oxen", &c, &["push"]));
        (hb.join().unwrap(), hc.join().unwrap())
    });
    assert!(rb.0 != rc.0, "exactly one push must win: b={rb:?} c={rc:?}");
    let (loser, lerr) = if rb.0 { (&c, rc.2) } else { (&b, rb.2) };
    assert!(lerr.contains("fetch first"), "{lerr}");
    // The loser pulls (a merge) and pushes again; nothing is lost.
    srv.oxen(loser, &["pull"]);
    srv.oxen(loser, &["push"]);
    let e = d.path().join("e");
    srv.oxen(d.path(), &["clone", &srv.url("R"), "e"]);
    let snap = snapshot(&e);
    for f in ["base.txt", "from_b.txt", "from_c.txt"] {
        assert!(snap.contains_key(f), "{f} missing: {:?}", snap.keys());
    }
}

#[test]
fn non_fast_forward_is_refused_unless_forced() {
    let d = tmp();
    let srv = Server::start(d.path(), &[]);
    let a = d.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    init_with(&srv, &a, &[("x.txt", b"1\n")]);
    srv.create("R");
    srv.oxen(&a, &["remote", "add", "origin", &srv.url("R")]);
    srv.oxen(&a, &["push", "origin", "main"]);
    write(&a, "x.txt", b"2\n");
    commit_all(&srv, &a, "two");
    srv.oxen(&a, &["push", "origin", "main"]);
    // Rewind locally and commit something else: not a fast-forward.
    srv.oxen(&a, &["reset", "--hard", "HEAD~1"]);
    write(&a, "y.txt", b"other\n");
    commit_all(&srv, &a, "other");
    let e = srv.oxen_err(&a, &["push", "origin", "main"]);
    assert!(e.contains("non-fast-forward"), "{e}");
    let (ok, stdout, stderr) = srv.output("oxen", &a, &["push", "--force", "origin", "main"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("forced"), "{stdout}");
}

#[test]
fn interrupted_push_leaves_server_consistent_and_retry_sends_the_rest() {
    let d = tmp();
    let srv = Server::start(d.path(), &[]);
    let a = d.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    srv.oxen(&a, &["init"]);
    for i in 0..40 {
        write(&a, &format!("f{i:02}.bin"), vec![i as u8; 20_000 + i]);
    }
    commit_all(&srv, &a, "forty files");
    srv.create("R");
    // The pack a push would send, cut off half-way as if the client died.
    let mut c = common::bin("oxen-upload-pack", &a);
    c.args(["--want", "main", "."]);
    let pack = c.output().unwrap().stdout;
    assert!(pack.len() > 800_000);
    let cut = &pack[..pack.len() / 2];
    let (code, body) =
        raw_http(&srv.addr, "POST", "/api/repos/R/receive-pack", Some(&srv.token), cut, Some(pack.len() as u64));
    // The connection died mid-body: there may be no response at all, or a 400.
    assert!(code == 0 || code == 400, "{code} {body}");
    srv.assert_alive();
    assert_eq!(srv.refs("R"), "{\"head\":\"heads/main\",\"refs\":{}}");
    // Some blobs survived; nothing half-written is visible.
    let repo = oxen_repo::Repo::open(&srv.sync_dir.join("R")).unwrap();
    let ids = repo.versions.list().unwrap();
    for id in &ids {
        assert_eq!(repo.versions.verify(id).unwrap(), None, "a partial object {id} became visible");
    }
    let stored = ids.len();
    drop(repo);
    assert!(stored > 5, "expected some blobs to survive, got {stored}");
    // The retry sends only what is missing.
    srv.oxen(&a, &["remote", "add", "origin", &srv.url("R")]);
    let (ok, _, stderr) = srv.output("oxen", &a, &["push", "origin", "main"]);
    assert!(ok, "{stderr}");
    let sent = sent_objects(&stderr);
    assert!(sent > 0 && sent < 42 - stored as u64 + 1, "sent {sent} with {stored} already there: {stderr}");
    let b = d.path().join("b");
    srv.oxen(d.path(), &["clone", &srv.url("R"), "b"]);
    assert_eq!(snapshot(&a), snapshot(&b));
}

#[test]
fn killed_push_client_leaves_server_consistent() {
    let d = tmp();
    let srv = Server::start(d.path(), &[]);
    let a = d.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    srv.oxen(&a, &["init"]);
    for i in 0..8 {
        write(&a, &format!("big{i}.bin"), vec![i as u8 + 1; 8 << 20]);
    }
    commit_all(&srv, &a, "big files");
    srv.create("R");
    srv.oxen(&a, &["remote", "add", "origin", &srv.url("R")]);
    let mut child = srv
        .std_bin("oxen", &a)
        .args(["push", "origin", "main"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it mid-way: once the server has stored some of its contents
    // (polled with a deadline rather than a guessed sleep), unless the push
    // finished first.
    let underway = wait_until(std::time::Duration::from_secs(60), || {
        matches!(child.try_wait(), Ok(Some(_))) || versions_count(&srv) > 0
    });
    assert!(underway, "the push neither stored anything nor finished within 60 s");
    let _ = child.kill();
    let _ = child.wait();
    srv.assert_alive();
    // Either the push finished before the kill, or the ref did not move.
    let refs = srv.refs("R");
    if !refs.contains("heads/main") {
        assert_eq!(refs, "{\"head\":\"heads/main\",\"refs\":{}}");
    }
    srv.oxen(&a, &["push", "origin", "main"]);
    let b = d.path().join("b");
    srv.oxen(d.path(), &["clone", &srv.url("R"), "b"]);
    assert_eq!(snapshot(&a), snapshot(&b));
}

/// A ref update that finds the ref already at its new value succeeds: the
/// retry of a push whose first attempt moved the ref but whose client
/// never heard back (killed, or its replica died after the update) is not
/// told to fetch first. A stale update to another value still is.
#[test]
fn a_repeated_ref_update_is_idempotent() {
    let d = tmp();
    let (srv, a) = seeded(d.path(), &[]);
    let tip = crate::common::run("oxen-rev-parse", &a, &["HEAD"]);
    let body =
        format!("{{\"updates\": [{{\"name\": \"heads/copy\", \"old\": null, \"new\": \"{tip}\"}}], \"force\": false}}");
    let (code, msg) = srv.http("POST", "/api/repos/R/refs", Some(&srv.token), body.as_bytes());
    assert_eq!(code, 200, "{msg}");
    let (code, msg) = srv.http("POST", "/api/repos/R/refs", Some(&srv.token), body.as_bytes());
    assert_eq!(code, 200, "the same update again: {msg}");
    assert!(srv.refs("R").contains(&format!("\"heads/copy\":\"{tip}\"")), "{}", srv.refs("R"));
    let stale = r#"{"updates": [{"name": "heads/copy", "old": null, "new": null}], "force": false}"#;
    let (code, msg) = srv.http("POST", "/api/repos/R/refs", Some(&srv.token), stale.as_bytes());
    assert_eq!(code, 409, "{msg}");
}

/// A server with one commit on main, for the bad-input tests.
fn seeded(d: &std::path::Path, extra: &[&str]) -> (Server, std::path::PathBuf) {
    let srv = Server::start(d, extra);
    let a = d.join("a");
    std::fs::create_dir_all(&a).unwrap();
    init_with(&srv, &a, &[("ok.txt", b"fine\n")]);
    srv.create("R");
    srv.oxen(&a, &["remote", "add", "origin", &srv.url("R")]);
    srv.oxen(&a, &["push", "origin", "main"]);
    (srv, a)
}

/// File contents stored on the server (loose files and segment entries).
fn versions_count(srv: &Server) -> usize {
    let repo = oxen_repo::Repo::open(&srv.sync_dir.join("R")).unwrap();
    repo.versions.list().unwrap().len()
}

#[test]
fn bad_packs_are_refused_and_change_nothing() {
    let d = tmp();
    let (srv, _a) = seeded(d.path(), &[]);
    let before_refs = srv.refs("R");
    let before_versions = versions_count(&srv);
    let post = |pack: &[u8]| srv.http("POST", "/api/repos/R/receive-pack", Some(&srv.token), pack);

    // An object whose bytes do not match its id.
    let wrong = oxen_hash::ContentId::of(b"what the id says").0;
    let (code, body) = post(&make_pack(&[(3, wrong, b"something else".to_vec())], true));
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("corrupt"), "{body}");

    // A truncated pack.
    let good = b"real bytes".to_vec();
    let pack = make_pack(&[(3, oxen_hash::ContentId::of(&good).0, good.clone())], true);
    let (code, body) = post(&pack[..pack.len() - 20]);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("truncated"), "{body}");

    // Bad trailer.
    let mut bad = pack.clone();
    let n = bad.len();
    bad[n - 1] ^= 0xff;
    let (code, body) = post(&bad);
    assert_eq!(code, 400, "{body}");

    // Garbage.
    let (code, _) = post(b"this is not a pack at all");
    assert_eq!(code, 400);

    // Trees with unsafe names.
    for name in ["../evil", "a/b", "nul\0byte", ".oxen", ".."] {
        let blob = b"payload".to_vec();
        let blob_id = oxen_hash::ContentId::of(&blob);
        let tree = oxen_object::Tree::Entries(vec![oxen_object::TreeEntry {
            name: name.into(),
            kind: oxen_object::EntryKind::File,
            mode: oxen_object::mode::FILE,
            id: blob_id,
            size: blob.len() as u64,
            tabular: None,
        }]);
        let tb = tree.encode();
        let (code, body) =
            post(&make_pack(&[(3, blob_id.0, blob.clone()), (2, oxen_hash::ContentId::of(&tb).0, tb.clone())], true));
        assert_eq!(code, 400, "{name:?}: {body}");
        assert!(body.contains("invalid name"), "{body}");
    }
    assert_eq!(srv.refs("R"), before_refs);
    // Only the valid "payload"/"real bytes" blobs could have been stored.
    assert!(versions_count(&srv) <= before_versions + 2);
    srv.assert_alive();
}

#[test]
fn bad_requests_get_clear_4xx_and_the_server_keeps_serving() {
    let d = tmp();
    let (srv, a) = seeded(d.path(), &["--max-body", "100000"]);
    let before = srv.refs("R");
    let head = run("oxen-rev-parse", &a, &["HEAD"]);
    // Ref names with '..', outside heads/ and tags/, malformed ids.
    for (name, new) in [
        ("heads/../x", head.as_str()),
        ("heads/a..b", head.as_str()),
        ("remotes/origin/main", head.as_str()),
        ("heads/ok", "nothex"),
    ] {
        let body = format!("{{\"updates\": [{{\"name\": \"{name}\", \"old\": null, \"new\": \"{new}\"}}]}}");
        let (code, resp) = srv.http("POST", "/api/repos/R/refs", Some(&srv.token), body.as_bytes());
        assert_eq!(code, 400, "{name}: {resp}");
    }
    // A commit the server does not have.
    let body = format!("{{\"updates\": [{{\"name\": \"heads/x\", \"old\": null, \"new\": \"{}\"}}]}}", "ab".repeat(16));
    let (code, _) = srv.http("POST", "/api/repos/R/refs", Some(&srv.token), body.as_bytes());
    assert_eq!(code, 400);
    // Garbage JSON everywhere JSON is expected.
    for path in ["/api/repos", "/api/repos/R/refs", "/api/repos/R/missing", "/api/repos/R/upload-pack"] {
        let (code, resp) = srv.http("POST", path, Some(&srv.token), b"{not json");
        assert_eq!(code, 400, "{path}: {resp}");
        assert!(resp.contains("invalid JSON"), "{resp}");
    }
    // A body larger than the limit: declared, and streamed (chunked) by a push.
    let (code, resp) =
        raw_http(&srv.addr, "POST", "/api/repos/R/receive-pack", Some(&srv.token), b"OXPK", Some(5_000_000));
    assert_eq!(code, 413, "{resp}");
    assert!(resp.contains("limit"), "{resp}");
    // An absurd declared length must not make the server try to drain it.
    let (code, _) = raw_http(&srv.addr, "POST", "/api/repos/R/receive-pack", Some(&srv.token), b"", Some(1 << 45));
    assert_eq!(code, 413);
    write(&a, "big.bin", vec![1u8; 300_000]);
    commit_all(&srv, &a, "too big");
    let e = srv.oxen_err(&a, &["push", "origin", "main"]);
    assert!(e.contains("413") || e.contains("limit") || e.contains("cannot reach"), "{e}");
    assert_eq!(srv.refs("R"), before);
    // Unknown endpoint and method.
    let (code, _) = srv.http("GET", "/nope", Some(&srv.token), b"");
    assert_eq!(code, 404);
    let (code, _) = srv.http("PUT", "/api/repos/R/refs", Some(&srv.token), b"");
    assert_eq!(code, 405);
    srv.assert_alive();
}

#[test]
fn plumbing_over_pipes_and_local_path_remotes() {
    let d = tmp();
    let root = d.path();
    let a = root.join("a");
    let b = root.join("b");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    ox(&a, &["init"]);
    ox(&b, &["init", "--bare"]);
    write(&a, "x/y.txt", b"piped\n");
    ox(&a, &["add", "-A"]);
    ox(&a, &["commit", "-m", "one"]);
    let head = run("oxen-rev-parse", &a, &["main"]);
    // upload-pack | receive-pack, like over ssh.
    let pack = bin("oxen-upload-pack", &a).args(["--want", "main", "."]).output().unwrap().stdout;
    let update = format!("heads/main::{head}");
    let summary = run_stdin("oxen-receive-pack", root, &["b", "--update", &update], pack.clone());
    assert!(summary.contains("\"objects\":4"), "{summary}");
    assert_eq!(run("oxen-rev-parse", &b, &["main"]), head);
    // Same pack again: nothing new stored; a non-fast-forward update is refused.
    let summary = run_stdin("oxen-receive-pack", root, &["b"], pack);
    assert!(summary.contains("\"stored\":0"), "{summary}");
    // send-pack and fetch-pack against a local path.
    write(&a, "x/z.txt", b"more\n");
    ox(&a, &["add", "-A"]);
    ox(&a, &["commit", "-m", "two"]);
    let o = run("oxen-send-pack", &a, &[b.to_str().unwrap(), "main"]);
    assert!(o.contains("heads/main"), "{o}");
    let c2 = root.join("c");
    std::fs::create_dir_all(&c2).unwrap();
    ox(&c2, &["init"]);
    let o = run("oxen-fetch-pack", &c2, &[b.to_str().unwrap()]);
    let new_head = run("oxen-rev-parse", &a, &["main"]);
    assert_eq!(o, format!("{new_head} heads/main"));
    // What fetch-pack stored is readable: the commit and its whole tree.
    assert_eq!(run("oxen-cat-file", &c2, &["-t", &new_head]), "commit");
    let files = run("oxen-ls-tree", &c2, &["-r", "--name-only", &new_head]);
    assert_eq!(files, "x/y.txt\nx/z.txt");
    // Clone from a local path works too.
    ox(root, &["clone", "a", "d"]);
    assert_eq!(snapshot(&a), snapshot(&root.join("d")));
}

#[test]
fn server_shuts_down_gracefully_on_sigterm() {
    let d = tmp();
    let mut srv = Server::start(d.path(), &[]);
    srv.assert_alive();
    crate::procs::terminate(&srv.child);
    let st = srv.child.wait().unwrap();
    assert!(st.success(), "{st:?}");
}
