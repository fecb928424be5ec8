//! History and refs are safe: pushes do not move a branch under a work
//! tree, identities are someone, the reflog keeps every ref move (and
//! `<ref>@{N}` names them), fsck checks HEAD and ref names, and a commit
//! that loses a race says so.

use crate::common::*;

/// Length of a short id as commands print it.
const SHORT: usize = 10;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn commit_file(dir: &std::path::Path, name: &str, body: &str, msg: &str) {
    write(dir, name, body);
    ox(dir, &["add", "-A"]);
    ox(dir, &["commit", "-m", msg]);
}

#[test]
fn pushing_to_the_checked_out_branch_of_a_non_bare_repository_is_refused() {
    let d = tmp();
    let root = d.path();
    let there = root.join("there");
    std::fs::create_dir_all(&there).unwrap();
    ox(&there, &["init"]);
    commit_file(&there, "a.txt", "a\n", "first");
    ox(root, &["clone", there.to_str().unwrap(), "here"]);
    let here = root.join("here");
    commit_file(&here, "a.txt", "changed here\n", "second");
    let before = run("oxen-rev-parse", &there, &["main"]);
    let e = ox_err(&here, &["push", "origin", "main"]);
    assert!(e.contains("refusing to update checked out branch heads/main of a non-bare repository"), "{e}");
    // Not even with --force; the other side is untouched and clean.
    ox_err(&here, &["push", "--force", "origin", "main"]);
    assert_eq!(run("oxen-rev-parse", &there, &["main"]), before);
    let st = ox(&there, &["status"]);
    assert!(!st.contains("a.txt"), "{st}");
    // Another branch is fine, and so is main once the repository is bare.
    ox(&here, &["branch", "side"]);
    ox(&here, &["push", "origin", "side"]);
    assert_eq!(run("oxen-rev-parse", &there, &["side"]), run("oxen-rev-parse", &here, &["main"]));
    ox(&there, &["config", "core.bare", "true"]);
    ox(&here, &["push", "origin", "main"]);
    assert_eq!(run("oxen-rev-parse", &there, &["main"]), run("oxen-rev-parse", &here, &["main"]));
    // `init --bare` makes one directly.
    let bare = root.join("bare");
    ox(root, &["init", "--bare", bare.to_str().unwrap()]);
    assert_eq!(ox(&bare, &["config", "core.bare"]), "true");
    ox(&here, &["remote", "add", "b", bare.to_str().unwrap()]);
    ox(&here, &["push", "b", "main"]);
}

#[test]
fn server_repositories_are_bare() {
    let d = tmp();
    let srv = crate::sync_support::Server::start(d.path(), &[]);
    srv.create("R");
    let cfg = std::fs::read_to_string(srv.sync_dir.join("R").join(".oxen").join("config.toml")).unwrap();
    assert!(cfg.contains("bare = true"), "{cfg}");
    let w = d.path().join("w");
    std::fs::create_dir_all(&w).unwrap();
    crate::sync_support::init_with(&srv, &w, &[("f.txt", b"f\n")]);
    srv.oxen(&w, &["remote", "add", "origin", &srv.url("R")]);
    srv.oxen(&w, &["push", "origin", "main"]);
    // The server's reflog names the user who pushed (add-user's name and
    // email), not whoever runs the server.
    let db = srv.sync_dir.join("R").join(".oxen").join("db");
    let dump = srv.oxen(d.path(), &["kvdb-inspect", db.to_str().unwrap(), "--db", "reflog"]);
    assert!(dump.contains("push\""), "{dump}");
    let who = std::fs::read_to_string(srv.home.join("user_config.toml")).unwrap();
    let email = who.lines().find_map(|l| l.strip_prefix("email = ")).unwrap().trim_matches('"').to_string();
    assert!(dump.contains(&format!("<{email}>")), "{email}: {dump}");
}

#[test]
fn an_empty_identity_is_refused_in_config_and_at_commit_time() {
    let d = tmp();
    let root = d.path();
    ox(root, &["init"]);
    for key in ["user.name", "user.email"] {
        for v in ["", "  "] {
            let e = ox_err(root, &["config", key, v]);
            assert!(e.contains(&format!("{key} may not be empty")), "{e}");
        }
    }
    write(root, "a.txt", "a\n");
    ox(root, &["add", "-A"]);
    let tree = run("oxen-write-tree", root, &[]);
    for (var, val, key) in [("OXEN_AUTHOR_NAME", " ", "user.name"), ("OXEN_AUTHOR_EMAIL", "", "user.email")] {
        let mut c = oxen(root);
        c.args(["commit", "-m", "x"]).env(var, val);
        let e = err(c);
        assert!(e.contains(&format!("oxen config {key}")), "{e}");
        let mut c = bin("oxen-commit-tree", root);
        c.args([tree.as_str(), "-m", "x"]).env(var, val);
        let e = err(c);
        assert!(e.contains(&format!("oxen config {key}")), "{e}");
    }
    // A config file edited by hand to empty values: refused too.
    std::fs::write(root.join(".oxen").join("config.toml"), "[user]\nname = \"\"\nemail = \"\"\n").unwrap();
    let mut c = oxen(root);
    c.args(["commit", "-m", "x"]).env_remove("OXEN_AUTHOR_NAME").env_remove("OXEN_AUTHOR_EMAIL");
    let e = err(c);
    assert!(e.contains("empty author name"), "{e}");
}

#[test]
fn leaving_a_detached_commit_warns_and_the_reflog_keeps_it() {
    let d = tmp();
    let root = d.path();
    ox(root, &["init"]);
    commit_file(root, "a.txt", "1\n", "one");
    commit_file(root, "a.txt", "2\n", "two");
    let two = run("oxen-rev-parse", root, &["HEAD"]);
    ox(root, &["checkout", "HEAD~1"]);
    commit_file(root, "b.txt", "lost?\n", "on detached");
    let lost = run("oxen-rev-parse", root, &["HEAD"]);
    let o = oxen(root).args(["checkout", "main"]).output().unwrap();
    assert!(o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    let short = &lost[..SHORT];
    assert!(e.contains("Warning: you are leaving 1 commit behind, not connected to any of your branches:"), "{e}");
    assert!(e.contains(&format!("{short} on detached")), "{e}");
    assert!(e.contains(&format!("oxen branch <new-branch-name> {short}")), "{e}");
    // Leaving a commit a branch has: no warning.
    ox(root, &["checkout", &two]);
    let o = oxen(root).args(["checkout", "main"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&o.stderr).contains("Warning"));

    // The reflog, newest first, as git shows it.
    let log = ox(root, &["reflog"]);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines[0],
        format!("{} HEAD@{{0}}: checkout: moving from {} to main", &two[..SHORT], &two[..SHORT]),
        "{log}"
    );
    assert!(lines.contains(&format!("{short} HEAD@{{3}}: commit: on detached").as_str()), "{log}");
    assert_eq!(lines.len(), 7, "{log}");
    assert!(lines[6].ends_with("HEAD@{6}: commit (initial): one"), "{log}");
    assert_eq!(ox(root, &["reflog", "show", "HEAD"]), log);
    let mlog = ox(root, &["reflog", "main"]);
    assert_eq!(mlog.lines().next().unwrap(), format!("{} main@{{0}}: commit: two", &two[..SHORT]), "{mlog}");
    // HEAD@{N} and <branch>@{N} resolve wherever a revision is taken.
    assert_eq!(run("oxen-rev-parse", root, &["HEAD@{3}"]), lost);
    assert_eq!(run("oxen-rev-parse", root, &["main@{1}"]), run("oxen-rev-parse", root, &["main~1"]));
    assert_eq!(run("oxen-rev-parse", root, &["main@{0}~1"]), run("oxen-rev-parse", root, &["main~1"]));
    let e = run_err("oxen-rev-parse", root, &["main@{9}"]);
    assert!(e.contains("only has 2 entries"), "{e}");
    ox(root, &["branch", "keep", "HEAD@{3}"]);
    assert_eq!(run("oxen-rev-parse", root, &["keep"]), lost);
    let klog = ox(root, &["reflog", "keep"]);
    assert!(klog.contains("keep@{0}: branch: Created from HEAD@{3}"), "{klog}");
    // reset and branch deletion are logged; a deleted branch keeps its log.
    ox(root, &["reset", "--hard", "HEAD~1"]);
    assert!(ox(root, &["reflog"]).lines().next().unwrap().contains("HEAD@{0}: reset: moving to HEAD~1"));
    ox(root, &["branch", "-D", "keep"]);
    assert!(ox(root, &["reflog", "keep"]).lines().next().unwrap().starts_with("0000000000 keep@{0}: branch: deleted"));
    ox(root, &["fsck"]);
}

#[test]
fn fsck_and_every_command_refuse_a_head_that_escapes_refs() {
    let d = tmp();
    let root = d.path();
    ox(root, &["init"]);
    commit_file(root, "a.txt", "1\n", "one");
    for bad in ["ref: heads/../../x\n", &format!("ref: heads/{}\n", "b".repeat(10 << 20))] {
        std::fs::write(root.join(".oxen").join("HEAD"), bad).unwrap();
        let e = ox_err(root, &["status"]);
        assert!(e.contains("HEAD"), "{e}");
        assert!(e.len() < 400, "the error should be short: {} bytes", e.len());
        let o = oxen(root).arg("fsck").output().unwrap();
        assert!(!o.status.success());
        let report = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
        assert!(report.contains("HEAD"), "{}", &report[..report.len().min(400)]);
        assert!(report.len() < 4000, "fsck should not print the whole name: {} bytes", report.len());
    }
}

#[test]
fn a_commit_that_loses_a_race_for_its_branch_says_so() {
    let d = tmp();
    let root = d.path();
    ox(root, &["init"]);
    commit_file(root, "a.txt", "1\n", "one");
    let mut lost_races = 0;
    for round in 0..6 {
        write(root, "a.txt", format!("round {round}\n"));
        ox(root, &["add", "-A"]);
        let kids: Vec<_> = (0..6)
            .map(|i| {
                std_bin("oxen", root)
                    .args(["commit", "-m", &format!("r{round} c{i}")])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for k in kids {
            let o = k.wait_with_output().unwrap();
            if o.status.success() {
                continue;
            }
            let e = String::from_utf8_lossy(&o.stderr);
            assert_eq!(e.trim_end().lines().count(), 1, "{e}");
            if e.contains("the branch moved while committing") {
                assert!(e.contains("is stored") && e.contains("commit again"), "{e}");
                lost_races += 1;
            } else {
                // Started after another's commit landed: nothing left to commit.
                assert!(e.contains("nothing to commit"), "{e}");
            }
        }
    }
    ox(root, &["fsck"]);
    eprintln!("lost races: {lost_races}");
}

#[test]
fn receive_pack_refuses_duplicate_parents_and_too_many() {
    let d = tmp();
    let root = d.path();
    ox(root, &["init", "--bare"]);
    commit_file(root, "a.txt", "1\n", "one");
    let head = run("oxen-rev-parse", root, &["HEAD"]);
    let tree = run("oxen-write-tree", root, &[]);
    let make = |parents: &[&str]| {
        let mut text = format!("tree {tree}\n");
        for p in parents {
            text.push_str(&format!("parent {p}\n"));
        }
        text.push_str("author Test Author <test@example.com> 1700000000 +0000\n\nmsg\n");
        let bytes = text.into_bytes();
        crate::sync_support::make_pack(&[(1, oxen_hash::ContentId::of(&bytes).0, bytes)], true)
    };
    let many = vec![head.as_str(); 100_000];
    for (what, pack) in [("twice", make(&[&head, &head])), ("100,000 times", make(&many))] {
        let mut c = bin("oxen-receive-pack", root);
        c.arg(".").write_stdin(pack);
        let e = err(c);
        assert!(e.contains("parent"), "{what}: {e}");
    }
    ox(root, &["fsck"]);
}

#[test]
fn fetch_pull_merge_and_clone_are_in_the_reflog() {
    let d = tmp();
    let root = d.path();
    let there = root.join("there");
    std::fs::create_dir_all(&there).unwrap();
    ox(&there, &["init"]);
    commit_file(&there, "a.txt", "1\n", "one");
    ox(root, &["clone", there.to_str().unwrap(), "here"]);
    let here = root.join("here");
    let top = |dir: &std::path::Path, log: &str| ox(dir, &["reflog", log]).lines().next().unwrap_or("").to_string();
    assert!(top(&here, "main").contains("main@{0}: clone: from "), "{}", top(&here, "main"));
    assert!(top(&here, "origin/main").contains("origin/main@{0}: fetch: from origin"), "{}", top(&here, "origin/main"));
    commit_file(&there, "a.txt", "2\n", "two");
    ox(&here, &["pull"]);
    assert!(top(&here, "HEAD").contains("HEAD@{0}: merge origin/main: Fast-forward"), "{}", top(&here, "HEAD"));
    assert!(top(&here, "main").contains("main@{0}: merge origin/main: Fast-forward"));
    assert!(top(&here, "origin/main").contains("origin/main@{0}: fetch: from origin"));
    assert_eq!(ox(&here, &["reflog", "origin/main"]).lines().count(), 2);
    ox(&here, &["branch", "side"]);
    ox(&here, &["switch", "side"]);
    commit_file(&here, "b.txt", "b\n", "on side");
    ox(&here, &["switch", "main"]);
    commit_file(&here, "c.txt", "c\n", "on main");
    ox(&here, &["merge", "side"]);
    assert!(top(&here, "main").contains("main@{0}: merge 'side': Merge made"), "{}", top(&here, "main"));
    assert!(top(&here, "HEAD").contains("HEAD@{0}: merge 'side': Merge made"));
    ox(&here, &["fsck"]);
}
