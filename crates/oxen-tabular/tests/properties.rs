//! Property tests: for random tables A and B derived from A by random cell
//! edits, row inserts/deletes (with duplicated keys), column adds, drops
//! and renames, applying diff(A, B) to A gives B (on the columns B shares
//! with A after renames; values of added columns are not part of a diff).
//! Merges: merge(base, base, X) and merge(base, X, base) both give X.

use std::collections::HashMap;

use oxen_tabular::diff::{diff, DiffOptions, FileDiff};
use oxen_tabular::merge::{merge, MergeOptions, MergeOutcome};
use oxen_tabular::{Limits, Source, TabularFormat};
use proptest::prelude::*;
use serde_json::Value;

#[derive(Clone, Debug)]
struct Table {
    cols: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(&self.cols).unwrap();
        for r in &self.rows {
            w.write_record(r).unwrap();
        }
        String::from_utf8(w.into_inner().unwrap()).unwrap()
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        o => o.to_string(),
    }
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0i64..20).prop_map(|i| i.to_string()),
        3 => "[a-c]{1,2}",
        1 => Just(String::new()),
        1 => Just("x, \"q\"\ny".to_string()),
        1 => Just("true".to_string()),
    ]
}

#[derive(Clone, Debug)]
enum Edit {
    Cell(usize, usize, String),
    Delete(usize),
    Insert(usize, Vec<String>),
    Duplicate(usize),
    AddColumn(usize, Vec<String>),
    DropColumn(usize),
    RenameColumn(usize),
    Swap(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        6 => (any::<usize>(), any::<usize>(), value()).prop_map(|(r, c, v)| Edit::Cell(r, c, v)),
        3 => any::<usize>().prop_map(Edit::Delete),
        3 => (any::<usize>(), prop::collection::vec(value(), 8)).prop_map(|(r, v)| Edit::Insert(r, v)),
        1 => any::<usize>().prop_map(Edit::Duplicate),
        1 => (any::<usize>(), prop::collection::vec(value(), 64)).prop_map(|(c, v)| Edit::AddColumn(c, v)),
        1 => any::<usize>().prop_map(Edit::DropColumn),
        1 => any::<usize>().prop_map(Edit::RenameColumn),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
    ]
}

fn table(dup_keys: bool) -> impl Strategy<Value = Table> {
    (1usize..4, 0usize..25).prop_flat_map(move |(ncols, nrows)| {
        prop::collection::vec(prop::collection::vec(value(), ncols), nrows).prop_map(move |vals| {
            let mut cols = vec!["id".to_string()];
            cols.extend((0..ncols).map(|i| format!("c{i}")));
            let rows = vals
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    let id = if dup_keys { (i / 2).to_string() } else { i.to_string() };
                    std::iter::once(id).chain(v).collect()
                })
                .collect();
            Table { cols, rows }
        })
    })
}

fn apply_edits(t: &Table, edits: &[Edit]) -> Table {
    let mut t = t.clone();
    let mut next_col = 0;
    let mut next_id = 1000;
    for e in edits {
        let nr = t.rows.len();
        let nc = t.cols.len();
        match e {
            Edit::Cell(r, c, v) if nr > 0 && nc > 1 => {
                // Keep ids stable (column 0) so keyed diffs see modifications.
                let c = 1 + c % (nc - 1);
                t.rows[r % nr][c] = v.clone();
            }
            Edit::Delete(r) if nr > 0 => {
                t.rows.remove(r % nr);
            }
            Edit::Insert(r, v) => {
                let mut row = vec![next_id.to_string()];
                next_id += 1;
                row.extend(v.iter().take(nc - 1).cloned());
                row.resize(nc, String::new());
                t.rows.insert(r % (nr + 1), row);
            }
            Edit::Duplicate(r) if nr > 0 => {
                let row = t.rows[r % nr].clone();
                t.rows.push(row);
            }
            Edit::AddColumn(c, v) => {
                let at = c % (nc + 1);
                let at = at.max(1);
                t.cols.insert(at, format!("new{next_col}"));
                next_col += 1;
                for (i, r) in t.rows.iter_mut().enumerate() {
                    r.insert(at, v[i % v.len()].clone());
                }
            }
            Edit::DropColumn(c) if nc > 2 => {
                let c = 1 + c % (nc - 1);
                t.cols.remove(c);
                for r in t.rows.iter_mut() {
                    r.remove(c);
                }
            }
            Edit::RenameColumn(c) if nc > 1 => {
                let c = 1 + c % (nc - 1);
                t.cols[c] = format!("{}_renamed", t.cols[c]);
            }
            Edit::Swap(a, b) if nr > 1 => {
                t.rows.swap(a % nr, b % nr);
            }
            _ => {}
        }
    }
    t
}

/// Apply a diff to A; returns the columns compared and A' rows as maps.
fn apply(a: &Table, d: &FileDiff) -> (Vec<String>, Vec<HashMap<String, String>>) {
    let t = &d.tabular;
    let mut rows: Vec<HashMap<String, String>> =
        a.rows.iter().map(|r| a.cols.iter().cloned().zip(r.iter().cloned()).collect()).collect();
    let original = rows.clone();
    let mut modified = vec![false; rows.len()];
    // Modifications by key (and occurrence for duplicated keys).
    for m in &t.modified {
        let matches: Vec<usize> = (0..rows.len())
            .filter(|&i| m.key.0.iter().all(|(k, v)| original[i].get(k).map(String::as_str) == Some(&text(v))))
            .collect();
        let i = matches[m.occurrence.unwrap_or(0) as usize];
        modified[i] = true;
        for (c, old, new) in &m.changes.0 {
            // Changes are named by the new column name; map back through renames.
            let oc = t.columns.renamed.iter().find(|r| &r.to == c).map(|r| r.from.clone()).unwrap_or(c.clone());
            assert_eq!(rows[i].get(&oc).cloned().unwrap_or_default(), text(old), "old value of {c}");
            rows[i].insert(oc, text(new));
        }
    }
    // Removals by full content among unmodified rows.
    let mut gone = vec![false; rows.len()];
    for r in &t.removed {
        let i = (0..rows.len())
            .find(|&i| {
                !gone[i]
                    && !modified[i]
                    && r.0.iter().all(|(k, v)| original[i].get(k).cloned().unwrap_or_default() == text(v))
            })
            .expect("removed row exists in A");
        gone[i] = true;
    }
    let mut out: Vec<HashMap<String, String>> =
        rows.into_iter().zip(gone).filter(|(_, g)| !g).map(|(r, _)| r).collect();
    // Renames.
    for r in out.iter_mut() {
        for rn in &t.columns.renamed {
            if let Some(v) = r.remove(&rn.from) {
                r.insert(rn.to.clone(), v);
            }
        }
    }
    for r in &t.added {
        out.push(r.0.iter().map(|(k, v)| (k.clone(), text(v))).collect());
    }
    // Compare on the columns of A that survive (renamed), i.e. B's columns minus added.
    let mut cols: Vec<String> = a
        .cols
        .iter()
        .filter(|c| !t.columns.removed.contains(c))
        .map(|c| t.columns.renamed.iter().find(|r| &r.from == c).map(|r| r.to.clone()).unwrap_or(c.clone()))
        .collect();
    cols.sort();
    (cols, out)
}

fn project(cols: &[String], rows: &[HashMap<String, String>]) -> Vec<Vec<String>> {
    let mut v: Vec<Vec<String>> =
        rows.iter().map(|r| cols.iter().map(|c| r.get(c).cloned().unwrap_or_default()).collect()).collect();
    v.sort();
    v
}

fn check(a: &Table, b: &Table, keys: &[&str], limits: Limits) -> std::result::Result<(), TestCaseError> {
    let opts = DiffOptions { keys: keys.iter().map(|k| k.to_string()).collect(), row_limit: None, limits };
    let (sa, sb) = (Source::bytes(a.csv().into_bytes()), Source::bytes(b.csv().into_bytes()));
    let d = diff("t.csv", TabularFormat::Csv, Some(&sa), Some(&sb), &opts).unwrap();
    let (cols, got) = apply(a, &d);
    let want: Vec<HashMap<String, String>> =
        b.rows.iter().map(|r| b.cols.iter().cloned().zip(r.iter().cloned()).collect()).collect();
    prop_assert_eq!(project(&cols, &got), project(&cols, &want), "diff {:#?}", serde_json::to_value(&d).unwrap());
    // Counts agree with the lists (no limit).
    prop_assert_eq!(d.tabular.rows.added as usize, d.tabular.added.len());
    prop_assert_eq!(d.tabular.rows.removed as usize, d.tabular.removed.len());
    prop_assert_eq!(d.tabular.rows.modified as usize, d.tabular.modified.len());
    if b.cols == a.cols && b.rows == a.rows {
        prop_assert!(d.is_empty());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn keyed_diff_applies(a in table(false), edits in prop::collection::vec(edit(), 0..8)) {
        let b = apply_edits(&a, &edits);
        check(&a, &b, &["id"], Limits::default())?;
    }

    #[test]
    fn keyed_diff_with_duplicate_keys_applies(a in table(true), edits in prop::collection::vec(edit(), 0..8)) {
        let b = apply_edits(&a, &edits);
        check(&a, &b, &["id"], Limits::default())?;
    }

    #[test]
    fn unkeyed_diff_applies(a in table(true), edits in prop::collection::vec(edit(), 0..8)) {
        let b = apply_edits(&a, &edits);
        check(&a, &b, &[], Limits::default())?;
    }

    #[test]
    fn diff_applies_with_spills(a in table(false), edits in prop::collection::vec(edit(), 0..8)) {
        // A budget this small spills every few rows.
        let b = apply_edits(&a, &edits);
        check(&a, &b, &["id"], Limits { mem_budget: 1, temp_dir: None })?;
    }

    #[test]
    fn one_sided_merges_give_that_side(a in table(false), edits in prop::collection::vec(edit(), 0..6)) {
        let x = apply_edits(&a, &edits);
        let (sa, sx) = (Source::bytes(a.csv().into_bytes()), Source::bytes(x.csv().into_bytes()));
        let opts = MergeOptions { keys: vec!["id".into()], ..Default::default() };
        if !x.cols.contains(&"id".to_string()) || x.rows.iter().map(|r| &r[0]).collect::<std::collections::HashSet<_>>().len() != x.rows.len() {
            return Ok(());
        }
        // Ours unchanged, theirs = X: rows of X (appended rows may move to the end).
        let mut out = Vec::new();
        let o = merge("t.csv", TabularFormat::Csv, Some(&sa), &sa, &sx, &opts, &mut out).unwrap();
        let MergeOutcome::Merged(r) = o else { panic!("{o:?}") };
        prop_assert!(r.is_clean(), "{:?}", r.conflicts);
        let got = Table::parse(&out);
        prop_assert_eq!(&got.cols, &x.cols);
        let (mut g, mut w) = (got.rows.clone(), x.rows.clone());
        g.sort();
        w.sort();
        prop_assert_eq!(g, w);
        // Ours = X, theirs unchanged: exactly X, byte for byte.
        let mut out = Vec::new();
        let o = merge("t.csv", TabularFormat::Csv, Some(&sa), &sx, &sa, &opts, &mut out).unwrap();
        let MergeOutcome::Merged(r) = o else { panic!("{o:?}") };
        prop_assert!(r.is_clean());
        prop_assert_eq!(String::from_utf8(out).unwrap(), x.csv());
    }
}

impl Table {
    fn parse(b: &[u8]) -> Table {
        let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(b);
        let mut recs = r.records().map(|r| r.unwrap().iter().map(str::to_string).collect::<Vec<_>>());
        let cols = recs.next().unwrap_or_default();
        Table { cols, rows: recs.collect() }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

    /// Ours edits column c0 and appends rows; theirs edits column c1 (same
    /// rows or not), deletes rows ours did not touch and adds a column. The
    /// merge is clean and equals both changes applied.
    #[test]
    fn disjoint_edits_merge_cleanly(
        a in table(false),
        ours_edits in prop::collection::vec((any::<usize>(), value()), 0..6),
        theirs_edits in prop::collection::vec((any::<usize>(), value()), 0..6),
        theirs_deletes in prop::collection::vec(any::<usize>(), 0..3),
        ours_inserts in prop::collection::vec(prop::collection::vec(value(), 4), 0..3),
        new_col in prop::option::of(prop::collection::vec(value(), 32)),
    ) {
        if a.cols.len() < 3 || a.rows.is_empty() {
            return Ok(());
        }
        let n = a.rows.len();
        let mut ours = a.clone();
        let mut touched = vec![false; n];
        for (r, v) in &ours_edits {
            ours.rows[r % n][1] = v.clone();
            touched[r % n] = true;
        }
        for (k, vals) in ours_inserts.iter().enumerate() {
            let mut row = vec![(1000 + k).to_string()];
            row.extend(vals.iter().take(a.cols.len() - 1).cloned());
            row.resize(a.cols.len(), String::new());
            ours.rows.push(row);
        }
        let mut theirs = a.clone();
        for (r, v) in &theirs_edits {
            theirs.rows[r % n][2] = v.clone();
        }
        let mut deleted = vec![false; n];
        for r in &theirs_deletes {
            if !touched[r % n] {
                deleted[r % n] = true;
            }
        }
        if let Some(vals) = &new_col {
            theirs.cols.push("extra".into());
            for (i, r) in theirs.rows.iter_mut().enumerate() {
                r.push(vals[i % vals.len()].clone());
            }
        }
        // Expected: ours' rows, theirs' c1 and extra column, theirs' deletions.
        let mut want_cols = a.cols.clone();
        if new_col.is_some() {
            want_cols.push("extra".into());
        }
        let mut want: Vec<Vec<String>> = Vec::new();
        for (i, r) in ours.rows.iter().enumerate() {
            if i < n && deleted[i] {
                continue;
            }
            let mut row = r.clone();
            if i < n {
                row[2] = theirs.rows[i][2].clone();
            }
            if new_col.is_some() {
                row.push(if i < n { theirs.rows[i].last().unwrap().clone() } else { String::new() });
            }
            want.push(row);
        }
        theirs.rows = theirs.rows.iter().enumerate().filter(|(i, _)| !deleted[*i]).map(|(_, r)| r.clone()).collect();

        let s = |t: &Table| Source::bytes(t.csv().into_bytes());
        let opts = MergeOptions { keys: vec!["id".into()], ..Default::default() };
        let mut out = Vec::new();
        let o = merge("t.csv", TabularFormat::Csv, Some(&s(&a)), &s(&ours), &s(&theirs), &opts, &mut out).unwrap();
        let MergeOutcome::Merged(r) = o else { panic!("{o:?}") };
        prop_assert!(r.is_clean(), "{:?}", r.conflicts);
        let got = Table::parse(&out);
        prop_assert_eq!(&got.cols, &want_cols);
        prop_assert_eq!(&got.rows, &want, "merged:\n{}", String::from_utf8_lossy(&out));
    }
}
