//! The server and the client under attack: slow and stalled clients, a
//! token offered to the wrong host, a server that never answers, a tree
//! too deep to check out, a server killed mid-push, a full disk.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{self, snapshot, write};
use crate::procs::{terminate, wait_until};
use crate::sync_support::*;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Threads of a process, from /proc.
fn threads(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines().find_map(|l| l.strip_prefix("Threads:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// Send the head of a request that declares a body which never comes.
fn send_stalled(addr: &str, token: Option<&str>) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head =
        format!("POST /api/repos/R/receive-pack HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 1000000\r\n\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s
}

/// The status a server answers on `s` (0: closed without one).
fn read_status(s: TcpStream) -> u16 {
    let mut line = String::new();
    let _ = BufReader::new(s).read_line(&mut line);
    line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// A request whose headers declare a body that never comes; returns the
/// status the server answers (0: closed without one) and how long it took.
fn stalled_body(addr: &str, token: Option<&str>) -> (u16, Duration) {
    let t = Instant::now();
    let code = read_status(send_stalled(addr, token));
    (code, t.elapsed())
}

/// Wait for a child to exit, at most `limit`; its status and how long it took.
fn exit_within(child: &mut Child, limit: Duration) -> Option<(std::process::ExitStatus, Duration)> {
    let t = Instant::now();
    let mut status = None;
    wait_until(limit, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    status.map(|s| (s, t.elapsed()))
}

#[test]
fn two_hundred_slow_clients_do_not_stop_a_push() {
    let d = tmp();
    let srv = Server::start(d.path(), &[]);
    let a = d.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    srv.oxen(&a, &["init"]);
    for i in 0..20 {
        write(&a, &format!("f{i}.bin"), vec![i as u8; 100_000]);
    }
    commit_all(&srv, &a, "data");
    srv.create("R");
    // Idle sockets, headers that never end, and bodies declared but never
    // sent (with and without a token).
    let mut slow = Vec::new();
    for i in 0..200 {
        let mut s = TcpStream::connect(&srv.addr).unwrap();
        let head = match i % 4 {
            0 => String::new(),
            1 => "POST /api/repos/R/receive-pack HTTP/1.1\r\nHost: x\r\nX-Slow: ".to_string(),
            2 => "POST /api/repos/R/receive-pack HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n".to_string(),
            _ => format!(
                "POST /api/repos/R/receive-pack HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 1000000\r\n\r\n",
                srv.token
            ),
        };
        s.write_all(head.as_bytes()).unwrap();
        slow.push(s);
    }
    let t = Instant::now();
    srv.oxen(&a, &["push", &srv.url("R"), "main"]);
    srv.oxen(d.path(), &["clone", &srv.url("R"), "b"]);
    let took = t.elapsed();
    assert_eq!(snapshot(&a), snapshot(&d.path().join("b")));
    // Idle and slow sockets hold no thread: the count stays that of the pools.
    let n = threads(srv.child.id());
    assert!(n < 40, "{n} server threads with 200 slow clients");
    assert!(took < Duration::from_secs(60), "push and clone took {took:?} beside 200 slow clients");
    drop(slow);
    srv.assert_alive();
}

#[test]
fn connections_over_the_limit_get_503_and_idle_ones_are_closed_after_the_header_timeout() {
    let d = tmp();
    let srv = Server::start(d.path(), &["--max-connections", "3", "--header-timeout", "2"]);
    let idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(&srv.addr).unwrap()).collect();
    // Accepted in order: the three idle ones hold every slot.
    let mut answer = String::new();
    let refused = wait_until(Duration::from_secs(10), || {
        let (code, body) = srv.http("GET", "/api/repos", Some(&srv.token), b"");
        answer = body;
        code == 503
    });
    assert!(refused, "a connection over the limit was not refused");
    assert_eq!(answer, r#"{"error": "too many connections; try again in a while"}"#);
    let (code, body) = srv.http("GET", "/api/repos", Some(&srv.token), b"");
    assert!(code == 503 || code == 200, "{code} {body}");
    if code == 503 {
        assert_eq!(body, r#"{"error": "too many connections; try again in a while"}"#);
    }
    // The idle connections sent no headers: closed after 2 s, freeing their slots.
    let t = Instant::now();
    assert!(wait_until(Duration::from_secs(15), || srv.http("GET", "/api/repos", Some(&srv.token), b"").0 == 200));
    assert!(t.elapsed() < Duration::from_secs(10), "slots freed after {:?}", t.elapsed());
    for mut s in idle {
        let mut buf = [0u8; 1];
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        assert_eq!(std::io::Read::read(&mut s, &mut buf).unwrap_or(0), 0, "an idle connection was left open");
    }
}

#[test]
fn stalled_bodies_get_408_and_the_server_keeps_serving() {
    let d = tmp();
    let srv = Server::start(d.path(), &["--body-timeout", "2"]);
    srv.create("R");
    let stalled: Vec<_> = (0..8)
        .map(|i| {
            let addr = srv.addr.clone();
            let token = (i % 2 == 0).then(|| srv.token.clone());
            std::thread::spawn(move || (token.is_some(), stalled_body(&addr, token.as_deref())))
        })
        .collect();
    // While they stall (8, the old worker count), others are answered at once.
    for _ in 0..5 {
        let t = Instant::now();
        srv.assert_alive();
        assert!(t.elapsed() < Duration::from_secs(5), "an answer took {:?}", t.elapsed());
    }
    for h in stalled {
        let (authed, (code, took)) = h.join().unwrap();
        if authed {
            assert_eq!(code, 408, "a stalled body with a token");
            assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(15), "408 after {took:?}");
        } else {
            assert_eq!(code, 401, "without a token the body is never waited for");
            assert!(took < Duration::from_secs(2), "401 after {took:?}");
        }
    }
    srv.assert_alive();
    let log = std::fs::read_to_string(d.path().join("server.log")).unwrap();
    assert_eq!(log.matches("status=408").count(), 4, "{log}");
}

#[test]
fn sigterm_does_not_wait_for_stalled_or_idle_clients() {
    let d = tmp();
    // The default body timeout (60 s): shutdown must not wait it out.
    let mut srv = Server::start(d.path(), &[]);
    srv.create("R");
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(TcpStream::connect(&srv.addr).unwrap());
        let mut partial = TcpStream::connect(&srv.addr).unwrap();
        partial.write_all(b"GET /api/repos HTTP/1.1\r\nHost: x\r\n").unwrap();
        idle.push(partial);
    }
    // Sent before SIGTERM; answers are read on threads.
    let stalled: Vec<_> = (0..8)
        .map(|_| {
            let s = send_stalled(&srv.addr, Some(&srv.token));
            std::thread::spawn(move || read_status(s))
        })
        .collect();
    // Served after the stalled requests were sent, so they are in flight.
    srv.assert_alive();
    terminate(&srv.child);
    let (status, took) = exit_within(&mut srv.child, Duration::from_secs(20)).expect("server did not exit");
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(10), "shutdown took {took:?} (the body timeout is 60 s)");
    for h in stalled {
        let code = h.join().unwrap();
        assert!(code == 503 || code == 0, "a request stalled at shutdown got {code}");
    }
}

/// A tiny HTTP listener that records each request head and answers with
/// `answer` (a whole response), for the requests of one test.
struct Recorder {
    addr: String,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn start(answer: String) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&heads);
        std::thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(mut s) = s else { return };
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                seen.lock().unwrap().push(head);
                let _ = s.write_all(answer.as_bytes());
            }
        });
        Recorder { addr, heads }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

#[test]
fn a_token_is_sent_only_to_the_server_it_is_for() {
    let d = tmp();
    let srv = Server::start(d.path(), &[]);
    let a = d.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    init_with(&srv, &a, &[("f.txt", b"data\n")]);
    srv.create("R");
    srv.oxen(&a, &["push", &srv.url("R"), "main"]);
    // Another server on another port of the same host, and one that
    // redirects to the real server.
    let other = Recorder::start(
        "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 32\r\nConnection: close\r\n\r\n{\"error\": \"repository missing\"}\n".into(),
    );
    let redirect = Recorder::start(format!(
        "HTTP/1.1 302 Found\r\nLocation: http://{}/api/repos/R/refs\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        srv.addr
    ));
    for host in [&other.addr, &redirect.addr] {
        let url = format!("http://{host}/R");
        let e = srv.oxen_err(d.path(), &["clone", &url, "c"]);
        assert!(e.contains(host.as_str()), "{e}");
        srv.oxen_err(&a, &["push", &url, "main"]);
        srv.oxen_err(&a, &["fetch", &url]);
    }
    let e = srv.oxen_err(d.path(), &["clone", &format!("http://{}/R", redirect.addr), "c"]);
    assert!(e.contains("redirect"), "{e}");
    for h in other.heads().iter().chain(redirect.heads().iter()) {
        assert!(!h.to_ascii_lowercase().contains("authorization"), "the token went to the wrong host:\n{h}");
    }
    assert!(other.heads().len() >= 3 && redirect.heads().len() >= 3, "the client never asked");
    // The real server still gets it.
    srv.oxen(d.path(), &["clone", &srv.url("R"), "b"]);
    assert_eq!(snapshot(&a), snapshot(&d.path().join("b")));
    // OXEN_TOKEN is an explicit override: sent to whatever server the
    // command names.
    let mut c = srv.bin("oxen", d.path());
    c.env("OXEN_TOKEN", "explicit-token").args(["clone", &format!("http://{}/R", other.addr), "c"]);
    common::err(c);
    assert!(other.heads().last().unwrap().contains("Bearer explicit-token"), "{:?}", other.heads());
}

#[test]
fn add_user_then_copy_the_config_then_push_and_clone() {
    let d = tmp();
    let sync_dir = d.path().join("sync");
    let (child, addr) = spawn_server(&sync_dir, &d.path().join("server.log"), &[]);
    let _stop = StopOnDrop(child);
    // The seed's flow, with the server's address given to add-user.
    let out = Command::new(assert_cmd::cargo::cargo_bin("oxen-server"))
        .current_dir(d.path())
        .env("SYNC_DIR", &sync_dir)
        .args(["add-user", "--email", "ada@example.com", "--name", "Ada", "--host"])
        .arg(format!("http://{addr}"))
        .args(["--output", "user_config.toml"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&format!("token for http://{addr}")), "{said}");
    let home = d.path().join("home");
    std::fs::create_dir_all(home.join(".oxen")).unwrap();
    std::fs::copy(d.path().join("user_config.toml"), home.join(".oxen/user_config.toml")).unwrap();
    let client = |dir: &Path, args: &[&str]| {
        let mut c = common::bin("oxen", dir);
        c.env_remove("OXEN_HOME").env_remove("OXEN_TOKEN").env("HOME", &home).args(args);
        common::out(c)
    };
    let cfg = std::fs::read_to_string(home.join(".oxen/user_config.toml")).unwrap();
    let token = cfg.lines().find_map(|l| l.strip_prefix("token = \"")).unwrap().trim_end_matches('"').to_string();
    let (code, body) = raw_http(&addr, "POST", "/api/repos", Some(&token), br#"{"name": "MyRepo"}"#, None);
    assert_eq!(code, 201, "{body}");
    let a = d.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    client(&a, &["init"]);
    write(&a, "data/x.csv", b"a,b\n1,2\n");
    client(&a, &["add", "-A"]);
    client(&a, &["commit", "-m", "first"]);
    client(&a, &["remote", "add", "origin", &format!("http://{addr}/MyRepo")]);
    client(&a, &["push", "-u", "origin", "main"]);
    client(d.path(), &["clone", &format!("http://{addr}/MyRepo"), "b"]);
    assert_eq!(snapshot(&a), snapshot(&d.path().join("b")));
    // Without --host, add-user says which server it assumed.
    let out = Command::new(assert_cmd::cargo::cargo_bin("oxen-server"))
        .current_dir(d.path())
        .env("SYNC_DIR", &sync_dir)
        .args(["add-user", "--email", "b@example.com", "--name", "B", "--output", "other.toml"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("token for http://localhost:3000"));
}

/// SIGTERM a server child when dropped.
struct StopOnDrop(Child);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        terminate(&self.0);
        let _ = self.0.wait();
    }
}

#[test]
fn the_client_gives_up_on_a_server_that_never_answers() {
    let d = tmp();
    // Accepts connections and never reads or answers (for at most a minute).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end {
            if let Ok((s, _)) = listener.accept() {
                held.push(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let a = d.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    common::ox(&a, &["init"]);
    write(&a, "f.txt", b"x\n");
    common::ox(&a, &["add", "-A"]);
    common::ox(&a, &["commit", "-m", "x"]);
    let url = format!("http://{addr}/R");
    for (dir, args) in [(&a, vec!["push", url.as_str(), "main"]), (&d.path().to_path_buf(), vec!["clone", &url, "c"])] {
        let t = Instant::now();
        let mut c = common::bin("oxen", dir);
        c.env("OXEN_HTTP_TIMEOUT", "2").args(&args);
        let e = common::err(c);
        let took = t.elapsed();
        assert!(took < Duration::from_secs(15), "{args:?} gave up after {took:?}");
        assert!(e.contains("timed out") && e.contains("OXEN_HTTP_TIMEOUT"), "{e}");
    }
    // A bad value is a clear error too.
    let mut c = common::bin("oxen", &a);
    c.env("OXEN_HTTP_TIMEOUT", "soon").args(["push", &url, "main"]);
    assert!(common::err(c).contains("OXEN_HTTP_TIMEOUT"));
}

#[test]
fn a_tree_3000_levels_deep_is_refused_and_the_server_keeps_serving() {
    let d = tmp();
    let srv = Server::start(d.path(), &[]);
    srv.create("R");
    let blob = b"leaf".to_vec();
    let blob_id = oxen_hash::ContentId::of(&blob);
    let mut frames = vec![(3u8, blob_id.0, blob.clone())];
    let leaf = oxen_object::Tree::Entries(vec![oxen_object::TreeEntry {
        name: "f".into(),
        kind: oxen_object::EntryKind::File,
        mode: oxen_object::mode::FILE,
        id: blob_id,
        size: 4,
        tabular: None,
    }]);
    let mut below = leaf.encode();
    frames.push((2, oxen_hash::ContentId::of(&below).0, below.clone()));
    for _ in 0..3000 {
        let t = oxen_object::Tree::Entries(vec![oxen_object::TreeEntry {
            name: "d".into(),
            kind: oxen_object::EntryKind::Dir,
            mode: oxen_object::mode::DIR,
            id: oxen_hash::ContentId::of(&below),
            size: 4,
            tabular: None,
        }]);
        below = t.encode();
        frames.push((2, oxen_hash::ContentId::of(&below).0, below.clone()));
    }
    let (code, body) = srv.http("POST", "/api/repos/R/receive-pack", Some(&srv.token), &make_pack(&frames, true));
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("2048 levels"), "{body}");
    srv.assert_alive();
    // And the repository still takes a normal push and clone.
    let a = d.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    init_with(&srv, &a, &[("x/y/z.txt", b"fine\n")]);
    srv.oxen(&a, &["push", &srv.url("R"), "main"]);
    srv.oxen(d.path(), &["clone", &srv.url("R"), "b"]);
    assert_eq!(snapshot(&a), snapshot(&d.path().join("b")));
}

fn tmp_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map(|rd| rd.flatten().map(|e| e.path()).collect()).unwrap_or_default()
}

#[test]
fn a_server_killed_mid_push_leaves_blocks_gc_reclaims_and_the_retry_works() {
    let d = tmp();
    let sync_dir = d.path().join("sync");
    let log = d.path().join("server.log");
    let (mut child, addr) = spawn_server(&sync_dir, &log, &[]);
    let server_pid = child.id();
    let home = d.path().join("home");
    let token = add_user(&sync_dir, &format!("http://{addr}"), &home.join("user_config.toml"));
    let (code, _) = raw_http(&addr, "POST", "/api/repos", Some(&token), br#"{"name": "R"}"#, None);
    assert_eq!(code, 201);
    let a = d.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    common::ox(&a, &["init"]);
    // Big enough that the server is caught receiving it.
    let mut big = Vec::with_capacity(256 << 20);
    let mut x: u64 = 1;
    while big.len() < 256 << 20 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        big.extend_from_slice(&x.to_le_bytes());
    }
    write(&a, "big.bin", &big);
    drop(big);
    common::ox(&a, &["add", "-A"]);
    common::ox(&a, &["commit", "-m", "big"]);
    let url = format!("http://{addr}/R");
    let mut push = common::std_bin("oxen", &a);
    push.env("OXEN_HOME", &home).args(["push", &url, "main"]);
    let mut push = push.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    // Received contents go into the server's blocks (named after its pid),
    // recorded only when the push is complete.
    let seg_dir = sync_dir.join("R/.oxen/versions/segments");
    let blocks = || -> Vec<PathBuf> {
        tmp_files(&seg_dir)
            .into_iter()
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&format!("{server_pid}-")))
            .collect()
    };
    let caught = wait_until(Duration::from_secs(60), || {
        blocks().iter().any(|p| std::fs::metadata(p).map(|m| m.len() > 1 << 20).unwrap_or(false))
    });
    assert!(caught, "the server never started writing the blob");
    // kill -9: the server gets no chance to clean up.
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = push.kill();
    let _ = push.wait();
    let orphans = blocks();
    assert!(!orphans.is_empty(), "no block left behind");
    // Nothing of it is recorded, and `oxen-server gc` reclaims it.
    let gc = Command::new(assert_cmd::cargo::cargo_bin("oxen-server"))
        .env("SYNC_DIR", &sync_dir)
        .arg("gc")
        .output()
        .unwrap();
    assert!(gc.status.success(), "{}", String::from_utf8_lossy(&gc.stderr));
    for o in &orphans {
        assert!(!o.exists(), "orphan {} survived gc", o.display());
    }
    let (child, addr2) = spawn_server(&sync_dir, &log, &[]);
    let _stop = StopOnDrop(child);
    // The retry works against the restarted server.
    add_user(&sync_dir, &format!("http://{addr2}"), &home.join("user_config.toml"));
    let url = format!("http://{addr2}/R");
    let mut c = common::bin("oxen", &a);
    c.env("OXEN_HOME", &home).args(["push", &url, "main"]);
    common::out(c);
    let mut c = common::bin("oxen", &sync_dir.join("R"));
    c.arg("fsck");
    common::out(c);
}

/// A tmpfs mounted for one test, unmounted when dropped (after the server
/// using it has stopped: drop the server first).
struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_answers_507_naming_the_path() {
    let d = tmp();
    let sync_dir = d.path().join("sync");
    std::fs::create_dir_all(&sync_dir).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&sync_dir)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !mounted {
        eprintln!("cannot mount a tmpfs here (needs root); the 507 mapping is covered by oxen-server's unit test");
        return;
    }
    let _fs = Tmpfs(sync_dir.clone());
    {
        let srv = Server::start(d.path(), &[]);
        srv.create("R");
        let a = d.path().join("a");
        std::fs::create_dir_all(&a).unwrap();
        srv.oxen(&a, &["init"]);
        let mut x: u64 = 7;
        let bytes: Vec<u8> = (0..3_000_000)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                (x >> 56) as u8
            })
            .collect();
        write(&a, "big.bin", &bytes);
        commit_all(&srv, &a, "too big for the disk");
        let e = srv.oxen_err(&a, &["push", &srv.url("R"), "main"]);
        assert!(e.contains("(507)") && e.contains("no space left on "), "{e}");
        assert!(e.contains(&sync_dir.display().to_string()), "{e}");
        assert!(e.contains("push again"), "{e}");
        srv.assert_alive();
        assert_eq!(srv.refs("R"), "{\"head\":\"heads/main\",\"refs\":{}}");
    }
}

#[test]
fn an_old_top_level_token_is_never_sent_and_the_401_says_why() {
    let d = tmp();
    let srv = Server::start(d.path(), &[]);
    srv.create("R");
    // A config as older add-user wrote it: a token tied to no server.
    let old_home = d.path().join("old-home");
    std::fs::create_dir_all(&old_home).unwrap();
    std::fs::write(old_home.join("user_config.toml"), format!("token = \"{}\"\n", srv.token)).unwrap();
    let a = d.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    init_with(&srv, &a, &[("f.txt", b"x\n")]);
    let mut c = common::bin("oxen", &a);
    c.env("OXEN_HOME", &old_home).args(["push", &srv.url("R"), "main"]);
    let e = common::err(c);
    assert!(e.contains("(401)") && e.contains("not tied to any server"), "{e}");
    assert!(e.contains(&format!("[host.\"http://{}\"]", srv.addr)), "{e}");
}
