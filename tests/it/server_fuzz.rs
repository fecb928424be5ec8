//! Random and mutated requests against a real `oxen-server` on loopback:
//! methods, paths, headers, JSON bodies and pack bodies, drawn by proptest.
//! Whatever arrives, the server answers a 4xx (or a 2xx when the request
//! happens to be valid) within the timeout, never panics, keeps serving,
//! and still shuts down cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::common;
use crate::sync_support::*;

/// One request as sent on the wire.
#[derive(Clone, Debug)]
struct Req {
    method: String,
    path: String,
    token: Auth,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    chunked: bool,
}

#[derive(Clone, Copy, Debug)]
enum Auth {
    Valid,
    Wrong,
    Missing,
}

/// Valid requests the fuzzer starts from: each endpoint with a body it
/// takes (JSON, or a pack).
struct Seeds {
    endpoints: Vec<(&'static str, String, Vec<u8>)>,
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(vec!["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]).prop_map(str::to_string),
        1 => "[A-Z]{1,12}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    let known = || {
        select(vec![
            "/api/repos",
            "/api/repos/",
            "/api/repos/R",
            "/api/repos/R/refs",
            "/api/repos/R/missing",
            "/api/repos/R/receive-pack",
            "/api/repos/R/upload-pack",
            "/api/repos/R/chunks/missing",
            "/api/repos/R/chunks/lists",
            "/api/repos/R/enumerate",
            "/api/repos/R/upload-items",
            "/api/repos/R/chunks",
            "/api/repos/Nope/refs",
            "/api/repos/../R/refs",
            "/api/repos/R/refs/extra",
            "/",
            "/api",
        ])
    };
    prop_oneof![
        6 => known().prop_map(str::to_string),
        2 => (known(), "[-A-Za-z0-9._~%/?=&]{0,40}").prop_map(|(k, tail)| format!("{k}{tail}")),
        1 => "/[-A-Za-z0-9._~%/]{0,60}",
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        select(vec!["Content-Type", "Accept", "X-Forwarded-For", "Range", "User-Agent", "Accept-Encoding"])
            .prop_map(str::to_string),
        "X-[A-Za-z0-9-]{1,20}",
    ];
    // Framing (length, chunking, connection) stays the sender's to set.
    proptest::collection::vec((name, "[ -~]{0,60}"), 0..4)
}

/// A valid body with a few bytes flipped, cut, or garbage inserted.
fn mutate(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = base.len().max(1);
    proptest::collection::vec((0..4u8, any::<Index>(), any::<u8>()), 0..6).prop_map(move |muts| {
        let mut b = base.clone();
        for (op, at, byte) in muts {
            let i = at.index(len).min(b.len());
            match op {
                0 if i < b.len() => b[i] ^= byte | 1,
                1 => b.truncate(i),
                2 => b.insert(i, byte),
                _ => b.extend(std::iter::repeat_n(byte, (byte % 64) as usize)),
            }
        }
        b
    })
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[ -~]{0,40}".prop_map(Value::String),
        "[0-9a-f]{32}".prop_map(Value::String),
        select(vec!["R", "heads/main", "tags/v1", "commit", "tree", "blob", "chunk", "chunk-list", "../x", ""])
            .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        let key =
            select(vec!["name", "objects", "updates", "force", "wants", "haves", "old", "new", "ids", "items", "x"]);
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            proptest::collection::vec((key, inner), 0..4).prop_map(|kv| {
                serde_json::Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

/// Bodies for an endpoint: its own seed mutated most often, else any JSON,
/// bytes, or nothing.
fn body(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => mutate(seed),
        2 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => proptest::collection::vec(any::<u8>(), 0..2000),
        1 => Just(Vec::new()),
    ]
}

/// A request: mostly a real endpoint with a mutated body, sometimes
/// another method or path.
fn request(seeds: &Seeds) -> impl Strategy<Value = Req> {
    let endpoint = select(seeds.endpoints.clone()).prop_flat_map(|(m, p, seed)| (Just(m), Just(p), body(seed)));
    let method = prop_oneof![3 => Just(None), 1 => method().prop_map(Some)];
    let path = prop_oneof![3 => Just(None), 1 => path().prop_map(Some)];
    let auth = prop_oneof![8 => Just(Auth::Valid), 1 => Just(Auth::Wrong), 1 => Just(Auth::Missing)];
    (endpoint, method, path, auth, headers(), proptest::bool::weighted(0.2)).prop_map(
        |((m, p, body), other_method, other_path, token, headers, chunked)| {
            let method = other_method.unwrap_or_else(|| m.to_string());
            let path = other_path.unwrap_or(p);
            // Deleting the one seeded repository would leave the rest of
            // the run nothing to reach.
            let method = if method == "DELETE" && path.starts_with("/api/repos/R") { "GET".into() } else { method };
            Req { method, path, token, headers, body, chunked }
        },
    )
}

/// Send `req` on a fresh connection; the status (0: closed without one).
fn send(addr: &str, token: &str, req: &Req) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!("{} {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n", req.method, req.path);
    match req.token {
        Auth::Valid => head.push_str(&format!("Authorization: Bearer {token}\r\n")),
        Auth::Wrong => head.push_str("Authorization: Bearer 00ff00ff\r\n"),
        Auth::Missing => {}
    }
    for (k, v) in &req.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let mut wire = Vec::new();
    if req.chunked {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
        wire.extend_from_slice(head.as_bytes());
        for c in req.body.chunks(777) {
            wire.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            wire.extend_from_slice(c);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
    } else {
        head.push_str(&format!("Content-Length: {}\r\n\r\n", req.body.len()));
        wire.extend_from_slice(head.as_bytes());
        wire.extend_from_slice(&req.body);
    }
    // The server may answer (and close) before reading everything.
    let _ = s.write_all(&wire);
    let mut r = BufReader::new(s);
    let mut status = String::new();
    if r.read_line(&mut status).unwrap_or(0) == 0 {
        return 0;
    }
    // Read the rest so a streamed answer (a pack) is consumed to its end.
    let mut rest = Vec::new();
    let _ = r.read_to_end(&mut rest);
    status.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

#[test]
fn random_and_mutated_requests_get_4xx_or_2xx_and_the_server_keeps_serving() {
    let d = tempfile::tempdir().unwrap();
    let mut srv = Server::start(d.path(), &["--body-timeout", "5", "--max-body", "10000000"]);
    let a = d.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    // huge.bin is over the chunking threshold: stored and sent as chunks.
    let huge: Vec<u8> = (0..700_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    init_with(
        &srv,
        &a,
        &[("x/y.txt", b"hello\n"), ("big.bin", &vec![9u8; 70_000]), ("t.csv", b"id\n1\n"), ("huge.bin", &huge)],
    );
    srv.create("R");
    srv.oxen(&a, &["push", &srv.url("R"), "main"]);
    let huge_id = oxen_hash::ContentId::of(&huge).to_hex();
    let (code, lists) = srv.http(
        "POST",
        "/api/repos/R/chunks/lists",
        Some(&srv.token),
        format!(r#"{{"ids": ["{huge_id}"]}}"#).as_bytes(),
    );
    assert_eq!(code, 200, "{lists}");
    let lists: oxen_pack::wire::ChunkListsMsg = serde_json::from_str(&lists).unwrap();
    let (_, list) = lists.parsed().unwrap().pop().expect("huge.bin is stored chunked");
    let chunk = list.chunks()[0].id.to_hex();
    // A version-2 pack: one new chunk and the list of a file made of it.
    let piece = b"a chunk of its own".to_vec();
    let piece_id = *oxen_hash::ContentId::of(&piece).as_bytes();
    let one = oxen_store::ChunkList::new(vec![oxen_store::ChunkRef {
        id: oxen_hash::ContentId::of(&piece),
        len: piece.len() as u32,
    }]);
    let mut pack2 = make_pack(&[(4, piece_id, piece.clone()), (5, piece_id, one.unwrap().encode())], false);
    pack2[4..8].copy_from_slice(&2u32.to_le_bytes());
    let sum = oxen_hash::ContentId::of(&pack2);
    pack2.extend_from_slice(sum.as_bytes());
    // A version-3 pack: the same kind of pair, the chunk zstd-compressed
    // in a frame 6 (codec, raw length, stored bytes).
    let piece3: Vec<u8> = b"compressible ".iter().copied().cycle().take(4000).collect();
    let piece3_id = oxen_hash::ContentId::of(&piece3);
    let packed = oxen_chunk::Encoder::new().unwrap().encode(&piece3).unwrap().bytes.into_owned();
    let mut frame6 = vec![1u8];
    frame6.extend_from_slice(&(piece3.len() as u32).to_le_bytes());
    frame6.extend_from_slice(&packed);
    let one3 = oxen_store::ChunkList::new(vec![oxen_store::ChunkRef { id: piece3_id, len: piece3.len() as u32 }]);
    let mut pack3 =
        make_pack(&[(6, *piece3_id.as_bytes(), frame6), (5, *piece3_id.as_bytes(), one3.unwrap().encode())], false);
    pack3[4..8].copy_from_slice(&3u32.to_le_bytes());
    let sum = oxen_hash::ContentId::of(&pack3);
    pack3.extend_from_slice(sum.as_bytes());
    let head = common::run("oxen-rev-parse", &a, &["main"]);
    let pack = common::bin("oxen-upload-pack", &a).args(["--want", "main", "."]).output().unwrap().stdout;
    let ls = common::run("oxen-ls-tree", &a, &["-r", &head]);
    let some_id = ls.split_whitespace().find(|w| w.len() == 32).unwrap_or(&head).to_string();
    let r = |s: &str| s.to_string();
    let seeds = Seeds {
        endpoints: vec![
            ("GET", r("/api/repos"), vec![]),
            ("POST", r("/api/repos"), br#"{"name": "Fuzzed"}"#.to_vec()),
            ("GET", r("/api/repos/R"), vec![]),
            ("DELETE", r("/api/repos/Fuzzed"), vec![]),
            ("GET", r("/api/repos/R/refs"), vec![]),
            (
                "POST",
                r("/api/repos/R/missing"),
                format!(r#"{{"objects": [["commit", "{head}"], ["blob", "{some_id}"], ["tree", "{some_id}"]]}}"#)
                    .into_bytes(),
            ),
            ("POST", r("/api/repos/R/receive-pack"), pack.clone()),
            ("POST", r("/api/repos/R/receive-pack"), pack2),
            ("POST", r("/api/repos/R/receive-pack"), pack3),
            ("POST", r("/api/repos/R/chunks/missing"), format!(r#"{{"ids": ["{chunk}", "{some_id}"]}}"#).into_bytes()),
            ("POST", r("/api/repos/R/chunks/lists"), format!(r#"{{"ids": ["{huge_id}", "{some_id}"]}}"#).into_bytes()),
            ("POST", r("/api/repos/R/enumerate"), format!(r#"{{"wants": ["{head}"], "haves": []}}"#).into_bytes()),
            (
                "POST",
                r("/api/repos/R/upload-items"),
                format!(r#"{{"items": [["chunk", "{chunk}"], ["chunk-list", "{huge_id}"], ["commit", "{head}"]]}}"#)
                    .into_bytes(),
            ),
            (
                "POST",
                r("/api/repos/R/upload-items"),
                format!(r#"{{"items": [["chunk", "{chunk}"], ["chunk-list", "{huge_id}"]], "stored_chunks": true}}"#)
                    .into_bytes(),
            ),
            ("POST", r("/api/repos/R/receive-pack"), pack),
            (
                "POST",
                r("/api/repos/R/refs"),
                format!(
                    r#"{{"updates": [{{"name": "heads/main", "old": "{head}", "new": "{head}"}}], "force": false}}"#
                )
                .into_bytes(),
            ),
            (
                "POST",
                r("/api/repos/R/refs"),
                format!(r#"{{"updates": [{{"name": "heads/other", "old": null, "new": "{head}"}}], "force": true}}"#)
                    .into_bytes(),
            ),
            ("POST", r("/api/repos/R/upload-pack"), format!(r#"{{"wants": ["{head}"], "haves": []}}"#).into_bytes()),
            (
                "POST",
                r("/api/repos/R/upload-pack"),
                format!(r#"{{"wants": ["{head}"], "haves": ["{head}"]}}"#).into_bytes(),
            ),
        ],
    };
    let mut cfg = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        cfg.cases = 300;
    }
    cfg.failure_persistence = None;
    let mut runner = TestRunner::new(cfg);
    let (addr, token) = (srv.addr.clone(), srv.token.clone());
    let result = runner.run(&request(&seeds), |req| {
        let code = send(&addr, &token, &req);
        prop_assert!(
            (200..300).contains(&code) || (400..500).contains(&code),
            "answered {} to {} {} ({} body bytes)",
            code,
            req.method,
            req.path,
            req.body.len()
        );
        let (alive, _) = raw_http(&addr, "GET", "/api/repos", Some(&token), b"", None);
        if alive != 200 {
            return Err(TestCaseError::fail(format!("server stopped serving after {req:?}")));
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // Still a working server: a real push and clone, then a clean exit.
    crate::common::write(&a, "more.txt", b"more\n");
    commit_all(&srv, &a, "more");
    srv.oxen(&a, &["push", "--force", &srv.url("R"), "main"]);
    srv.oxen(d.path(), &["clone", &srv.url("R"), "b"]);
    crate::procs::terminate(&srv.child);
    let st = srv.child.wait().unwrap();
    assert!(st.success(), "{st:?}");
    let log = std::fs::read_to_string(d.path().join("server.log")).unwrap();
    assert!(!log.contains("panicked"), "{log}");
    assert!(!log.contains(&token), "the request log shows the token");
    // The fuzzer reached the handlers, not only the front door.
    for route in ["receive-pack", "upload-pack", "missing", "/refs", "chunks/missing", "upload-items"] {
        assert!(log.lines().any(|l| l.contains(route) && l.contains("status=400")), "no 400 from {route}");
    }
}
