//! The original in-memory API (strings only), kept for the crates that use
//! it until they move to the engine: [`load`] into a [`Table`], [`diff`],
//! [`merge3`], [`write_table`]. Prefer [`crate::diff::diff`],
//! [`crate::merge::merge`] and [`crate::df`], which stream.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};

use crate::types::{Result, TabularError};

/// A table loaded in memory: header and rows as strings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, each with one value per column.
    pub rows: Vec<Vec<String>>,
}

/// Visit every row of a tabular stream without holding it all in memory.
fn for_each_row<R: Read>(
    reader: R,
    format: &'static str,
    path: &str,
    mut header: impl FnMut(Vec<String>),
    mut row: impl FnMut(&[String]),
) -> Result<()> {
    let malformed = |why: String| TabularError::Malformed { path: path.to_string(), format, why };
    match format {
        "csv" | "tsv" => {
            let mut rdr = csv::ReaderBuilder::new()
                .delimiter(if format == "tsv" { b'\t' } else { b',' })
                .has_headers(true)
                .flexible(false)
                .from_reader(reader);
            let h = rdr.headers().map_err(|e| malformed(e.to_string()))?.iter().map(str::to_string).collect();
            header(h);
            let mut rec = csv::StringRecord::new();
            let mut buf: Vec<String> = Vec::new();
            loop {
                match rdr.read_record(&mut rec) {
                    Ok(false) => break,
                    Ok(true) => {
                        buf.clear();
                        buf.extend(rec.iter().map(str::to_string));
                        row(&buf);
                    }
                    Err(e) => return Err(malformed(e.to_string())),
                }
            }
        }
        "jsonl" => {
            let mut cols: Vec<String> = Vec::new();
            let mut rows: Vec<serde_json::Map<String, serde_json::Value>> = Vec::new();
            // JSONL has no header: columns are the union of keys in first-seen
            // order, so the file is read once to collect them.
            for (i, line) in BufReader::new(reader).lines().enumerate() {
                let line = line.map_err(|e| TabularError::Io { path: path.to_string(), source: e })?;
                if line.trim().is_empty() {
                    continue;
                }
                let v: serde_json::Value =
                    serde_json::from_str(&line).map_err(|e| malformed(format!("line {}: {e}", i + 1)))?;
                let obj = match v {
                    serde_json::Value::Object(o) => o,
                    _ => return Err(malformed(format!("line {}: not a JSON object", i + 1))),
                };
                for k in obj.keys() {
                    if !cols.contains(k) {
                        cols.push(k.clone());
                    }
                }
                rows.push(obj);
            }
            header(cols.clone());
            let mut buf = Vec::new();
            for obj in rows {
                buf.clear();
                for c in &cols {
                    buf.push(match obj.get(c) {
                        None | Some(serde_json::Value::Null) => String::new(),
                        Some(serde_json::Value::String(s)) => s.clone(),
                        Some(v) => v.to_string(),
                    });
                }
                row(&buf);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Load a whole table (for diff and merge).
pub fn load<R: Read>(reader: R, format: &'static str, path: &str) -> Result<Table> {
    let mut t = Table::default();
    for_each_row(reader, format, path, |h| t.columns = h, |r| t.rows.push(r.to_vec()))?;
    Ok(t)
}

/// A changed row, matched by key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowChange {
    /// Key values identifying the row.
    pub key: Vec<String>,
    /// `(column, old, new)` for each changed value.
    pub changes: Vec<(String, String, String)>,
}

/// The difference between two versions of a table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableDiff {
    /// Columns only in the new version.
    pub added_columns: Vec<String>,
    /// Columns only in the old version.
    pub removed_columns: Vec<String>,
    /// `(old, new)` names of columns renamed in place.
    pub renamed_columns: Vec<(String, String)>,
    /// Rows only in the new version.
    pub added_rows: Vec<Vec<String>>,
    /// Rows only in the old version.
    pub removed_rows: Vec<Vec<String>>,
    /// Rows present in both (by key) with different values.
    pub modified_rows: Vec<RowChange>,
}

impl TableDiff {
    /// True when nothing differs.
    pub fn is_empty(&self) -> bool {
        self.added_columns.is_empty()
            && self.removed_columns.is_empty()
            && self.renamed_columns.is_empty()
            && self.added_rows.is_empty()
            && self.removed_rows.is_empty()
            && self.modified_rows.is_empty()
    }
}

/// Column name changes: a column whose name differs at the same position,
/// where neither name exists on the other side, is a rename; the rest are
/// additions and removals.
fn column_changes(old: &[String], new: &[String]) -> (Vec<String>, Vec<String>, Vec<(String, String)>) {
    let old_set: HashSet<&String> = old.iter().collect();
    let new_set: HashSet<&String> = new.iter().collect();
    let mut renamed = Vec::new();
    for (i, o) in old.iter().enumerate() {
        if let Some(n) = new.get(i) {
            if o != n && !new_set.contains(o) && !old_set.contains(n) {
                renamed.push((o.clone(), n.clone()));
            }
        }
    }
    let renamed_old: HashSet<&String> = renamed.iter().map(|(o, _)| o).collect();
    let renamed_new: HashSet<&String> = renamed.iter().map(|(_, n)| n).collect();
    let added = new.iter().filter(|c| !old_set.contains(c) && !renamed_new.contains(c)).cloned().collect();
    let removed = old.iter().filter(|c| !new_set.contains(c) && !renamed_old.contains(c)).cloned().collect();
    (added, removed, renamed)
}

/// Diff two tables. With `keys`, rows are matched by those columns (looked
/// up by name in each version, following renames) and rows with equal keys
/// but other differing values are "modified". Without keys, rows match by
/// whole content (as a multiset), so a change shows as one removal and one
/// addition.
pub fn diff(old: &Table, new: &Table, keys: &[String], path: &str) -> Result<TableDiff> {
    let (added_columns, removed_columns, renamed_columns) = column_changes(&old.columns, &new.columns);
    let mut d = TableDiff { added_columns, removed_columns, renamed_columns, ..Default::default() };
    // Project rows onto the columns both versions share (in new-version
    // names), so a pure schema change does not mark every row changed.
    let rename: HashMap<&String, &String> = d.renamed_columns.iter().map(|(o, n)| (o, n)).collect();
    let old_pos: HashMap<&String, usize> =
        old.columns.iter().enumerate().map(|(i, c)| (*rename.get(c).unwrap_or(&c), i)).collect();
    let common: Vec<(usize, usize, &String)> =
        new.columns.iter().enumerate().filter_map(|(ni, c)| old_pos.get(c).map(|&oi| (oi, ni, c))).collect();
    let proj_old =
        |r: &Vec<String>| common.iter().map(|(oi, _, _)| r.get(*oi).cloned().unwrap_or_default()).collect::<Vec<_>>();
    let proj_new =
        |r: &Vec<String>| common.iter().map(|(_, ni, _)| r.get(*ni).cloned().unwrap_or_default()).collect::<Vec<_>>();

    if keys.is_empty() {
        let mut counts: HashMap<Vec<String>, i64> = HashMap::new();
        for r in &old.rows {
            *counts.entry(proj_old(r)).or_default() += 1;
        }
        let mut new_counts: HashMap<Vec<String>, i64> = HashMap::new();
        for r in &new.rows {
            *new_counts.entry(proj_new(r)).or_default() += 1;
        }
        let mut seen_old = counts.clone();
        for r in &new.rows {
            let p = proj_new(r);
            match seen_old.get_mut(&p) {
                Some(c) if *c > 0 => *c -= 1,
                _ => d.added_rows.push(r.clone()),
            }
        }
        let mut seen_new = new_counts;
        for r in &old.rows {
            let p = proj_old(r);
            match seen_new.get_mut(&p) {
                Some(c) if *c > 0 => *c -= 1,
                _ => d.removed_rows.push(r.clone()),
            }
        }
        return Ok(d);
    }

    let key_idx = |cols: &[String], renamed_from_old: bool| -> Result<Vec<usize>> {
        keys.iter()
            .map(|k| {
                let name = if renamed_from_old {
                    // The key is given in new names; find the old column.
                    d.renamed_columns.iter().find(|(_, n)| n == k).map(|(o, _)| o.clone()).unwrap_or_else(|| k.clone())
                } else {
                    k.clone()
                };
                cols.iter()
                    .position(|c| *c == name)
                    .ok_or_else(|| TabularError::NoSuchKey { path: path.to_string(), key: k.clone() })
            })
            .collect()
    };
    let ok = key_idx(&old.columns, true)?;
    let nk = key_idx(&new.columns, false)?;
    let key_of =
        |r: &Vec<String>, idx: &[usize]| idx.iter().map(|&i| r.get(i).cloned().unwrap_or_default()).collect::<Vec<_>>();
    let mut old_by_key: BTreeMap<Vec<String>, &Vec<String>> = BTreeMap::new();
    for r in &old.rows {
        old_by_key.insert(key_of(r, &ok), r);
    }
    let mut matched = HashSet::new();
    for r in &new.rows {
        let k = key_of(r, &nk);
        match old_by_key.get(&k) {
            None => d.added_rows.push(r.clone()),
            Some(o) => {
                matched.insert(k.clone());
                let (po, pn) = (proj_old(o), proj_new(r));
                let changes: Vec<(String, String, String)> = common
                    .iter()
                    .zip(po.into_iter().zip(pn))
                    .filter(|(_, (a, b))| a != b)
                    .map(|((_, _, c), (a, b))| ((*c).clone(), a, b))
                    .collect();
                if !changes.is_empty() {
                    d.modified_rows.push(RowChange { key: k, changes });
                }
            }
        }
    }
    for r in &old.rows {
        if !matched.contains(&key_of(r, &ok)) {
            d.removed_rows.push(r.clone());
        }
    }
    Ok(d)
}

/// Serialise a table in `format` (csv or tsv; jsonl writes one object per row).
pub fn write_table(t: &Table, format: &str) -> Vec<u8> {
    match format {
        "jsonl" => {
            let mut out = Vec::new();
            for r in &t.rows {
                let mut m = serde_json::Map::new();
                for (c, v) in t.columns.iter().zip(r) {
                    m.insert(c.clone(), serde_json::Value::String(v.clone()));
                }
                out.extend_from_slice(serde_json::Value::Object(m).to_string().as_bytes());
                out.push(b'\n');
            }
            out
        }
        _ => {
            let mut w =
                csv::WriterBuilder::new().delimiter(if format == "tsv" { b'\t' } else { b',' }).from_writer(Vec::new());
            let _ = w.write_record(&t.columns);
            for r in &t.rows {
                let _ = w.write_record(r);
            }
            w.into_inner().unwrap_or_default()
        }
    }
}

/// Three-way row-level merge matched by `keys`. Returns `None` on a
/// conflict: differing schemas, or the same key changed differently on both
/// sides. Row order follows `ours`, with rows only `theirs` added appended.
pub fn merge3(base: &Table, ours: &Table, theirs: &Table, keys: &[String]) -> Option<Table> {
    if keys.is_empty() || base.columns != ours.columns || base.columns != theirs.columns {
        return None;
    }
    let idx: Vec<usize> = keys.iter().map(|k| base.columns.iter().position(|c| c == k)).collect::<Option<_>>()?;
    let key = |r: &Vec<String>| idx.iter().map(|&i| r.get(i).cloned().unwrap_or_default()).collect::<Vec<_>>();
    let map =
        |t: &Table| -> BTreeMap<Vec<String>, Vec<String>> { t.rows.iter().map(|r| (key(r), r.clone())).collect() };
    let (b, o, t) = (map(base), map(ours), map(theirs));
    let mut result_rows: Vec<Vec<String>> = Vec::new();
    let mut emitted: HashSet<Vec<String>> = HashSet::new();
    let mut all_keys: Vec<Vec<String>> = ours.rows.iter().map(&key).collect();
    for r in &theirs.rows {
        let k = key(r);
        if !o.contains_key(&k) {
            all_keys.push(k);
        }
    }
    for k in all_keys {
        if !emitted.insert(k.clone()) {
            continue;
        }
        let (bv, ov, tv) = (b.get(&k), o.get(&k), t.get(&k));
        let pick = if ov == tv {
            ov
        } else if ov == bv {
            tv
        } else if tv == bv {
            ov
        } else {
            return None;
        };
        if let Some(r) = pick {
            result_rows.push(r.clone());
        }
    }
    Some(Table { columns: ours.columns.clone(), rows: result_rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Table {
        load(s.as_bytes(), "csv", "t.csv").unwrap()
    }

    #[test]
    fn keyed_diff_with_rename() {
        let a = t("id,name,price\n1,a,10\n2,b,20\n3,c,30\n");
        let b = t("id,name,cost\n1,a,10\n2,B,20\n4,d,40\n");
        let d = diff(&a, &b, &["id".into()], "x").unwrap();
        assert_eq!(d.renamed_columns, vec![("price".to_string(), "cost".to_string())]);
        assert_eq!(d.added_rows.len(), 1);
        assert_eq!(d.removed_rows.len(), 1);
        assert_eq!(d.modified_rows.len(), 1);
        assert_eq!(d.modified_rows[0].changes, vec![("name".into(), "b".into(), "B".into())]);
    }
}
