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
