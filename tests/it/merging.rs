//! Merges through `oxen merge`: tables by key at cell level, text
//! fallback for tables without keys, binary conflicts without side files,
//! `merge --abort`, conflict kinds in `status`, and renames carrying edits.

use crate::common::*;

fn repo() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    ox(d.path(), &["init"]);
    d
}

/// Commit `base` files on main, branch `side`, apply `theirs` there and
/// `ours` on main, each as one commit (`None` deletes the file).
fn diverge(r: &std::path::Path, base: &[(&str, &str)], theirs: &[(&str, Option<&str>)], ours: &[(&str, Option<&str>)]) {
    for (p, c) in base {
        write(r, p, c);
    }
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "base"]);
    ox(r, &["checkout", "-b", "side"]);
    for (side, msg) in [(theirs, "theirs"), (ours, "ours")] {
        for (p, c) in side {
            match c {
                Some(c) => write(r, p, c),
                None => {
                    std::fs::remove_file(r.join(p)).unwrap();
                    r.join(p)
                }
            };
        }
        ox(r, &["add", "."]);
        ox(r, &["commit", "-m", msg]);
        if msg == "theirs" {
            ox(r, &["checkout", "main"]);
        }
    }
}

/// (success, stdout) of `oxen merge <args>`.
fn merge(r: &std::path::Path, args: &[&str]) -> (bool, String) {
    let o = oxen(r).arg("merge").args(args).output().unwrap();
    (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned())
}

fn read(r: &std::path::Path, p: &str) -> String {
    std::fs::read_to_string(r.join(p)).unwrap()
}

/// Different cells of one row merge; a column added on one side merges
/// with row edits on the other; rows added on both sides are all kept,
/// duplicate keys included. The legacy merge rebuilt the file and lost
/// rows of duplicated keys.
#[test]
fn keyed_table_merge_is_cell_level_and_loses_no_rows() {
    let d = repo();
    let r = d.path();
    diverge(
        r,
        &[("t.csv", "id,a,b\n1,x,y\n2,p,q\n3,d,d\n3,e,e\n")],
        &[("t.csv", Some("id,a,b,c\n1,x,Y,c1\n2,p,q,c2\n3,d,d,c3\n3,e,e,c3\n5,n,n,c5\n"))],
        &[("t.csv", Some("id,a,b\n1,X,y\n2,p,q\n3,d,d\n3,e,e\n3,f,f\n4,m,m\n"))],
    );
    let (ok, out) = merge(r, &["side", "--keys", "id"]);
    assert!(ok, "{out}");
    let t = read(r, "t.csv");
    assert_eq!(t, "id,a,b,c\n1,X,Y,c1\n2,p,q,c2\n3,d,d,c3\n3,e,e,c3\n3,f,f,\n4,m,m,\n5,n,n,c5\n", "{t}");
    assert!(ox(r, &["status", "--porcelain"]).is_empty());
}

/// Only the same cell changed differently conflicts; the conflict names
/// the key and the column on stdout and in the conflict file, the table
/// gets the engine's markers, and the dialect (here `;`-free TSV) stays.
#[test]
fn same_cell_conflict_names_key_and_column() {
    let d = repo();
    let r = d.path();
    diverge(
        r,
        &[("t.tsv", "id\tprice\tname\n1\t10\ta\n2\t20\tb\n")],
        &[("t.tsv", Some("id\tprice\tname\n1\t10\tA\n2\t30\tb\n"))],
        &[("t.tsv", Some("id\tprice\tname\n1\t11\ta\n2\t25\tb\n"))],
    );
    ox(r, &["config", "tabular-keys.t.tsv", "id"]);
    let (ok, out) = merge(r, &["side"]);
    assert!(!ok);
    assert!(out.contains("CONFLICT (both modified): t.tsv"), "{out}");
    assert!(out.contains("id=2 column price: cell changed on both sides: ours 25, theirs 30"), "{out}");
    let t = read(r, "t.tsv");
    assert!(
        t.starts_with(
            "id\tprice\tname\n1\t11\tA\n<<<<<<< ours id=2 [price]\n2\t25\tb\n=======\n2\t30\tb\n>>>>>>> theirs\n"
        ),
        "{t}"
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(r.join(".oxen/MERGE_TABLE_CONFLICTS.json")).unwrap()).unwrap();
    assert_eq!(doc["files"][0]["path"], "t.tsv");
    assert_eq!(doc["files"][0]["conflict_count"], 1);
    let c = &doc["files"][0]["conflicts"][0];
    assert_eq!(
        (c["key"]["id"].clone(), c["column"].clone(), c["kind"].clone()),
        (2.into(), "price".into(), "cell".into())
    );
    assert_eq!(ox(r, &["status", "--porcelain"]), "UU t.tsv");
    write(r, "t.tsv", "id\tprice\tname\n1\t11\tA\n2\t30\tb\n");
    ox(r, &["add", "t.tsv"]);
    ox(r, &["commit", "-m", "merged"]);
    assert!(!r.join(".oxen/MERGE_TABLE_CONFLICTS.json").exists());
}

/// Without keys a table merges line by line (edits on different lines are
/// clean); it used to conflict as a whole file with `.ours`/`.theirs`.
#[test]
fn table_without_keys_merges_as_text() {
    let d = repo();
    let r = d.path();
    diverge(
        r,
        &[("t.csv", "id,v\n1,a\n2,b\n3,c\n4,d\n")],
        &[("t.csv", Some("id,v\n1,a\n2,b\n3,c\n4,D\n"))],
        &[("t.csv", Some("id,v\n1,A\n2,b\n3,c\n4,d\n"))],
    );
    let (ok, out) = merge(r, &["side"]);
    assert!(ok, "{out}");
    assert_eq!(read(r, "t.csv"), "id,v\n1,A\n2,b\n3,c\n4,D\n");
}

/// Trust finding 8: a binary conflict leaves no side files, `merge
/// --abort` restores the work tree exactly (files theirs added included),
/// and `add .` after a conflict commits no merge debris.
#[test]
fn abort_and_add_dot_leave_no_merge_debris() {
    let d = repo();
    let r = d.path();
    diverge(
        r,
        &[("b.bin", "\0base"), ("t.txt", "one\n")],
        &[("b.bin", Some("\0theirs")), ("new.txt", Some("from theirs\n")), ("t.txt", Some("two\n"))],
        &[("b.bin", Some("\0ours")), ("t.txt", Some("three\n"))],
    );
    let before = snapshot(r);
    let (ok, out) = merge(r, &["side"]);
    assert!(!ok, "{out}");
    assert!(out.contains("oxen checkout --theirs -- b.bin"), "{out}");
    assert_eq!(snapshot(r).keys().filter(|k| k.ends_with(".ours") || k.ends_with(".theirs")).count(), 0);
    ox(r, &["merge", "--abort"]);
    assert_eq!(snapshot(r), before);
    assert!(ox(r, &["status", "--porcelain"]).is_empty());
    // Again, then resolve with add .: only the real files are committed.
    let (ok, _) = merge(r, &["side"]);
    assert!(!ok);
    write(r, "t.txt", "two and three\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "merged"]);
    assert_eq!(run("oxen-ls-files", r, &[]), "b.bin\nnew.txt\nt.txt");
}

/// Trust finding 11: conflict kinds are AA, UD and DU in `status
/// --porcelain` and worded as git words them in `status` (all were UU).
#[test]
fn conflict_kinds_are_reported_as_git_does() {
    let d = repo();
    let r = d.path();
    diverge(
        r,
        &[("gone-theirs.txt", "base\n"), ("gone-ours.txt", "base\n")],
        &[("both.txt", Some("theirs\n")), ("gone-theirs.txt", None), ("gone-ours.txt", Some("theirs edit\n"))],
        &[("both.txt", Some("ours\n")), ("gone-theirs.txt", Some("ours edit\n")), ("gone-ours.txt", None)],
    );
    let (ok, out) = merge(r, &["side"]);
    assert!(!ok);
    assert!(out.contains("CONFLICT (both added): both.txt"), "{out}");
    assert_eq!(ox(r, &["status", "--porcelain"]), "AA both.txt\nDU gone-ours.txt\nUD gone-theirs.txt");
    let long = ox(r, &["status"]);
    assert!(long.contains("\tboth added:      both.txt"), "{long}");
    assert!(long.contains("\tdeleted by us:   gone-ours.txt"), "{long}");
    assert!(long.contains("\tdeleted by them: gone-theirs.txt"), "{long}");
}

/// A rename on one side and an edit on the other carries the edit to the
/// new name (it used to be a modify/delete conflict plus a stale copy).
#[test]
fn a_rename_on_one_side_carries_the_other_sides_edit() {
    let d = repo();
    let r = d.path();
    let base = "line 1\nline 2\nline 3\n";
    diverge(
        r,
        &[("old.txt", base)],
        &[("new.txt", Some(base)), ("old.txt", None)],
        &[("old.txt", Some("line 1\nline 2 edited\nline 3\n"))],
    );
    let (ok, out) = merge(r, &["side"]);
    assert!(ok, "{out}");
    assert!(!r.join("old.txt").exists());
    assert_eq!(read(r, "new.txt"), "line 1\nline 2 edited\nline 3\n");
    assert_eq!(run("oxen-ls-files", r, &[]), "new.txt");
}
