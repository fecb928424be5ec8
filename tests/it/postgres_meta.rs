//! Several `oxen-server` replicas sharing metadata in PostgreSQL
//! (`--db`, a real cluster from `tests/postgres.sh`) and contents in S3
//! (a real SeaweedFS, as in `s3_storage`): each replica has its own
//! SYNC_DIR (scratch only), and any of them serves any request.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common::*;
use crate::s3_storage::{freeze_mid_upload, gc_aborted_only_the_dead, Weed};
use crate::sync_support::*;

const BUCKET: &str = "oxen-test";

/// A throwaway PostgreSQL cluster, stopped on drop.
struct Postgres {
    dir: tempfile::TempDir,
    url: String,
}

impl Postgres {
    fn start() -> Postgres {
        Postgres::start_with("")
    }

    /// A cluster started with these server options (`OXEN_PG_OPTS` of
    /// `tests/postgres.sh`, added to what the environment already says).
    fn start_with(opts: &str) -> Postgres {
        let dir = tempfile::tempdir().unwrap();
        let opts = format!("{} {opts}", std::env::var("OXEN_PG_OPTS").unwrap_or_default());
        let out =
            Command::new("bash").arg(script()).arg("start").arg(dir.path()).env("OXEN_PG_OPTS", opts).output().unwrap();
        assert!(
            out.status.success(),
            "PostgreSQL did not start (run 'apt-get install postgresql'): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("OXEN_DB=").map(str::to_string))
            .expect("OXEN_DB printed");
        Postgres { dir, url }
    }

    /// Stop and start again on the same port.
    fn restart(&self) {
        let st = Command::new("bash").arg(script()).arg("restart").arg(self.dir.path()).status().unwrap();
        assert!(st.success(), "postgres.sh restart");
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).arg("stop").arg(self.dir.path()).status();
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/postgres.sh")
}

/// Replicas of one deployment and a client home whose token works on all.
struct Cluster {
    replicas: Vec<(Child, String)>,
    home: PathBuf,
    token: String,
    root: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (c, _) in &mut self.replicas {
            crate::procs::terminate(c);
            let _ = c.wait();
        }
    }
}

impl Cluster {
    /// `n` replicas under `root` (SYNC_DIR root/rN), one user added with
    /// `add-user --db` after they started.
    fn start(root: &Path, pg: &Postgres, weed: &Weed, n: usize) -> Cluster {
        let aws = weed.aws();
        let mut env: Vec<(&str, &str)> = aws.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let storage = format!("s3://{BUCKET}/team");
        let mut replicas = Vec::new();
        for i in 0..n {
            let sync = root.join(format!("r{i}"));
            let log = root.join(format!("r{i}.log"));
            // The first replica is told by OXEN_DB, the others by --db.
            if i == 0 {
                env.push(("OXEN_DB", &pg.url));
                replicas.push(spawn_server_env(&sync, &log, &["--storage", &storage], &env));
                env.pop();
            } else {
                replicas.push(spawn_server_env(&sync, &log, &["--storage", &storage, "--db", &pg.url], &env));
            }
        }
        let home = root.join("home");
        std::fs::create_dir_all(&home).unwrap();
        // add-user writes to the database: no replica is told.
        let o = Command::new(assert_cmd::cargo::cargo_bin("oxen-server"))
            .env("SYNC_DIR", root.join("admin"))
            .args(["add-user", "--db", &pg.url, "--email", "ada@example.com", "--name", "Ada", "--host"])
            .arg(format!("http://{}", replicas[0].1))
            .arg("--output")
            .arg(home.join("one.toml"))
            .output()
            .unwrap();
        assert!(o.status.success(), "add-user --db: {}", String::from_utf8_lossy(&o.stderr));
        let cfg = std::fs::read_to_string(home.join("one.toml")).unwrap();
        let token = cfg
            .lines()
            .find_map(|l| l.strip_prefix("token = \"").map(|t| t.trim_end_matches('"').to_string()))
            .expect("a token");
        // The same token for every replica's origin (as a proxy in front
        // of them would make it one origin).
        let mut all = String::from("[user]\nname = \"Ada\"\nemail = \"ada@example.com\"\n");
        for (_, addr) in &replicas {
            all.push_str(&format!("\n[host.\"http://{addr}\"]\ntoken = \"{token}\"\n"));
        }
        std::fs::write(home.join("user_config.toml"), all).unwrap();
        Cluster { replicas, home, token, root: root.to_path_buf() }
    }

    fn addr(&self, i: usize) -> &str {
        &self.replicas[i].1
    }

    fn url(&self, i: usize, repo: &str) -> String {
        format!("http://{}/{repo}", self.addr(i))
    }

    fn http(&self, i: usize, method: &str, path: &str, body: &str) -> (u16, String) {
        raw_http(self.addr(i), method, path, Some(&self.token), body.as_bytes(), None)
    }

    /// `oxen <args>` in `dir` as this cluster's user: (success, stdout, stderr).
    fn oxen(&self, dir: &Path, args: &[&str]) -> (bool, String, String) {
        let o = self.oxen_cmd(dir, args).output().unwrap();
        (o.status.success(), String::from_utf8_lossy(&o.stdout).into(), String::from_utf8_lossy(&o.stderr).into())
    }

    fn oxen_cmd(&self, dir: &Path, args: &[&str]) -> Command {
        let mut c = std_bin("oxen", dir);
        c.env("OXEN_HOME", &self.home).env("OXEN_NO_PROGRESS", "1").args(args);
        c
    }

    fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let (ok, out, err) = self.oxen(dir, args);
        assert!(ok, "oxen {args:?}: {err}");
        out
    }
}

/// The commit id HEAD names in work tree `dir`.
fn head(dir: &Path) -> String {
    run("oxen-rev-parse", dir, &["HEAD"]).trim().to_string()
}

/// A work tree with a few files and one commit.
fn make_repo(c: &Cluster, dir: &Path, big: usize) {
    std::fs::create_dir_all(dir).unwrap();
    c.ok(dir, &["init"]);
    for i in 0..10 {
        write(dir, &format!("small/{i}.txt"), format!("file {i}\n"));
    }
    write(dir, "model.bin", crate::common::noise(0x9e37_79b9_7f4a_7c15, big));
    c.ok(dir, &["add", "."]);
    c.ok(dir, &["commit", "-m", "data"]);
}

/// Create `repo` through replica 0 and push a work tree made in `dir`
/// (see [`make_repo`]) to it there; returns `dir`.
fn create_and_push(c: &Cluster, repo: &str, dir: &Path, big: usize) -> PathBuf {
    assert_eq!(c.http(0, "POST", "/api/repos", &format!(r#"{{"name": "{repo}"}}"#)).0, 201);
    make_repo(c, dir, big);
    c.ok(dir, &["push", &c.url(0, repo), "main"]);
    dir.to_path_buf()
}

#[test]
fn replicas_share_repositories_refs_contents_and_users() {
    let (pg, weed) = (Postgres::start(), Weed::start());
    let d = tempfile::tempdir().unwrap();
    let mut c = Cluster::start(d.path(), &pg, &weed, 3);
    let weed_env = weed.aws();

    // The user added after the replicas started authenticates on each.
    for i in 0..3 {
        assert_eq!(c.http(i, "GET", "/api/repos", "").0, 200, "replica {i}");
        assert_eq!(raw_http(c.addr(i), "GET", "/api/repos", Some("nope"), b"", None).0, 401);
    }
    // Created through replica 1, listed by replica 3; a second create of
    // the name through replica 2 is refused.
    assert_eq!(c.http(0, "POST", "/api/repos", r#"{"name": "Data"}"#).0, 201);
    assert!(c.http(2, "GET", "/api/repos", "").1.contains("\"Data\""));
    assert_eq!(c.http(1, "POST", "/api/repos", r#"{"name": "Data"}"#).0, 409);

    // Push through 1, clone through 2: equal, and fsck-clean.
    let a = d.path().join("a");
    make_repo(&c, &a, 3 << 20);
    c.ok(&a, &["push", &c.url(0, "Data"), "main"]);
    let b = d.path().join("b");
    c.ok(d.path(), &["clone", &c.url(1, "Data"), b.to_str().unwrap()]);
    assert_eq!(snapshot(&b), snapshot(&a));
    c.ok(&b, &["fsck"]);
    // A commit pushed through 3 is fetched through 1.
    write(&b, "small/new.txt", "through replica 3\n");
    c.ok(&b, &["add", "."]);
    c.ok(&b, &["commit", "-m", "more"]);
    c.ok(&b, &["push", &c.url(2, "Data"), "main"]);
    c.ok(&a, &["remote", "add", "one", &c.url(0, "Data")]);
    c.ok(&a, &["pull", "one", "main"]);
    assert_eq!(std::fs::read(a.join("small/new.txt")).unwrap(), b"through replica 3\n");
    assert_eq!(c.http(0, "GET", "/api/repos/Data/refs", "").1, c.http(2, "GET", "/api/repos/Data/refs", "").1);

    // The replicas' disks hold no contents (they are in the bucket) and
    // no metadata database.
    for i in 0..3 {
        let dot = c.root.join(format!("r{i}/Data/.oxen"));
        assert!(!dot.join("db").exists(), "replica {i} has an LMDB database");
        let seg = dot.join("versions/segments");
        let n = std::fs::read_dir(&seg).map(|r| r.count()).unwrap_or(0);
        assert_eq!(n, 0, "replica {i} kept blocks on disk");
    }

    // A replica's SYNC_DIR is scratch: replica 2 restarted without its
    // HEAD and config serves the repository as before, and the block a
    // killed writer left there (pid past pid_max: dead) is removed.
    {
        let (child, _) = &mut c.replicas[1];
        crate::procs::terminate(child);
        // A graceful stop, with its pool of database connections closed
        // (closing one on a runtime thread used to panic).
        let st = child.wait().unwrap();
        let log = std::fs::read_to_string(c.root.join("r1.log")).unwrap();
        assert!(st.success() && !log.contains("panicked"), "{st}: {log}");
    }
    let sync = c.root.join("r1");
    let dot = sync.join("Data/.oxen");
    std::fs::remove_file(dot.join("HEAD")).unwrap();
    std::fs::remove_file(dot.join("config.toml")).unwrap();
    let dead = dot.join("versions/segments/8388608-1234.seg");
    std::fs::create_dir_all(dead.parent().unwrap()).unwrap();
    std::fs::write(&dead, b"half a block").unwrap();
    let live = dot.join("versions/segments/not-a-block.seg");
    std::fs::write(&live, b"left alone").unwrap();
    let env: Vec<(&str, &str)> = weed_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let port = c.addr(1).rsplit(':').next().unwrap().to_string();
    let storage = format!("s3://{BUCKET}/team");
    c.replicas[1] = spawn_server_env(
        &sync,
        &c.root.join("r1-again.log"),
        &["--port", &port, "--storage", &storage, "--db", &pg.url],
        &env,
    );
    let e = d.path().join("e");
    c.ok(d.path(), &["clone", &c.url(1, "Data"), e.to_str().unwrap()]);
    assert_eq!(snapshot(&e), snapshot(&a));
    assert!(!dead.exists(), "a dead writer's scratch block was kept");
    assert!(live.exists());
    assert_eq!(std::fs::read_to_string(dot.join("HEAD")).unwrap(), "ref: heads/main\n");
    std::fs::remove_file(&live).unwrap();

    // Deleted through 3: gone on 1 too (its open cache is not believed).
    assert_eq!(c.http(2, "DELETE", "/api/repos/Data", "").0, 200);
    assert_eq!(c.http(0, "GET", "/api/repos/Data/refs", "").0, 404);
    assert!(!c.http(1, "GET", "/api/repos", "").1.contains("\"Data\""));
}

#[test]
fn concurrent_ref_updates_through_two_replicas_one_compare_and_swap_wins() {
    let (pg, weed) = (Postgres::start(), Weed::start());
    let d = tempfile::tempdir().unwrap();
    let c = Cluster::start(d.path(), &pg, &weed, 2);
    create_and_push(&c, "Race", &d.path().join("base"), 1000);
    for round in 0..3 {
        let (x, y) = (d.path().join(format!("x{round}")), d.path().join(format!("y{round}")));
        c.ok(d.path(), &["clone", &c.url(0, "Race"), x.to_str().unwrap()]);
        c.ok(d.path(), &["clone", &c.url(1, "Race"), y.to_str().unwrap()]);
        for (w, name) in [(&x, "x"), (&y, "y")] {
            write(w, &format!("{name}{round}.txt"), format!("{name} {round}\n"));
            c.ok(w, &["add", "."]);
            c.ok(w, &["commit", "-m", name]);
        }
        let barrier = std::sync::Barrier::new(2);
        let results: Vec<(bool, String, String)> = std::thread::scope(|s| {
            let hs: Vec<_> = [(&x, 0), (&y, 1)]
                .into_iter()
                .map(|(w, i)| {
                    let (c, barrier) = (&c, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        c.oxen(w, &["push", &c.url(i, "Race"), "main"])
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won: Vec<_> = results.iter().filter(|r| r.0).collect();
        assert_eq!(won.len(), 1, "round {round}: {results:?}");
        let lost = results.iter().find(|r| !r.0).unwrap();
        // The usual rejection: the server's compare-and-swap (the other
        // moved the branch after this push listed it), or the client's
        // own check (it listed the branch already moved).
        assert!(
            lost.2.contains("non-fast-forward") || lost.2.contains("the remote has changes you do not have locally"),
            "round {round}: {}",
            lost.2
        );
        // The winner's commit is the tip, seen alike through both replicas.
        let winner = if results[0].0 { &x } else { &y };
        let tip = head(winner);
        let refs = c.http(1, "GET", "/api/repos/Race/refs", "").1;
        assert!(refs.contains(tip.trim()), "{refs} lacks {tip}");
        assert_eq!(refs, c.http(0, "GET", "/api/repos/Race/refs", "").1);
    }
}

#[test]
fn postgresql_restarted_during_a_push_leaves_nothing_half_done_and_the_server_recovers() {
    let (pg, weed) = (Postgres::start(), Weed::start());
    let d = tempfile::tempdir().unwrap();
    let c = Cluster::start(d.path(), &pg, &weed, 2);
    assert_eq!(c.http(0, "POST", "/api/repos", r#"{"name": "Big"}"#).0, 201);
    let a = d.path().join("a");
    make_repo(&c, &a, 24 << 20);
    let local_tip = head(&a);

    let push =
        c.oxen_cmd(&a, &["push", &c.url(0, "Big"), "main"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
    let push = push.unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    pg.restart();
    let o = push.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    if !o.status.success() {
        // A clean failure: one error line.
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{stderr}");
    }
    // Either no branch or the whole push, through the other replica.
    let refs = c.http(1, "GET", "/api/repos/Big/refs", "");
    assert_eq!(refs.0, 200, "{}", refs.1);
    let pushed = refs.1.contains(&local_tip);
    // A push that succeeded moved the branch. (One that failed may have
    // too, complete, when the connection broke after COMMIT reached the
    // server but before its answer came back: whole either way.)
    assert!(pushed || !o.status.success(), "refs {} after a successful push: {stderr}", refs.1);
    if pushed {
        let b = d.path().join("b0");
        c.ok(d.path(), &["clone", &c.url(1, "Big"), b.to_str().unwrap()]);
        c.ok(&b, &["fsck"]);
        assert_eq!(snapshot(&b), snapshot(&a));
    } else {
        assert!(refs.1.contains(r#""refs":{}"#), "{}", refs.1);
        eprintln!("the push failed cleanly: {}", stderr.lines().last().unwrap_or(""));
    }

    // The next push through the same replica works without a restart.
    write(&a, "small/after.txt", "after the restart\n");
    c.ok(&a, &["add", "."]);
    c.ok(&a, &["commit", "-m", "after"]);
    c.ok(&a, &["push", &c.url(0, "Big"), "main"]);
    let b = d.path().join("b");
    c.ok(d.path(), &["clone", &c.url(1, "Big"), b.to_str().unwrap()]);
    c.ok(&b, &["fsck"]);
    assert_eq!(snapshot(&b), snapshot(&a));
}

/// `oxen-server <args>` expected to fail: its one `error:` line.
fn fails(sync: &Path, args: &[&str], env: &[(String, String)]) -> String {
    let o = Command::new(assert_cmd::cargo::cargo_bin("oxen-server"))
        .env("SYNC_DIR", sync)
        .env_remove("OXEN_DB")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!o.status.success(), "oxen-server {args:?} succeeded");
    let e = String::from_utf8_lossy(&o.stderr).to_string();
    let errors: Vec<&str> = e.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{e}");
    errors[0].to_string()
}

#[test]
fn a_bad_or_unreachable_database_fails_at_startup_in_one_line() {
    let weed = Weed::start();
    let d = tempfile::tempdir().unwrap();
    let aws = weed.aws();
    let storage = format!("s3://{BUCKET}/team");
    let start = |db: &str| {
        fails(
            &d.path().join("s"),
            &["start", "--host", "127.0.0.1", "--port", "0", "--storage", &storage, "--db", db],
            &aws,
        )
    };
    let e = start("mysql://nope");
    assert!(e.contains("is not a PostgreSQL URL"), "{e}");
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let e = start(&format!("postgres://oxen:secret@127.0.0.1:{port}/oxen"));
    assert!(e.contains("cannot connect to postgres://oxen:***@127.0.0.1:"), "{e}");
    assert!(!e.contains("secret"), "{e}");
    let e = fails(
        &d.path().join("s"),
        &["add-user", "--email", "a@b", "--name", "A", "--db", &format!("postgres://oxen@127.0.0.1:{port}/oxen")],
        &[],
    );
    assert!(e.contains("cannot connect to"), "{e}");

    // --db needs --storage, for start and for gc.
    let e = fails(&d.path().join("s"), &["start", "--port", "0", "--db", "postgres://oxen@127.0.0.1:1/oxen"], &[]);
    assert!(e.contains("--db needs --storage"), "{e}");
    let e = fails(&d.path().join("s"), &["gc", "--db", "postgres://oxen@127.0.0.1:1/oxen"], &[]);
    assert!(e.contains("gc --db needs --storage"), "{e}");
}

/// Blocks of every repository under the bucket's `team/` prefix.
fn bucket_blocks(weed: &Weed) -> Vec<String> {
    let mut out = Vec::new();
    for repo in weed.objects("team") {
        out.extend(weed.objects(&format!("team/{repo}/blocks")).into_iter().map(|b| format!("{repo}/{b}")));
    }
    out
}

/// Put an object at `team/<rel>` behind the S3 API.
fn plant(weed: &Weed, rel: &str, bytes: &[u8]) {
    let (code, body) = weed.filer("PUT", &format!("/buckets/{BUCKET}/team/{rel}"), bytes);
    assert!(code == 200 || code == 201, "{code} {}", String::from_utf8_lossy(&body));
}

/// A block name as a writer killed long ago (a pid past pid_max) made it
/// `days` days ago.
fn old_block_name(days: u64, salt: u64) -> String {
    let then = std::time::SystemTime::now() - std::time::Duration::from_secs(days * 86_400);
    let nanos = then.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() + u128::from(salt);
    format!("8388608-{nanos:x}")
}

/// `oxen-server gc --db --storage` as another host would run it (its own
/// SYNC_DIR), stopped at write point `abort` when given.
fn server_gc(c: &Cluster, pg: &Postgres, weed: &Weed, extra: &[&str], abort: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("oxen-server"));
    cmd.env("SYNC_DIR", c.root.join("gc-host"))
        .env_remove("OXEN_DB")
        .envs(weed.aws())
        .args(["gc", "--db", &pg.url, "--storage", &format!("s3://{BUCKET}/team")])
        .args(extra)
        .stdin(Stdio::null());
    if let Some(at) = abort {
        cmd.env("OXEN_TEST_ABORT_AT_WRITE", at);
    }
    cmd.output().unwrap()
}

fn gc_ok(c: &Cluster, pg: &Postgres, weed: &Weed, extra: &[&str]) -> String {
    let o = server_gc(c, pg, weed, extra, None);
    assert!(o.status.success(), "gc {extra:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A fresh clone through replica `i` equals `want`, and fsck is clean.
fn clone_is(c: &Cluster, i: usize, repo: &str, dir: &Path, want: &std::collections::BTreeMap<String, Vec<u8>>) {
    c.ok(dir.parent().unwrap(), &["clone", &c.url(i, repo), dir.to_str().unwrap()]);
    c.ok(dir, &["fsck"]);
    assert_eq!(&snapshot(dir), want);
}

#[test]
fn server_gc_on_postgresql_and_s3_reclaims_garbage_and_never_robs_a_push_on_another_replica() {
    let (pg, weed) = (Postgres::start(), Weed::start());
    let d = tempfile::tempdir().unwrap();
    let c = Cluster::start(d.path(), &pg, &weed, 2);
    create_and_push(&c, "G", &d.path().join("a"), 1 << 20);

    // Garbage: a block no location names, old by its name but just written
    // by the store (a writer elsewhere may be about to record it), and a
    // block of a repository that no longer exists.
    let junk = old_block_name(2, 0);
    plant(&weed, &format!("G/blocks/{junk}"), &[7u8; 5000]);
    plant(&weed, "Gone/blocks/8388608-1", &[8u8; 3000]);
    let out = gc_ok(&c, &pg, &weed, &[]);
    assert!(out.contains("G: gc:") && out.contains("deleted repositories: 1 blocks (3000 bytes) removed"), "{out}");
    let blocks = bucket_blocks(&weed);
    assert!(blocks.contains(&format!("G/{junk}")), "a block the store wrote just now was removed: {blocks:?}");
    assert!(!blocks.iter().any(|b| b.starts_with("Gone/")), "{blocks:?}");

    // Pushes through replica 1 while gcs with no block grace run as
    // another host: the blocks a push has uploaded but not yet recorded
    // are leased, and nothing it relies on goes.
    let b = d.path().join("b");
    c.ok(d.path(), &["clone", &c.url(1, "G"), b.to_str().unwrap()]);
    let done = std::sync::atomic::AtomicBool::new(false);
    let runs = std::thread::scope(|s| {
        let pusher = s.spawn(|| {
            for i in 0..6u64 {
                write(&b, &format!("round/{i}.bin"), crate::common::noise(1000 + i, 700 * 1024));
                for j in 0..30 {
                    write(&b, &format!("round/{i}/{j}.txt"), format!("round {i} file {j}\n"));
                }
                c.ok(&b, &["add", "."]);
                c.ok(&b, &["commit", "-m", &format!("round {i}")]);
                c.ok(&b, &["push", &c.url(1, "G"), "main"]);
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let mut runs = 0;
        while !done.load(std::sync::atomic::Ordering::SeqCst) || runs < 2 {
            gc_ok(&c, &pg, &weed, &["--block-grace", "now"]);
            runs += 1;
        }
        pusher.join().unwrap();
        runs
    });
    assert!(runs >= 2);
    let blocks = bucket_blocks(&weed);
    assert!(!blocks.contains(&format!("G/{junk}")), "{blocks:?}");
    clone_is(&c, 0, "G", &d.path().join("fresh"), &snapshot(&b));

    // Only one gc at a time: the second is refused while the first holds
    // the database's gc lock (its connection is closed when it exits).
    let lock = oxen_store::pg::Pg::connect(&pg.url).unwrap();
    let held = lock.try_gc_lock().unwrap().expect("the lock is free");
    let o = server_gc(&c, &pg, &weed, &[], None);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && e.contains("another oxen-server gc is running"), "{e}");
    drop(held);
    gc_ok(&c, &pg, &weed, &[]);
}

#[test]
fn server_gc_on_postgresql_survives_a_kill_at_any_of_its_writes() {
    use std::os::unix::process::ExitStatusExt;
    let (pg, weed) = (Postgres::start(), Weed::start());
    let d = tempfile::tempdir().unwrap();
    let c = Cluster::start(d.path(), &pg, &weed, 1);
    let a = create_and_push(&c, "K", &d.path().join("a"), 1 << 20);
    let want = snapshot(&a);
    // Each run gets garbage of every kind: a dead block, a deleted
    // repository's block, and a live block with dead bytes appended (to
    // compact: copy, move locations, delete).
    let garbage = |round: u64| {
        plant(&weed, &format!("K/blocks/{}", old_block_name(2, round)), &[7u8; 5000]);
        plant(&weed, &format!("Gone/blocks/8388608-{round}"), &[8u8; 3000]);
        let live = weed.objects("team/K/blocks").into_iter().find(|b| !b.starts_with("8388608-")).unwrap();
        let path = format!("/buckets/{BUCKET}/team/K/blocks/{live}");
        let (code, mut bytes) = weed.filer("GET", &path, b"");
        assert_eq!(code, 200);
        let n = bytes.len();
        bytes.extend(std::iter::repeat_n(9u8, n));
        plant(&weed, &format!("K/blocks/{live}"), &bytes);
    };
    let args = ["--block-grace", "now", "--prune", "now"];
    garbage(0);
    let o = server_gc(&c, &pg, &weed, &args, Some("count"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let n: u64 = String::from_utf8_lossy(&o.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("oxen: write points: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("a write count");
    assert!(n >= 4, "{n} write points");
    for at in 1..=n {
        garbage(at);
        let o = server_gc(&c, &pg, &weed, &args, Some(&at.to_string()));
        assert_eq!(o.status.signal(), Some(6), "gc at {at}: {}", String::from_utf8_lossy(&o.stderr));
        clone_is(&c, 0, "K", &d.path().join(format!("after-{at}")), &want);
    }
    // A full run then clears everything the killed ones left.
    gc_ok(&c, &pg, &weed, &args);
    let blocks = bucket_blocks(&weed);
    assert!(blocks.iter().all(|b| b.starts_with("K/") && !b.starts_with("K/8388608-")), "{blocks:?}");
    clone_is(&c, 0, "K", &d.path().join("final"), &want);
}

#[test]
fn deleting_a_repository_on_postgresql_removes_its_blocks_from_the_bucket() {
    let (pg, weed) = (Postgres::start(), Weed::start());
    let d = tempfile::tempdir().unwrap();
    let c = Cluster::start(d.path(), &pg, &weed, 2);
    let a = create_and_push(&c, "Keep", &d.path().join("a"), 1 << 20);
    let before = bucket_blocks(&weed);
    assert!(!before.is_empty());

    assert_eq!(c.http(0, "POST", "/api/repos", r#"{"name": "Doomed"}"#).0, 201);
    c.ok(&a, &["push", &c.url(0, "Doomed"), "main"]);
    assert!(bucket_blocks(&weed).len() > before.len());
    // Deleted through the other replica: gone everywhere, blocks and all.
    assert_eq!(c.http(1, "DELETE", "/api/repos/Doomed", "").0, 200);
    assert_eq!(c.http(0, "GET", "/api/repos/Doomed/refs", "").0, 404);
    assert_eq!(bucket_blocks(&weed), before);
    // Made again under the same name: a new, empty repository.
    assert_eq!(c.http(1, "POST", "/api/repos", r#"{"name": "Doomed"}"#).0, 201);
    assert!(c.http(0, "GET", "/api/repos/Doomed/refs", "").1.contains(r#""refs":{}"#));
    assert_eq!(c.http(1, "DELETE", "/api/repos/Doomed", "").0, 200);
    clone_is(&c, 1, "Keep", &d.path().join("k"), &snapshot(&a));
}

/// Transactions PostgreSQL committed in database `oxen` so far (each
/// statement outside a transaction is one): the round trips' count.
fn transactions(pg: &Postgres) -> i64 {
    // Each backend reports its counts now and then: give them time.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let o = psql(pg, "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'oxen'");
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap_or(-1)
}

/// `psql -qtAc SQL` on the test cluster's database (rows only, unaligned,
/// no notices): how the counting tests read PostgreSQL's statistics.
fn psql(pg: &Postgres, sql: &str) -> std::process::Output {
    let psql = std::fs::read_dir("/usr/lib/postgresql")
        .unwrap()
        .flatten()
        .map(|e| e.path().join("bin/psql"))
        .find(|p| p.is_file())
        .expect("psql");
    Command::new(psql).args([&pg.url, "-qtAc", sql]).output().unwrap()
}

/// The `ms=` of each logged request on `route` in a server log.
fn request_ms(log: &Path, route: &str) -> Vec<u64> {
    let log = std::fs::read_to_string(log).unwrap();
    log.lines()
        .filter(|l| l.contains(&format!("route={route}")))
        .filter_map(|l| l.split(" ms=").nth(1)?.split(' ').next()?.parse().ok())
        .collect()
}

/// Receive and clone of many small files on PostgreSQL against LMDB (both
/// on SeaweedFS): the server-side time of each request kind, from the
/// request log. `cargo test --release --test it receive_round_trips --
/// --ignored --nocapture`; files from OXEN_RECEIVE_FILES (5000).
#[test]
#[ignore]
fn receive_round_trips() {
    let n: usize = std::env::var("OXEN_RECEIVE_FILES").ok().and_then(|v| v.parse().ok()).unwrap_or(5000);
    let (pg, weed) = (Postgres::start(), Weed::start());
    let d = tempfile::tempdir().unwrap();
    let c = Cluster::start(d.path(), &pg, &weed, 1);
    let aws = weed.aws();
    let env: Vec<(&str, &str)> = aws.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let lmdb_sync = d.path().join("lmdb");
    let (mut lmdb, lmdb_addr) =
        spawn_server_env(&lmdb_sync, &d.path().join("lmdb.log"), &["--storage", &format!("s3://{BUCKET}/lmdb")], &env);
    let token = add_user(&lmdb_sync, &format!("http://{lmdb_addr}"), &d.path().join("lmdb-user.toml"));
    let cfg = std::fs::read_to_string(c.home.join("user_config.toml")).unwrap();
    std::fs::write(
        c.home.join("user_config.toml"),
        format!("{cfg}\n[host.\"http://{lmdb_addr}\"]\ntoken = \"{token}\"\n"),
    )
    .unwrap();
    let a = d.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    c.ok(&a, &["init"]);
    for i in 0..n {
        write(&a, &format!("d{}/{i}.txt", i % 50), format!("small file number {i}\n"));
    }
    c.ok(&a, &["add", "."]);
    c.ok(&a, &["commit", "-m", "many"]);
    assert_eq!(c.http(0, "POST", "/api/repos", r#"{"name": "Many"}"#).0, 201);
    let (code, body) = raw_http(&lmdb_addr, "POST", "/api/repos", Some(&token), br#"{"name": "Many"}"#, None);
    assert_eq!(code, 201, "{body}");
    let before = transactions(&pg);
    c.ok(&a, &["push", &c.url(0, "Many"), "main"]);
    let pushed = transactions(&pg);
    c.ok(&a, &["push", &format!("http://{lmdb_addr}/Many"), "main"]);
    c.ok(d.path(), &["clone", &c.url(0, "Many"), d.path().join("pg-clone").to_str().unwrap()]);
    eprintln!("PostgreSQL transactions: push {}, clone {}", pushed - before, transactions(&pg) - pushed);
    c.ok(d.path(), &["clone", &format!("http://{lmdb_addr}/Many"), d.path().join("lmdb-clone").to_str().unwrap()]);
    crate::procs::terminate(&lmdb);
    let _ = lmdb.wait();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    for route in [
        "/api/repos/{repo}/missing",
        "/api/repos/{repo}/receive-pack",
        "/api/repos/{repo}/enumerate",
        "/api/repos/{repo}/chunks/lists",
        "/api/repos/{repo}/upload-items",
    ] {
        eprintln!(
            "{n} files {route}: PostgreSQL {:?} ms, LMDB {:?} ms (load {})",
            request_ms(&c.root.join("r0.log"), route),
            request_ms(&d.path().join("lmdb.log"), route),
            load.trim()
        );
    }
    // With OXEN_PG_OPTS="-c log_min_duration_statement=0": every statement
    // and its duration, kept for reading after the cluster is gone.
    if let Ok(to) = std::env::var("OXEN_PG_LOG") {
        std::fs::copy(pg.dir.path().join("pg.log"), to).unwrap();
        std::fs::copy(c.root.join("r0.log"), format!("{}.r0", std::env::var("OXEN_PG_LOG").unwrap())).unwrap();
    }
}

/// Statements PostgreSQL ran in database `oxen` so far, from
/// `pg_stat_statements` (counted when each ends, unlike the transaction
/// counts of `pg_stat_database`, which backends report now and then).
fn statements(pg: &Postgres) -> i64 {
    let sql = "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
               SELECT sum(calls) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
               WHERE d.datname = 'oxen' AND s.query NOT LIKE '%pg_stat_statements%'
                 AND s.query NOT LIKE '%EXTENSION%'";
    let o = psql(pg, sql);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "psql: {}", String::from_utf8_lossy(&o.stderr));
    out.trim().lines().last().unwrap_or("0").parse().unwrap_or(0)
}

/// A clone's PostgreSQL statements do not grow with the number of files
/// (batched lookups: a thousand keys a query, not one query a file): two
/// repositories of one commit and the same ten directories, one with 100
/// files and one with 2,000, each cloned from one replica, differ by a few
/// statements, not by ~1,900.
#[test]
fn a_clone_makes_a_bounded_number_of_postgresql_statements_whatever_its_file_count() {
    let (pg, weed) = (Postgres::start_with("-c shared_preload_libraries=pg_stat_statements"), Weed::start());
    let d = tempfile::tempdir().unwrap();
    let c = Cluster::start(d.path(), &pg, &weed, 1);
    let mut clone_statements = Vec::new();
    for files in [100, 2000] {
        let name = format!("Count{files}");
        assert_eq!(c.http(0, "POST", "/api/repos", &format!(r#"{{"name": "{name}"}}"#)).0, 201);
        let w = d.path().join(&name);
        std::fs::create_dir_all(&w).unwrap();
        c.ok(&w, &["init"]);
        for i in 0..files {
            write(&w, &format!("d{}/{i}.txt", i % 10), format!("file {i} of {files}\n"));
        }
        c.ok(&w, &["add", "."]);
        c.ok(&w, &["commit", "-m", "files"]);
        c.ok(&w, &["push", &c.url(0, &name), "main"]);
        let before = statements(&pg);
        c.ok(d.path(), &["clone", &c.url(0, &name), d.path().join(format!("{name}-clone")).to_str().unwrap()]);
        clone_statements.push(statements(&pg) - before);
    }
    let (small, large) = (clone_statements[0], clone_statements[1]);
    eprintln!("PostgreSQL statements of a clone: 100 files {small}, 2,000 files {large}");
    assert!(small > 0, "statements counted: {clone_statements:?}");
    assert!(large <= small + 10, "a clone of 2,000 files made {large} statements, of 100 files {small}");
}

/// The multipart uploads recorded in the database for `repos` (meta rows
/// `upload NUL <block>`: start time, then the upload id), as upload ids.
/// Read through a connection of the test's own: polled every few ms.
fn recorded_uploads(pg: &oxen_store::pg::Pg, repos: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for name in repos {
        let id = pg.repo(name).unwrap().expect("the repository").id;
        let db = oxen_store::Db::open_pg(&oxen_store::Layout::at("/nonexistent"), pg, id).unwrap();
        for (_, v) in db.scan_prefix(oxen_store::Table::Meta, b"upload\0").unwrap() {
            out.push(String::from_utf8(v[8..].to_vec()).unwrap());
        }
    }
    out.sort();
    out
}

#[test]
fn server_gc_on_postgresql_aborts_the_upload_a_killed_replica_left_and_not_a_younger_live_one() {
    let (pg, weed) = (Postgres::start(), Weed::start());
    let d = tempfile::tempdir().unwrap();
    let mut c = Cluster::start(d.path(), &pg, &weed, 2);
    assert_eq!(c.http(0, "POST", "/api/repos", r#"{"name": "Dead"}"#).0, 201);
    assert_eq!(c.http(1, "POST", "/api/repos", r#"{"name": "Live"}"#).0, 201);
    let a = d.path().join("a");
    // Two blocks' worth: each block's upload goes up in 8 MiB parts as
    // the server receives it.
    make_repo(&c, &a, 96 << 20);
    let b = d.path().join("b");
    std::fs::create_dir_all(&b).unwrap();
    c.ok(&b, &["init"]);
    write(&b, "other.bin", crate::common::noise(8, 96 << 20));
    c.ok(&b, &["add", "."]);
    c.ok(&b, &["commit", "-m", "other"]);

    // Replica 0 is killed mid-push: its upload's parts stay in the bucket.
    let mut push = c.oxen_cmd(&a, &["push", &c.url(0, "Dead"), "main"]).stderr(Stdio::piped()).spawn().unwrap();
    let conn = oxen_store::pg::Pg::connect(&pg.url).unwrap();
    let (dead, frozen) = freeze_mid_upload(&weed, &c.replicas[0].0, &mut push, || recorded_uploads(&conn, &["Dead"]));
    // Every upload the frozen server has open (the block before may still
    // have been completing: two at once).
    let dead_open: Vec<String> =
        (recorded_uploads(&conn, &["Dead"])).into_iter().filter(|u| weed.objects(".uploads").contains(u)).collect();
    assert!(dead_open.contains(&dead));
    let killed = std::time::Instant::now();
    c.replicas[0].0.kill().unwrap();
    let _ = c.replicas[0].0.wait();
    drop(frozen);
    let _ = push.kill();
    let _ = push.wait();

    // Past the grace period (20 s), replica 1 takes a push of its own and
    // is frozen mid-upload: its upload is younger than the grace period.
    std::thread::sleep(std::time::Duration::from_secs(21).saturating_sub(killed.elapsed()));
    let mut push = c.oxen_cmd(&b, &["push", &c.url(1, "Live"), "main"]).stderr(Stdio::piped()).spawn().unwrap();
    let (live, frozen) = freeze_mid_upload(&weed, &c.replicas[1].0, &mut push, || recorded_uploads(&conn, &["Live"]));
    // (The block before may still be completing: two uploads at once.)
    let live_recorded = recorded_uploads(&conn, &["Live"]);

    // gc as another host: the killed replica's upload is aborted (its
    // folder of parts is gone from the bucket), the live one is not.
    let out = gc_ok(&c, &pg, &weed, &["--block-grace", "20s"]);
    assert!(live_recorded.contains(&live));
    gc_aborted_only_the_dead(&out, &weed, &dead_open, &live_recorded);
    assert_eq!(recorded_uploads(&conn, &["Dead", "Live"]), live_recorded);
    drop(frozen);

    // The live push completes (its record goes), and both repositories
    // come back whole, the killed push retried.
    let o = push.wait_with_output().unwrap();
    assert!(o.status.success(), "the live push: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(recorded_uploads(&conn, &["Dead", "Live"]), Vec::<String>::new());
    clone_is(&c, 1, "Live", &d.path().join("live-clone"), &snapshot(&b));
    c.ok(&a, &["push", &c.url(1, "Dead"), "main"]);
    clone_is(&c, 1, "Dead", &d.path().join("dead-clone"), &snapshot(&a));
}
