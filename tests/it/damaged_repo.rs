//! A damaged repository never costs a crash: every porcelain command and
//! every plumbing binary, run against each kind of damage (a truncated or
//! empty LMDB file, a truncated segment, missing contents, a garbage HEAD,
//! a garbage config), either succeeds or fails with one `error:` line, and
//! never dies of a signal (SIGBUS from LMDB mapping a short file), panics
//! or hangs. `fsck` fails and names the damage every time, and a damaged
//! database is never silently replaced by a new, empty one.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::common::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Damage {
    TruncatedDb,
    EmptyDb,
    MissingDb,
    TruncatedSegment,
    MissingContent,
    GarbageHead,
    GarbageConfig,
}

impl Damage {
    const ALL: [Damage; 7] = [
        Damage::TruncatedDb,
        Damage::EmptyDb,
        Damage::MissingDb,
        Damage::TruncatedSegment,
        Damage::MissingContent,
        Damage::GarbageHead,
        Damage::GarbageConfig,
    ];

    fn is_db(self) -> bool {
        matches!(self, Damage::TruncatedDb | Damage::EmptyDb | Damage::MissingDb)
    }

    /// What fsck's output must say about it.
    fn fsck_names(self) -> &'static str {
        match self {
            Damage::TruncatedDb => "data.mdb is damaged: it is truncated",
            Damage::EmptyDb => "data.mdb is damaged: the file is empty",
            Damage::MissingDb => "data.mdb is damaged: the file is missing",
            Damage::TruncatedSegment => "truncated to",
            Damage::MissingContent => "missing blob",
            Damage::GarbageHead => "HEAD is malformed",
            Damage::GarbageConfig => "config.toml",
        }
    }

    fn apply(self, r: &Path) {
        let db = r.join(".oxen/db/data.mdb");
        match self {
            Damage::TruncatedDb => {
                let len = std::fs::metadata(&db).unwrap().len();
                std::fs::OpenOptions::new().write(true).open(&db).unwrap().set_len(len / 2).unwrap();
            }
            Damage::EmptyDb => std::fs::write(&db, b"").unwrap(),
            Damage::MissingDb => std::fs::remove_file(&db).unwrap(),
            Damage::TruncatedSegment => {
                let seg = std::fs::read_dir(r.join(".oxen/versions/segments"))
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .find(|p| p.extension().is_some_and(|e| e == "seg"))
                    .expect("a segment");
                let len = std::fs::metadata(&seg).unwrap().len();
                std::fs::OpenOptions::new().write(true).open(&seg).unwrap().set_len(len / 2).unwrap();
            }
            Damage::MissingContent => {
                // big.bin is chunked into a segment (storage v2): its
                // contents go missing with its location.
                let repo = oxen_repo::Repo::open(r).unwrap();
                let id = repo.resolve("HEAD:big.bin").unwrap().id;
                let (_, offset) = repo.versions.locate(&id).unwrap().expect("stored");
                assert_ne!(offset, 0, "big.bin is in a segment");
                let mut txn = repo.db.begin_write().unwrap();
                assert!(txn.delete(oxen_store::Table::Blobs, id.as_bytes()).unwrap());
                txn.commit().unwrap();
            }
            Damage::GarbageHead => std::fs::write(r.join(".oxen/HEAD"), b"\x00\x01 not a ref\nat all").unwrap(),
            Damage::GarbageConfig => std::fs::write(r.join(".oxen/config.toml"), b"[user\nname = = \"x\"\n").unwrap(),
        }
    }
}

/// Copy a directory tree (files and directories only: that is all a
/// repository holds here).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// A remote, and a clone of it with two commits, a branch, small contents
/// in a segment, a 2 MiB file (chunked), and local changes (a modified and an
/// untracked file) for add/status/diff to find.
fn base(root: &Path) -> (PathBuf, PathBuf) {
    let remote = root.join("remote");
    std::fs::create_dir_all(&remote).unwrap();
    ox(&remote, &["init"]);
    write(&remote, "a.txt", "a\n");
    ox(&remote, &["add", "."]);
    ox(&remote, &["commit", "-m", "first"]);
    // Pushed to below: only a bare repository takes a push to its
    // checked-out branch.
    ox(&remote, &["config", "core.bare", "true"]);
    ox(root, &["clone", remote.to_str().unwrap(), "base"]);
    let base = root.join("base");
    write(&base, "small.txt", "small contents\n");
    write(&base, "big.bin", (0..2u32 << 20).map(|i| (i % 253) as u8).collect::<Vec<u8>>());
    write(&base, "t.csv", "id,v\n1,a\n2,b\n");
    ox(&base, &["add", "."]);
    ox(&base, &["commit", "-m", "second"]);
    ox(&base, &["push", "origin", "main"]);
    ox(&base, &["branch", "other"]);
    ox(&base, &["switch", "other"]);
    write(&base, "only-other.txt", "o\n");
    ox(&base, &["add", "."]);
    ox(&base, &["commit", "-m", "on other"]);
    ox(&base, &["switch", "main"]);
    write(&base, "a.txt", "a, changed\n");
    write(&base, "new.txt", "untracked\n");
    (remote, base)
}

/// Every command to try: (binary, args), run in the damaged repository
/// with nothing on stdin. `{repo}`, `{remote}`, `{out}`, `{tree}`,
/// `{head}` and `{blob}` are filled in.
fn commands() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        // Porcelain.
        ("oxen", vec!["init"]),
        ("oxen", vec!["config", "user.name", "Someone"]),
        ("oxen", vec!["add", "."]),
        ("oxen", vec!["rm", "t.csv"]),
        ("oxen", vec!["mv", "small.txt", "moved.txt"]),
        ("oxen", vec!["status"]),
        ("oxen", vec!["status", "--porcelain"]),
        ("oxen", vec!["commit", "-m", "more"]),
        ("oxen", vec!["log"]),
        ("oxen", vec!["show", "HEAD"]),
        ("oxen", vec!["branch"]),
        ("oxen", vec!["branch", "new-branch"]),
        ("oxen", vec!["checkout", "other"]),
        ("oxen", vec!["switch", "other"]),
        ("oxen", vec!["tag", "v1"]),
        ("oxen", vec!["restore", "big.bin"]),
        ("oxen", vec!["restore", "a.txt"]),
        ("oxen", vec!["reset", "--hard", "HEAD"]),
        ("oxen", vec!["diff"]),
        ("oxen", vec!["merge", "other"]),
        ("oxen", vec!["remote", "-v"]),
        ("oxen", vec!["push", "origin", "main"]),
        ("oxen", vec!["fetch", "origin"]),
        ("oxen", vec!["pull"]),
        ("oxen", vec!["clone", "{repo}", "{out}"]),
        ("oxen", vec!["kvdb-inspect", ".oxen/db"]),
        ("oxen", vec!["fsck"]),
        // Plumbing.
        ("oxen-hash-object", vec!["-w", "new.txt"]),
        ("oxen-update-index", vec!["--add", "new.txt"]),
        ("oxen-write-tree", vec![]),
        ("oxen-commit-tree", vec!["{tree}", "-m", "plumbed"]),
        ("oxen-update-ref", vec!["heads/plumbed", "{head}"]),
        ("oxen-cat-file", vec!["-p", "HEAD:big.bin"]),
        ("oxen-cat-file", vec!["-p", "HEAD:small.txt"]),
        ("oxen-cat-file", vec!["-s", "{blob}"]),
        ("oxen-ls-tree", vec!["-r", "HEAD"]),
        ("oxen-ls-files", vec!["--stage"]),
        ("oxen-rev-parse", vec!["HEAD"]),
        ("oxen-fsck", vec![]),
        ("oxen-send-pack", vec!["{remote}", "main"]),
        ("oxen-receive-pack", vec!["{repo}"]),
        ("oxen-upload-pack", vec!["--want", "{head}", "{repo}"]),
        ("oxen-fetch-pack", vec!["{remote}", "main"]),
    ]
}

struct Outcome {
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Run a command with a time limit, its output in files (so a chatty
/// child cannot block on a full pipe).
fn run_limited(bin: &str, dir: &Path, args: &[String], stdin: &[u8], scratch: &Path) -> Outcome {
    let out_path = scratch.join("stdout");
    let err_path = scratch.join("stderr");
    let mut c = std_bin(bin, dir);
    c.args(args)
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let mut child = c.spawn().expect("spawn");
    {
        use std::io::Write;
        let mut i = child.stdin.take().unwrap();
        let _ = i.write_all(stdin);
    }
    let mut status = None;
    let done = crate::procs::wait_until(Duration::from_secs(120), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    if !done {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{bin} {args:?} hung");
    }
    let status = status.unwrap();
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
    Outcome { code: status.code(), signal: status.signal(), stdout: read(&out_path), stderr: read(&err_path) }
}

#[test]
fn every_command_on_every_kind_of_damage_fails_cleanly_and_fsck_names_it() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let (remote, base) = base(root);
    let head = run("oxen-rev-parse", &base, &["HEAD"]);
    let tree = run("oxen-rev-parse", &base, &["HEAD:"]);
    let blob = run("oxen-rev-parse", &base, &["HEAD:big.bin"]);
    let scratch = root.join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let mut failures = Vec::new();
    let mut n = 0;
    for damage in Damage::ALL {
        for (bin, args) in commands() {
            n += 1;
            let case = root.join(format!("case-{n}"));
            copy_dir(&base, &case);
            damage.apply(&case);
            let db = case.join(".oxen/db/data.mdb");
            let db_before = std::fs::metadata(&db).map(|m| m.len()).ok();
            let args: Vec<String> = args
                .iter()
                .map(|a| {
                    a.replace("{repo}", case.to_str().unwrap())
                        .replace("{remote}", remote.to_str().unwrap())
                        .replace("{out}", root.join(format!("clone-{n}")).to_str().unwrap())
                        .replace("{tree}", &tree)
                        .replace("{head}", &head)
                        .replace("{blob}", &blob)
                })
                .collect();
            let o = run_limited(bin, &case, &args, b"", &scratch);
            let what = format!("{damage:?}: {bin} {}", args.join(" "));
            let err = o.stderr.trim_end();
            if o.signal.is_some() {
                failures.push(format!("{what}: killed by signal {:?}; stderr: {err}", o.signal));
            } else if err.contains("panicked") {
                failures.push(format!("{what}: panicked: {err}"));
            } else if o.code != Some(0) && (err.lines().count() != 1 || !err.starts_with("error: ")) {
                failures.push(format!("{what}: exit {:?} without exactly one error line: {err:?}", o.code));
            }
            if damage.is_db() && o.code == Some(0) {
                failures.push(format!("{what}: succeeded on a damaged database; stdout: {}", o.stdout));
            }
            // `init` finds a repository there; kvdb-inspect reads any
            // directory and says when it holds no LMDB file at all.
            let other_reason = err.contains("repository already exists")
                || (damage == Damage::MissingDb && err.contains("no data.mdb: not an LMDB environment"));
            if damage.is_db() && o.code != Some(0) && !err.contains("is damaged") && !other_reason {
                failures.push(format!("{what}: the error does not say the database is damaged: {err}"));
            }
            // A damaged database is never replaced by a new, empty one.
            let db_after = std::fs::metadata(&db).map(|m| m.len()).ok();
            if damage.is_db() && db_after != db_before {
                failures.push(format!("{what}: data.mdb changed from {db_before:?} to {db_after:?} bytes"));
            }
            if args.first().is_some_and(|a| a == "fsck") || bin == "oxen-fsck" {
                let all = format!("{}{}", o.stdout, o.stderr);
                if o.code == Some(0) || !all.contains(damage.fsck_names()) {
                    failures.push(format!(
                        "{what}: fsck must fail naming '{}'; exit {:?}, output: {all}",
                        damage.fsck_names(),
                        o.code
                    ));
                }
            }
            let _ = std::fs::remove_dir_all(&case);
            let _ = std::fs::remove_dir_all(root.join(format!("clone-{n}")));
        }
    }
    assert_eq!(n, Damage::ALL.len() * commands().len());
    assert!(failures.is_empty(), "{} of {n} runs misbehaved:\n{}", failures.len(), failures.join("\n"));
}

/// A server whose SYNC_DIR holds a repository with a truncated database
/// answers requests for it with an error and keeps serving: the SIGBUS
/// would have taken the whole server down. (The damage is done while the
/// server is stopped: a database cut short under a live mapping is beyond
/// any check made before mapping it.)
#[test]
fn a_server_survives_a_damaged_repository() {
    let d = tempfile::tempdir().unwrap();
    let srv = crate::sync_support::Server::start(d.path(), &[]);
    srv.create("hurt");
    let work = d.path().join("w");
    std::fs::create_dir_all(&work).unwrap();
    crate::sync_support::init_with(&srv, &work, &[("a.txt", b"a\n")]);
    srv.oxen(&work, &["push", &srv.url("hurt"), "main"]);
    drop(srv);
    let srv = crate::sync_support::Server::start(d.path(), &[]);
    let db = srv.sync_dir.join("hurt/.oxen/db/data.mdb");
    let len = std::fs::metadata(&db).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&db).unwrap().set_len(len / 2).unwrap();
    let e = srv.oxen_err(d.path(), &["clone", &srv.url("hurt"), "copy"]);
    assert!(e.contains("is damaged"), "{e}");
    srv.assert_alive();
}
