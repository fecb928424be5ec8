//! The `df` building block and record batches.

use oxen_tabular::batch::record_batches;
use oxen_tabular::df::{df, parse_filter, write_schema, DfOutput, DfQuery};
use oxen_tabular::{Source, TabularError, TabularFormat};

const CSV: &str = "id,name,score,ok\n1,ann,3.5,true\n2,\"bo, b\",7,false\n3,cy,,true\n4,di,10,true\n";

fn run(q: DfQuery, out: DfOutput) -> String {
    run_fmt(CSV, TabularFormat::Csv, q, out)
}

fn run_fmt(data: &str, f: TabularFormat, q: DfQuery, out: DfOutput) -> String {
    let mut buf = Vec::new();
    df("t", f, &Source::bytes(data.as_bytes().to_vec()), &q, out, &mut buf).unwrap();
    String::from_utf8(buf).unwrap()
}

#[test]
fn head_slice_columns_as_csv() {
    let q = DfQuery { head: Some(2), columns: Some(vec!["name".into(), "id".into()]), ..Default::default() };
    assert_eq!(run(q, DfOutput::Csv), "name,id\nann,1\n\"bo, b\",2\n");
    let q = DfQuery { slice: Some((1, 3)), columns: Some(vec!["id".into()]), ..Default::default() };
    assert_eq!(run(q, DfOutput::Csv), "id\n2\n3\n");
}

#[test]
fn filters_compare_numbers_and_text() {
    let ids = |f: &str| {
        let q = DfQuery { filter: Some(f.into()), columns: Some(vec!["id".into()]), ..Default::default() };
        run(q, DfOutput::Csv).lines().skip(1).map(str::to_string).collect::<Vec<_>>().join(" ")
    };
    assert_eq!(ids("score > 3"), "1 2 4");
    assert_eq!(ids("score >= 7 && ok == true"), "4");
    assert_eq!(ids("name == 'bo, b' || id == 3"), "2 3");
    assert_eq!(ids("score == null"), "3");
    assert_eq!(ids("(id < 2 || id > 3) && ok != false"), "1 4");
    assert_eq!(ids("name > bo"), "2 3 4");
}

#[test]
fn json_output_is_typed() {
    let q = DfQuery { head: Some(3), ..Default::default() };
    let out = run(q, DfOutput::Json);
    let rows: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows[0], serde_json::json!({"id": 1, "name": "ann", "score": 3.5, "ok": true}));
    assert_eq!(rows[2]["score"], serde_json::Value::Null);
    // JSONL keeps its values and omits absent keys.
    let out = run_fmt("{\"a\":{\"x\":1}}\n{\"b\":2}\n", TabularFormat::Jsonl, DfQuery::default(), DfOutput::Json);
    assert_eq!(out, "{\"a\":{\"x\":1}}\n{\"b\":2}\n");
}

#[test]
fn text_table_is_aligned() {
    let q = DfQuery { head: Some(2), ..Default::default() };
    let out = run(q, DfOutput::Table);
    assert_eq!(
        out,
        "id | name  | score | ok\n---+-------+-------+------\n1  | ann   | 3.5   | true\n2  | bo, b | 7     | false\n"
    );
}

#[test]
fn bad_queries_are_reported() {
    let mut buf = Vec::new();
    let src = Source::bytes(CSV.as_bytes().to_vec());
    let q = DfQuery { columns: Some(vec!["nope".into()]), ..Default::default() };
    let e = df("t", TabularFormat::Csv, &src, &q, DfOutput::Csv, &mut buf).unwrap_err();
    assert!(matches!(e, TabularError::Query(_)));
    assert!(parse_filter("a >").is_err());
    assert!(parse_filter("a == 'x").is_err());
    let q = DfQuery { filter: Some("zz == 1".into()), ..Default::default() };
    assert!(df("t", TabularFormat::Csv, &src, &q, DfOutput::Csv, &mut buf).is_err());
}

#[test]
fn schema_output() {
    let s = oxen_tabular::schema("t.csv", TabularFormat::Csv, &Source::bytes(CSV.as_bytes().to_vec())).unwrap();
    let mut out = Vec::new();
    write_schema(&s, DfOutput::Json, &mut out).unwrap();
    let j: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        j,
        serde_json::json!({"format": "csv", "rows": 4, "columns": [
            {"name": "id", "dtype": "int"}, {"name": "name", "dtype": "str"},
            {"name": "score", "dtype": "float"}, {"name": "ok", "dtype": "bool"}]})
    );
}

#[test]
fn record_batches_of_csv_have_engine_types() {
    use arrow_array::Array;
    use arrow_schema::DataType;
    let b = record_batches("t.csv", TabularFormat::Csv, &Source::bytes(CSV.as_bytes().to_vec()), 3).unwrap();
    let schema = b.schema();
    let types: Vec<DataType> = schema.fields().iter().map(|f| f.data_type().clone()).collect();
    assert_eq!(types, vec![DataType::Int64, DataType::Utf8, DataType::Float64, DataType::Boolean]);
    let batches: Vec<_> = b.map(Result::unwrap).collect();
    assert_eq!(batches.iter().map(|b| b.num_rows()).collect::<Vec<_>>(), vec![3, 1]);
    assert!(batches[0].column(2).is_null(2));
}
