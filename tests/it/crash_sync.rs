//! Crash consistency of sync: `kill -9` the pushing client, or the server
//! while it receives, at spread-out points of a push, many times. After
//! each kill both sides pass fsck, the retry succeeds and sends only what
//! the server is missing, and nothing the server had accepted is lost.
//!
//! Each test runs `OXEN_CRASH_TRIALS` rounds (default 25, which keeps both
//! well under a minute); `tests/crash-trials N` runs many more.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, Rng};
use crate::sync_support::*;

/// Files each round adds (in a new directory of their own): what a push
/// of one round sends is these blobs, that directory's tree, the root tree
/// and the commit.
const FILES_PER_ROUND: usize = 24;
/// Size of each: enough that a push takes a while to kill inside.
const FILE_BYTES: usize = 256 << 10;

fn rounds() -> usize {
    std::env::var("OXEN_CRASH_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(25)
}

fn seed() -> u64 {
    std::env::var("OXEN_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1) | 1
    })
}

/// Commit round `r`'s files (contents unique to the round).
fn add_round(srv: &Server, dir: &Path, r: usize, rng: &mut Rng) {
    for f in 0..FILES_PER_ROUND {
        let mut bytes = Vec::with_capacity(FILE_BYTES);
        let mut x = rng.next();
        while bytes.len() < FILE_BYTES {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        common::write(dir, &format!("round{r}/f{f}.bin"), bytes);
    }
    commit_all(srv, dir, &format!("round {r}"));
}

fn sigkill(child: &Child) {
    let _ = rustix::process::kill_process(rustix::process::Pid::from_child(child), rustix::process::Signal::KILL);
}

fn sent_objects(stderr: &str) -> usize {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("sent ").and_then(|r| r.split_whitespace().next()).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// The server's `heads/main`, or None.
fn server_main(srv: &Server) -> Option<String> {
    let refs = srv.refs("R");
    let v: serde_json::Value = serde_json::from_str(&refs).unwrap();
    v["refs"]["heads/main"].as_str().map(str::to_string)
}

fn fsck_both(srv: &Server, client: &Path, what: &str) {
    let (ok, out, err) = srv.output("oxen", client, &["fsck"]);
    assert!(ok, "client fsck after {what}: {out}{err}");
    let server_repo = srv.sync_dir.join("R");
    let (ok, out, err) = srv.output("oxen-fsck", &server_repo, &[]);
    assert!(ok, "server fsck after {what}: {out}{err}");
}

/// `a` is `b` or one of its ancestors, in the client repository (which has
/// every commit the server could have).
fn is_ancestor_or_same(srv: &Server, client: &Path, a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let (ok, log, _) = srv.output("oxen", client, &["log", b]);
    ok && log.contains(a)
}

/// Push, returning (success, objects sent, stderr).
fn push(srv: &Server, dir: &Path) -> (bool, usize, String) {
    let (ok, _, err) = srv.output("oxen", dir, &["push", "origin", "main"]);
    let n = sent_objects(&err);
    (ok, n, err)
}

fn setup(root: &Path) -> (Server, std::path::PathBuf, Rng, Duration) {
    let srv = Server::start(root, &[]);
    srv.create("R");
    let client = root.join("client");
    std::fs::create_dir_all(&client).unwrap();
    srv.oxen(&client, &["init"]);
    srv.oxen(&client, &["remote", "add", "origin", &srv.url("R")]);
    let mut rng = Rng(seed());
    eprintln!("crash_sync seed {} (rerun with OXEN_CRASH_SEED)", rng.0);
    // One uninterrupted push to measure how long a round's push takes:
    // the kills are spread over that time (and a little past it).
    add_round(&srv, &client, 0, &mut rng);
    let t = Instant::now();
    let (ok, n, err) = push(&srv, &client);
    assert!(ok, "{err}");
    assert_eq!(n, FILES_PER_ROUND + 3, "{err}");
    (srv, client, rng, t.elapsed())
}

#[test]
fn kill_9_the_pushing_client_at_random_points() {
    let d = tempfile::tempdir().unwrap();
    let (srv, client, mut rng, push_time) = setup(d.path());
    let window = push_time.as_micros() as u64 * 3 / 2 + 1;
    let mut interrupted = 0;
    for r in 1..=rounds() {
        let before = server_main(&srv).expect("main was pushed");
        add_round(&srv, &client, r, &mut rng);
        let child = srv
            .std_bin("oxen", &client)
            .args(["push", "origin", "main"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(rng.next() % window));
        sigkill(&child);
        let status = child.wait_with_output().unwrap().status;
        if !status.success() {
            interrupted += 1;
        }
        let what = format!("round {r} (client killed, exit {status:?})");
        fsck_both(&srv, &client, &what);
        // What the server had stays: its main is where it was or the new tip.
        let after = server_main(&srv).expect("main survives");
        assert!(
            is_ancestor_or_same(&srv, &client, &before, &after),
            "{what}: server main went from {before} to {after}"
        );
        // The retry finishes the job and sends at most this round's objects.
        let (ok, n, err) = push(&srv, &client);
        assert!(ok, "{what}: retry failed: {err}");
        assert!(n <= FILES_PER_ROUND + 3, "{what}: retry sent {n} objects: {err}");
        let tip = common::out({
            let mut c = srv.bin("oxen-rev-parse", &client);
            c.arg("main");
            c
        });
        assert_eq!(server_main(&srv).as_deref(), Some(tip.as_str()), "{what}");
    }
    fsck_both(&srv, &client, "the last round");
    let (_, n, err) = push(&srv, &client);
    assert_eq!(n, 0, "nothing is left to send: {err}");
    eprintln!("client killed mid-push in {interrupted} of {} rounds", rounds());
}

#[test]
fn kill_9_the_server_while_it_receives_and_restart_it() {
    let d = tempfile::tempdir().unwrap();
    let (mut srv, client, mut rng, push_time) = setup(d.path());
    let port = srv.addr.rsplit(':').next().unwrap().to_string();
    let window = push_time.as_micros() as u64 * 3 / 2 + 1;
    let mut failed_pushes = 0;
    for r in 1..=rounds() {
        let before = server_main(&srv).expect("main was pushed");
        add_round(&srv, &client, r, &mut rng);
        let pusher = srv
            .std_bin("oxen", &client)
            .args(["push", "origin", "main"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(rng.next() % window));
        sigkill(&srv.child);
        let _ = srv.child.wait();
        let o = pusher.wait_with_output().unwrap();
        if !o.status.success() {
            failed_pushes += 1;
        }
        let what =
            format!("round {r} (server killed; push {})", if o.status.success() { "had finished" } else { "failed" });
        // Same SYNC_DIR and port: the client's remote URL and token still
        // apply. A SIGKILLed listener leaves no socket behind to wait for.
        let log = d.path().join(format!("server-{r}.log"));
        let (child, addr) = spawn_server(&srv.sync_dir, &log, &["--port", &port]);
        srv.child = child;
        assert_eq!(addr, srv.addr);
        fsck_both(&srv, &client, &what);
        let after = server_main(&srv).expect("main survives");
        assert!(
            is_ancestor_or_same(&srv, &client, &before, &after),
            "{what}: server main went from {before} to {after}"
        );
        let (ok, n, err) = push(&srv, &client);
        assert!(ok, "{what}: retry failed: {err}");
        assert!(n <= FILES_PER_ROUND + 3, "{what}: retry sent {n} objects: {err}");
    }
    fsck_both(&srv, &client, "the last round");
    let (_, n, err) = push(&srv, &client);
    assert_eq!(n, 0, "nothing is left to send: {err}");
    eprintln!("server killed during {failed_pushes} of {} pushes", rounds());
}

/// `bytes` pseudo-random bytes from `rng` (incompressible, so chunked
/// contents travel and are stored at full size).
fn random_bytes(rng: &mut Rng, bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes + 8);
    while out.len() < bytes {
        out.extend_from_slice(&rng.next().to_le_bytes());
    }
    out.truncate(bytes);
    out
}

#[test]
fn kill_9_the_server_during_a_chunked_push_then_fsck_and_resume() {
    const BIG: usize = 16 << 20;
    let d = tempfile::tempdir().unwrap();
    let mut srv = Server::start(d.path(), &[]);
    srv.create("R");
    let port = srv.addr.rsplit(':').next().unwrap().to_string();
    let client = d.path().join("client");
    std::fs::create_dir_all(&client).unwrap();
    srv.oxen(&client, &["init"]);
    srv.oxen(&client, &["remote", "add", "origin", &srv.url("R")]);
    let mut rng = Rng(seed());
    eprintln!("crash_sync chunked seed {} (rerun with OXEN_CRASH_SEED)", rng.0);
    common::write(&client, "big0.bin", random_bytes(&mut rng, BIG));
    commit_all(&srv, &client, "big 0");
    let t = Instant::now();
    let (ok, _, err) = push(&srv, &client);
    assert!(ok, "{err}");
    let window = t.elapsed().as_micros() as u64 + 1;
    for r in 1..=rounds().min(6) {
        let data = random_bytes(&mut rng, BIG);
        common::write(&client, &format!("big{r}.bin"), &data);
        commit_all(&srv, &client, &format!("big {r}"));
        let pusher = srv
            .std_bin("oxen", &client)
            .args(["push", "origin", "main"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(rng.next() % window));
        sigkill(&srv.child);
        let _ = srv.child.wait();
        let o = pusher.wait_with_output().unwrap();
        let what = format!("chunked round {r} (push {})", if o.status.success() { "had finished" } else { "failed" });
        let log = d.path().join(format!("server-{r}.log"));
        let (child, addr) = spawn_server(&srv.sync_dir, &log, &["--port", &port]);
        srv.child = child;
        assert_eq!(addr, srv.addr);
        fsck_both(&srv, &client, &what);
        let (ok, out, err) = srv.output("oxen", &client, &["push", "origin", "main"]);
        assert!(ok, "{what}: retry failed: {out}{err}");
        let sent: u64 =
            err.lines().find_map(|l| l.strip_prefix("sent ")?.split_once(" bytes")?.0.parse().ok()).unwrap_or(0);
        assert!(sent <= BIG as u64 + (1 << 20), "{what}: retry sent {sent} bytes: {err}");
        fsck_both(&srv, &client, &format!("{what}, after the retry"));
    }
    srv.oxen(d.path(), &["clone", &srv.url("R"), "copy"]);
    for r in 0..=rounds().min(6) {
        let name = format!("big{r}.bin");
        assert!(
            std::fs::read(client.join(&name)).unwrap() == std::fs::read(d.path().join("copy").join(&name)).unwrap(),
            "{name} differs in the clone"
        );
    }
}
