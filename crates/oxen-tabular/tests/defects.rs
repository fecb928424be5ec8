//! One test per defect a data engineer reported against the original
//! implementation (each fails on it), plus the behaviours that replace it.

use oxen_tabular::diff::{diff, render_text, DiffOptions, FileDiff, FileStatus, TextOptions};
use oxen_tabular::merge::{merge, ConflictKind, MergeOptions, MergeOutcome, MergeReport, MergeSide};
use oxen_tabular::{ColumnType, Source, TabularError, TabularFormat};
use serde_json::{json, Value};

fn src(s: &str) -> Source {
    Source::bytes(s.as_bytes().to_vec())
}

fn d(old: &str, new: &str, keys: &[&str]) -> FileDiff {
    d_fmt(old, new, keys, TabularFormat::Csv)
}

fn d_fmt(old: &str, new: &str, keys: &[&str], f: TabularFormat) -> FileDiff {
    let opts = DiffOptions { keys: keys.iter().map(|k| k.to_string()).collect(), ..Default::default() };
    diff("t.csv", f, Some(&src(old)), Some(&src(new)), &opts).unwrap()
}

fn m(base: &str, ours: &str, theirs: &str, keys: &[&str], f: TabularFormat) -> (MergeOutcome, Vec<u8>) {
    let opts = MergeOptions { keys: keys.iter().map(|k| k.to_string()).collect(), ..Default::default() };
    let mut out = Vec::new();
    let o = merge("t", f, Some(&src(base)), &src(ours), &src(theirs), &opts, &mut out).unwrap();
    (o, out)
}

fn merged(base: &str, ours: &str, theirs: &str, keys: &[&str], f: TabularFormat) -> (MergeReport, String) {
    let (o, out) = m(base, ours, theirs, keys, f);
    match o {
        MergeOutcome::Merged(r) => (r, String::from_utf8(out).unwrap()),
        other => panic!("not merged: {other:?}"),
    }
}

fn json_of(d: &FileDiff) -> Value {
    serde_json::to_value(d).unwrap()
}

// --- Duplicate keys -------------------------------------------------------

#[test]
fn duplicate_keys_neither_invent_modifications_nor_miss_removals() {
    // The original matched by the last row of each key: it reported no
    // removal here and compared 1,a against 1,b.
    let old = "id,v\n1,a\n1,b\n2,c\n";
    let new = "id,v\n1,b\n2,c\n";
    let r = d(old, new, &["id"]);
    let t = &r.tabular;
    assert_eq!((t.rows.added, t.rows.removed, t.rows.modified), (0, 1, 0));
    assert_eq!(json_of(&r)["tabular"]["removed"], json!([{"id": 1, "v": "a"}]));
    let dk = t.duplicate_keys.as_ref().expect("duplicates reported");
    assert_eq!(dk.old, 1);
    assert_eq!(json_of(&r)["tabular"]["duplicate_keys"]["examples"], json!([{"id": 1}]));
}

#[test]
fn duplicate_keys_edit_one_of_two_rows_is_one_modification() {
    let r = d("id,v\n1,a\n1,b\n", "id,v\n1,a\n1,B\n", &["id"]);
    let t = &r.tabular;
    assert_eq!((t.rows.added, t.rows.removed, t.rows.modified), (0, 0, 1));
    assert_eq!(t.modified[0].occurrence, Some(1));
    assert_eq!(json_of(&r)["tabular"]["modified"][0]["changes"], json!({"v": ["b", "B"]}));
}

#[test]
fn keyed_merge_never_drops_a_row_whose_key_appears_twice() {
    // The original merge3 keyed rows in a map: one of the id=1 rows vanished.
    let base = "id,v\n1,a\n1,b\n2,c\n";
    let ours = "id,v\n1,a\n1,b\n2,c\n3,d\n";
    let theirs = "id,v\n1,a\n1,b\n2,C\n";
    let (r, out) = merged(base, ours, theirs, &["id"], TabularFormat::Csv);
    assert!(r.is_clean(), "{:?}", r.conflicts);
    assert_eq!(out, "id,v\n1,a\n1,b\n2,C\n3,d\n");
}

#[test]
fn duplicate_key_changed_on_both_sides_keeps_both_and_names_the_key() {
    let base = "id,v\n1,a\n1,b\n";
    let ours = "id,v\n1,a\n1,x\n";
    let theirs = "id,v\n1,a\n1,y\n";
    let (r, out) = merged(base, ours, theirs, &["id"], TabularFormat::Csv);
    assert_eq!(r.conflict_count, 1);
    assert_eq!(r.conflicts[0].kind, ConflictKind::DuplicateKey);
    assert_eq!(r.conflicts[0].key.to_value(), json!({"id": 1}));
    assert!(out.contains("1,x") && out.contains("1,y"), "{out}");
}

// --- JSONL ----------------------------------------------------------------

#[test]
fn jsonl_merge_keeps_json_types_and_does_not_fill_missing_keys() {
    let base = "{\"id\":1,\"x\":1.5,\"ok\":true,\"o\":{\"a\":[1,2]},\"n\":null}\n{\"id\":2,\"x\":2.5}\n";
    let ours = "{\"id\":1,\"x\":1.5,\"ok\":true,\"o\":{\"a\":[1,2]},\"n\":null}\n{\"id\":2,\"x\":3.5}\n";
    let theirs = "{\"id\":1,\"x\":1.5,\"ok\":false,\"o\":{\"a\":[1,2]},\"n\":null}\n{\"id\":2,\"x\":2.5}\n";
    let (r, out) = merged(base, ours, theirs, &["id"], TabularFormat::Jsonl);
    assert!(r.is_clean());
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0], json!({"id": 1, "x": 1.5, "ok": false, "o": {"a": [1, 2]}, "n": null}));
    assert_eq!(lines[1], json!({"id": 2, "x": 3.5}));
    // Key order of the file is kept on the rewritten line.
    assert!(out.starts_with("{\"id\":1,\"x\":1.5,\"ok\":false,"), "{out}");
    // The untouched line is byte for byte the same.
    assert!(out.ends_with("{\"id\":2,\"x\":3.5}\n"));
}

#[test]
fn jsonl_schema_is_streamed_and_typed() {
    let s = oxen_tabular::schema(
        "t.jsonl",
        TabularFormat::Jsonl,
        &src("{\"a\":1,\"b\":\"x\"}\n\n{\"a\":2.5,\"c\":true}\n"),
    )
    .unwrap();
    let got: Vec<(String, ColumnType)> = s.columns.iter().map(|c| (c.name.clone(), c.dtype)).collect();
    assert_eq!(
        got,
        vec![("a".into(), ColumnType::Float), ("b".into(), ColumnType::Str), ("c".into(), ColumnType::Bool)]
    );
    assert_eq!(s.rows, 2);
}

#[test]
fn jsonl_diff_rows_keep_json_types() {
    let r = d_fmt(
        "{\"id\":1,\"v\":{\"k\":1}}\n",
        "{\"id\":1,\"v\":{\"k\":2}}\n{\"id\":2,\"v\":null}\n",
        &["id"],
        TabularFormat::Jsonl,
    );
    let j = json_of(&r);
    assert_eq!(j["tabular"]["added"], json!([{"id": 2, "v": null}]));
    assert_eq!(j["tabular"]["modified"][0]["changes"], json!({"v": [{"k": 1}, {"k": 2}]}));
}

// --- Bytes the merge did not merge ------------------------------------------

#[test]
fn merge_keeps_bom_crlf_quoting_and_untouched_rows_byte_for_byte() {
    let base = "\u{feff}id,name,n\r\n1,\"a, b\",1\r\n2,\"x\",2\r\n3,c,3\r\n";
    let ours = "\u{feff}id,name,n\r\n1,\"a, b\",1\r\n2,\"x\",2\r\n3,c,30\r\n";
    let theirs = "\u{feff}id,name,n\r\n1,\"a, b\",10\r\n2,\"x\",2\r\n3,c,3\r\n";
    let (r, out) = merged(base, ours, theirs, &["id"], TabularFormat::Csv);
    assert!(r.is_clean());
    assert_eq!(out, "\u{feff}id,name,n\r\n1,\"a, b\",10\r\n2,\"x\",2\r\n3,c,30\r\n");
    assert_eq!(r.stats.copied, 2);
    assert_eq!(r.stats.rewritten, 1);
}

#[test]
fn merge_keeps_a_missing_final_newline_and_blank_lines() {
    let base = "id,v\n1,a\n\n2,b";
    let ours = "id,v\n1,a\n\n2,b";
    let theirs = "id,v\n1,a\n2,b\n3,c\n";
    let (r, out) = merged(base, ours, theirs, &["id"], TabularFormat::Csv);
    assert!(r.is_clean());
    assert_eq!(out, "id,v\n1,a\n\n2,b\n3,c\n");
}

// --- Column changes and byte-only changes -----------------------------------

#[test]
fn drop_one_column_and_add_another_is_not_a_rename() {
    // The original called this a rename and marked every row modified.
    let r = d("id,a,b\n1,x,1\n2,y,2\n", "id,a,c\n1,x,9\n2,y,8\n", &["id"]);
    let c = &r.tabular.columns;
    assert_eq!(c.removed, vec!["b"]);
    assert_eq!(c.added, vec!["c"]);
    assert!(c.renamed.is_empty());
    assert_eq!(r.tabular.rows.modified, 0);
}

#[test]
fn a_rename_is_reported_when_values_match() {
    let r = d("id,price\n1,10\n2,20\n", "id,cost\n1,10\n2,20\n3,30\n", &["id"]);
    let j = json_of(&r);
    assert_eq!(j["tabular"]["columns"]["renamed"], json!([{"from": "price", "to": "cost"}]));
    assert_eq!(j["tabular"]["rows"]["added"], 1);
    assert_eq!(j["tabular"]["rows"]["modified"], 0);
}

#[test]
fn column_reorder_is_reported_as_such() {
    let r = d("id,a,b\n1,x,y\n", "id,b,a\n1,y,x\n", &["id"]);
    assert!(r.tabular.columns.reordered);
    assert_eq!(r.tabular.rows.modified, 0);
    assert!(r.tabular.notes.iter().any(|n| n.contains("columns reordered")));
    assert!(!r.is_empty());
}

#[test]
fn row_reorder_is_reported_as_such() {
    for keys in [&["id"][..], &[][..]] {
        let r = d("id,v\n1,a\n2,b\n3,c\n", "id,v\n3,c\n1,a\n2,b\n", keys);
        assert!(r.tabular.row_order_changed, "keys {keys:?}");
        assert_eq!(r.tabular.rows.added + r.tabular.rows.removed + r.tabular.rows.modified, 0);
        assert!(r.tabular.notes.iter().any(|n| n.starts_with("row order changed")));
    }
}

#[test]
fn crlf_only_change_says_so() {
    let r = d("id,v\n1,a\n", "id,v\r\n1,a\r\n", &["id"]);
    assert!(r.is_empty());
    assert_eq!(r.tabular.notes, vec!["line endings changed (LF -> CRLF); the table is equal"]);
    let r = d("id,v\n1,a\n", "\u{feff}id,v\n1,a\n", &[]);
    assert_eq!(r.tabular.notes, vec!["byte order mark added; the table is equal"]);
    let r = d("id,v\n1,a\n", "\"id\",\"v\"\n1,\"a\"\n", &[]);
    assert_eq!(r.tabular.notes, vec!["quoting changed; the table is equal"]);
}

#[test]
fn type_change_is_reported() {
    let r = d("id,v\n1,2\n", "id,v\n1,2.5\n", &["id"]);
    let j = json_of(&r);
    assert_eq!(j["tabular"]["columns"]["type_changed"], json!([{"column": "v", "from": "int", "to": "float"}]));
}

// --- Keys missing on one side -----------------------------------------------

#[test]
fn missing_key_on_one_side_falls_back_and_says_why() {
    // The original aborted the whole diff (e.g. the old version was empty).
    let r = d("", "id,v\n1,a\n", &["id"]);
    assert_eq!(r.tabular.keys, Vec::<String>::new());
    assert_eq!(r.tabular.rows.added, 1);
    assert!(r.tabular.notes[0].contains("key column 'id' missing in the old version (it has no columns)"));
    let r = d("name,v\nx,a\n", "id,v\n1,a\n", &["id"]);
    assert!(r.tabular.notes[0].starts_with("key column 'id' missing in the old version; rows matched by content"));
}

#[test]
fn added_and_removed_files() {
    let o = DiffOptions { keys: vec!["id".into()], ..Default::default() };
    let r = diff("t.csv", TabularFormat::Csv, None, Some(&src("id,v\n1,a\n")), &o).unwrap();
    assert_eq!(r.status, FileStatus::Added);
    assert_eq!(json_of(&r)["status"], "added");
    assert_eq!(r.tabular.rows.added, 1);
    let r = diff("t.csv", TabularFormat::Csv, Some(&src("id,v\n1,a\n")), None, &o).unwrap();
    assert_eq!(r.status, FileStatus::Removed);
    assert_eq!(r.tabular.rows.removed, 1);
}

// --- Parseable output -------------------------------------------------------

#[test]
fn json_shape_is_exact() {
    let r = d("id,name\n1,a\n2,b\n", "id,name\n1,A\n3,\"x, \"\"y\"\"\nz\"\n", &["id"]);
    let j = json_of(&r);
    assert_eq!(j["path"], "t.csv");
    assert_eq!(j["status"], "modified");
    let t = &j["tabular"];
    assert_eq!(t["format"], "csv");
    assert_eq!(t["keys"], json!(["id"]));
    assert_eq!(
        t["columns"],
        json!({"added": [], "removed": [], "renamed": [], "type_changed": [], "reordered": false})
    );
    assert_eq!(t["rows"]["added"], 1);
    assert_eq!(t["rows"]["removed"], 1);
    assert_eq!(t["rows"]["modified"], 1);
    assert_eq!(t["added"], json!([{"id": 3, "name": "x, \"y\"\nz"}]));
    assert_eq!(t["removed"], json!([{"id": 2, "name": "b"}]));
    assert_eq!(t["modified"], json!([{"key": {"id": 1}, "changes": {"name": ["a", "A"]}}]));
}

#[test]
fn text_output_quotes_values_like_csv() {
    let r = d("id,name\n1,a\n", "id,name\n1,a\n2,\"x, \"\"y\"\"\nz\"\n", &["id"]);
    let mut out = Vec::new();
    render_text(&r, &TextOptions { limit: 5, color: false }, &mut out).unwrap();
    let s = String::from_utf8(out).unwrap();
    assert!(s.contains("rows: 1 added, 0 removed, 0 modified"), "{s}");
    // Quoted as CSV quotes it, the line break shown as `\n` so the row
    // stays one line of output.
    assert!(s.contains("+ 2,\"x, \"\"y\"\"\\nz\"\n"), "{s}");
    let line = s.split("+ ").nth(1).unwrap().lines().next().unwrap();
    let mut rdr = csv::ReaderBuilder::new().has_headers(false).from_reader(line.as_bytes());
    let rec = rdr.records().next().unwrap().unwrap();
    assert_eq!(&rec[1], "x, \"y\"\\nz");
    let mut out = Vec::new();
    render_text(&r, &TextOptions { limit: 5, color: true }, &mut out).unwrap();
    assert!(String::from_utf8(out).unwrap().contains("\x1b[32m+ 2"));
}

#[test]
fn text_output_respects_the_limit() {
    let new: String = std::iter::once("id\n".to_string()).chain((0..30).map(|i| format!("{i}\n"))).collect();
    let r = d("id\n", &new, &["id"]);
    let mut out = Vec::new();
    render_text(&r, &TextOptions { limit: 3, color: false }, &mut out).unwrap();
    let s = String::from_utf8(out).unwrap();
    assert_eq!(s.lines().filter(|l| l.starts_with("+ ")).count(), 3);
    assert!(s.contains("... 27 more added"));
}

#[test]
fn tsv_output_is_typed_json() {
    let r = d_fmt("id\tv\n1\ta,b\n", "id\tv\n1\tc\n", &["id"], TabularFormat::Tsv);
    assert_eq!(json_of(&r)["tabular"]["modified"][0]["changes"], json!({"v": ["a,b", "c"]}));
}

// --- Merge at cell level ----------------------------------------------------

#[test]
fn same_row_different_cells_merge_cleanly() {
    let base = "id,a,b\n1,x,y\n2,p,q\n";
    let ours = "id,a,b\n1,X,y\n2,p,q\n";
    let theirs = "id,a,b\n1,x,Y\n2,p,q\n";
    let (r, out) = merged(base, ours, theirs, &["id"], TabularFormat::Csv);
    assert!(r.is_clean());
    assert_eq!(out, "id,a,b\n1,X,Y\n2,p,q\n");
}

#[test]
fn column_added_on_one_side_merges_with_row_edits_on_the_other() {
    let base = "id,a\n1,x\n2,y\n";
    let ours = "id,a,b\n1,x,1\n2,y,2\n";
    let theirs = "id,a\n1,X\n2,y\n3,z\n";
    let (r, out) = merged(base, ours, theirs, &["id"], TabularFormat::Csv);
    assert!(r.is_clean(), "{:?}", r.conflicts);
    assert_eq!(out, "id,a,b\n1,X,1\n2,y,2\n3,z,\n");
    // And the other way round: theirs adds the column.
    let (r, out) = merged(base, theirs, ours, &["id"], TabularFormat::Csv);
    assert!(r.is_clean());
    assert_eq!(out, "id,a,b\n1,X,1\n2,y,2\n3,z,\n");
}

#[test]
fn column_removed_on_one_side_merges_with_row_edits_on_the_other() {
    let base = "id,a,b\n1,x,1\n2,y,2\n";
    let ours = "id,a,b\n1,X,1\n2,y,2\n";
    let theirs = "id,a\n1,x\n2,y\n";
    let (r, out) = merged(base, ours, theirs, &["id"], TabularFormat::Csv);
    assert!(r.is_clean(), "{:?}", r.conflicts);
    assert_eq!(out, "id,a\n1,X\n2,y\n");
}

#[test]
fn same_cell_changed_differently_conflicts_naming_key_and_column() {
    let base = "id,a,b\n1,x,y\n2,p,q\n";
    let ours = "id,a,b\n1,X,y\n2,p,q\n";
    let theirs = "id,a,b\n1,Z,y\n2,p,Q\n";
    let (r, out) = merged(base, ours, theirs, &["id"], TabularFormat::Csv);
    assert_eq!(r.conflict_count, 1);
    let c = &r.conflicts[0];
    assert_eq!(c.kind, ConflictKind::Cell);
    assert_eq!(c.key.to_value(), json!({"id": 1}));
    assert_eq!(c.column.as_deref(), Some("a"));
    assert_eq!(
        (c.base.clone(), c.ours.clone(), c.theirs.clone()),
        (Some(json!("x")), Some(json!("X")), Some(json!("Z")))
    );
    assert_eq!(out, "id,a,b\n<<<<<<< ours id=1 [a]\n1,X,y\n=======\n1,Z,y\n>>>>>>> theirs\n2,p,Q\n");
    let j = serde_json::to_value(&r.conflicts).unwrap();
    assert_eq!(j[0]["kind"], "cell");
}

#[test]
fn delete_against_modify_conflicts() {
    let base = "id,a\n1,x\n2,y\n";
    let (r, out) = merged(base, "id,a\n1,X\n2,y\n", "id,a\n2,y\n", &["id"], TabularFormat::Csv);
    assert_eq!(r.conflicts[0].kind, ConflictKind::ModifyDelete);
    assert!(
        out.contains("<<<<<<< ours id=1 (modified in ours, deleted in theirs)\n1,X\n=======\n>>>>>>> theirs\n"),
        "{out}"
    );
    let (r, _) = merged(base, "id,a\n2,y\n", "id,a\n1,X\n2,y\n", &["id"], TabularFormat::Csv);
    assert_eq!(r.conflicts[0].kind, ConflictKind::DeleteModify);
    // Deleted on one side, untouched on the other: deleted.
    let (r, out) = merged(base, "id,a\n2,y\n", base, &["id"], TabularFormat::Csv);
    assert!(r.is_clean());
    assert_eq!(out, "id,a\n2,y\n");
}

#[test]
fn unkeyed_merge_asks_for_a_text_merge() {
    let (o, out) = m("a\n1\n", "a\n1\n2\n", "a\n0\n1\n", &[], TabularFormat::Csv);
    assert!(matches!(o, MergeOutcome::NeedsTextMerge { .. }));
    assert!(out.is_empty());
    let (o, _) = m("a\n1\n", "a\n1\n2\n", "b\n0\n1\n", &["a"], TabularFormat::Csv);
    match o {
        MergeOutcome::NeedsTextMerge { reason } => assert_eq!(reason, "key column 'a' is missing in theirs"),
        o => panic!("{o:?}"),
    }
}

// --- Parquet ----------------------------------------------------------------

fn parquet_bytes() -> Vec<u8> {
    use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
    use std::sync::Arc;
    let ids: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
    let names: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None, Some("c")]));
    let xs: ArrayRef = Arc::new(Float64Array::from(vec![1.5, 2.0, 3.25]));
    let b = RecordBatch::try_from_iter(vec![("id", ids), ("name", names), ("x", xs)]).unwrap();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, b.schema(), None).unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
    out
}

#[test]
fn parquet_schema_and_rows_are_read() {
    // The original recorded an empty schema and 0 rows.
    let meta = oxen_tabular::schema_of_reader(&parquet_bytes()[..], TabularFormat::Parquet, "t.parquet").unwrap();
    assert_eq!(meta.rows, 3);
    let cols: Vec<(String, String)> = meta.columns.iter().map(|c| (c.name.clone(), c.dtype.to_string())).collect();
    assert_eq!(cols, vec![("id".into(), "int".into()), ("name".into(), "str".into()), ("x".into(), "float".into())]);
}

#[test]
fn parquet_diff_is_typed() {
    let a = Source::bytes(parquet_bytes());
    let opts = DiffOptions { keys: vec!["id".into()], ..Default::default() };
    let r = diff("t.parquet", TabularFormat::Parquet, Some(&a), None, &opts).unwrap();
    let j = json_of(&r);
    assert_eq!(j["tabular"]["removed"][1], json!({"id": 2, "name": null, "x": 2.0}));
    assert_eq!(j["tabular"]["removed"][2]["x"], json!(3.25));
}

// --- Not parsable -----------------------------------------------------------

#[test]
fn ragged_rows_are_a_typed_outcome() {
    let e = oxen_tabular::schema("t.csv", TabularFormat::Csv, &src("a,b\n1,2\n3\n")).unwrap_err();
    let np = e.not_parsable().expect("not parsable").clone();
    assert_eq!(np.why, "line 3: expected 2 fields, found 1");
    assert_eq!(e.to_string(), "t.csv: does not parse as csv: line 3: expected 2 fields, found 1");
    // Diff and merge report it the same way instead of failing some other way.
    let opts = DiffOptions::default();
    let e =
        diff("t.csv", TabularFormat::Csv, Some(&src("a,b\n1,2\n")), Some(&src("a,b\n1,2\n3\n")), &opts).unwrap_err();
    assert!(matches!(e, TabularError::NotParsable(_)));
    let (o, _) = m("a,b\n1,2\n", "a,b\n1,2\n3\n", "a,b\n1,2\n", &["a"], TabularFormat::Csv);
    match o {
        MergeOutcome::NotParsable { side, error } => {
            assert_eq!(side, MergeSide::Ours);
            assert!(error.why.contains("line 3"));
        }
        o => panic!("{o:?}"),
    }
    let e = oxen_tabular::schema("t.jsonl", TabularFormat::Jsonl, &src("{\"a\":1}\n[1]\n")).unwrap_err();
    assert!(e.not_parsable().unwrap().why.starts_with("line 2: invalid type: sequence, expected a JSON object"));
    let e = oxen_tabular::schema("t.parquet", TabularFormat::Parquet, &src("not parquet")).unwrap_err();
    assert!(e.not_parsable().is_some());
}

// --- Suggested keys ---------------------------------------------------------

#[test]
fn unkeyed_diff_suggests_an_id_column() {
    let r = d("user_id,v\n1,a\n2,b\n", "user_id,v\n1,a\n2,c\n", &[]);
    assert_eq!(r.tabular.suggested_keys, vec!["user_id"]);
    assert_eq!((r.tabular.rows.added, r.tabular.rows.removed), (1, 1));
    let r = d("id,v\n1,a\n1,b\n", "id,v\n1,a\n1,c\n", &[]);
    assert!(r.tabular.suggested_keys.is_empty());
}

#[test]
fn sklearn_style_header_line_is_not_parsable() {
    // scikit-learn's breast_cancer.csv / wine_data.csv start with a
    // "n_samples,n_features,target names..." line shorter than the rows.
    let data = "3,2,a,b\n1.0,2.0,0\n1.5,2.5,1\n";
    let e = oxen_tabular::schema("breast_cancer.csv", TabularFormat::Csv, &src(data)).unwrap_err();
    assert_eq!(e.not_parsable().unwrap().why, "line 2: expected 4 fields, found 3");
}

#[test]
fn tsv_merge_keeps_tabs_and_parquet_merge_is_unsupported() {
    let (r, out) =
        merged("id\tv\n1\ta\n2\tb\n", "id\tv\n1\tA\n2\tb\n", "id\tv\n1\ta\n2\tb,c\n", &["id"], TabularFormat::Tsv);
    assert!(r.is_clean());
    assert_eq!(out, "id\tv\n1\tA\n2\tb,c\n");
    let (o, _) = m("", "", "", &["id"], TabularFormat::Parquet);
    assert!(matches!(o, MergeOutcome::Unsupported { .. }));
}

#[test]
fn streams_from_a_reopenable_reader() {
    let mk = |s: &'static str| Source::reader(move || Ok(Box::new(s.as_bytes()) as Box<dyn std::io::Read + Send>));
    let opts = DiffOptions { keys: vec!["id".into()], ..Default::default() };
    let r =
        diff("t.csv", TabularFormat::Csv, Some(&mk("id,v\n1,a\n2,b\n")), Some(&mk("id,v\n1,a\n2,c\n")), &opts).unwrap();
    assert_eq!(json_of(&r)["tabular"]["modified"], json!([{"key": {"id": 2}, "changes": {"v": ["b", "c"]}}]));
    let mut out = Vec::new();
    let mo = MergeOptions { keys: vec!["id".into()], ..Default::default() };
    let o = merge(
        "t.csv",
        TabularFormat::Csv,
        Some(&mk("id,v\n1,a\n")),
        &mk("id,v\n1,a\n2,b\n"),
        &mk("id,v\n1,z\n"),
        &mo,
        &mut out,
    )
    .unwrap();
    assert!(matches!(o, MergeOutcome::Merged(ref r) if r.is_clean()));
    assert_eq!(String::from_utf8(out).unwrap(), "id,v\n1,z\n2,b\n");
}

#[test]
fn repeated_header_names_are_both_compared() {
    let r = d("id,a,a\n1,x,y\n", "id,a,a\n1,x,z\n", &["id"]);
    assert_eq!(json_of(&r)["tabular"]["modified"], json!([{"key": {"id": 1}, "changes": {"a.1": ["y", "z"]}}]));
}

#[test]
fn empty_base_merges_like_no_base() {
    let (r, out) = merged("", "id,v\n1,a\n", "id,v\n2,b\n", &["id"], TabularFormat::Csv);
    assert!(r.is_clean());
    assert_eq!(out, "id,v\n1,a\n2,b\n");
    let (r, _) = merged("", "id,v\n1,a\n", "id,v\n1,b\n", &["id"], TabularFormat::Csv);
    assert_eq!(r.conflicts[0].kind, ConflictKind::Cell);
    assert_eq!(r.conflicts[0].column.as_deref(), Some("v"));
}
