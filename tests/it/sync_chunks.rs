//! Chunk-level sync: a one-row edit in a large CSV moves only the changed
//! chunks (push and fetch), an interrupted push resumes with the chunks the
//! server already verified and kept, and bad chunk frames are refused.

use std::path::Path;

use oxen_hash::ContentId;
use oxen_store::{ChunkList, ChunkRef};

use crate::sync_support::*;

/// Rows in the generated CSV: about 40 MB.
const ROWS: usize = 800_000;

fn csv(edit: Option<usize>) -> Vec<u8> {
    let mut out = Vec::with_capacity(ROWS * 52);
    out.extend_from_slice(b"id,name,score,weight,flag\n");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..ROWS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let score = if edit == Some(i) { 999_999_999 } else { x % 1_000_000_000 };
        out.extend_from_slice(
            format!("{i},name_{:08},{score},{}.{:03},{}\n", x % 99_999_989, (x >> 20) % 1000, (x >> 40) % 1000, x & 1)
                .as_bytes(),
        );
    }
    out
}

/// The number in a `<prefix> N bytes (...)` line of `stderr`.
fn bytes_line(stderr: &str, prefix: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix(prefix)?.strip_prefix(' ')?;
            let (n, tail) = rest.split_once(' ')?;
            tail.starts_with("bytes").then(|| n.parse().ok()).flatten()
        })
        .unwrap_or_else(|| panic!("no '{prefix} N bytes' line in: {stderr}"))
}

fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        let m = e.metadata().unwrap();
        total += if m.is_dir() { dir_size(&e.path()) } else { m.len() };
    }
    total
}

fn server_versions(srv: &Server, repo: &str) -> u64 {
    dir_size(&srv.sync_dir.join(repo).join(".oxen/versions"))
}

fn fsck_both(srv: &Server, client: &Path, repo: &str) {
    let (ok, out, err) = srv.output("oxen", client, &["fsck"]);
    assert!(ok, "client fsck: {out}{err}");
    let (ok, out, err) = srv.output("oxen-fsck", &srv.sync_dir.join(repo), &[]);
    assert!(ok, "server fsck: {out}{err}");
}

#[test]
fn one_row_edit_pushes_and_pulls_only_the_changed_chunks() {
    let d = tempfile::tempdir().unwrap();
    let srv = Server::start(d.path(), &[]);
    srv.create("R");
    let a = d.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    srv.oxen(&a, &["init"]);
    let base = csv(None);
    std::fs::write(a.join("big.csv"), &base).unwrap();
    commit_all(&srv, &a, "big");
    srv.oxen(&a, &["remote", "add", "origin", &srv.url("R")]);
    let (ok, _, err) = srv.output("oxen", &a, &["push", "origin", "main"]);
    assert!(ok, "{err}");
    // Chunks travel in their stored (zstd) encoding: the numeric CSV is
    // sent in well under 60% of its size, and cloned the same way.
    let first = bytes_line(&err, "sent");
    assert!(first < base.len() as u64 * 6 / 10, "first push sent {first} of {}: {err}", base.len());
    assert!(first > base.len() as u64 / 5, "first push sent only {first} of {}: {err}", base.len());

    let b = d.path().join("b");
    let (ok, _, err) = srv.output("oxen", d.path(), &["clone", &srv.url("R"), "b"]);
    assert!(ok, "{err}");
    let cloned = bytes_line(&err, "received");
    assert!(cloned < base.len() as u64 * 6 / 10, "the clone received {cloned} of {}: {err}", base.len());
    assert!(std::fs::read(b.join("big.csv")).unwrap() == base, "cloned file differs");

    let edited = csv(Some(ROWS / 2));
    std::fs::write(a.join("big.csv"), &edited).unwrap();
    commit_all(&srv, &a, "one row");
    let before = server_versions(&srv, "R");
    let (ok, _, err) = srv.output("oxen", &a, &["push", "origin", "main"]);
    assert!(ok, "{err}");
    let sent = bytes_line(&err, "sent");
    assert!(sent < 2 << 20, "the one-row push sent {sent} bytes: {err}");
    assert!(err.contains("reused"), "{err}");
    let grew = server_versions(&srv, "R") - before;
    assert!(grew < 2 << 20, "the server's store grew by {grew} bytes");

    let (ok, _, err) = srv.output("oxen", &b, &["pull"]);
    assert!(ok, "{err}");
    let received = bytes_line(&err, "received");
    assert!(received < 2 << 20, "the one-row pull received {received} bytes: {err}");
    assert!(std::fs::read(b.join("big.csv")).unwrap() == edited, "pulled file differs");
    fsck_both(&srv, &b, "R");
}

#[test]
fn an_interrupted_push_resumes_with_the_chunks_already_received() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    let data = csv(None);
    let total = data.len() as u64;
    // The server cuts the request body at 15% of the file, about half of
    // the pack (chunks travel compressed, ~38% of this CSV): the connection
    // breaks mid-pack, as when a client dies or the network drops.
    let cut = (total * 15 / 100).to_string();
    let srv = Server::start(d.path(), &["--max-body", &cut]);
    srv.create("R");
    srv.oxen(&a, &["init"]);
    std::fs::write(a.join("big.csv"), &data).unwrap();
    commit_all(&srv, &a, "big");
    let (ok, _, err) = srv.output("oxen", &a, &["push", &srv.url("R"), "main"]);
    assert!(!ok, "the cut push succeeded: {err}");
    // Kept compressed (a CSV stores in well under half its size).
    let kept = server_versions(&srv, "R");
    assert!(kept > total / 20, "the server kept only {kept} bytes of what it received");
    let (ok, out, err) = srv.output("oxen-fsck", &srv.sync_dir.join("R"), &[]);
    assert!(ok, "server fsck after the cut push: {out}{err}");
    drop(srv);

    let srv = Server::start(d.path(), &[]);
    let (ok, _, err) = srv.output("oxen", &a, &["push", &srv.url("R"), "main"]);
    assert!(ok, "{err}");
    let sent = bytes_line(&err, "sent");
    // A whole push is ~38% of the file (12.3 of 32.5 MB); the retry sends
    // about what the cut did not deliver.
    assert!(sent < total * 3 / 10, "the retry sent {sent} of {total} bytes: {err}");

    let (ok, _, err) = srv.output("oxen", d.path(), &["clone", &srv.url("R"), "c"]);
    assert!(ok, "{err}");
    assert!(std::fs::read(d.path().join("c/big.csv")).unwrap() == data, "the clone differs");
    fsck_both(&srv, &a, "R");
}

/// A version-2 pack of `frames`, with a correct trailer.
fn pack_v2(frames: &[(u8, [u8; 16], Vec<u8>)]) -> Vec<u8> {
    let mut p = make_pack(frames, false);
    p[4..8].copy_from_slice(&2u32.to_le_bytes());
    let sum = ContentId::of(&p);
    p.extend_from_slice(sum.as_bytes());
    p
}

fn list(chunks: &[&[u8]]) -> Vec<u8> {
    ChunkList::new(chunks.iter().map(|c| ChunkRef { id: ContentId::of(c), len: c.len() as u32 }).collect())
        .unwrap()
        .encode()
}

#[test]
fn bad_chunks_and_chunk_lists_are_refused_and_nothing_is_recorded() {
    let d = tempfile::tempdir().unwrap();
    let srv = Server::start(d.path(), &[]);
    srv.create("R");
    let recv = |pack: Vec<u8>| srv.http("POST", "/api/repos/R/receive-pack", Some(&srv.token), &pack);
    let (c1, c2): (&[u8], &[u8]) = (b"first chunk bytes", b"second chunk bytes");
    let file: Vec<u8> = [c1, c2].concat();
    let fid = *ContentId::of(&file).as_bytes();
    let id = |b: &[u8]| *ContentId::of(b).as_bytes();

    // A chunk whose bytes do not hash to its id.
    let (code, body) = recv(pack_v2(&[(4, id(c1), c2.to_vec())]));
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("corrupt"), "{body}");

    // A chunk list naming a chunk that was never sent.
    let (code, body) = recv(pack_v2(&[(4, id(c1), c1.to_vec()), (5, fid, list(&[c1, c2]))]));
    assert!((400..500).contains(&code), "{code} {body}");
    assert!(body.contains("missing chunk"), "{body}");

    // A list whose chunks do not reassemble to the file it claims.
    let (code, body) = recv(pack_v2(&[(4, id(c2), c2.to_vec()), (5, fid, list(&[c2, c1]))]));
    assert!((400..500).contains(&code), "{code} {body}");
    assert!(body.contains("corrupt"), "{body}");

    // A list whose total disagrees with its chunks, and one that is not a list.
    let mut lying = list(&[c1, c2]);
    lying[9..17].copy_from_slice(&999u64.to_le_bytes());
    let (code, body) = recv(pack_v2(&[(5, fid, lying)]));
    assert!((400..500).contains(&code), "{code} {body}");
    let (code, body) = recv(pack_v2(&[(5, fid, b"not a list".to_vec())]));
    assert!((400..500).contains(&code), "{code} {body}");

    // Chunk frames in a version-1 pack.
    let (code, body) = recv(make_pack(&[(4, id(c1), c1.to_vec())], true));
    assert_eq!(code, 400, "{body}");

    // The file was never recorded; the verified chunks were kept.
    let ask = |ids: &[[u8; 16]]| {
        let ids: Vec<String> =
            ids.iter().map(|i| format!("\"{}\"", ContentId::from_slice(i).unwrap().to_hex())).collect();
        let (code, body) = srv.http(
            "POST",
            "/api/repos/R/chunks/missing",
            Some(&srv.token),
            format!("{{\"ids\": [{}]}}", ids.join(",")).as_bytes(),
        );
        assert_eq!(code, 200, "{body}");
        body
    };
    let missing = ask(&[fid, id(c1), id(c2)]);
    assert!(missing.contains(&ContentId::from_slice(&fid).unwrap().to_hex()), "{missing}");
    assert!(!missing.contains(&ContentId::of(c1).to_hex()), "{missing}");

    // Then the good pack is taken, and the file is there.
    let (code, body) = recv(pack_v2(&[(4, id(c2), c2.to_vec()), (5, fid, list(&[c1, c2]))]));
    assert_eq!(code, 200, "{body}");
    assert!(!ask(&[fid]).contains(&ContentId::from_slice(&fid).unwrap().to_hex()));
    let (ok, out, err) = srv.output("oxen-fsck", &srv.sync_dir.join("R"), &[]);
    assert!(ok, "server fsck: {out}{err}");

    // Malformed chunk requests are refused with a 4xx.
    for (path, body) in [
        ("/api/repos/R/chunks/missing", "{\"ids\": [\"zz\"]}"),
        ("/api/repos/R/chunks/lists", "{\"ids\": [\"00\"]}"),
        ("/api/repos/R/chunks/lists", &format!("{{\"ids\": [\"{}\"]}}", ContentId::of(b"absent").to_hex())),
        ("/api/repos/R/upload-items", "{\"items\": [[\"chunk\", \"00112233445566778899aabbccddeeff\"]]}"),
        ("/api/repos/R/upload-items", "{\"items\": [[\"spoon\", \"00112233445566778899aabbccddeeff\"]]}"),
        ("/api/repos/R/enumerate", "{\"wants\": [\"00112233445566778899aabbccddeeff\"]}"),
    ] {
        let (code, resp) = srv.http("POST", path, Some(&srv.token), body.as_bytes());
        assert!((400..500).contains(&code), "{path} {body}: {code} {resp}");
    }
    let many: Vec<String> = (0..100_001).map(|_| "\"00112233445566778899aabbccddeeff\"".to_string()).collect();
    let (code, resp) = srv.http(
        "POST",
        "/api/repos/R/chunks/missing",
        Some(&srv.token),
        format!("{{\"ids\": [{}]}}", many.join(",")).as_bytes(),
    );
    assert_eq!(code, 400, "{resp}");
    srv.assert_alive();
}

#[test]
fn a_killed_fetch_resumes_with_the_chunks_already_received() {
    const BIG: usize = 64 << 20;
    let d = tempfile::tempdir().unwrap();
    let srv = Server::start(d.path(), &[]);
    srv.create("R");
    let a = d.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    init_with(&srv, &a, &[("readme.txt", b"hello\n")]);
    srv.oxen(&a, &["push", &srv.url("R"), "main"]);
    srv.oxen(d.path(), &["clone", &srv.url("R"), "b"]);
    let b = d.path().join("b");
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for attempt in 0..5 {
        // Incompressible, so the receiver's store grows with what arrives.
        let mut data = Vec::with_capacity(BIG);
        while data.len() < BIG {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.extend_from_slice(&x.to_le_bytes());
        }
        std::fs::write(a.join(format!("big{attempt}.bin")), &data).unwrap();
        commit_all(&srv, &a, &format!("big {attempt}"));
        srv.oxen(&a, &["push", &srv.url("R"), "main"]);
        let start = dir_size(&b.join(".oxen/versions"));
        let mut fetch = srv
            .std_bin("oxen", &b)
            .args(["fetch", "origin"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let caught = crate::procs::wait_until(std::time::Duration::from_secs(60), || {
            dir_size(&b.join(".oxen/versions")) > start + (BIG as u64) / 2 || fetch.try_wait().unwrap().is_some()
        });
        let finished = fetch.try_wait().unwrap().is_some();
        let _ = fetch.kill();
        let _ = fetch.wait();
        if !caught || finished {
            continue;
        }
        let (ok, out, err) = srv.output("oxen", &b, &["fsck"]);
        assert!(ok, "fsck after the killed fetch: {out}{err}");
        let (ok, _, err) = srv.output("oxen", &b, &["fetch", "origin"]);
        assert!(ok, "{err}");
        let received = bytes_line(&err, "received");
        assert!(received < BIG as u64 * 3 / 4, "the retry received {received} of {BIG} bytes: {err}");
        srv.oxen(&b, &["merge", "origin/main"]);
        assert!(std::fs::read(b.join(format!("big{attempt}.bin"))).unwrap() == data, "fetched file differs");
        fsck_both(&srv, &b, "R");
        return;
    }
    panic!("never caught the fetch half-way in 5 attempts");
}

#[test]
fn a_killed_push_client_resumes_with_the_chunks_the_server_kept() {
    const BIG: usize = 64 << 20;
    let d = tempfile::tempdir().unwrap();
    let srv = Server::start(d.path(), &[]);
    srv.create("R");
    let a = d.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    init_with(&srv, &a, &[("readme.txt", b"hello\n")]);
    srv.oxen(&a, &["push", &srv.url("R"), "main"]);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for attempt in 0..5 {
        let mut data = Vec::with_capacity(BIG);
        while data.len() < BIG {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.extend_from_slice(&x.to_le_bytes());
        }
        std::fs::write(a.join(format!("big{attempt}.bin")), &data).unwrap();
        commit_all(&srv, &a, &format!("big {attempt}"));
        let start = server_versions(&srv, "R");
        let mut push = srv
            .std_bin("oxen", &a)
            .args(["push", &srv.url("R"), "main"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let caught = crate::procs::wait_until(std::time::Duration::from_secs(60), || {
            server_versions(&srv, "R") > start + (BIG as u64) / 2 || push.try_wait().unwrap().is_some()
        });
        let finished = push.try_wait().unwrap().is_some();
        // kill -9: the client never finishes its pack.
        let _ = push.kill();
        let _ = push.wait();
        if !caught || finished {
            continue;
        }
        srv.assert_alive();
        let (ok, _, err) = srv.output("oxen", &a, &["push", &srv.url("R"), "main"]);
        assert!(ok, "{err}");
        let sent = bytes_line(&err, "sent");
        assert!(sent < BIG as u64 * 3 / 4, "the retry sent {sent} of {BIG} bytes: {err}");
        let (ok, _, err) = srv.output("oxen", d.path(), &["clone", &srv.url("R"), "c"]);
        assert!(ok, "{err}");
        assert!(std::fs::read(d.path().join(format!("c/big{attempt}.bin"))).unwrap() == data, "the clone differs");
        fsck_both(&srv, &a, "R");
        return;
    }
    panic!("never caught the push half-way in 5 attempts");
}

/// `<bin> <args>` in `dir` with `input` on stdin: (success, stdout, stderr).
fn piped(name: &str, dir: &Path, args: &[&str], input: &[u8]) -> (bool, Vec<u8>, String) {
    use std::io::Write as _;
    let mut c = crate::common::std_bin(name, dir);
    c.args(args).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
    c.stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let o = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    (o.status.success(), o.stdout, String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn a_one_row_edit_moves_only_a_few_chunks_through_the_pipe_plumbing() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let (a, b) = (root.join("a"), root.join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    crate::common::ox(&a, &["init"]);
    crate::common::ox(&b, &["init", "--bare"]);
    std::fs::write(a.join("big.csv"), csv(None)).unwrap();
    crate::common::ox(&a, &["add", "big.csv"]);
    crate::common::ox(&a, &["commit", "-m", "one"]);
    let one = crate::common::run("oxen-rev-parse", &a, &["main"]);
    let upload = |args: &[&str]| {
        let (ok, pack, err) = piped("oxen-upload-pack", &a, args, b"");
        assert!(ok, "{err}");
        (pack, err)
    };
    let receive = |args: &[&str], pack: &[u8]| piped("oxen-receive-pack", root, args, pack);
    // The first version: every chunk, compressed (pack version 3).
    let (pack, err) = upload(&["--want", "main", "."]);
    let first = bytes_line(&err, "sent");
    assert_eq!(first, pack.len() as u64, "{err}");
    assert!(first < csv(None).len() as u64 * 6 / 10, "{first} bytes for the first version: {err}");
    let (ok, _, e) = receive(&["b", "--update", &format!("heads/main::{one}")], &pack);
    assert!(ok, "{e}");

    // One row edited: with the receiver's commit as a have, only the
    // chunks around the edit travel.
    std::fs::write(a.join("big.csv"), csv(Some(ROWS / 2))).unwrap();
    crate::common::ox(&a, &["add", "big.csv"]);
    crate::common::ox(&a, &["commit", "-m", "two"]);
    let two = crate::common::run("oxen-rev-parse", &a, &["main"]);
    let (pack, err) = upload(&["--want", "main", "--have", &one, "."]);
    let sent = bytes_line(&err, "sent");
    eprintln!("pipe: first version {first} bytes, one-row edit {sent} bytes ({err})");
    assert!(sent < 300_000, "{sent} bytes through the pipe for a one-row edit: {err}");
    assert!(err.contains(" chunks, ") && !err.contains("(0 chunks"), "{err}");
    // A receiver without the have lacks the chunks left out: refused
    // cleanly, nothing visible, and a pack without --have works.
    let c = root.join("c");
    std::fs::create_dir_all(&c).unwrap();
    crate::common::ox(&c, &["init", "--bare"]);
    let (ok, _, e) = receive(&["c", "--update", &format!("heads/main::{two}")], &pack);
    assert!(!ok && e.lines().count() == 1, "{e}");
    crate::common::run("oxen-fsck", &c, &[]);
    let (ok, _, e) = receive(&["b", "--update", &format!("heads/main:{one}:{two}")], &pack);
    assert!(ok, "{e}");
    crate::common::run("oxen-fsck", &b, &[]);
    assert_eq!(crate::common::run("oxen-rev-parse", &b, &["main"]), two);
    // What b now holds checks out to the edited file.
    let w = root.join("w");
    crate::common::ox(root, &["clone", b.to_str().unwrap(), w.to_str().unwrap()]);
    assert!(std::fs::read(w.join("big.csv")).unwrap() == csv(Some(ROWS / 2)), "the piped file differs");

    // fetch-pack moves chunks too (a local path here; HTTP runs the same code).
    std::fs::write(a.join("big.csv"), csv(Some(ROWS / 3))).unwrap();
    crate::common::ox(&a, &["add", "big.csv"]);
    crate::common::ox(&a, &["commit", "-m", "three"]);
    let (ok, _, err) = piped("oxen-fetch-pack", &w, &[a.to_str().unwrap(), "main"], b"");
    assert!(ok, "{err}");
    let fetched = bytes_line(&err, "received");
    assert!(fetched < 300_000, "{fetched} bytes fetched for a one-row edit: {err}");
    crate::common::ox(&w, &["fsck"]);
}
