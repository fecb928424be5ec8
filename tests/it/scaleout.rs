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
