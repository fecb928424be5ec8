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
