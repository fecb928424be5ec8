//! The everyday `oxen` commands, driven as a user would.

use crate::common::*;

fn repo() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    ox(d.path(), &["init"]);
    d
}

#[test]
fn full_session_checkout_matches_each_commit_byte_for_byte() {
    let d = repo();
    let r = d.path();
    write(r, "images/cat.png", [1u8, 2, 3, 0, 255]);
    write(r, "labels.csv", "file,label\ncat.png,cat\n");
    write(r, "notes/readme.md", "v1\n");
    ox(r, &["add", "."]);
    let s = ox(r, &["commit", "-m", "first"]);
    assert!(s.contains("(root-commit)"), "{s}");
    let snap1 = snapshot(r);
    ox(r, &["branch", "exp"]);
    ox(r, &["switch", "exp"]);
    write(r, "notes/readme.md", "v2\n");
    write(r, "images/dog.png", [9u8; 100]);
    std::fs::remove_file(r.join("images/cat.png")).unwrap();
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "second"]);
    let snap2 = snapshot(r);
    assert_ne!(snap1, snap2);
    for _ in 0..2 {
        ox(r, &["checkout", "main"]);
        assert_eq!(snapshot(r), snap1, "work tree matches main");
        ox(r, &["checkout", "exp"]);
        assert_eq!(snapshot(r), snap2, "work tree matches exp");
    }
    // Detached checkout of a commit by revision.
    ox(r, &["checkout", "HEAD~1"]);
    assert_eq!(snapshot(r), snap1);
    assert!(ox(r, &["status"]).contains("HEAD detached"));
    ox(r, &["checkout", "exp"]);
    let log = ox(r, &["log", "--oneline"]);
    assert_eq!(log.lines().count(), 2);
    assert!(log.lines().next().unwrap().ends_with("second"));
    assert_eq!(ox(r, &["log", "--oneline", "-n", "1"]).lines().count(), 1);
    let full = ox(r, &["log"]);
    assert!(full.contains("Author: Test Author <test@example.com>"));
    let show = ox(r, &["show"]);
    assert!(show.contains("+v2") && show.contains("-v1"), "{show}");
    assert!(ox(r, &["status"]).contains("nothing to commit, working tree clean"));
}

#[test]
fn porcelain_and_plumbing_make_the_same_commit() {
    let a = repo();
    let b = repo();
    for d in [a.path(), b.path()] {
        write(d, "x/a.txt", "alpha");
        write(d, "b.csv", "k,v\n1,2\n");
    }
    ox(a.path(), &["add", "."]);
    let porcelain = ox(a.path(), &["commit", "-m", "same"]);
    run("oxen-update-index", b.path(), &["--add", "x/a.txt", "b.csv"]);
    let tree = out(bin("oxen-write-tree", b.path()));
    let plumbing = run("oxen-commit-tree", b.path(), &[tree.as_str(), "-m", "same"]);
    assert_eq!(run("oxen-rev-parse", a.path(), &["HEAD"]), plumbing);
    assert!(porcelain.contains(&plumbing[..10]));
}

#[test]
fn tabular_diff_rows_and_renamed_column() {
    let d = repo();
    let r = d.path();
    write(r, "data/prices.csv", "id,name,price\n1,apple,10\n2,banana,20\n3,cherry,30\n");
    ox(r, &["add", "data"]);
    ox(r, &["commit", "-m", "prices"]);
    write(r, "data/prices.csv", "id,name,cost\n1,apple,10\n2,BANANA,20\n4,date,40\n");
    let diff = ox(r, &["diff", "--keys", "id"]);
    assert!(diff.contains("renamed price -> cost"), "{diff}");
    assert!(diff.contains("rows: 1 added, 1 removed, 1 modified"), "{diff}");
    assert!(diff.contains("+ 4,date,40"));
    assert!(diff.contains("- 3,cherry,30"));
    assert!(diff.contains("~ id=2: name: banana -> BANANA"), "{diff}");
    // Without keys rows match by content: the edit is a removal plus an addition.
    let diff = ox(r, &["diff"]);
    assert!(diff.contains("rows: 2 added, 2 removed, 0 modified"), "{diff}");
    let stat = ox(r, &["diff", "--stat"]);
    assert!(stat.contains("data/prices.csv | rows +2 -2"), "{stat}");
    // Schema is recorded at add time.
    ox(r, &["add", "data/prices.csv"]);
    assert!(run("oxen-ls-files", r, &["--long"]).contains("tabular"));
    let staged = ox(r, &["diff", "--staged", "--keys", "id"]);
    assert!(staged.contains("1 modified"), "{staged}");
    ox(r, &["commit", "-m", "edit"]);
    let between = ox(r, &["diff", "HEAD~1", "HEAD", "--keys", "id", "--", "data"]);
    assert!(between.contains("1 added, 1 removed, 1 modified"), "{between}");
    let kv = ox(r, &["kvdb-inspect", ".oxen/db", "--db", "trees"]);
    assert!(kv.contains("prices.csv"));
}

#[test]
fn three_way_merge_clean_and_conflicting() {
    let d = repo();
    let r = d.path();
    write(r, "poem.txt", "one\ntwo\nthree\nfour\nfive\n");
    write(r, "a.txt", "a\n");
    write(r, "rows.csv", "id,v\n1,a\n2,b\n3,c\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "base"]);
    ox(r, &["checkout", "-b", "side"]);
    write(r, "poem.txt", "one\ntwo\nthree\nfour\nFIVE\n");
    write(r, "side.txt", "side\n");
    write(r, "rows.csv", "id,v\n1,a\n2,b\n3,C\n");
    ox(r, &["commit", "-am", "side edits"]);
    ox(r, &["add", "side.txt"]);
    ox(r, &["commit", "-m", "side file"]);
    ox(r, &["checkout", "main"]);
    write(r, "poem.txt", "ONE\ntwo\nthree\nfour\nfive\n");
    write(r, "rows.csv", "id,v\n1,A\n2,b\n3,c\n");
    ox(r, &["commit", "-am", "main edits"]);
    // Dirty work tree: refused, nothing changes.
    write(r, "a.txt", "dirty\n");
    assert!(ox_err(r, &["merge", "side"]).contains("uncommitted changes"));
    assert_eq!(std::fs::read_to_string(r.join("a.txt")).unwrap(), "dirty\n");
    ox(r, &["restore", "a.txt"]);
    assert_eq!(std::fs::read_to_string(r.join("a.txt")).unwrap(), "a\n");
    let m = ox(r, &["merge", "side", "--keys", "id"]);
    assert!(m.contains("Merge made commit"), "{m}");
    assert_eq!(std::fs::read_to_string(r.join("poem.txt")).unwrap(), "ONE\ntwo\nthree\nfour\nFIVE\n");
    assert_eq!(std::fs::read_to_string(r.join("rows.csv")).unwrap(), "id,v\n1,A\n2,b\n3,C\n");
    assert!(r.join("side.txt").exists());
    assert!(ox(r, &["log"]).contains("Merge: "));
    assert!(ox(r, &["status", "--porcelain"]).is_empty());

    // Now a conflict.
    ox(r, &["checkout", "-b", "other"]);
    write(r, "poem.txt", "ONE\ntwo\nTHREE-other\nfour\nFIVE\n");
    write(r, "blob.bin", [0u8, 1, 2]);
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "other"]);
    ox(r, &["checkout", "main"]);
    write(r, "poem.txt", "ONE\ntwo\nTHREE-main\nfour\nFIVE\n");
    write(r, "blob.bin", [7u8, 7, 7]);
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "main again"]);
    let mut c = oxen(r);
    c.args(["merge", "other"]);
    let o = c.output().unwrap();
    assert!(!o.status.success());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("CONFLICT (both modified): poem.txt") && stdout.contains("CONFLICT (both added): blob.bin"),
        "{stdout}"
    );
    let poem = std::fs::read_to_string(r.join("poem.txt")).unwrap();
    assert!(poem.contains("<<<<<<< ours\nTHREE-main\n=======\nTHREE-other\n>>>>>>> 'other'\n"), "{poem}");
    // A binary conflict keeps ours in the work tree (no side files);
    // checkout --theirs/--ours picks a side.
    assert_eq!(std::fs::read(r.join("blob.bin")).unwrap(), vec![7u8, 7, 7]);
    assert!(!r.join("blob.bin.ours").exists() && !r.join("blob.bin.theirs").exists());
    ox(r, &["checkout", "--theirs", "--", "blob.bin"]);
    assert_eq!(std::fs::read(r.join("blob.bin")).unwrap(), vec![0u8, 1, 2]);
    let st = ox(r, &["status", "--porcelain"]);
    assert!(st.contains("UU poem.txt") && st.contains("AA blob.bin"), "{st}");
    assert!(ox_err(r, &["commit", "-m", "too early"]).contains("unresolved"));
    write(r, "poem.txt", "ONE\ntwo\nTHREE-both\nfour\nFIVE\n");
    ox(r, &["add", "poem.txt", "blob.bin"]);
    ox(r, &["commit", "-m", "merged other"]);
    assert_eq!(run("oxen-cat-file", r, &["-p", "HEAD"]).matches("parent ").count(), 2);
    assert!(ox(r, &["status", "--porcelain"]).is_empty());
}

#[test]
fn init_in_a_named_directory() {
    let d = tempfile::tempdir().unwrap();
    let s = ox(d.path(), &["init", "sub/ds"]);
    assert!(s.contains("Initialized empty Oxen repository"));
    assert!(d.path().join("sub/ds/.oxen/HEAD").is_file());
    assert!(ox_err(d.path(), &["init", "sub/ds"]).contains("already exists"));
    assert!(ox(d.path(), &["-C", "sub/ds", "status"]).contains("No commits yet"));
}

#[test]
fn oxenignore_is_honored() {
    let d = repo();
    let r = d.path();
    write(r, ".oxenignore", "*.tmp\ncache/\n");
    write(r, "keep.txt", "k");
    write(r, "junk.tmp", "j");
    write(r, "cache/big.bin", "c");
    write(r, "sub/also.tmp", "j");
    write(r, "sub/ok.txt", "o");
    let st = ox(r, &["status", "--porcelain", "-uall"]);
    assert_eq!(st, "?? .oxenignore\n?? keep.txt\n?? sub/ok.txt");
    ox(r, &["add", "."]);
    assert_eq!(run("oxen-ls-files", r, &[]), ".oxenignore\nkeep.txt\nsub/ok.txt");
}

#[test]
fn commands_and_flags() {
    let d = repo();
    let r = d.path();
    ox(r, &["config", "user.name", "Config Name"]);
    assert_eq!(ox(r, &["config", "user.name"]), "Config Name");
    write(r, "a.txt", "a");
    write(r, "dir/b.txt", "b");
    write(r, "dir/c.txt", "c");
    assert!(ox_err(r, &["commit", "-m", "empty"]).contains("nothing to commit"));
    ox(r, &["add", "a.txt", "dir"]);
    ox(r, &["commit", "-m", "one"]);
    assert!(ox_err(r, &["commit", "-m", "again"]).contains("nothing to commit"));
    ox(r, &["commit", "--allow-empty", "-m", "empty ok"]);
    // rm --cached keeps the file, rm -r removes a directory.
    ox(r, &["rm", "--cached", "a.txt"]);
    assert!(r.join("a.txt").exists());
    assert_eq!(ox(r, &["status", "--porcelain"]), "D  a.txt\n?? a.txt");
    assert!(ox_err(r, &["rm", "dir"]).contains("-r"));
    ox(r, &["rm", "-r", "dir"]);
    assert!(!r.join("dir").exists());
    ox(r, &["reset", "--hard", "HEAD"]);
    assert!(r.join("dir/b.txt").exists());
    assert!(ox(r, &["status", "--porcelain"]).is_empty());
    // mv is a staged rename.
    ox(r, &["mv", "dir/b.txt", "moved.txt"]);
    assert_eq!(ox(r, &["status", "--porcelain"]), "R  dir/b.txt -> moved.txt");
    ox(r, &["commit", "-m", "move"]);
    // restore --staged unstages; restore --source takes an old version.
    write(r, "a.txt", "changed");
    ox(r, &["add", "a.txt"]);
    assert_eq!(ox(r, &["status", "--porcelain"]), "M  a.txt");
    ox(r, &["restore", "--staged", "a.txt"]);
    assert_eq!(ox(r, &["status", "--porcelain"]), " M a.txt");
    ox(r, &["restore", "--source", "HEAD~2", "a.txt"]);
    assert_eq!(std::fs::read_to_string(r.join("a.txt")).unwrap(), "a");
    // reset --soft keeps the change staged.
    write(r, "new.txt", "n");
    ox(r, &["add", "new.txt"]);
    ox(r, &["commit", "-m", "new"]);
    ox(r, &["reset", "--soft", "HEAD~1"]);
    assert_eq!(ox(r, &["status", "--porcelain"]), "A  new.txt");
    ox(r, &["reset"]);
    assert_eq!(ox(r, &["status", "--porcelain"]), "?? new.txt");
    // branches and tags
    ox(r, &["tag", "v1"]);
    assert_eq!(ox(r, &["tag"]), "v1");
    ox(r, &["switch", "-c", "topic"]);
    assert!(ox(r, &["branch"]).contains("* topic"));
    ox(r, &["switch", "main"]);
    ox(r, &["branch", "-d", "topic"]);
    assert!(!ox(r, &["branch", "-a"]).contains("topic"));
    assert!(ox_err(r, &["branch", "-d", "main"]).contains("checked out"));
    // v1 tags the "move" commit (the later "new" one was reset away): show
    // prints that commit and its diffstat, the rename as a delete and an add.
    let v1 = run("oxen-rev-parse", r, &["v1"]);
    let show = ox(r, &["show", "v1", "--stat"]);
    let lines: Vec<&str> = show.lines().collect();
    assert_eq!(lines[0], format!("commit {v1}"), "{show}");
    assert!(lines.contains(&"    move"), "{show}");
    let stat = &lines[lines.len() - 3..];
    assert_eq!(stat[..2], [" dir/b.txt | 1 -", " moved.txt | 1 +"], "{show}");
    assert!(stat[2].starts_with(" 2 files changed"), "{show}");
}

#[test]
fn bad_input_leaves_everything_unchanged() {
    let d = repo();
    let r = d.path();
    write(r, "a.txt", "a1");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "one"]);
    ox(r, &["checkout", "-b", "b2"]);
    write(r, "a.txt", "a2");
    ox(r, &["commit", "-am", "two"]);
    ox(r, &["checkout", "main"]);
    assert!(ox_err(r, &["log", "nope"]).contains("unknown revision 'nope'"));
    assert!(ox_err(r, &["checkout", "nope"]).contains("nope"));
    assert!(ox_err(r, &["add", "../outside"]).contains("outside the repository"));
    // Checkout over a dirty file: refused, file kept.
    write(r, "a.txt", "local edit");
    let before = snapshot(r);
    assert!(ox_err(r, &["checkout", "b2"]).contains("a.txt"));
    assert_eq!(snapshot(r), before);
    assert!(ox(r, &["status"]).contains("On branch main"));
    // A directory that is not a repository.
    let other = tempfile::tempdir().unwrap();
    assert!(ox_err(other.path(), &["status"]).contains("not an oxen repository"));
}

#[test]
fn large_directory_is_bucketed_and_one_change_writes_few_nodes() {
    let d = repo();
    let r = d.path();
    for i in 0..5000 {
        write(r, &format!("many/f{i:05}.txt"), format!("{i}"));
    }
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "many"]);
    let count = |r: &std::path::Path| -> usize {
        let s = ox(r, &["kvdb-inspect", ".oxen/db", "--db", "trees"]);
        s.lines().next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let before = count(r);
    assert!(before > 3, "5000 entries are split into buckets");
    assert!(run("oxen-cat-file", r, &["-p", "HEAD:many"]).starts_with("# bucketed directory"));
    write(r, "many/f00042.txt", "changed");
    ox(r, &["add", "many/f00042.txt"]);
    ox(r, &["commit", "-m", "one change"]);
    // New nodes: one bucket, the bucket list, the root.
    assert_eq!(count(r) - before, 3);
    assert_eq!(run("oxen-ls-tree", r, &["-r", "HEAD"]).lines().count(), 5000);
}

#[test]
fn checkout_swaps_files_and_directories_without_losing_untracked_work() {
    let d = repo();
    let r = d.path();
    write(r, "a", "file a");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "a is a file"]);
    ox(r, &["checkout", "-b", "dir"]);
    ox(r, &["rm", "a"]);
    write(r, "a/b.txt", "inside");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "a is a directory"]);
    let as_dir = snapshot(r);
    ox(r, &["checkout", "main"]);
    assert_eq!(std::fs::read_to_string(r.join("a")).unwrap(), "file a");
    ox(r, &["checkout", "dir"]);
    assert_eq!(snapshot(r), as_dir);
    // An untracked file inside the directory: going back must not delete it.
    write(r, "a/notes.txt", "my notes");
    let e = ox_err(r, &["checkout", "main"]);
    assert!(e.contains("untracked working tree file 'a/notes.txt' would be removed by checkout"), "{e}");
    assert_eq!(std::fs::read_to_string(r.join("a/notes.txt")).unwrap(), "my notes");
    // Refused before anything changed.
    assert_eq!(std::fs::read_to_string(r.join("a/b.txt")).unwrap(), "inside");
    assert!(ox(r, &["status"]).contains("On branch dir"));
}

#[test]
fn status_summarises_big_directories() {
    let d = repo();
    let r = d.path();
    for i in 0..120 {
        write(r, &format!("imgs/{i}.txt"), format!("{i}"));
    }
    write(r, "top.txt", "x");
    ox(r, &["add", "imgs"]);
    let st = ox(r, &["status"]);
    assert!(st.contains("imgs/ (120 new files)"), "{st}");
    assert!(st.contains("\ttop.txt"), "{st}");
    // Scripts still get every path.
    assert_eq!(ox(r, &["status", "--porcelain"]).lines().count(), 121);
}

/// `oxen-server add-user` writes the user's name and email into the
/// `user_config.toml` they copy to `~/.oxen/`: commits take the identity
/// from it, and an explicit `oxen config --global` wins over it.
#[test]
fn identity_from_the_user_config_add_user_writes() {
    let d = repo();
    let r = d.path();
    let home = r.join(".oxen-home-for-tests");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("user_config.toml"), "[user]\nname = \"Ada\"\nemail = \"ada@example.com\"\n").unwrap();
    let commit = |msg: &str| {
        let mut c = oxen(r);
        c.env_remove("OXEN_AUTHOR_NAME").env_remove("OXEN_AUTHOR_EMAIL").args(["commit", "--allow-empty", "-m", msg]);
        out(c);
    };
    commit("from user_config");
    assert!(ox(r, &["log", "-n", "1"]).contains("Ada <ada@example.com>"), "{}", ox(r, &["log", "-n", "1"]));
    ox(r, &["config", "--global", "user.email", "global@example.com"]);
    commit("config wins");
    assert!(ox(r, &["log", "-n", "1"]).contains("Ada <global@example.com>"), "{}", ox(r, &["log", "-n", "1"]));
}

#[test]
fn global_config_merge_abort_and_tag_delete() {
    let d = repo();
    let r = d.path();
    // --global writes $OXEN_HOME/config.toml, used when the repo sets nothing.
    ox(r, &["config", "--global", "user.email", "global@example.com"]);
    assert_eq!(ox(r, &["config", "--global", "user.email"]), "global@example.com");
    assert!(r.join(".oxen-home-for-tests/config.toml").is_file());
    let mut c = oxen(r);
    c.env_remove("OXEN_AUTHOR_EMAIL").args(["commit", "--allow-empty", "-m", "who"]);
    out(c);
    assert!(ox(r, &["log", "-n", "1"]).contains("<global@example.com>"));
    // A conflicting merge, then --abort restores HEAD's version.
    write(r, "f.txt", "base\n");
    ox(r, &["add", "f.txt"]);
    ox(r, &["commit", "-m", "base"]);
    ox(r, &["checkout", "-b", "other"]);
    write(r, "f.txt", "other\n");
    ox(r, &["commit", "-am", "other"]);
    ox(r, &["checkout", "main"]);
    write(r, "f.txt", "main\n");
    ox(r, &["commit", "-am", "main"]);
    ox_err(r, &["merge", "other"]);
    assert!(ox(r, &["status", "--porcelain"]).contains("UU f.txt"));
    ox(r, &["merge", "--abort"]);
    assert_eq!(std::fs::read_to_string(r.join("f.txt")).unwrap(), "main\n");
    // Only the test's own global-config home (inside the work tree) shows.
    assert_eq!(ox(r, &["status", "--porcelain"]), "?? .oxen-home-for-tests/");
    assert!(ox_err(r, &["merge", "--abort"]).contains("no merge in progress"));
    // Tags: create, refuse a duplicate, delete.
    ox(r, &["tag", "v1"]);
    assert!(ox_err(r, &["tag", "v1"]).contains("already exists"));
    ox(r, &["tag", "-d", "v1"]);
    assert_eq!(ox(r, &["tag"]), "");
}
