//! Tables through the commands: schema recorded at add time, files that do
//! not parse, `diff` (text, `--json`, `--exit-code`), cell-level `merge`,
//! and `df`.

use crate::common::*;

/// Tree ids of tabular files committed before the recorded metadata was
/// typed (format and column types as enums) must not change. The id below
/// was produced by the code before that change, from CSV, TSV and JSONL
/// files holding every column type.
#[test]
fn tree_id_of_tabular_metadata_is_unchanged() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    ox(r, &["init"]);
    write(r, "t.csv", "id,score,ok,name,empty\n1,1.5,true,a,\n2,2,FALSE,b,\n");
    write(r, "t.tsv", "id\tv\n1\tx\n");
    write(r, "t.jsonl", "{\"a\":1,\"b\":\"x\",\"c\":[1],\"d\":null,\"e\":true}\n{\"a\":2.5,\"b\":3}\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "pinned"]);
    assert_eq!(run("oxen-rev-parse", r, &["HEAD:"]), "2e5c0553b45fadfe946feb12c787e895", "root tree id changed");
}

fn repo() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    ox(d.path(), &["init"]);
    d
}

/// Run `oxen <args>`, asserting success; returns (stdout, stderr).
fn ox_both(dir: &std::path::Path, args: &[&str]) -> (String, String) {
    let o = oxen(dir).args(args).output().unwrap();
    let (so, se) = (String::from_utf8_lossy(&o.stdout).to_string(), String::from_utf8_lossy(&o.stderr).to_string());
    assert!(o.status.success(), "oxen {args:?} failed\nstdout: {so}\nstderr: {se}");
    (so, se)
}

/// The index row of `path` as `kvdb-inspect` prints it (tracking and schema).
fn index_row(r: &std::path::Path, path: &str) -> String {
    let kv = ox(r, &["kvdb-inspect", ".oxen/db", "--db", "index"]);
    kv.lines()
        .find(|l| l.contains(&format!("path={path} ")))
        .unwrap_or_else(|| panic!("{path} not in {kv}"))
        .to_string()
}

/// Trust finding 2: a file named like a table that does not parse is still
/// versioned, as its bytes, with one warning line naming it and saying why.
#[test]
fn a_table_that_does_not_parse_is_versioned_with_a_warning() {
    let d = repo();
    let r = d.path();
    write(r, "x.csv", "a,b\n1,2\n3\n");
    let (_, e) = ox_both(r, &["add", "x.csv"]);
    assert_eq!(
        e.trim_end(),
        "warning: x.csv does not parse as csv (line 3: expected 2 fields, found 1); stored as plain bytes"
    );
    assert!(index_row(r, "x.csv").contains("tracking=regular"));
    ox(r, &["commit", "-m", "ragged"]);
    assert_eq!(run("oxen-cat-file", r, &["-p", "HEAD:x.csv"]), "a,b\n1,2\n3");
}

/// `add .` stages everything: a table that does not parse does not abort
/// the rest (it used to leave even `notes.txt` unstaged).
#[test]
fn add_dot_with_a_ragged_table_stages_everything() {
    let d = repo();
    let r = d.path();
    write(r, "notes.txt", "hello\n");
    write(r, "x.csv", "a,b\n1,2\n3\n");
    write(r, "good.csv", "a,b\n1,2\n");
    let (_, e) = ox_both(r, &["add", "."]);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("x.csv"), "{e}");
    assert_eq!(ox(r, &["status", "--porcelain"]), "A  good.csv\nA  notes.txt\nA  x.csv");
    assert!(index_row(r, "good.csv").contains("tracking=tabular schema="));
}

/// scikit-learn ships `breast_cancer.csv` and `wine_data.csv` with a first
/// line that is not a header (sample and feature counts, then class names):
/// fewer fields than the rows below it.
#[test]
fn sklearn_style_csv_with_a_short_first_line_is_versioned_and_diffed_as_text() {
    let d = repo();
    let r = d.path();
    write(
        r,
        "wine_data.csv",
        "178,13,class_0,class_1,class_2\n14.23,1.71,2.43,15.6,127,2.8,3.06,.28,2.29,5.64,1.04,3.92,1065,0\n",
    );
    ox_both(r, &["add", "wine_data.csv"]);
    ox(r, &["commit", "-m", "wine"]);
    write(
        r,
        "wine_data.csv",
        "178,13,class_0,class_1,class_2\n14.23,1.71,2.43,15.6,127,2.8,3.06,.28,2.29,5.64,1.04,3.92,1066,0\n",
    );
    let diff = ox(r, &["diff"]);
    assert!(diff.contains("-14.23,1.71,2.43,15.6,127,2.8,3.06,.28,2.29,5.64,1.04,3.92,1065,0"), "{diff}");
    assert!(diff.contains("+14.23,1.71,2.43,15.6,127,2.8,3.06,.28,2.29,5.64,1.04,3.92,1066,0"), "{diff}");
}

/// Once a tracked table turns ragged, diff, `commit -am` and
/// `update-index --add` keep working (each used to fail with "malformed csv").
#[test]
fn a_tracked_table_that_turns_ragged_still_diffs_and_commits() {
    let d = repo();
    let r = d.path();
    write(r, "t.csv", "a,b\n1,2\n");
    write(r, "u.csv", "a,b\n1,2\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "one"]);
    write(r, "t.csv", "a,b\n1,2\n3\n");
    let diff = ox(r, &["diff"]);
    assert!(diff.contains("+3"), "{diff}");
    let (_, e) = ox_both(r, &["commit", "-am", "ragged"]);
    assert!(e.contains("t.csv does not parse as csv"), "{e}");
    assert_eq!(run("oxen-cat-file", r, &["-p", "HEAD:t.csv"]), "a,b\n1,2\n3");
    write(r, "u.csv", "a,b\n1\n");
    let o = bin("oxen-update-index", r).args(["--add", "u.csv"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("u.csv does not parse as csv"));
}

/// Schema and row count are recorded at add time for every format,
/// Parquet included (it used to get an empty schema and 0 rows).
#[test]
fn schema_is_recorded_for_every_format() {
    let d = repo();
    let r = d.path();
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/fixtures/v1.parquet"), r.join("t.parquet")).unwrap();
    write(r, "t.tsv", "id\tscore\n1\t1.5\n2\t\n");
    write(r, "t.jsonl", "{\"id\":1,\"tags\":[\"a\"]}\n{\"id\":2,\"ok\":true}\n");
    ox(r, &["add", "."]);
    let p = index_row(r, "t.parquet");
    assert!(
        p.contains(r#"schema={"format":"parquet","columns":[{"name":"id","dtype":"int"},{"name":"name","dtype":"str"},{"name":"x","dtype":"float"}],"rows":3}"#),
        "{p}"
    );
    assert!(
        index_row(r, "t.tsv").contains(r#"[{"name":"id","dtype":"int"},{"name":"score","dtype":"float"}],"rows":2}"#)
    );
    assert!(index_row(r, "t.jsonl").contains(
        r#"[{"name":"id","dtype":"int"},{"name":"tags","dtype":"str"},{"name":"ok","dtype":"bool"}],"rows":2}"#
    ));
}

/// A table over 16 MiB is diffed as a table, with its keys (it used to
/// print "Binary files differ" and ignore `--keys`).
#[test]
fn a_table_over_16_mib_is_diffed_by_key() {
    let d = repo();
    let r = d.path();
    let mut big = String::from("id,name,score\n");
    for i in 0..500_000u32 {
        big.push_str(&format!("{i},name-{i}-padding-padding,{}\n", i % 97));
    }
    assert!(big.len() > 16 << 20);
    write(r, "big.csv", &big);
    ox(r, &["add", "big.csv"]);
    ox(r, &["commit", "-m", "big"]);
    let edited = big.replacen("\n123456,name-123456-padding-padding,", "\n123456,renamed,", 1);
    write(r, "big.csv", &edited);
    let diff = ox(r, &["diff", "--keys", "id"]);
    assert!(diff.contains("rows: 0 added, 0 removed, 1 modified"), "{diff}");
    assert!(diff.contains("~ id=123456: name: name-123456-padding-padding -> renamed"), "{diff}");
    assert!(!diff.contains("Binary"), "{diff}");
}

/// `--json` prints one document listing every changed file; rows are
/// objects with the table's own (typed) values; non-tables carry
/// `binary`/`text`; `--exit-code` is 1 when anything differs.
#[test]
fn diff_json_document_and_exit_code() {
    let d = repo();
    let r = d.path();
    write(r, "t.csv", "id,v\n1,a\n2,b\n");
    write(r, "notes.txt", "one\n");
    write(r, "blob.bin", b"\x00\x01".as_slice());
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "one"]);
    assert_eq!(oxen(r).args(["diff", "--exit-code"]).output().unwrap().status.code(), Some(0));
    write(r, "t.csv", "id,v\n1,\"x, \"\"quoted\"\"\nand a newline\"\n3,c\n");
    write(r, "notes.txt", "one\ntwo\n");
    write(r, "blob.bin", b"\x00\x02".as_slice());
    let o = oxen(r).args(["diff", "--json", "--keys", "id", "--exit-code"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let files = doc["files"].as_array().unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["blob.bin", "notes.txt", "t.csv"]);
    assert_eq!(files[0]["binary"], true);
    assert_eq!(files[0]["tabular"], serde_json::Value::Null);
    assert_eq!(files[1]["text"], serde_json::json!({"added": 1, "removed": 0}));
    let t = &files[2]["tabular"];
    assert_eq!(files[2]["status"], "modified");
    assert_eq!(t["rows"]["added"], 1);
    assert_eq!(t["added"][0], serde_json::json!({"id": 3, "v": "c"}));
    assert_eq!(t["removed"][0], serde_json::json!({"id": 2, "v": "b"}));
    assert_eq!(t["modified"][0]["changes"]["v"][1], "x, \"quoted\"\nand a newline");
    // Text output quotes values as CSV does: one line per row.
    let text = ox(r, &["diff", "--keys", "id"]);
    assert!(text.contains("~ id=1: v: a -> \"x, \"\"quoted\"\"\\nand a newline\""), "{text}");
}

/// `--keys` naming a column one version lacks is reported for that file
/// and the diff goes on (it used to abort everything with exit 1).
#[test]
fn a_missing_key_column_is_reported_per_file() {
    let d = repo();
    let r = d.path();
    write(r, "a.csv", "");
    write(r, "b.csv", "id,v\n1,a\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "one"]);
    write(r, "a.csv", "id,v\n1,a\n");
    write(r, "b.csv", "id,v\n1,b\n");
    let diff = ox(r, &["diff", "--keys", "id"]);
    assert!(diff.contains("~ id=1: v: a -> b"), "{diff}");
    assert!(diff.contains("tabular csv a.csv"), "{diff}");
}

/// `--limit N` shows N rows per kind; the summary keeps the exact counts.
#[test]
fn diff_limit_rows_per_kind() {
    let d = repo();
    let r = d.path();
    write(r, "t.csv", "id\n1\n");
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "one"]);
    let rows: String = (1..=30).map(|i| format!("{i}\n")).collect();
    write(r, "t.csv", format!("id\n{rows}"));
    let diff = ox(r, &["diff", "--keys", "id", "--limit", "2"]);
    assert!(diff.contains("rows: 29 added, 0 removed, 0 modified"), "{diff}");
    assert_eq!(diff.lines().filter(|l| l.starts_with("+ ")).count(), 2, "{diff}");
    assert!(diff.contains("... 27 more added"), "{diff}");
}

/// `oxen df` reads a table at any revision without checking it out (the
/// work tree is untouched), with head/slice/columns/filter, schema, and
/// JSON or CSV output; bad input is a one-line error.
#[test]
fn df_reads_any_revision_without_checkout() {
    let d = repo();
    let r = d.path();
    write(r, "p.csv", "id,name,price\n1,apple,10\n2,banana,20\n3,cherry,30\n");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/fixtures/v1.parquet"), r.join("t.parquet")).unwrap();
    ox(r, &["add", "."]);
    ox(r, &["commit", "-m", "one"]);
    write(r, "p.csv", "id,name,price\n1,apple,11\n");
    let before = snapshot(r);
    assert_eq!(
        ox(r, &["df", "p.csv", "--rev", "HEAD", "--filter", "price >= 20", "--columns", "name,price", "--csv"]),
        "name,price\nbanana,20\ncherry,30"
    );
    assert_eq!(
        ox(r, &["df", "p.csv", "--rev", "HEAD", "--slice", "1..2", "--json"]),
        r#"{"id":2,"name":"banana","price":20}"#
    );
    // Default: the work-tree file; removed, HEAD's version.
    assert_eq!(ox(r, &["df", "p.csv", "--csv"]), "id,name,price\n1,apple,11");
    assert_eq!(snapshot(r), before);
    std::fs::remove_file(r.join("p.csv")).unwrap();
    assert_eq!(ox(r, &["df", "p.csv", "--head", "1", "--csv"]), "id,name,price\n1,apple,10");
    let s = ox(r, &["df", "t.parquet", "--schema", "--json"]);
    assert!(s.contains(r#""rows":3"#) && s.contains(r#"{"name":"x","dtype":"float"}"#), "{s}");
    assert_eq!(ox(r, &["df", "t.parquet", "--head", "1", "--columns", "id", "--csv"]), "id\n1");
    assert_eq!(ox_err(r, &["df", "p.csv", "--filter", "price >"]).lines().count(), 1);
    assert!(ox_err(r, &["df", "notes.txt"]).contains("not a table"));
    assert!(ox_err(r, &["df", "p.csv", "--rev", "HEAD", "--slice", "3..1"]).contains("--slice"));
}
