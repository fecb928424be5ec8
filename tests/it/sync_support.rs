//! Helpers for the sync tests: a real `oxen-server` on an ephemeral
//! loopback port in a temp SYNC_DIR, a user with a token, raw HTTP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common;

/// A running server and the client home holding its token.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub sync_dir: PathBuf,
    pub home: PathBuf,
    pub token: String,
}

impl Server {
    /// Start a server under `root` (SYNC_DIR = root/sync, client home =
    /// root/home with user_config.toml), with extra `start` arguments.
    pub fn start(root: &Path, extra: &[&str]) -> Server {
        let sync_dir = root.join("sync");
        let home = root.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let (child, addr) = spawn_server(&sync_dir, &root.join("server.log"), extra);
        // The token is for this server: add-user is told its address.
        let token = add_user(&sync_dir, &format!("http://{addr}"), &home.join("user_config.toml"));
        Server { child, addr, sync_dir, home, token }
    }

    /// `http://ADDR/<name>`
    pub fn url(&self, name: &str) -> String {
        format!("http://{}/{name}", self.addr)
    }

    /// Create a repository through the API.
    pub fn create(&self, name: &str) {
        let (code, body) =
            self.http("POST", "/api/repos", Some(&self.token), format!("{{\"name\": \"{name}\"}}").as_bytes());
        assert_eq!(code, 201, "{body}");
    }

    /// A raw HTTP/1.1 request; returns status and body.
    pub fn http(&self, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
        raw_http(&self.addr, method, path, token, body, None)
    }

    /// Our `oxen`/plumbing binary in `dir` using this server's token.
    pub fn bin(&self, name: &str, dir: &Path) -> assert_cmd::Command {
        let mut c = common::bin(name, dir);
        c.env("OXEN_HOME", &self.home);
        c
    }

    /// [`Server::bin`] as a plain `std::process::Command`.
    pub fn std_bin(&self, name: &str, dir: &Path) -> Command {
        let mut c = common::std_bin(name, dir);
        c.env("OXEN_HOME", &self.home);
        c
    }

    /// `oxen <args>` in `dir`, asserting success; returns stdout.
    pub fn oxen(&self, dir: &Path, args: &[&str]) -> String {
        let mut c = self.bin("oxen", dir);
        c.args(args);
        common::out(c)
    }

    /// `oxen <args>` in `dir`, asserting a one-line failure; returns stderr.
    pub fn oxen_err(&self, dir: &Path, args: &[&str]) -> String {
        let mut c = self.bin("oxen", dir);
        c.args(args);
        common::err(c)
    }

    /// `<binary> <args>` in `dir` whatever its outcome: (success, stdout, stderr).
    pub fn output(&self, name: &str, dir: &Path, args: &[&str]) -> (bool, String, String) {
        let o = self.bin(name, dir).args(args).output().expect("run");
        (o.status.success(), String::from_utf8_lossy(&o.stdout).into(), String::from_utf8_lossy(&o.stderr).into())
    }

    /// The server's refs of a repository as JSON text.
    pub fn refs(&self, name: &str) -> String {
        let (code, body) = self.http("GET", &format!("/api/repos/{name}/refs"), Some(&self.token), b"");
        assert_eq!(code, 200, "{body}");
        body
    }

    /// Check the server still answers.
    pub fn assert_alive(&self) {
        let (code, _) = self.http("GET", "/api/repos", Some(&self.token), b"");
        assert_eq!(code, 200, "server stopped serving");
    }

    /// Peak RSS of the server process so far, in KiB.
    pub fn peak_rss_kb(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        s.lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM: the graceful path.
        crate::procs::terminate(&self.child);
        let _ = self.child.wait();
    }
}

/// Start `oxen-server start` on an ephemeral loopback port with its log in
/// `log`; returns the child and its address once it is listening.
pub fn spawn_server(sync_dir: &Path, log: &Path, extra: &[&str]) -> (Child, String) {
    spawn_server_env(sync_dir, log, extra, &[])
}

/// [`spawn_server`] with extra environment variables (a crash point).
pub fn spawn_server_env(sync_dir: &Path, log: &Path, extra: &[&str], env: &[(&str, &str)]) -> (Child, String) {
    let log = std::fs::File::create(log).unwrap();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("oxen-server"))
        .env("SYNC_DIR", sync_dir)
        // LMDB unless the test says otherwise, whatever the shell exports.
        .env_remove("OXEN_DB")
        .envs(env.iter().copied())
        .args(["start", "--host", "127.0.0.1"])
        // An ephemeral port unless the caller names one (a restart on the
        // same address).
        .args(if extra.contains(&"--port") { &[][..] } else { &["--port", "0"][..] })
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected banner {line:?}"))
        .to_string();
    (child, addr)
}

/// `oxen-server add-user --host <server> --output <output>`; returns the token.
pub fn add_user(sync_dir: &Path, server: &str, output: &Path) -> String {
    let st = Command::new(assert_cmd::cargo::cargo_bin("oxen-server"))
        .env("SYNC_DIR", sync_dir)
        .env_remove("OXEN_DB")
        .args(["add-user", "--email", "ada@example.com", "--name", "Ada", "--host", server, "--output"])
        .arg(output)
        .output()
        .unwrap();
    assert!(st.status.success(), "add-user: {}", String::from_utf8_lossy(&st.stderr));
    let cfg = std::fs::read_to_string(output).unwrap();
    cfg.lines()
        .find_map(|l| l.strip_prefix("token = \"").map(|t| t.trim_end_matches('"').to_string()))
        .expect("token in user_config.toml")
}

/// A raw HTTP/1.1 request over a TcpStream (what curl would send); an
/// explicit `declared` Content-Length may differ from the body sent.
pub fn raw_http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
    declared: Option<u64>,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        declared.unwrap_or(body.len() as u64)
    );
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let _ = s.flush();
    if declared.is_some() {
        // Stop sending: like a client that dies half-way.
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    // Read the head, then exactly Content-Length bytes of body (as curl
    // does), so a server that keeps the connection open does not stall us.
    let mut r = BufReader::new(s);
    let mut status = String::new();
    if r.read_line(&mut status).unwrap_or(0) == 0 {
        return (0, String::new());
    }
    let code = status.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let mut len: Option<usize> = None;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok();
            }
            // The server abandons connections whose declared body is absurd:
            // status and headers only.
            if k.eq_ignore_ascii_case("upgrade") {
                len = Some(0);
            }
        }
    }
    let mut body = Vec::new();
    match len {
        Some(n) => {
            body.resize(n, 0);
            let _ = r.read_exact(&mut body);
        }
        None => {
            let _ = r.read_to_end(&mut body);
        }
    }
    (code, String::from_utf8_lossy(&body).to_string())
}

/// `oxen init` + files + `oxen add .` + `oxen commit`.
pub fn init_with(srv: &Server, dir: &Path, files: &[(&str, &[u8])]) {
    srv.oxen(dir, &["init"]);
    for (p, b) in files {
        common::write(dir, p, b);
    }
    commit_all(srv, dir, "initial");
}

/// Stage everything and commit.
pub fn commit_all(srv: &Server, dir: &Path, msg: &str) {
    srv.oxen(dir, &["add", "-A"]);
    srv.oxen(dir, &["commit", "-m", msg]);
}

/// Build a pack by hand: frames of (kind, id, bytes), with a correct
/// trailer unless `trailer` is false.
pub fn make_pack(frames: &[(u8, [u8; 16], Vec<u8>)], trailer: bool) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(b"OXPK");
    p.extend_from_slice(&1u32.to_le_bytes());
    p.extend_from_slice(&(frames.len() as u64).to_le_bytes());
    for (k, id, bytes) in frames {
        p.push(*k);
        p.extend_from_slice(id);
        p.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        p.extend_from_slice(bytes);
    }
    p.push(0);
    if trailer {
        let sum = oxen_hash::ContentId::of(&p);
        p.extend_from_slice(sum.as_bytes());
    }
    p
}
