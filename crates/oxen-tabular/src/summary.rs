//! Per-row summaries: what diff and merge sort and join instead of rows.
//!
//! A summary is `(key hash, row hash, ordinal, byte offset, extra hashes)`,
//! 48 bytes plus 16 per extra hash. Hashes are xxh3-128 over length-prefixed
//! cells, so equal hashes mean equal cells (a collision is a 2^-128 event).
//! The row hash covers a chosen set of columns in name order, which makes it
//! blind to column order and lets a diff ignore columns only one side has.
//! The key hash covers the key columns (or is the row hash when rows are
//! matched by content). Summaries depend only on one version and the column
//! sets, so they can be computed when a file is added and stored beside it
//! (see [`crate::TableSummary`]).

use std::io::{self, Read};

use xxhash_rust::xxh3::xxh3_128;

use crate::read::Row;
use crate::sort::{read_first_u64, read_u64, Spill};

/// One row's summary.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RowSummary {
    pub key: u128,
    pub hash: u128,
    pub ord: u64,
    pub off: u64,
    pub extra: Vec<u128>,
}

fn read_u128(r: &mut impl Read) -> io::Result<u128> {
    let a = read_u64(r)?;
    let b = read_u64(r)?;
    Ok(((b as u128) << 64) | a as u128)
}

impl Spill for RowSummary {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.extra.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.key.to_le_bytes());
        out.extend_from_slice(&self.hash.to_le_bytes());
        out.extend_from_slice(&self.ord.to_le_bytes());
        out.extend_from_slice(&self.off.to_le_bytes());
        for e in &self.extra {
            out.extend_from_slice(&e.to_le_bytes());
        }
    }

    fn decode(r: &mut impl Read) -> io::Result<Option<Self>> {
        let Some(n) = read_first_u64(r)? else { return Ok(None) };
        let key = read_u128(r)?;
        let hash = read_u128(r)?;
        let ord = read_u64(r)?;
        let off = read_u64(r)?;
        let mut extra = Vec::with_capacity(n as usize);
        for _ in 0..n {
            extra.push(read_u128(r)?);
        }
        Ok(Some(RowSummary { key, hash, ord, off, extra }))
    }

    fn mem(&self) -> usize {
        std::mem::size_of::<Self>() + 16 * self.extra.capacity()
    }
}

/// Hash the cells `cols` of a row (in that order).
pub(crate) fn hash_cells(row: &Row, cols: &[usize], scratch: &mut Vec<u8>) -> u128 {
    scratch.clear();
    for &i in cols {
        match row.cell(i) {
            None => scratch.push(0),
            Some(c) => {
                scratch.push(1);
                scratch.extend_from_slice(&(c.len() as u32).to_le_bytes());
                scratch.extend_from_slice(c);
            }
        }
    }
    xxh3_128(scratch)
}

/// Hash one cell.
pub(crate) fn hash_cell(row: &Row, i: usize, scratch: &mut Vec<u8>) -> u128 {
    hash_cells(row, std::slice::from_ref(&i), scratch)
}

/// Column indices of `names` in `columns`, when all are present.
pub(crate) fn indices(columns: &[String], names: &[String]) -> Option<Vec<usize>> {
    names.iter().map(|n| columns.iter().position(|c| c == n)).collect()
}

/// Is a column named like an identifier (`id`, `*_id`, `userId`, `key`, `uuid`...)?
pub(crate) fn id_like(name: &str) -> bool {
    let l = name.to_ascii_lowercase();
    if matches!(l.as_str(), "id" | "key" | "uuid" | "guid" | "pk" | "_id") {
        return true;
    }
    for suf in ["_id", "-id", " id", "_key", "-key", "_uuid", "_pk"] {
        if l.ends_with(suf) {
            return true;
        }
    }
    // camelCase: userId, orderID, rowKey, itemUuid
    for suf in ["Id", "ID", "Key", "Uuid", "UUID"] {
        if let Some(p) = name.strip_suffix(suf) {
            if p.chars().last().is_some_and(|c| c.is_ascii_lowercase()) {
                return true;
            }
        }
    }
    false
}

// --- Stored summaries -------------------------------------------------------

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::diff::{header, join, scan, RowCounts, Spec};
use crate::types::{ColumnType, Limits, Result, Source, TabularError, TabularFormat};

/// The header of a stored table summary: what the rows were hashed over.
///
/// [`summarize`] computes a table's row summaries in one streaming pass
/// (bounded memory) and writes them sorted, after this header as a JSON
/// line; they can be stored beside the file when it is added. Row hashes
/// cover every column, in name order, so two summaries with the same
/// column names and keys are comparable by [`diff_summaries`] without
/// reading either table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSummary {
    /// Summary format version.
    pub version: u32,
    /// Table format.
    pub format: TabularFormat,
    /// Column names in file order.
    pub columns: Vec<String>,
    /// Column types.
    pub types: Vec<ColumnType>,
    /// Key columns the key hashes cover (empty: rows keyed by content).
    pub keys: Vec<String>,
    /// Data rows.
    pub rows: u64,
    /// xxh3-128 of the file's bytes, hex (text formats).
    pub raw_hash: Option<String>,
}

/// Compute a table's summary and write it (header line, then sorted
/// records) to `out`. Keys missing from the table give a content-keyed
/// summary (`keys` empty in the header).
pub fn summarize(
    path: &str,
    format: TabularFormat,
    source: &Source,
    keys: &[String],
    limits: &Limits,
    out: &mut dyn Write,
) -> Result<TableSummary> {
    let h = header(source, format, path, limits)?;
    let key_idx = if keys.is_empty() { None } else { indices(&h.columns, keys) };
    let mut names = h.columns.clone();
    names.sort();
    let spec = Spec {
        key: key_idx.clone(),
        hash: indices(&h.columns, &names).expect("own columns"),
        extra: Vec::new(),
        unique: Vec::new(),
    };
    let s = scan(source, format, path, &h, &spec, limits.mem_budget, limits)?;
    let meta = TableSummary {
        version: 1,
        format,
        columns: h.columns.clone(),
        types: s.types.clone(),
        keys: if key_idx.is_some() { keys.to_vec() } else { Vec::new() },
        rows: s.rows,
        raw_hash: s.dialect.as_ref().map(|d| format!("{:032x}", d.raw_hash)),
    };
    let io = |e: io::Error| TabularError::io(path, e);
    let mut w = std::io::BufWriter::new(out);
    serde_json::to_writer(&mut w, &meta).map_err(|e| io(e.into()))?;
    w.write_all(b"\n").map_err(io)?;
    let mut sorted = s.sorted;
    let mut buf = Vec::new();
    while let Some(r) = sorted.next_record().map_err(io)? {
        buf.clear();
        r.encode(&mut buf);
        w.write_all(&buf).map_err(io)?;
    }
    w.flush().map_err(io)?;
    Ok(meta)
}

/// Read a stored summary's header.
pub fn read_summary(source: &Source) -> Result<TableSummary> {
    let mut r = std::io::BufReader::new(source.open().map_err(|e| TabularError::io("summary", e))?);
    read_header(&mut r)
}

fn read_header(r: &mut impl BufRead) -> Result<TableSummary> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line).map_err(|e| TabularError::io("summary", e))?;
    serde_json::from_slice(&line).map_err(|e| TabularError::Query(format!("not a table summary: {e}")))
}

/// Rows that differ between two stored summaries, by ordinal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryDiff {
    /// Row counts.
    pub rows: RowCounts,
    /// The rows both have are in a different order.
    pub row_order_changed: bool,
    /// Ordinals (0-based data rows) of the first added rows, in the new table.
    pub added: Vec<u64>,
    /// Ordinals of the first removed rows, in the old table.
    pub removed: Vec<u64>,
    /// `(old ordinal, new ordinal)` of the first modified rows.
    pub modified: Vec<(u64, u64)>,
}

/// Compare two stored summaries without reading the tables. `None` when
/// they are not comparable (different keys, or different column names: the
/// row hashes then cover different columns; diff the tables instead).
pub fn diff_summaries(
    old: &Source,
    new: &Source,
    row_limit: Option<usize>,
    limits: &Limits,
) -> Result<Option<SummaryDiff>> {
    let open = |s: &Source| -> Result<(TableSummary, std::io::BufReader<Box<dyn Read + Send>>)> {
        let mut r = std::io::BufReader::with_capacity(1 << 18, s.open().map_err(|e| TabularError::io("summary", e))?);
        let h = read_header(&mut r)?;
        Ok((h, r))
    };
    let (oh, mut or) = open(old)?;
    let (nh, mut nr) = open(new)?;
    let (mut a, mut b) = (oh.columns.clone(), nh.columns.clone());
    a.sort();
    b.sort();
    if oh.keys != nh.keys || a != b || oh.format != nh.format {
        return Ok(None);
    }
    let read_all = |r: &mut std::io::BufReader<Box<dyn Read + Send>>| -> Result<crate::sort::Sorted<RowSummary>> {
        // Records are stored sorted; a sorter within the budget streams them back.
        let mut s = crate::sort::Sorter::new(limits.mem_budget / 4, limits.dir());
        while let Some(rec) = RowSummary::decode(r).map_err(|e| TabularError::io("summary", e))? {
            s.push(rec).map_err(|e| TabularError::io("summary", e))?;
        }
        s.finish().map_err(|e| TabularError::io("summary", e))
    };
    let (os, ns) = (read_all(&mut or)?, read_all(&mut nr)?);
    let j = join(os, ns, !oh.keys.is_empty(), 0, 0, row_limit, limits.mem_budget / 4, limits, "summary")?;
    Ok(Some(SummaryDiff {
        rows: j.counts,
        row_order_changed: j.row_order_changed,
        added: j.added.iter().map(|a| a.0).collect(),
        removed: j.removed.iter().map(|a| a.0).collect(),
        modified: j.modified.iter().map(|m| (m.2, m.0)).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(csv: &str, keys: &[&str]) -> Source {
        let mut out = Vec::new();
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        summarize(
            "t.csv",
            TabularFormat::Csv,
            &Source::bytes(csv.as_bytes().to_vec()),
            &keys,
            &Limits::default(),
            &mut out,
        )
        .unwrap();
        Source::bytes(out)
    }

    #[test]
    fn stored_summaries_diff_without_the_tables() {
        let a = summary("id,v\n1,a\n2,b\n3,c\n", &["id"]);
        let b = summary("id,v\n1,a\n2,B\n4,d\n", &["id"]);
        let h = read_summary(&a).unwrap();
        assert_eq!(h.keys, vec!["id"]);
        assert_eq!(h.rows, 3);
        let d = diff_summaries(&a, &b, None, &Limits::default()).unwrap().unwrap();
        assert_eq!((d.rows.added, d.rows.removed, d.rows.modified, d.rows.unchanged), (1, 1, 1, 1));
        assert_eq!(d.added, vec![2]);
        assert_eq!(d.removed, vec![2]);
        assert_eq!(d.modified, vec![(1, 1)]);
        // Column order does not matter; different columns or keys are not comparable.
        let c = summary("v,id\na,1\nb,2\nc,3\n", &["id"]);
        let d = diff_summaries(&a, &c, None, &Limits::default()).unwrap().unwrap();
        assert_eq!(d.rows.unchanged, 3);
        assert!(diff_summaries(&a, &summary("id,w\n1,a\n", &["id"]), None, &Limits::default()).unwrap().is_none());
        assert!(diff_summaries(&a, &summary("id,v\n1,a\n", &[]), None, &Limits::default()).unwrap().is_none());
    }
}
