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
