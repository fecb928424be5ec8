//! The scale-out topology (issue 12) as real processes on loopback, started
//! by `deploy/topology.sh`: SeaweedFS for contents, PostgreSQL for metadata
//! (when the server has `--db`; until then the replicas share one
//! SYNC_DIR), three `oxen-server` replicas and nginx in front. Nothing is
//! skipped: without nginx, SeaweedFS or PostgreSQL the script fails saying
//! which, and so do these tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::sync_support::raw_http;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/topology.sh")
}

/// A running topology, stopped on drop.
struct Topology {
    dir: tempfile::TempDir,
    env: BTreeMap<String, String>,
}

impl Topology {
    fn start(replicas: usize) -> Topology {
        let dir = tempfile::tempdir().unwrap();
        let bin_dir = assert_cmd::cargo::cargo_bin("oxen-server").parent().unwrap().to_path_buf();
        let out = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(dir.path().join("t"))
            .args(["--replicas", &replicas.to_string(), "--bin-dir"])
            .arg(&bin_dir)
            .output()
            .unwrap();
        let t = Topology { env: parse_env(&out.stdout), dir };
        assert!(
            out.status.success(),
            "deploy/topology.sh start failed (it needs nginx, PostgreSQL and SeaweedFS): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("t")
    }

    fn var(&self, k: &str) -> &str {
        self.env.get(k).unwrap_or_else(|| panic!("topology printed no {k}: {:?}", self.env))
    }

    /// `host:port` of a URL the script printed.
    fn addr(&self, k: &str) -> String {
        self.var(k).trim_start_matches("http://").to_string()
    }

    fn script(&self, cmd: &str, replica: usize) {
        let out =
            Command::new("bash").arg(script()).arg(cmd).arg(self.root()).arg(replica.to_string()).output().unwrap();
        assert!(out.status.success(), "topology.sh {cmd}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// `oxen <args>` in `dir` as the topology's admin user; its output.
    fn oxen(&self, dir: &Path, args: &[&str]) -> Output {
        self.bin("oxen", dir).args(args).output().unwrap()
    }

    fn bin(&self, name: &str, dir: &Path) -> Command {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin(name));
        c.current_dir(dir)
            .env("OXEN_HOME", self.var("OXEN_HOME"))
            .env("OXEN_AUTHOR_NAME", "Test Author")
            .env("OXEN_AUTHOR_EMAIL", "test@example.com")
            .env("OXEN_NO_PROGRESS", "1");
        c
    }

    fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let o = self.oxen(dir, args);
        assert!(o.status.success(), "oxen {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn head(&self, dir: &Path) -> String {
        let o = self.bin("oxen-rev-parse", dir).arg("HEAD").output().unwrap();
        assert!(o.status.success(), "rev-parse: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).arg("stop").arg(self.root()).output();
    }
}

fn parse_env(out: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(out)
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

/// Regular files under `dir` (not `.oxen`), relative, with their bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if e.file_name() == ".oxen" {
                continue;
            }
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.insert(p.strip_prefix(base).unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

const CLIENTS: usize = 8;
const ROUNDS: usize = 3;

/// What one client saw accepted: (commit id, file it added, contents).
type Accepted = Vec<(String, String, String)>;

#[test]
fn eight_pushers_through_the_proxy_lose_nothing_while_a_replica_is_killed() {
    let t0 = Instant::now();
    let topo = Topology::start(3);
    let token = topo.var("OXEN_TOKEN").to_string();
    eprintln!("scaleout: topology ({} metadata) up in {:?}", topo.var("OXEN_METADATA"), t0.elapsed());

    // A repository created through replica 1 is listed by replica 3.
    let (code, body) =
        raw_http(&topo.addr("OXEN_REPLICA_1_URL"), "POST", "/api/repos", Some(&token), br#"{"name": "shared"}"#, None);
    assert_eq!(code, 201, "{body}");
    let (code, body) = raw_http(&topo.addr("OXEN_REPLICA_3_URL"), "GET", "/api/repos", Some(&token), b"", None);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"shared\""), "replica 3 does not list the repository made on replica 1: {body}");

    let work = topo.dir.path().join("work");
    let url = format!("{}/shared", topo.var("OXEN_PROXY_URL"));
    let seed = work.join("seed");
    std::fs::create_dir_all(&seed).unwrap();
    topo.ok(&seed, &["init"]);
    std::fs::write(seed.join("README.md"), "shared dataset\n").unwrap();
    topo.ok(&seed, &["add", "."]);
    topo.ok(&seed, &["commit", "-m", "seed"]);
    topo.ok(&seed, &["push", &url, "main"]);

    let accepted_total = Arc::new(AtomicUsize::new(0));
    let failures_seen = Arc::new(AtomicUsize::new(0));
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let topo = Arc::new(topo);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (topo, url, work) = (Arc::clone(&topo), url.clone(), work.clone());
            let (accepted_total, failures_seen, log) =
                (Arc::clone(&accepted_total), Arc::clone(&failures_seen), Arc::clone(&log));
            std::thread::spawn(move || -> Accepted {
                let dir = work.join(format!("c{i}"));
                // A clone may hit the replica being killed: retry it whole.
                let mut cloned = false;
                for _ in 0..20 {
                    let _ = std::fs::remove_dir_all(&dir);
                    let o = topo.oxen(&work, &["clone", &url, dir.to_str().unwrap()]);
                    if o.status.success() {
                        cloned = true;
                        break;
                    }
                    failures_seen.fetch_add(1, Ordering::SeqCst);
                    log.lock().unwrap().push(format!("c{i} clone: {}", String::from_utf8_lossy(&o.stderr).trim()));
                    std::thread::sleep(Duration::from_millis(200));
                }
                assert!(cloned, "client {i} could not clone in 20 tries");
                let mut mine = Accepted::new();
                for r in 0..ROUNDS {
                    let name = format!("c{i}/r{r}.txt");
                    let contents = format!("client {i} round {r}\n");
                    std::fs::create_dir_all(dir.join(format!("c{i}"))).unwrap();
                    std::fs::write(dir.join(&name), &contents).unwrap();
                    topo.ok(&dir, &["add", &name]);
                    topo.ok(&dir, &["commit", "-m", &format!("client {i} round {r}")]);
                    let mut done = false;
                    for _attempt in 0..60 {
                        let head = topo.head(&dir);
                        let t = Instant::now();
                        let o = topo.oxen(&dir, &["push", "origin", "main"]);
                        log.lock().unwrap().push(format!("c{i} push {:?} ok={}", t.elapsed(), o.status.success()));
                        if o.status.success() {
                            mine.push((head, name.clone(), contents.clone()));
                            accepted_total.fetch_add(1, Ordering::SeqCst);
                            done = true;
                            break;
                        }
                        failures_seen.fetch_add(1, Ordering::SeqCst);
                        log.lock().unwrap().push(format!("c{i} push: {}", String::from_utf8_lossy(&o.stderr).trim()));
                        // Rejected (someone pushed first) or the replica
                        // died: bring the branch in and try again.
                        let t = Instant::now();
                        let o = topo.oxen(&dir, &["pull", "origin", "main"]);
                        log.lock().unwrap().push(format!("c{i} pull {:?} ok={}", t.elapsed(), o.status.success()));
                        if !o.status.success() {
                            log.lock()
                                .unwrap()
                                .push(format!("c{i} pull: {}", String::from_utf8_lossy(&o.stderr).trim()));
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                    assert!(done, "client {i}: round {r} was never accepted");
                }
                mine
            })
        })
        .collect();

    // Kill replica 2 mid-way (SIGKILL, whatever it is doing: nginx's log
    // shows requests cut off on it), and bring it back (same port) once
    // more pushes went through without it.
    let total = CLIENTS * ROUNDS;
    let wait_for = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while accepted_total.load(Ordering::SeqCst) < n.min(total) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_for(2);
    let pid = topo.var("OXEN_REPLICA_2_PID").to_string();
    assert!(Command::new("kill").args(["-9", &pid]).status().unwrap().success(), "kill -9 replica 2");
    let killed_at = accepted_total.load(Ordering::SeqCst);
    assert!(killed_at < total, "every push was done before the kill: the test shows nothing");
    topo.script("kill-replica", 2); // waits until it is gone
    wait_for(killed_at + 4);
    topo.script("start-replica", 2);
    let restarted_at = accepted_total.load(Ordering::SeqCst);
    let access_log = topo.root().join("nginx/access.log");
    let log_at_restart = std::fs::metadata(&access_log).map(|m| m.len()).unwrap_or(0) as usize;
    let restarted = Instant::now();

    let mut accepted = Accepted::new();
    let mut panics = Vec::new();
    for c in clients {
        match c.join() {
            Ok(a) => accepted.extend(a),
            Err(e) => panics.push(e),
        }
    }
    let access = std::fs::read_to_string(topo.root().join("nginx/access.log")).unwrap_or_default();
    let cut = access.lines().filter(|l| l.contains(" 502 ") || l.contains("ust=502")).count();
    if !panics.is_empty() {
        eprintln!("scaleout: client log:\n{}", log.lock().unwrap().join("\n"));
        std::panic::resume_unwind(panics.remove(0));
    }
    eprintln!(
        "scaleout: {} pushes accepted ({killed_at} before the kill, {restarted_at} before the restart), \
         {} failed tries retried, {cut} proxied requests met the dead replica, in {:?}",
        accepted.len(),
        failures_seen.load(Ordering::SeqCst),
        t0.elapsed()
    );
    assert_eq!(accepted.len(), total);

    // A fresh clone through the proxy: every accepted commit is in its
    // history and its tree is exactly the seed plus every accepted file.
    let fresh = work.join("fresh");
    topo.ok(&work, &["clone", &url, fresh.to_str().unwrap()]);
    let history = topo.ok(&fresh, &["log"]);
    let ids: BTreeSet<&str> = history.lines().filter_map(|l| l.strip_prefix("commit ")).map(str::trim).collect();
    for (id, name, _) in &accepted {
        assert!(ids.contains(id.as_str()), "accepted push of {name} ({id}) is not in the final history");
    }
    let mut want: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    want.insert("README.md".into(), b"shared dataset\n".to_vec());
    for (_, name, contents) in &accepted {
        want.insert(name.clone(), contents.clone().into_bytes());
    }
    assert_eq!(tree(&fresh), want, "the fresh clone's tree is not the seed plus every accepted file");
    topo.ok(&fresh, &["fsck"]);

    // Every client, pulled, has the same tree.
    for i in [0, CLIENTS - 1] {
        let dir = work.join(format!("c{i}"));
        topo.ok(&dir, &["pull", "origin", "main"]);
        assert_eq!(tree(&dir), want, "client {i} after a pull");
    }

    // The restarted replica is back in nginx's rotation by itself, once
    // the upstream's fail_timeout (5 s) has passed.
    std::thread::sleep(Duration::from_secs(6).saturating_sub(restarted.elapsed()));
    for _ in 0..12 {
        let (code, body) = raw_http(&topo.addr("OXEN_PROXY_URL"), "GET", "/api/repos", Some(&token), b"", None);
        assert_eq!(code, 200, "{body}");
    }
    let since =
        std::fs::read_to_string(&access_log).unwrap_or_default().get(log_at_restart..).unwrap_or("").to_string();
    let replica2 = topo.addr("OXEN_REPLICA_2_URL");
    assert!(
        since.lines().any(|l| l.contains(&format!("up={replica2} ust=200"))),
        "no request went to the restarted replica 2 ({replica2}):\n{since}"
    );

    // The server's copy checks clean too (shared SYNC_DIR: the repository
    // is a directory there, its blocks in the bucket).
    if let Some(sync) = topo.env.get("SYNC_DIR") {
        let mut c = topo.bin("oxen", &Path::new(sync).join("shared"));
        c.arg("fsck").envs(topo.env.iter().filter(|(k, _)| k.starts_with("AWS_")));
        let o = c.output().unwrap();
        assert!(o.status.success(), "server-side fsck: {}", String::from_utf8_lossy(&o.stderr));
    }
    eprintln!("scaleout: done in {:?}", t0.elapsed());
}

/// How many objects the bucket holds under `folder` (SeaweedFS's filer
/// lists the bucket as folders).
fn objects(filer: &str, folder: &str) -> usize {
    let mut st = std::net::TcpStream::connect(filer).unwrap();
    use std::io::{Read, Write};
    write!(
        st,
        "GET /buckets/{folder}/?limit=10000 HTTP/1.1\r\nHost: {filer}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = String::new();
    let _ = st.read_to_string(&mut all);
    all.matches("\"FullPath\"").count()
}

/// Deterministic incompressible bytes.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The `sent N bytes` count of a push's output.
fn sent_bytes(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("sent ")?.split_once(" bytes")?.0.parse().ok())
        .unwrap_or_else(|| panic!("no `sent N bytes` line in {stderr}"))
}

#[test]
fn a_push_whose_replica_is_killed_mid_way_leaves_nothing_and_the_retry_sends_only_the_rest() {
    let topo = Topology::start(2);
    let token = topo.var("OXEN_TOKEN").to_string();
    let (code, body) =
        raw_http(&topo.addr("OXEN_PROXY_URL"), "POST", "/api/repos", Some(&token), br#"{"name": "big"}"#, None);
    assert_eq!(code, 201, "{body}");
    let a = topo.dir.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    topo.ok(&a, &["init"]);
    const SIZE: usize = 96 << 20;
    std::fs::write(a.join("model.bin"), noise(11, SIZE)).unwrap();
    topo.ok(&a, &["add", "."]);
    topo.ok(&a, &["commit", "-m", "model"]);

    // Push straight to replica 2 and SIGKILL it once half the file is out.
    let replica2 = format!("{}/big", topo.var("OXEN_REPLICA_2_URL"));
    let mut push = topo.bin("oxen", &a);
    push.args(["push", &replica2, "main"]).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = push.spawn().unwrap();
    // Kill it once it has stored a block in the bucket (and so recorded
    // some of the file) but before the push ends.
    let filer = topo.var("WEED_FILER").to_string();
    let blocks = format!("oxen/{}/big/blocks", topo.var("OXEN_STORAGE").trim_start_matches("s3://oxen/"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while objects(&filer, &blocks) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let at = objects(&filer, &blocks);
    topo.script("kill-replica", 2);
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "the push finished before the kill ({at} blocks stored): {err}");
    assert_eq!(err.lines().filter(|l| l.starts_with("error:")).count(), 1, "one error line: {err}");

    // Nothing of it is visible: the branch does not exist.
    let (code, refs) =
        raw_http(&topo.addr("OXEN_REPLICA_1_URL"), "GET", "/api/repos/big/refs", Some(&token), b"", None);
    assert_eq!(code, 200, "{refs}");
    let v: serde_json::Value = serde_json::from_str(&refs).unwrap();
    assert_eq!(v["refs"], serde_json::json!({}), "a killed push left a ref: {refs}");

    // The retry through the proxy (to the live replica) succeeds and sends
    // less than the whole file: what the dead replica stored is reused.
    let url = format!("{}/big", topo.var("OXEN_PROXY_URL"));
    let o = topo.oxen(&a, &["push", &url, "main"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "retry: {err}");
    let sent = sent_bytes(&err);
    eprintln!("scaleout: killed with {at} blocks in the bucket; the retry sent {sent} of {SIZE} bytes");
    assert!(sent < SIZE as u64, "the retry sent the whole file again ({sent} bytes)");

    let b = topo.dir.path().join("b");
    topo.ok(topo.dir.path(), &["clone", &url, b.to_str().unwrap()]);
    assert!(std::fs::read(b.join("model.bin")).unwrap() == noise(11, SIZE), "cloned bytes differ");
    topo.ok(&b, &["fsck"]);
}

/// The lines of an nginx config that are directives (comments dropped).
fn directives(conf: &str) -> Vec<String> {
    conf.lines().map(|l| l.split('#').next().unwrap().trim().to_string()).filter(|l| !l.is_empty()).collect()
}

/// The value of directive `name` (first occurrence), without the `;`.
fn directive(conf: &str, name: &str) -> Option<String> {
    directives(conf).into_iter().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix(' ')?;
        Some(rest.trim().trim_end_matches(';').trim().to_string())
    })
}

/// The `server` lines' parameters of the `upstream oxen` block, the
/// `keepalive`, and the `log_format oxen` text of a config.
fn upstream_facts(conf: &str) -> (BTreeSet<String>, Option<String>, String) {
    let d = directives(conf);
    let params: BTreeSet<String> = d
        .iter()
        .filter_map(|l| l.strip_prefix("server "))
        .filter(|l| !l.ends_with('{'))
        .map(|s| s.trim_end_matches(';').split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        .collect();
    let start = conf.find("log_format oxen").expect("log_format oxen");
    let end = start + conf[start..].find(';').unwrap();
    let log_format: String = conf[start..end].split_whitespace().collect::<Vec<_>>().join(" ");
    (params, directive(conf, "keepalive"), log_format)
}

/// Seconds of an nginx time such as `3600s` or `10m`.
fn secs(v: &str) -> u64 {
    let (n, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: u64 = n.parse().unwrap_or_else(|_| panic!("not a time: {v}"));
    match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => panic!("unit of {v}"),
    }
}

/// docker-compose (which cannot run here: no Docker) and the loopback
/// topology the tests run must not drift apart: the same proxy settings
/// (one shared file, included by both), the same upstream health and
/// keep-alive parameters, and the same environment for the replicas.
#[test]
fn compose_and_the_loopback_topology_agree_on_what_matters() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let shared = read("deploy/nginx/oxen-proxy.conf");
    let template = read("deploy/nginx/topology.conf.template");
    let compose_conf = read("deploy/nginx/compose.conf");
    let compose = read("deploy/docker-compose.yml");
    let dockerfile = read("deploy/Dockerfile");
    let script = read("deploy/topology.sh");

    // What the pack endpoints need from the proxy.
    for (name, want) in [
        ("client_max_body_size", "0"),
        ("proxy_request_buffering", "off"),
        ("proxy_buffering", "off"),
        ("proxy_http_version", "1.1"),
        ("proxy_set_header Connection", "\"\""),
    ] {
        assert_eq!(directive(&shared, name).as_deref(), Some(want), "oxen-proxy.conf: {name}");
    }
    let next = directive(&shared, "proxy_next_upstream").expect("proxy_next_upstream");
    assert!(next.contains("error") && next.contains("timeout"), "{next}");
    assert!(!next.contains("non_idempotent"), "a POST body must never be replayed: {next}");
    for t in ["proxy_read_timeout", "proxy_send_timeout"] {
        let v = directive(&shared, t).unwrap_or_else(|| panic!("no {t}"));
        assert!(secs(&v) >= 600, "{t} {v} is too short for a big push");
    }

    // Both front ends include that file, proxy to the `oxen` upstream and
    // agree on its parameters.
    for (what, conf) in [("topology template", &template), ("compose.conf", &compose_conf)] {
        let inc = directive(conf, "include").unwrap_or_default();
        assert!(inc.ends_with("/oxen-proxy.conf"), "{what} does not include oxen-proxy.conf: {inc}");
        assert_eq!(directive(conf, "proxy_pass").as_deref(), Some("http://oxen"), "{what}");
    }
    // The template's server lines are written by the script.
    let script_server = script
        .lines()
        .find(|l| l.contains("upstreams+=") && l.contains("server 127.0.0.1"))
        .expect("the script writes the upstream server lines");
    let script_params: String = script_server
        .split("server 127.0.0.1:${ports[$i]}")
        .nth(1)
        .expect("server line")
        .split(';')
        .next()
        .unwrap()
        .trim()
        .to_string();
    let (compose_params, compose_keepalive, compose_log) = upstream_facts(&compose_conf);
    let (_, template_keepalive, template_log) = upstream_facts(&template);
    assert_eq!(compose_params, BTreeSet::from([script_params.clone()]), "upstream server parameters");
    assert!(script_params.contains("max_fails=") && script_params.contains("fail_timeout="), "{script_params}");
    assert_eq!(compose_keepalive, template_keepalive, "upstream keepalive");
    assert_eq!(compose_log, template_log, "log_format oxen");

    // The replicas' environment: the x-oxen-env block of the compose file.
    let env_block: BTreeSet<String> = compose
        .split("x-oxen-env: &oxen-env\n")
        .nth(1)
        .expect("x-oxen-env block")
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.trim().split_once(':').map(|(k, _)| k.to_string()))
        .collect();
    // Every variable `oxen-server start` reads (but SYNC_DIR, a local
    // directory) is set by both.
    let help = Command::new(assert_cmd::cargo::cargo_bin("oxen-server")).args(["start", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let start_env: Vec<&str> =
        help.split("[env: ").skip(1).filter_map(|s| s.split(['=', ']']).next()).filter(|v| *v != "SYNC_DIR").collect();
    assert!(start_env.contains(&"OXEN_STORAGE"), "{help}");
    for v in &start_env {
        assert!(env_block.contains(*v), "compose does not set {v} for the replicas");
        assert!(script.contains(&format!("\"{v}=${v}\"")), "deploy/topology.sh does not pass {v} to the replicas");
    }
    // The S3 variables: the ones tests/seaweedfs.sh hands the script.
    let weed = read("tests/seaweedfs.sh");
    let aws: BTreeSet<String> = weed
        .lines()
        .filter_map(|l| l.trim().strip_prefix("echo \"AWS_"))
        .map(|l| format!("AWS_{}", l.split('=').next().unwrap()))
        .collect();
    let compose_aws: BTreeSet<String> = env_block.iter().filter(|k| k.starts_with("AWS_")).cloned().collect();
    assert_eq!(compose_aws, aws, "AWS_* variables of compose vs tests/seaweedfs.sh");
    assert!(env_block.contains("OXEN_DB"), "compose's replicas have no OXEN_DB");
    assert!(script.contains("\"OXEN_DB=$OXEN_DB\""), "the script's postgres mode passes no OXEN_DB");

    // The image: both binaries, non-root, the port the upstream names, a
    // health check on /api/health.
    assert!(dockerfile.contains("--bin oxen-server --bin oxen"), "Dockerfile builds both binaries");
    assert!(directives(&dockerfile).iter().any(|l| l.starts_with("USER ") && !l.contains("root")), "non-root USER");
    assert!(dockerfile.contains("EXPOSE 3000") && dockerfile.contains("\"--port\", \"3000\""), "port 3000");
    assert!(compose_conf.contains("server oxen:3000 "), "compose upstream port");
    assert!(dockerfile.contains("HEALTHCHECK") && dockerfile.contains("/api/health"), "HEALTHCHECK");
    assert!(compose.contains("dockerfile: deploy/Dockerfile"), "compose builds deploy/Dockerfile");

    // And nginx accepts compose.conf (with the Docker names made local).
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("nginx is not installed: run 'apt-get install nginx'");
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("oxen-proxy.conf"), &shared).unwrap();
    let local = compose_conf
        .replace("server oxen:3000", "server 127.0.0.1:3000")
        .replace("/etc/nginx/oxen-proxy.conf", &d.path().join("oxen-proxy.conf").to_string_lossy())
        .replace("/var/log/nginx/access.log", &d.path().join("access.log").to_string_lossy());
    std::fs::write(d.path().join("compose.conf"), local).unwrap();
    let main_conf =
        format!("pid {0}/nginx.pid;\nevents {{}}\nhttp {{\n include {0}/compose.conf;\n}}\n", d.path().display());
    std::fs::write(d.path().join("nginx.conf"), main_conf).unwrap();
    let o = Command::new(nginx)
        .arg("-t")
        .arg("-e")
        .arg(d.path().join("error.log"))
        .arg("-p")
        .arg(d.path())
        .arg("-c")
        .arg(d.path().join("nginx.conf"))
        .output()
        .unwrap();
    assert!(o.status.success(), "nginx -t on compose.conf: {}", String::from_utf8_lossy(&o.stderr));
}
