//! Scoped tokens against a real `oxen-server` on loopback and the real
//! `oxen` client: read-only tokens fetch but cannot push (403, one clear
//! line, refs unchanged), tokens for one repository get 403 on another,
//! revoked tokens 401, admins create and delete, users from before scopes
//! keep working as admins, every route of the table is checked, tokens
//! never reach the log, `RUST_LOG` filters the request lines, and
//! `/api/health` follows the storage's health.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::{self, snapshot, write};
use crate::sync_support::*;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// A server process stopped (SIGTERM) when dropped, also when a test fails.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        crate::procs::terminate(&self.0);
        let _ = self.0.wait();
    }
}

/// A user of the server with their own client home.
struct Client {
    home: PathBuf,
    token: String,
    id: String,
}

fn server_cmd(sync_dir: &Path) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("oxen-server"));
    c.env("SYNC_DIR", sync_dir);
    c
}

/// `oxen-server <args>`, asserting success; stdout.
fn server_ok(sync_dir: &Path, args: &[&str]) -> String {
    let o = server_cmd(sync_dir).args(args).output().unwrap();
    assert!(o.status.success(), "oxen-server {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into()
}

/// `oxen-server add-user` with scope flags, for `email`, with the client
/// config in its own home under `root`.
fn add(srv: &Server, root: &Path, email: &str, flags: &[&str]) -> Client {
    let home = root.join(format!("home-{email}"));
    std::fs::create_dir_all(&home).unwrap();
    let cfg = home.join("user_config.toml");
    let server = format!("http://{}", srv.addr);
    let mut args = vec!["add-user", "--email", email, "--name", email, "--host", &server, "--output"];
    let cfg_s = cfg.to_str().unwrap().to_string();
    args.push(&cfg_s);
    args.extend_from_slice(flags);
    let out = server_ok(&srv.sync_dir, &args);
    let token = std::fs::read_to_string(&cfg)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("token = \"").map(|t| t.trim_end_matches('"').to_string()))
        .unwrap();
    let id = token.split_once('.').unwrap().0.to_string();
    assert!(out.contains(&format!("token id {id}")), "{out}");
    assert!(!out.contains(&token), "add-user prints the token: {out}");
    Client { home, token, id }
}

/// `oxen <args>` in `dir` as `c`: (success, stdout, stderr).
fn oxen_as(c: &Client, dir: &Path, args: &[&str]) -> (bool, String, String) {
    let o = common::std_bin("oxen", dir).env("OXEN_HOME", &c.home).args(args).output().unwrap();
    (o.status.success(), String::from_utf8_lossy(&o.stdout).into(), String::from_utf8_lossy(&o.stderr).into())
}

/// A repository `name` on the server with one pushed commit (by the admin).
fn seeded(srv: &Server, root: &Path, name: &str) -> PathBuf {
    srv.create(name);
    let w = root.join(format!("seed-{name}"));
    std::fs::create_dir_all(&w).unwrap();
    init_with(srv, &w, &[("data.csv", b"id,label\n1,cat\n"), ("img/a.bin", &[1u8, 2, 3])]);
    srv.oxen(&w, &["push", &srv.url(name), "main"]);
    w
}

#[test]
fn a_read_only_token_clones_but_cannot_push_and_a_write_token_can() {
    let d = tmp();
    let srv = Server::start(d.path(), &[]);
    let seed = seeded(&srv, d.path(), "a");
    seeded(&srv, d.path(), "b");
    let reader = add(&srv, d.path(), "reader@example.com", &["--read", "a"]);
    let writer = add(&srv, d.path(), "writer@example.com", &["--write", "a"]);

    // Clone with the read-only token: 200 all the way, the same tree.
    let r = d.path().join("r");
    let (ok, _, e) = oxen_as(&reader, d.path(), &["clone", &srv.url("a"), r.to_str().unwrap()]);
    assert!(ok, "{e}");
    assert_eq!(snapshot(&seed).get("data.csv"), snapshot(&r).get("data.csv"));
    let (ok, _, e) = oxen_as(&reader, &r, &["fetch"]);
    assert!(ok, "{e}");

    // Its push is refused with one clear line, and the server's refs stay.
    let before = srv.refs("a");
    write(&r, "data.csv", b"id,label\n1,cat\n2,dog\n");
    assert!(oxen_as(&reader, &r, &["add", "-A"]).0);
    assert!(oxen_as(&reader, &r, &["commit", "-m", "more"]).0);
    let (ok, _, e) = oxen_as(&reader, &r, &["push"]);
    assert!(!ok);
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert!(e.starts_with("error: "), "{e}");
    assert!(e.contains("(403): token has read access to 'a': pushing needs write access"), "{e}");
    assert_eq!(srv.refs("a"), before);
    // Refused at the push's first question (which objects are missing),
    // before any pack was sent.
    let log = std::fs::read_to_string(d.path().join("server.log")).unwrap();
    let mine: Vec<&str> = log.lines().filter(|l| l.contains(&format!("user={}", reader.id))).collect();
    assert!(mine.iter().any(|l| l.contains("route=/api/repos/{repo}/missing") && l.contains("status=403")), "{log}");
    assert!(!mine.iter().any(|l| l.contains("receive-pack")), "{log}");

    // The same token on repository b: 403 naming b, for clone and raw reads.
    let (ok, _, e) = oxen_as(&reader, d.path(), &["clone", &srv.url("b"), d.path().join("rb").to_str().unwrap()]);
    assert!(!ok);
    assert!(e.contains("(403): token has no access to 'b': listing refs needs read access"), "{e}");
    let (code, body) = srv.http("GET", "/api/repos/b", Some(&reader.token), b"");
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("token has no access to 'b'"), "{body}");

    // The write token pushes the same commit.
    let (ok, _, e) = oxen_as(&writer, &r, &["push"]);
    assert!(ok, "{e}");
    assert_ne!(srv.refs("a"), before);
    // But it cannot push to b either.
    let (ok, _, e) = oxen_as(&writer, &r, &["push", &srv.url("b"), "main"]);
    assert!(!ok);
    assert!(e.contains("(403): token has no access to 'b'"), "{e}");
}

#[test]
fn listing_creating_and_deleting_follow_the_scopes() {
    let d = tmp();
    let srv = Server::start(d.path(), &[]);
    srv.create("a");
    srv.create("b");
    let reader = add(&srv, d.path(), "reader@example.com", &["--read", "a"]);
    let writer = add(&srv, d.path(), "writer@example.com", &["--write", "c", "--read", "b"]);

    // Listing shows only what the token can read; the admin sees all.
    let (code, body) = srv.http("GET", "/api/repos", Some(&reader.token), b"");
    assert_eq!((code, body.as_str()), (200, r#"{"repos":[{"name":"a"}]}"#));
    let (_, body) = srv.http("GET", "/api/repos", Some(&writer.token), b"");
    assert_eq!(body, r#"{"repos":[{"name":"b"}]}"#);
    let (_, body) = srv.http("GET", "/api/repos", Some(&srv.token), b"");
    assert_eq!(body, r#"{"repos":[{"name":"a"},{"name":"b"}]}"#);

    // Creating: write access to the name, or admin.
    let create =
        |t: &str, name: &str| srv.http("POST", "/api/repos", Some(t), format!("{{\"name\":\"{name}\"}}").as_bytes());
    let (code, body) = create(&reader.token, "a2");
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("creating a repository needs an admin token or write access to its name"), "{body}");
    assert_eq!(create(&writer.token, "c").0, 201);
    assert_eq!(create(&writer.token, "d").0, 403);
    assert_eq!(create(&srv.token, "d").0, 201);

    // Deleting: admin only.
    let (code, body) = srv.http("DELETE", "/api/repos/c", Some(&writer.token), b"");
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("deleting a repository needs an admin token"), "{body}");
    assert_eq!(srv.http("DELETE", "/api/repos/c", Some(&srv.token), b"").0, 200);
    assert_eq!(srv.http("GET", "/api/repos/c", Some(&srv.token), b"").0, 404);
}

#[test]
fn revoked_tokens_get_401_and_list_users_shows_scopes_but_no_secrets() {
    let d = tmp();
    let srv = Server::start(d.path(), &[]);
    srv.create("a");
    let r1 = add(&srv, d.path(), "r@example.com", &["--read", "a"]);
    let r2 = add(&srv, d.path(), "r@example.com", &["--write", "a"]);
    let other = add(&srv, d.path(), "o@example.com", &["--admin"]);
    for c in [&r1, &r2, &other] {
        assert_eq!(srv.http("GET", "/api/repos/a/refs", Some(&c.token), b"").0, 200);
    }

    // A scope must name a valid repository.
    let o = server_cmd(&srv.sync_dir)
        .args(["add-user", "--email", "x@example.com", "--name", "X", "--read", "../etc", "-o"])
        .arg(d.path().join("x.toml"))
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && e.starts_with("error: invalid repository name '../etc'"), "{e}");
    assert!(!d.path().join("x.toml").exists());

    let list = server_ok(&srv.sync_dir, &["list-users"]);
    assert!(list.contains(&format!("{}\tr@example.com\tr@example.com\tread:a", r1.id)), "{list}");
    assert!(list.contains(&format!("{}\tr@example.com\tr@example.com\twrite:a", r2.id)), "{list}");
    assert!(list.contains(&format!("{}\to@example.com\to@example.com\tadmin", other.id)), "{list}");
    assert!(list.contains("\tAda\tada@example.com\tadmin"), "{list}");
    for c in [&r1, &r2, &other] {
        let secret = c.token.split_once('.').unwrap().1;
        assert!(!list.contains(secret), "{list}");
    }

    // By email: both of r's tokens; the other user keeps working.
    let out = server_ok(&srv.sync_dir, &["revoke", "--email", "r@example.com"]);
    assert!(out.contains(&r1.id) && out.contains(&r2.id), "{out}");
    for c in [&r1, &r2] {
        let (code, body) = srv.http("GET", "/api/repos/a/refs", Some(&c.token), b"");
        assert_eq!(code, 401, "{body}");
        // The client says 401 in its one line.
        let (ok, _, e) = oxen_as(c, d.path(), &["clone", &srv.url("a"), d.path().join("x").to_str().unwrap()]);
        assert!(!ok && e.contains("(401)") && e.trim_end().lines().count() == 1, "{e}");
    }
    assert_eq!(srv.http("GET", "/api/repos/a/refs", Some(&other.token), b"").0, 200);
    // By id.
    server_ok(&srv.sync_dir, &["revoke", "--token-id", &other.id]);
    assert_eq!(srv.http("GET", "/api/repos/a/refs", Some(&other.token), b"").0, 401);
    // Nothing to revoke is an error.
    let o = server_cmd(&srv.sync_dir).args(["revoke", "--token-id", &other.id]).output().unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.starts_with("error: no token with id"), "{e}");
    assert!(!server_ok(&srv.sync_dir, &["list-users"]).contains("r@example.com"));
}

/// A users database written by the server before scopes existed
/// (`tests/fixtures/v1-users.tar.xz`, made by `oxen-server add-user` at the
/// commit before this work): its token still works, as an admin's.
#[test]
fn a_user_from_before_scopes_keeps_working_as_admin() {
    let d = tmp();
    let sync = d.path().join("sync");
    std::fs::create_dir_all(&sync).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-users.tar.xz");
    let st = Command::new("tar").arg("xJf").arg(&fixture).arg("-C").arg(&sync).status().unwrap();
    assert!(st.success());
    let token = std::fs::read_to_string(sync.join(".oxen-server/legacy-token")).unwrap().trim().to_string();
    let (child, addr) = spawn_server(&sync, &d.path().join("server.log"), &[]);
    let server = Running(child);
    let req = |m: &str, p: &str, b: &[u8]| raw_http(&addr, m, p, Some(&token), b, None);
    assert_eq!(req("POST", "/api/repos", br#"{"name":"old"}"#).0, 201);
    assert_eq!(req("GET", "/api/repos/old/refs", b"").0, 200);
    assert_eq!(req("DELETE", "/api/repos/old", b"").0, 200);
    drop(server);
    let list = server_ok(&sync, &["list-users"]);
    let line = list.lines().find(|l| l.contains("old@example.com")).unwrap_or_else(|| panic!("{list}"));
    assert!(line.starts_with("legacy-") && line.ends_with("\tOld Timer\told@example.com\tadmin"), "{line}");
    // Revocable by its listed id.
    let id = line.split('\t').next().unwrap();
    server_ok(&sync, &["revoke", "--token-id", id]);
    let (child, addr) = spawn_server(&sync, &d.path().join("server2.log"), &[]);
    let _server = Running(child);
    assert_eq!(raw_http(&addr, "GET", "/api/repos", Some(&token), b"", None).0, 401);
}

/// Every route of the table (`oxen_server::router::ENDPOINTS`): no token
/// gets 401 except health and version; a token without access to the
/// repository gets 403 on each repository route; a read token gets 403 on
/// exactly the write routes.
#[test]
fn every_route_is_authorized() {
    let d = tmp();
    let srv = Server::start(d.path(), &[]);
    seeded(&srv, d.path(), "a");
    let none = add(&srv, d.path(), "none@example.com", &["--read", "zzz"]);
    let reader = add(&srv, d.path(), "reader@example.com", &["--read", "a"]);
    let writer = add(&srv, d.path(), "writer@example.com", &["--write", "a"]);
    for (method, template) in oxen_server::router::ENDPOINTS {
        let path = template.replace("{repo}", "a");
        let route = oxen_server::router::route(method, &path).unwrap();
        let need = route.need();
        let body: &[u8] = if *method == "POST" { b"{}" } else { b"" };
        let (anon, _) = srv.http(method, &path, None, body);
        let (bad, _) = srv.http(method, &path, Some("0123456789abcdef.00"), body);
        let (no_access, no_body) = srv.http(method, &path, Some(&none.token), body);
        let (read, read_body) = srv.http(method, &path, Some(&reader.token), body);
        // A write token is refused only where an admin is needed.
        let (write, write_body) = srv.http(method, &path, Some(&writer.token), body);
        let admin_only = route.need() == oxen_server::router::Need::Admin;
        assert!((write == 403) == admin_only && write != 401, "{method} {template}: {write} {write_body}");
        use oxen_server::router::Need;
        use oxen_server::Access;
        match need {
            Need::Public => {
                assert_eq!((anon, bad, no_access, read), (200, 200, 200, 200), "{method} {template}");
            }
            _ => {
                assert_eq!((anon, bad), (401, 401), "{method} {template}");
            }
        }
        match need {
            Need::Public => {}
            // Listing is filtered, creating checks the name in the body
            // (`{}` has none: 400 before any write).
            Need::Token => assert!(no_access == 200 || no_access == 400, "{method} {template}: {no_access}"),
            Need::Admin => {
                assert_eq!((no_access, read), (403, 403), "{method} {template}");
                assert!(read_body.contains("needs an admin token"), "{read_body}");
            }
            Need::Repo(access) => {
                assert_eq!(no_access, 403, "{method} {template}: {no_body}");
                assert!(no_body.contains("token has no access to 'a'"), "{no_body}");
                if access == Access::Write {
                    assert_eq!(read, 403, "{method} {template}");
                    assert!(read_body.contains("token has read access to 'a'"), "{read_body}");
                } else {
                    assert_ne!(read, 403, "{method} {template}: {read_body}");
                    assert_ne!(read, 401, "{method} {template}: {read_body}");
                }
            }
        }
    }
}

/// Requests with good, bad and revoked tokens: the log has one line per
/// request with the token's id as the user, and never a token, a secret
/// or an email.
#[test]
fn tokens_never_reach_the_log() {
    let d = tmp();
    let srv = Server::start(d.path(), &[]);
    seeded(&srv, d.path(), "a");
    let good = add(&srv, d.path(), "good@example.com", &["--write", "a"]);
    let revoked = add(&srv, d.path(), "gone@example.com", &["--read", "a"]);
    server_ok(&srv.sync_dir, &["revoke", "--email", "gone@example.com"]);
    let bad = format!("{}.{}", good.id, "f".repeat(64));
    let clone = d.path().join("c");
    assert!(oxen_as(&good, d.path(), &["clone", &srv.url("a"), clone.to_str().unwrap()]).0);
    assert_eq!(srv.http("GET", "/api/repos/a/refs", Some(&revoked.token), b"").0, 401);
    assert_eq!(srv.http("GET", "/api/repos/a/refs", Some(&bad), b"").0, 401);
    assert_eq!(srv.http("GET", "/api/repos/a/refs", Some("not-a-token"), b"").0, 401);
    let log_path = d.path().join("server.log");
    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("oxen_server::request")).collect();
    assert!(lines.iter().any(|l| l.contains(&format!("user={}", good.id)) && l.contains("status=200")), "{log}");
    assert!(lines.iter().filter(|l| l.contains("status=401")).count() >= 3, "{log}");
    for secret in [&good.token, &revoked.token, &bad, &srv.token, &"not-a-token".to_string()] {
        assert!(!log.contains(secret.as_str()), "log has a token: {log}");
        if let Some((_, s)) = secret.split_once('.') {
            assert!(!log.contains(s), "log has a secret: {log}");
        }
    }
    for email in ["good@example.com", "gone@example.com", "ada@example.com"] {
        assert!(!log.contains(email), "log has an email: {log}");
    }
}

/// `RUST_LOG=warn` silences the request lines; `RUST_LOG=oxen_server::request=info`
/// shows them (and only them).
#[test]
fn rust_log_filters_the_request_lines() {
    for (filter, want_requests, want_listening) in
        [("warn", false, false), ("oxen_server::request=info", true, false), ("info", true, true)]
    {
        let d = tmp();
        let sync = d.path().join("sync");
        let log = d.path().join("server.log");
        let (child, addr) = spawn_server_env(&sync, &log, &[], &[("RUST_LOG", filter)]);
        let server = Running(child);
        let token = add_user(&sync, &format!("http://{addr}"), &d.path().join("cfg.toml"));
        assert_eq!(raw_http(&addr, "GET", "/api/repos", Some(&token), b"", None).0, 200);
        assert_eq!(raw_http(&addr, "GET", "/api/version", None, b"", None).0, 200);
        // The line is written when the response is done: wait for it.
        let has = |s: &str| std::fs::read_to_string(&log).unwrap().contains(s);
        if want_requests {
            assert!(crate::procs::wait_until(Duration::from_secs(10), || has("route=/api/version")), "{filter}");
        } else {
            std::thread::sleep(Duration::from_millis(300));
        }
        drop(server);
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(text.contains("oxen_server::request"), want_requests, "{filter}: {text}");
        assert_eq!(text.contains("route=/api/repos"), want_requests, "{filter}: {text}");
        assert_eq!(text.contains("listening"), want_listening, "{filter}: {text}");
    }
}

#[test]
fn health_and_version_need_no_token() {
    let d = tmp();
    let srv = Server::start(d.path(), &[]);
    let (code, body) = srv.http("GET", "/api/health", None, b"");
    assert_eq!((code, body.as_str()), (200, r#"{"status":"ok"}"#));
    let (code, body) = srv.http("GET", "/api/version", None, b"");
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["format"], oxen_store::format::FORMAT);
    // A SYNC_DIR where nothing can be written (root ignores permission
    // bits, so the server's state directory becomes a file): 503 naming it.
    let state = srv.sync_dir.join(".oxen-server");
    let aside = d.path().join("state-aside");
    std::fs::rename(&state, &aside).unwrap();
    std::fs::write(&state, b"not a directory").unwrap();
    let (code, body) = srv.http("GET", "/api/health", None, b"");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains(r#""status":"unavailable""#) && body.contains("is not writable"), "{body}");
    std::fs::remove_file(&state).unwrap();
    std::fs::rename(&aside, &state).unwrap();
    let (code, body) = srv.http("GET", "/api/health", None, b"");
    assert_eq!(code, 200, "{body}");
}

/// `--storage` on SeaweedFS: health is 200, 503 naming the storage while
/// SeaweedFS is frozen (SIGSTOP) or stopped, and 200 again once it
/// answers. Probes against a frozen bucket share one check: many of them
/// do not take the request threads (`--threads 2`) from other requests.
#[test]
fn health_follows_the_storage() {
    let weed = crate::s3_storage::Weed::start();
    let d = tmp();
    let env: Vec<(String, String)> =
        weed.aws().into_iter().map(|(k, v)| if k == "OXEN_S3_RETRY_SECS" { (k, "2".into()) } else { (k, v) }).collect();
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let sync = d.path().join("sync");
    let (child, addr) = spawn_server_env(
        &sync,
        &d.path().join("server.log"),
        &["--storage", "s3://oxen-test/health", "--threads", "2"],
        &env_ref,
    );
    let _server = Running(child);
    let token = add_user(&sync, &format!("http://{addr}"), &d.path().join("cfg.toml"));
    let health = || raw_http(&addr, "GET", "/api/health", None, b"", None);
    assert_eq!(health(), (200, r#"{"status":"ok"}"#.to_string()));
    let pid: i32 = weed.var("WEED_PID").parse().unwrap();
    let signal = |sig: &str| assert!(Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success());
    // Frozen: no answer within the health deadline.
    signal("-STOP");
    let t = std::time::Instant::now();
    let probes: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn({
                let addr = addr.clone();
                move || raw_http(&addr, "GET", "/api/health", None, b"", None)
            })
        })
        .collect();
    for p in probes {
        let (code, body) = p.join().unwrap();
        assert_eq!(code, 503, "{body}");
        assert!(body.contains("the stores did not answer within 5 s"), "{body}");
    }
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    // Still frozen: a request that needs no storage is served at once.
    let t = std::time::Instant::now();
    assert_eq!(raw_http(&addr, "GET", "/api/repos", Some(&token), b"", None).0, 200);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    signal("-CONT");
    assert!(crate::procs::wait_until(Duration::from_secs(60), || health().0 == 200), "{:?}", health());
    // Stopped: 503 naming the storage, and the server keeps serving.
    weed.stop();
    let mut last = (0, String::new());
    assert!(
        crate::procs::wait_until(Duration::from_secs(60), || {
            last = health();
            last.0 == 503 && last.1.contains("storage s3://oxen-test/health")
        }),
        "{last:?}"
    );
}

/// A client still sending a 16 MiB pack when its push is refused (403,
/// decided before the body is read) reads why, not a reset connection.
#[test]
fn a_refused_pack_upload_still_reads_the_403() {
    let d = tmp();
    let srv = Server::start(d.path(), &[]);
    srv.create("a");
    let reader = add(&srv, d.path(), "reader@example.com", &["--read", "a"]);
    let body = vec![0u8; 16 << 20];
    for _ in 0..3 {
        let (code, msg) = srv.http("POST", "/api/repos/a/receive-pack", Some(&reader.token), &body);
        assert_eq!(code, 403, "{msg}");
        assert!(msg.contains("token has read access to 'a': pushing needs write access"), "{msg}");
    }
}
