//! A repository made by the round-1 release (format v1: raw segment
//! records and loose files, no format entry; `tests/fixtures/v1-repo.tar.xz`,
//! made with the commit before storage v2 began) is read by this build,
//! upgraded in place, and rewritten by `oxen migrate`, losing nothing even
//! when killed; a format newer than this build is refused untouched.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::{ox, ox_err, snapshot, std_bin, write};

type Snap = BTreeMap<String, Vec<u8>>;

/// Unpack the fixture into `into`; returns the repository's directory.
fn unpack(into: &Path) -> PathBuf {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-repo.tar.xz");
    let st = std::process::Command::new("tar").arg("xJf").arg(&fixture).arg("-C").arg(into).status();
    assert!(st.unwrap().success(), "cannot unpack {}", fixture.display());
    into.join("v1repo")
}

/// Every loose file under `.oxen/versions` (not segments).
fn loose_files(repo: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for shard in std::fs::read_dir(repo.join(".oxen/versions")).unwrap() {
        let shard = shard.unwrap();
        if shard.file_name().len() == 2 {
            out.extend(std::fs::read_dir(shard.path()).unwrap().map(|e| e.unwrap().path()));
        }
    }
    out
}

fn format_of(repo: &Path) -> String {
    let dump = ox(repo, &["kvdb-inspect", "--db", "meta", ".oxen/db"]);
    dump.lines()
        .find_map(|l| l.trim().strip_prefix("\"format\" => "))
        .unwrap_or_else(|| panic!("no format entry: {dump}"))
        .to_string()
}

/// Each ref's files as it checks out, then back to main.
fn snaps(repo: &Path) -> Vec<(String, Snap)> {
    let mut out = Vec::new();
    for r in ["v1", "feature", "main"] {
        ox(repo, &["checkout", "--force", r]);
        out.push((r.to_string(), snapshot(repo)));
    }
    ox(repo, &["checkout", "main"]);
    out
}

fn same_history(repo: &Path, want: &[(String, Snap)], what: &str) {
    ox(repo, &["fsck"]);
    for (r, snap) in want {
        ox(repo, &["checkout", "--force", r]);
        assert_eq!(&snapshot(repo), snap, "{what}: {r} does not check out as before");
    }
    ox(repo, &["checkout", "main"]);
}

#[test]
fn a_v1_repository_reads_upgrades_and_migrates() {
    let d = tempfile::tempdir().unwrap();
    let repo = unpack(d.path());
    assert!(!loose_files(&repo).is_empty(), "the fixture has a loose file");
    assert!(ox(&repo, &["status"]).contains("nothing to commit"));
    let log = ox(&repo, &["log", "--oneline"]);
    assert!(log.contains("second: edit small1") && log.contains("first: small files"), "{log}");
    let diff = ox(&repo, &["diff", "v1", "main"]);
    assert!(diff.contains("data/small1.csv") && diff.contains("+ 1,changed"), "{diff}");
    ox(&repo, &["checkout", "feature"]);
    assert_eq!(std::fs::read_to_string(repo.join("README.md")).unwrap(), "hello\nfeature line\n");
    ox(&repo, &["checkout", "main"]);
    ox(&repo, &["fsck"]);
    assert_eq!(format_of(&repo), "\"2\"", "opening records the upgrade");
    let before = snaps(&repo);
    // The 1.3 MB csv (loose) and the 700 KB one (one raw segment record).
    let big = repo.join("big.csv").metadata().unwrap().len();
    let mid = repo.join("data/mid.csv").metadata().unwrap().len();

    let out = ox(&repo, &["migrate"]);
    assert!(
        out.starts_with("migrate: 2 contents rewritten (1 loose files, 1 segment records, ")
            && out.contains(&format!("{} bytes)", big + mid)),
        "{out}"
    );
    assert!(loose_files(&repo).is_empty(), "the loose copy was left");
    same_history(&repo, &before, "after migrate");
    assert!(ox(&repo, &["migrate"]).starts_with("migrate: 0 contents rewritten"), "not idempotent");
    assert_eq!(format_of(&repo), "\"2\"");
    // The migrated csvs are chunked and compressed: far smaller than raw.
    let stored: u64 = std::fs::read_dir(repo.join(".oxen/versions/segments"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(stored < (big + mid) * 3 / 4, "{stored} bytes stored for {} raw", big + mid);

    write(&repo, "new.txt", "after the migration\n");
    write(&repo, "big.csv", "id,value\nreplaced\n");
    ox(&repo, &["add", "."]);
    ox(&repo, &["commit", "-m", "after migrate"]);
    ox(&repo, &["fsck"]);
    let mut after = before.clone();
    after.push(("main".into(), snapshot(&repo)));
    same_history(&repo, &after[..2], "after a commit");
}

#[test]
fn migrate_survives_a_kill_at_any_of_its_writes() {
    let d = tempfile::tempdir().unwrap();
    let template = unpack(d.path());
    let before = snaps(&template);
    let copy = |to: &Path| {
        let st = std::process::Command::new("cp").arg("-a").arg(format!("{}/.", template.display())).arg(to).status();
        assert!(st.unwrap().success());
    };
    let t = tempfile::tempdir().unwrap();
    copy(t.path());
    let o = std_bin("oxen", t.path()).env("OXEN_TEST_ABORT_AT_WRITE", "count").arg("migrate").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    let n: u64 = err
        .lines()
        .find_map(|l| l.strip_prefix("oxen: write points: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no write count in: {err}"));
    assert!(n >= 4, "migrate passed only {n} write points");
    for at in 1..=n {
        let t = tempfile::tempdir().unwrap();
        copy(t.path());
        let o =
            std_bin("oxen", t.path()).env("OXEN_TEST_ABORT_AT_WRITE", at.to_string()).arg("migrate").output().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(o.status.signal(), Some(6), "migrate at {at} of {n} was not stopped");
        let what = format!("migrate killed at write {at} of {n}");
        same_history(t.path(), &before, &what);
        ox(t.path(), &["migrate"]);
        assert!(loose_files(t.path()).is_empty(), "{what}: the rerun left the loose copy");
        assert!(ox(t.path(), &["migrate"]).starts_with("migrate: 0 contents"), "{what}");
        same_history(t.path(), &before, &format!("{what}, then rerun"));
    }
}

#[test]
fn a_newer_format_is_refused_and_left_untouched() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    ox(dir, &["init"]);
    write(dir, "a.txt", "a\n");
    ox(dir, &["add", "."]);
    ox(dir, &["commit", "-m", "one"]);
    assert_eq!(format_of(dir), "\"2\"", "init records the format");
    {
        let db = oxen_store::Db::open(&oxen_store::Layout::at(dir)).unwrap();
        db.put(oxen_store::Table::Meta, oxen_store::format::FORMAT_KEY, b"3").unwrap();
    }
    let data = std::fs::read(dir.join(".oxen/db/data.mdb")).unwrap();
    for args in [&["status"][..], &["log"], &["add", "."], &["gc"], &["migrate"], &["fsck"]] {
        let e = ox_err(dir, args);
        assert!(e.contains("repository format 3 is newer than this oxen understands"), "{args:?}: {e}");
    }
    let e = crate::common::run_err("oxen-fsck", dir, &[]);
    assert!(e.contains("format 3"), "{e}");
    assert_eq!(std::fs::read(dir.join(".oxen/db/data.mdb")).unwrap(), data, "a refused repository was written");
}

#[test]
fn oxen_server_migrate_rewrites_every_repository_under_sync_dir() {
    let d = tempfile::tempdir().unwrap();
    let sync = d.path().join("sync");
    std::fs::create_dir(&sync).unwrap();
    let template = unpack(d.path());
    let before = snaps(&template);
    for name in ["alpha", "beta"] {
        let st = std::process::Command::new("cp").arg("-a").arg(&template).arg(sync.join(name)).status();
        assert!(st.unwrap().success());
    }
    // Not a repository: skipped, not an error.
    std::fs::create_dir(sync.join("not-a-repo")).unwrap();
    let sync_arg = sync.to_str().unwrap();
    let out = crate::common::run("oxen-server", d.path(), &["--sync-dir", sync_arg, "migrate"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "one line per repository: {out}");
    for (line, name) in lines.iter().zip(["alpha", "beta"]) {
        assert!(
            line.starts_with(&format!("{name}: migrate: 2 contents rewritten (1 loose files, 1 segment records, ")),
            "{out}"
        );
    }
    for name in ["alpha", "beta"] {
        let repo = sync.join(name);
        assert!(loose_files(&repo).is_empty(), "{name}: the loose copy was left");
        same_history(&repo, &before, name);
    }
    let again = crate::common::run("oxen-server", d.path(), &["--sync-dir", sync_arg, "migrate"]);
    assert_eq!(again.lines().filter(|l| l.contains(": migrate: 0 contents rewritten")).count(), 2, "{again}");
}
