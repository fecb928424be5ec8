//! Bounded-memory table diff.
//!
//! # Passes
//! 1. **Header**: column names of each side (CSV/TSV header; Parquet
//!    metadata; for JSONL a streaming schema pass, since its columns are the
//!    union of keys). The columns both sides share decide what the row hash
//!    covers; key columns are resolved per side. A key missing on one side
//!    is reported and the diff falls back to matching rows by content.
//! 2. **Summaries** (both sides in parallel, streaming): one row summary
//!    per row (see [`crate::TableSummary`] for the stored form), pushed into
//!    an external sorter that spills sorted runs to the caller's temp dir
//!    past the memory budget. Types and byte-level facts (line endings, BOM, quotes,
//!    raw hash) are gathered in the same pass.
//! 3. **Join**: both sorted streams are merged by key hash. Rows of one key
//!    are matched as multisets: first by equal row hash (unchanged), the
//!    rest in file order (modified); anything left is added or removed.
//!    Duplicate keys are counted and reported. Matched pairs
//!    `(old ordinal, new ordinal)` go to a third sorter to tell whether the
//!    row order changed; extra per-column hashes tell whether a column
//!    that disappeared was renamed (its values equal the new column's in
//!    every matched row). Only the first `row_limit` ordinals of each kind
//!    are kept.
//! 4. **Fetch**: the rows to print are read again, by byte offset when the
//!    source has random access (a file or bytes), else in one streaming
//!    pass.

use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::io::{self, Write};

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value;

use crate::read::{jsonl_schema, parquet_schema, read_row_at, Dialect, Row, TableReader};
use crate::sort::{Pair, Peek, Sorter, H};
use crate::summary::{hash_cell, hash_cells, id_like, indices, RowSummary};
use crate::types::{ColumnType, Limits, Result, Source, TabularError, TabularFormat};
use crate::value::{display_value, row_object, typed, RowObject};

/// How to diff.
#[derive(Clone, Debug, Default)]
pub struct DiffOptions {
    /// Key columns; empty matches rows by content.
    pub keys: Vec<String>,
    /// Keep at most this many rows of each kind (added, removed, modified)
    /// in the result; counts are always exact. `None` keeps all, so memory
    /// then grows with the size of the difference (never with the files).
    pub row_limit: Option<usize>,
    /// Memory budget and spill directory.
    pub limits: Limits,
}

/// Whether the file was added, removed or modified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    /// Only in the new version.
    Added,
    /// Only in the old version.
    Removed,
    /// In both.
    Modified,
}

/// A column renamed in place (its values are unchanged).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rename {
    /// Old name.
    pub from: String,
    /// New name.
    pub to: String,
}

/// A column whose inferred type changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TypeChange {
    /// Column name (new name if renamed).
    pub column: String,
    /// Old type.
    pub from: ColumnType,
    /// New type.
    pub to: ColumnType,
}

/// Column changes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ColumnChanges {
    /// Only in the new version.
    pub added: Vec<String>,
    /// Only in the old version.
    pub removed: Vec<String>,
    /// Renamed, values equal.
    pub renamed: Vec<Rename>,
    /// Type changed.
    pub type_changed: Vec<TypeChange>,
    /// The shared columns are in a different order.
    pub reordered: bool,
}

/// Row counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RowCounts {
    /// Rows only in the new version.
    pub added: u64,
    /// Rows only in the old version.
    pub removed: u64,
    /// Rows matched by key with different values.
    pub modified: u64,
    /// Rows equal in both.
    pub unchanged: u64,
}

/// The changed cells of a row: column → `[old, new]`, in column order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes(pub Vec<(String, Value, Value)>);

impl Serialize for Changes {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (c, a, b) in &self.0 {
            m.serialize_entry(c, &[a, b])?;
        }
        m.end()
    }
}

/// A modified row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModifiedRow {
    /// Key column values.
    pub key: RowObject,
    /// Changed cells.
    pub changes: Changes,
    /// For a duplicated key: which of the old rows with this key (0-based,
    /// in file order) this is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub occurrence: Option<u64>,
}

/// Keys that appear more than once.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DuplicateKeys {
    /// Distinct keys duplicated in the old version.
    pub old: u64,
    /// Distinct keys duplicated in the new version.
    pub new: u64,
    /// A few of them.
    pub examples: Vec<RowObject>,
}

/// The tabular part of a file diff.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TabularDiff {
    /// Format.
    pub format: TabularFormat,
    /// Keys used to match rows (empty: matched by content).
    pub keys: Vec<String>,
    /// Column changes.
    pub columns: ColumnChanges,
    /// Row counts.
    pub rows: RowCounts,
    /// Added rows (the first `row_limit`, in file order).
    pub added: Vec<RowObject>,
    /// Removed rows.
    pub removed: Vec<RowObject>,
    /// Modified rows.
    pub modified: Vec<ModifiedRow>,
    /// The rows both versions have are in a different order.
    pub row_order_changed: bool,
    /// Columns unique in both versions and named like an identifier (only
    /// when no keys were given).
    pub suggested_keys: Vec<String>,
    /// Duplicate keys, when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_keys: Option<DuplicateKeys>,
    /// Explanations: fallbacks, reorders, byte-only changes.
    pub notes: Vec<String>,
    /// The row lists were cut at the limit.
    pub truncated: bool,
}

/// The diff of one file, serialising to the shape the CLI prints.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FileDiff {
    /// Path.
    pub path: String,
    /// Added, removed or modified.
    pub status: FileStatus,
    /// The table diff.
    pub tabular: TabularDiff,
}

impl FileDiff {
    /// True when the tables are equal (a note may still say the bytes differ).
    pub fn is_empty(&self) -> bool {
        let t = &self.tabular;
        let c = &t.columns;
        t.rows.added == 0
            && t.rows.removed == 0
            && t.rows.modified == 0
            && c.added.is_empty()
            && c.removed.is_empty()
            && c.renamed.is_empty()
            && c.type_changed.is_empty()
            && !c.reordered
            && !t.row_order_changed
    }
}

pub(crate) struct Header {
    pub columns: Vec<String>,
    /// Known already (JSONL schema pass, Parquet metadata).
    pub types: Option<Vec<ColumnType>>,
}

pub(crate) fn header(source: &Source, format: TabularFormat, path: &str, limits: &Limits) -> Result<Header> {
    match format {
        TabularFormat::Jsonl => {
            let (columns, types, _) = jsonl_schema(source, path)?;
            Ok(Header { columns, types: Some(types) })
        }
        TabularFormat::Parquet => {
            let (columns, types, _) = parquet_schema(source, path, &limits.dir())?;
            Ok(Header { columns, types: Some(types) })
        }
        _ => {
            let r = TableReader::open(source, format, path, None, false, &limits.dir())?;
            Ok(Header { columns: dedupe(r.columns), types: None })
        }
    }
}

/// Columns are matched by name, so a repeated header name gets a suffix
/// (`a`, `a.1`, `a.2`) instead of hiding the later column.
fn dedupe(cols: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(cols.len());
    for c in cols {
        let mut name = c.clone();
        let mut n = 0;
        while out.contains(&name) {
            n += 1;
            name = format!("{c}.{n}");
        }
        out.push(name);
    }
    out
}

/// What to hash for one side.
pub(crate) struct Spec {
    /// Key columns; `None` uses the row hash.
    pub key: Option<Vec<usize>>,
    /// Row hash columns.
    pub hash: Vec<usize>,
    /// Extra per-row hashes (one per projection or column set).
    pub extra: Vec<Vec<usize>>,
    /// Columns whose value hashes are sorted (uniqueness checks).
    pub unique: Vec<usize>,
}

pub(crate) struct Scan {
    pub sorted: crate::sort::Sorted<RowSummary>,
    pub unique: Vec<bool>,
    pub types: Vec<ColumnType>,
    pub rows: u64,
    pub dialect: Option<Dialect>,
}

/// Pass 2: summaries of one side.
pub(crate) fn scan(
    source: &Source,
    format: TabularFormat,
    path: &str,
    header: &Header,
    spec: &Spec,
    budget: usize,
    limits: &Limits,
) -> Result<Scan> {
    let dir = limits.dir();
    let mut r = TableReader::open(source, format, path, Some(header.columns.clone()), false, &dir)?;
    if header.types.is_some() {
        r.infer = false;
    }
    let io = |e: io::Error| TabularError::io(path, e);
    let mut sorter: Sorter<RowSummary> = Sorter::new(budget, dir.clone());
    let mut uniq: Vec<Sorter<H>> = spec.unique.iter().map(|_| Sorter::new(budget / 4, dir.clone())).collect();
    let mut scratch = Vec::new();
    let mut ord = 0u64;
    let mut row = Row::default();
    while r.next(&mut row)? {
        let hash = hash_cells(&row, &spec.hash, &mut scratch);
        let key = match &spec.key {
            Some(k) => hash_cells(&row, k, &mut scratch),
            None => hash,
        };
        let extra = spec.extra.iter().map(|cols| hash_cells(&row, cols, &mut scratch)).collect();
        let off = if format.is_text() { row.start } else { ord };
        sorter.push(RowSummary { key, hash, ord, off, extra }).map_err(io)?;
        for (s, &c) in uniq.iter_mut().zip(&spec.unique) {
            s.push(H(hash_cell(&row, c, &mut scratch))).map_err(io)?;
        }
        ord += 1;
    }
    let mut unique = Vec::new();
    for s in uniq {
        let mut it = s.finish().map_err(io)?;
        let mut prev: Option<H> = None;
        let mut ok = true;
        while let Some(h) = it.next_record().map_err(io)? {
            if prev == Some(h) {
                ok = false;
                break;
            }
            prev = Some(h);
        }
        unique.push(ok && prev.is_some());
    }
    let types = header.types.clone().unwrap_or_else(|| r.types.clone());
    let dialect = r.dialect();
    Ok(Scan { sorted: sorter.finish().map_err(io)?, unique, types, rows: r.rows, dialect })
}

/// Read the rows at `wanted` (ordinal, offset), sorted by ordinal.
pub(crate) fn fetch(
    source: &Source,
    format: TabularFormat,
    path: &str,
    columns: &[String],
    wanted: &[(u64, u64)],
    limits: &Limits,
) -> Result<HashMap<u64, Vec<Option<Vec<u8>>>>> {
    let mut out = HashMap::new();
    if wanted.is_empty() {
        return Ok(out);
    }
    if format.is_text() && !matches!(source, Source::Reader(_)) && wanted.len() <= 4096 {
        for &(ord, off) in wanted {
            let row = read_row_at(source, format, path, columns, off).expect("random access")?;
            out.insert(ord, row.cells());
        }
        return Ok(out);
    }
    let mut r = TableReader::open(source, format, path, Some(columns.to_vec()), false, &limits.dir())?;
    r.infer = false;
    let mut row = Row::default();
    let mut i = 0;
    let mut ord = 0u64;
    while i < wanted.len() && r.next(&mut row)? {
        if ord == wanted[i].0 {
            out.insert(ord, row.cells());
            i += 1;
        }
        ord += 1;
    }
    Ok(out)
}

/// Keeps the `limit` smallest items (all when `None`).
struct Smallest<T: Ord> {
    heap: BinaryHeap<T>,
    limit: Option<usize>,
}

impl<T: Ord> Smallest<T> {
    fn new(limit: Option<usize>) -> Self {
        Smallest { heap: BinaryHeap::new(), limit }
    }
    fn push(&mut self, t: T) {
        match self.limit {
            Some(0) => {}
            Some(n) if self.heap.len() >= n => {
                if self.heap.peek().is_some_and(|top| t < *top) {
                    self.heap.pop();
                    self.heap.push(t);
                }
            }
            _ => self.heap.push(t),
        }
    }
    fn sorted(self) -> Vec<T> {
        self.heap.into_sorted_vec()
    }
}

/// The result of joining two sorted summary streams.
pub(crate) struct Joined {
    pub counts: RowCounts,
    /// (ordinal, offset) of the first added rows.
    pub added: Vec<(u64, u64)>,
    pub removed: Vec<(u64, u64)>,
    /// (new ord, new off, old ord, old off, occurrence)
    pub modified: Vec<(u64, u64, u64, u64, Option<u64>)>,
    pub row_order_changed: bool,
    /// [old extra][new extra]: equal in every matched row.
    pub rename_ok: Vec<Vec<bool>>,
    pub matched: u64,
    pub dup_old: u64,
    pub dup_new: u64,
    /// (is_new, ord, off)
    pub dup_examples: Vec<(bool, u64, u64)>,
}

/// Pass 3: merge-join two summary streams sorted by (key, hash, ordinal).
#[allow(clippy::too_many_arguments)]
pub(crate) fn join(
    old: crate::sort::Sorted<RowSummary>,
    new: crate::sort::Sorted<RowSummary>,
    keyed: bool,
    n_old_extra: usize,
    n_new_extra: usize,
    limit: Option<usize>,
    budget: usize,
    limits: &Limits,
    path: &str,
) -> Result<Joined> {
    let io = |e: io::Error| TabularError::io(path, e);
    let mut counts = RowCounts::default();
    let mut added: Smallest<(u64, u64)> = Smallest::new(limit);
    let mut removed: Smallest<(u64, u64)> = Smallest::new(limit);
    // (new ord, new off, old ord, old off, occurrence)
    let mut modified: Smallest<(u64, u64, u64, u64, Option<u64>)> = Smallest::new(limit);
    let mut pairs: Sorter<Pair> = Sorter::new(budget, limits.dir());
    let mut rename_ok = vec![vec![true; n_new_extra]; n_old_extra];
    let mut matched = 0u64;
    let (mut dup_old, mut dup_new) = (0u64, 0u64);
    let mut dup_examples: Vec<(bool, u64, u64)> = Vec::new(); // (is_new, ord, off)
    let mut oi = Peek::new(old).map_err(io)?;
    let mut ni = Peek::new(new).map_err(io)?;
    let (mut og, mut ng): (Vec<RowSummary>, Vec<RowSummary>) = (Vec::new(), Vec::new());
    let mut on_match = |o: &RowSummary, n: &RowSummary, pairs: &mut Sorter<Pair>| -> io::Result<()> {
        matched += 1;
        for (x, oks) in rename_ok.iter_mut().enumerate() {
            for (y, ok) in oks.iter_mut().enumerate() {
                if *ok && o.extra[x] != n.extra[y] {
                    *ok = false;
                }
            }
        }
        pairs.push(Pair(o.ord, n.ord))
    };
    loop {
        let k = match (oi.peek(), ni.peek()) {
            (None, None) => break,
            (Some(a), None) => a.key,
            (None, Some(b)) => b.key,
            (Some(a), Some(b)) => a.key.min(b.key),
        };
        if !keyed {
            // Rows equal in content: pair them in file order.
            loop {
                let (a, b) = (oi.peek().is_some_and(|r| r.key == k), ni.peek().is_some_and(|r| r.key == k));
                match (a, b) {
                    (true, true) => {
                        let (o, n) = (oi.pop().map_err(io)?.unwrap(), ni.pop().map_err(io)?.unwrap());
                        counts.unchanged += 1;
                        on_match(&o, &n, &mut pairs).map_err(io)?;
                    }
                    (true, false) => {
                        let o = oi.pop().map_err(io)?.unwrap();
                        counts.removed += 1;
                        removed.push((o.ord, o.off));
                    }
                    (false, true) => {
                        let n = ni.pop().map_err(io)?.unwrap();
                        counts.added += 1;
                        added.push((n.ord, n.off));
                    }
                    (false, false) => break,
                }
            }
            continue;
        }
        og.clear();
        ng.clear();
        while oi.peek().is_some_and(|r| r.key == k) {
            og.push(oi.pop().map_err(io)?.unwrap());
        }
        while ni.peek().is_some_and(|r| r.key == k) {
            ng.push(ni.pop().map_err(io)?.unwrap());
        }
        if og.len() == 1 && ng.len() == 1 {
            let (o, n) = (&og[0], &ng[0]);
            on_match(o, n, &mut pairs).map_err(io)?;
            if o.hash == n.hash {
                counts.unchanged += 1;
            } else {
                counts.modified += 1;
                modified.push((n.ord, n.off, o.ord, o.off, None));
            }
            continue;
        }
        if og.len() > 1 {
            dup_old += 1;
            if dup_examples.len() < 5 {
                let first = og.iter().min_by_key(|r| r.ord).unwrap();
                dup_examples.push((false, first.ord, first.off));
            }
        }
        if ng.len() > 1 {
            dup_new += 1;
            if dup_examples.len() < 5 && og.len() <= 1 {
                let first = ng.iter().min_by_key(|r| r.ord).unwrap();
                dup_examples.push((true, first.ord, first.off));
            }
        }
        // Multiset match: equal rows first (both sorted by hash, then ord).
        let (mut i, mut j) = (0, 0);
        let (mut lo, mut ln): (Vec<&RowSummary>, Vec<&RowSummary>) = (Vec::new(), Vec::new());
        while i < og.len() && j < ng.len() {
            match og[i].hash.cmp(&ng[j].hash) {
                std::cmp::Ordering::Equal => {
                    counts.unchanged += 1;
                    on_match(&og[i], &ng[j], &mut pairs).map_err(io)?;
                    i += 1;
                    j += 1;
                }
                std::cmp::Ordering::Less => {
                    lo.push(&og[i]);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    ln.push(&ng[j]);
                    j += 1;
                }
            }
        }
        lo.extend(&og[i..]);
        ln.extend(&ng[j..]);
        lo.sort_by_key(|r| r.ord);
        ln.sort_by_key(|r| r.ord);
        let mut old_ords: Vec<u64> = og.iter().map(|r| r.ord).collect();
        old_ords.sort_unstable();
        let paired = lo.len().min(ln.len());
        for (o, n) in lo.iter().zip(&ln) {
            counts.modified += 1;
            on_match(o, n, &mut pairs).map_err(io)?;
            let occ = (og.len() > 1).then(|| old_ords.binary_search(&o.ord).unwrap_or(0) as u64);
            modified.push((n.ord, n.off, o.ord, o.off, occ));
        }
        for o in &lo[paired..] {
            counts.removed += 1;
            removed.push((o.ord, o.off));
        }
        for n in &ln[paired..] {
            counts.added += 1;
            added.push((n.ord, n.off));
        }
    }

    // Row order: matched pairs sorted by old ordinal must have increasing new ordinals.
    let mut row_order_changed = false;
    if pairs.len() > 1 {
        let mut it = pairs.finish().map_err(io)?;
        let mut prev: Option<u64> = None;
        while let Some(Pair(_, n)) = it.next_record().map_err(io)? {
            if prev.is_some_and(|p| n < p) {
                row_order_changed = true;
                break;
            }
            prev = Some(n);
        }
    }

    Ok(Joined {
        counts,
        added: added.sorted(),
        removed: removed.sorted(),
        modified: modified.sorted(),
        row_order_changed,
        rename_ok,
        matched,
        dup_old,
        dup_new,
        dup_examples,
    })
}

/// Diff two versions of a table. `old`/`new` are `None` when the file is
/// absent on that side (added or removed). A parse failure of either side
/// is [`TabularError::NotParsable`].
pub fn diff(
    path: &str,
    format: TabularFormat,
    old: Option<&Source>,
    new: Option<&Source>,
    opts: &DiffOptions,
) -> Result<FileDiff> {
    let limits = &opts.limits;
    let (old_label, new_label) = (format!("a/{path}"), format!("b/{path}"));
    let empty = || Header { columns: Vec::new(), types: Some(Vec::new()) };
    let oh = match old {
        Some(s) => header(s, format, &old_label, limits)?,
        None => empty(),
    };
    let nh = match new {
        Some(s) => header(s, format, &new_label, limits)?,
        None => empty(),
    };
    let status = match (old.is_some(), new.is_some()) {
        (false, true) => FileStatus::Added,
        (true, false) => FileStatus::Removed,
        _ => FileStatus::Modified,
    };
    let mut notes = Vec::new();

    // Keys: every requested key must exist on each present side.
    let mut keys = opts.keys.clone();
    if !keys.is_empty() {
        for (side, h, present) in [("old", &oh, old.is_some()), ("new", &nh, new.is_some())] {
            if !present {
                continue;
            }
            let missing: Vec<&String> = keys.iter().filter(|k| !h.columns.contains(k)).collect();
            if !missing.is_empty() {
                let what = if h.columns.is_empty() { " (it has no columns)".to_string() } else { String::new() };
                let names: Vec<String> = missing.iter().map(|m| format!("'{m}'")).collect();
                notes.push(format!(
                    "key column {} missing in the {side} version{what}; rows matched by content instead",
                    names.join(", ")
                ));
                keys.clear();
                break;
            }
        }
    }
    let keyed = !keys.is_empty();

    // Column mapping by name.
    let common: Vec<String> = nh.columns.iter().filter(|c| oh.columns.contains(c)).cloned().collect();
    let old_only: Vec<usize> = (0..oh.columns.len()).filter(|&i| !nh.columns.contains(&oh.columns[i])).collect();
    let new_only: Vec<usize> = (0..nh.columns.len()).filter(|&i| !oh.columns.contains(&nh.columns[i])).collect();
    let mut by_name = common.clone();
    by_name.sort();
    let o_hash = indices(&oh.columns, &by_name).expect("common columns");
    let n_hash = indices(&nh.columns, &by_name).expect("common columns");
    let rename_candidates = old.is_some() && new.is_some() && !old_only.is_empty() && !new_only.is_empty();
    let (o_extra, n_extra): (Vec<usize>, Vec<usize>) = if rename_candidates {
        (old_only.iter().copied().take(32).collect(), new_only.iter().copied().take(32).collect())
    } else {
        (Vec::new(), Vec::new())
    };
    let id_cands: Vec<String> =
        if keyed { Vec::new() } else { common.iter().filter(|c| id_like(c)).take(4).cloned().collect() };
    let budget = limits.mem_budget;
    let o_spec = Spec {
        key: if keyed { indices(&oh.columns, &keys) } else { None },
        hash: o_hash,
        extra: o_extra.iter().map(|&i| vec![i]).collect(),
        unique: indices(&oh.columns, &id_cands).unwrap_or_default(),
    };
    let n_spec = Spec {
        key: if keyed { indices(&nh.columns, &keys) } else { None },
        hash: n_hash,
        extra: n_extra.iter().map(|&i| vec![i]).collect(),
        unique: indices(&nh.columns, &id_cands).unwrap_or_default(),
    };

    // Pass 2, both sides at once.
    let empty_scan = |h: &Header| Scan {
        sorted: crate::sort::Sorted::Mem(Vec::new().into_iter()),
        unique: vec![false; id_cands.len()],
        types: h.types.clone().unwrap_or_default(),
        rows: 0,
        dialect: None,
    };
    let (os, ns) = std::thread::scope(|s| {
        let o = s.spawn(|| match old {
            Some(src) => scan(src, format, &old_label, &oh, &o_spec, budget * 3 / 8, limits),
            None => Ok(empty_scan(&oh)),
        });
        let n = match new {
            Some(src) => scan(src, format, &new_label, &nh, &n_spec, budget * 3 / 8, limits),
            None => Ok(empty_scan(&nh)),
        };
        (o.join().expect("old side scan panicked"), n)
    });
    let (os, ns) = (os?, ns?);

    // Pass 3: join.
    let Joined {
        counts,
        added,
        removed,
        modified,
        row_order_changed,
        rename_ok,
        matched,
        dup_old,
        dup_new,
        dup_examples,
    } = join(os.sorted, ns.sorted, keyed, o_extra.len(), n_extra.len(), opts.row_limit, budget / 4, limits, path)?;
    let limit = opts.row_limit;

    // Renames: a column only in old whose values equal a column only in
    // new in every matched row.
    let mut renamed: Vec<(usize, usize)> = Vec::new();
    if matched > 0 {
        for (x, oks) in rename_ok.iter().enumerate() {
            if let Some(y) =
                oks.iter().enumerate().position(|(y, ok)| *ok && !renamed.iter().any(|r| r.1 == n_extra[y]))
            {
                renamed.push((o_extra[x], n_extra[y]));
            }
        }
    }
    let mut columns = ColumnChanges {
        added: new_only
            .iter()
            .filter(|i| !renamed.iter().any(|r| r.1 == **i))
            .map(|&i| nh.columns[i].clone())
            .collect(),
        removed: old_only
            .iter()
            .filter(|i| !renamed.iter().any(|r| r.0 == **i))
            .map(|&i| oh.columns[i].clone())
            .collect(),
        renamed: renamed
            .iter()
            .map(|&(o, n)| Rename { from: oh.columns[o].clone(), to: nh.columns[n].clone() })
            .collect(),
        ..Default::default()
    };
    // Pairs of (old index, new index) of the columns both have, in new order.
    let mut shared: Vec<(usize, usize)> = Vec::new();
    for (ni_, c) in nh.columns.iter().enumerate() {
        if let Some(oi_) = oh.columns.iter().position(|x| x == c) {
            shared.push((oi_, ni_));
        } else if let Some(&(oi_, _)) = renamed.iter().find(|r| r.1 == ni_) {
            shared.push((oi_, ni_));
        }
    }
    if old.is_some() && new.is_some() {
        for &(o, n) in &shared {
            let (a, b) = (os.types.get(o).copied(), ns.types.get(n).copied());
            if let (Some(a), Some(b)) = (a, b) {
                if a != b {
                    columns.type_changed.push(TypeChange { column: nh.columns[n].clone(), from: a, to: b });
                }
            }
        }
        let mut olds: Vec<usize> = shared.iter().map(|s| s.0).collect();
        let sorted = {
            let mut s = olds.clone();
            s.sort_unstable();
            s
        };
        columns.reordered = olds != sorted;
        olds.clear();
    }

    // Pass 4: fetch the rows to show.
    let mut want_old: BTreeSet<(u64, u64)> = removed.iter().copied().collect();
    let mut want_new: BTreeSet<(u64, u64)> = added.iter().copied().collect();
    for m in &modified {
        want_new.insert((m.0, m.1));
        want_old.insert((m.2, m.3));
    }
    for &(is_new, ord, off) in &dup_examples {
        if is_new {
            want_new.insert((ord, off));
        } else {
            want_old.insert((ord, off));
        }
    }
    let want_old: Vec<_> = want_old.into_iter().collect();
    let want_new: Vec<_> = want_new.into_iter().collect();
    let (orows, nrows) = match (old, new) {
        (Some(o), Some(n)) => std::thread::scope(|s| {
            let a = s.spawn(|| fetch(o, format, &old_label, &oh.columns, &want_old, limits));
            let b = fetch(n, format, &new_label, &nh.columns, &want_new, limits);
            (a.join().expect("fetch panicked"), b)
        }),
        (Some(o), None) => (fetch(o, format, &old_label, &oh.columns, &want_old, limits), Ok(HashMap::new())),
        (None, Some(n)) => (Ok(HashMap::new()), fetch(n, format, &new_label, &nh.columns, &want_new, limits)),
        (None, None) => (Ok(HashMap::new()), Ok(HashMap::new())),
    };
    let (orows, nrows) = (orows?, nrows?);
    let obj_old = |cells: &[Option<Vec<u8>>]| row_object(&oh.columns, &os.types, cells, format);
    let obj_new = |cells: &[Option<Vec<u8>>]| row_object(&nh.columns, &ns.types, cells, format);
    let nkey = indices(&nh.columns, &keys).unwrap_or_default();
    let key_obj = |cells: &[Option<Vec<u8>>], idx: &[usize], cols: &[String], types: &[ColumnType]| {
        RowObject(
            idx.iter()
                .map(|&i| {
                    let v = typed(cells.get(i).and_then(|c| c.as_deref()), types[i], format).unwrap_or(Value::Null);
                    (cols[i].clone(), v)
                })
                .collect(),
        )
    };
    let mut modified_rows = Vec::new();
    for &(n_ord, _, o_ord, _, occ) in &modified {
        let (Some(oc), Some(nc)) = (orows.get(&o_ord), nrows.get(&n_ord)) else { continue };
        let mut ch = Vec::new();
        for &(o, n) in &shared {
            let (a, b) = (oc.get(o).cloned().flatten(), nc.get(n).cloned().flatten());
            if a != b {
                let av = typed(a.as_deref(), os.types[o], format).unwrap_or(Value::Null);
                let bv = typed(b.as_deref(), ns.types[n], format).unwrap_or(Value::Null);
                ch.push((nh.columns[n].clone(), av, bv));
            }
        }
        modified_rows.push(ModifiedRow {
            key: key_obj(nc, &nkey, &nh.columns, &ns.types),
            changes: Changes(ch),
            occurrence: occ,
        });
    }
    let duplicate_keys = (dup_old + dup_new > 0).then(|| DuplicateKeys {
        old: dup_old,
        new: dup_new,
        examples: dup_examples
            .iter()
            .filter_map(|&(is_new, ord, _)| {
                if is_new {
                    nrows.get(&ord).map(|c| key_obj(c, &nkey, &nh.columns, &ns.types))
                } else {
                    let okey = indices(&oh.columns, &keys).unwrap_or_default();
                    orows.get(&ord).map(|c| key_obj(c, &okey, &oh.columns, &os.types))
                }
            })
            .collect(),
    });
    if let Some(d) = &duplicate_keys {
        notes.push(format!(
            "duplicate keys: {} in the old version, {} in the new; rows with the same key are matched by content, then in file order",
            d.old, d.new
        ));
    }
    let truncated =
        limit.is_some_and(|l| counts.added > l as u64 || counts.removed > l as u64 || counts.modified > l as u64);

    // Suggested keys.
    let suggested_keys: Vec<String> = if keyed {
        Vec::new()
    } else {
        id_cands
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                let o_ok = old.is_none() || os.unique.get(*i).copied().unwrap_or(false);
                let n_ok = new.is_none() || ns.unique.get(*i).copied().unwrap_or(false);
                o_ok && n_ok
            })
            .map(|(_, c)| c.clone())
            .collect()
    };

    // Notes.
    if columns.reordered {
        notes.push("columns reordered".to_string());
    }
    if row_order_changed {
        notes.push(format!("row order changed ({matched} rows in both versions are in a different order)"));
    }
    if old.is_some() && new.is_some() && counts.added + counts.removed + counts.modified == 0 {
        let schema_same = columns.added.is_empty()
            && columns.removed.is_empty()
            && columns.renamed.is_empty()
            && columns.type_changed.is_empty();
        if schema_same && !columns.reordered && !row_order_changed {
            match (&os.dialect, &ns.dialect) {
                (Some(a), Some(b)) if a.raw_hash != b.raw_hash => notes.extend(byte_reasons(a, b)),
                (Some(_), Some(_)) => notes.push("no changes".to_string()),
                _ => notes.push("the table is equal (the file's encoding or metadata may differ)".to_string()),
            }
        }
    }

    Ok(FileDiff {
        path: path.to_string(),
        status,
        tabular: TabularDiff {
            format,
            keys,
            columns,
            rows: counts,
            added: added.iter().filter_map(|(o, _)| nrows.get(o).map(|c| obj_new(c))).collect(),
            removed: removed.iter().filter_map(|(o, _)| orows.get(o).map(|c| obj_old(c))).collect(),
            modified: modified_rows,
            row_order_changed,
            suggested_keys,
            duplicate_keys,
            notes,
            truncated,
        },
    })
}

/// Why two byte streams that hold equal tables differ.
pub(crate) fn byte_reasons(a: &Dialect, b: &Dialect) -> Vec<String> {
    let mut r = Vec::new();
    if a.line_ending() != b.line_ending() {
        r.push(format!("line endings changed ({} -> {}); the table is equal", a.line_ending(), b.line_ending()));
    }
    if a.bom != b.bom {
        r.push(format!("byte order mark {}; the table is equal", if b.bom { "added" } else { "removed" }));
    }
    if a.trailing_newline != b.trailing_newline {
        r.push(format!(
            "newline at end of file {}; the table is equal",
            if b.trailing_newline { "added" } else { "removed" }
        ));
    }
    if r.is_empty() && a.quotes != b.quotes {
        r.push("quoting changed; the table is equal".to_string());
    }
    if r.is_empty() {
        r.push(
            "bytes differ only in formatting (whitespace, quoting or number/JSON formatting); the table is equal"
                .into(),
        );
    }
    r
}

/// How to render a diff as text.
#[derive(Clone, Debug)]
pub struct TextOptions {
    /// Rows shown per kind (added, removed, modified).
    pub limit: usize,
    /// ANSI colours (the caller decides, e.g. when stdout is a terminal).
    pub color: bool,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions { limit: 10, color: false }
    }
}

fn obj_line(o: &RowObject) -> String {
    o.0.iter().map(|(_, v)| one_line(display_value(v, b','))).collect::<Vec<_>>().join(",")
}

/// A value quoted as CSV quotes it, with line breaks inside it shown as
/// `\n`/`\r` so every row stays on one line of output.
fn one_line(s: String) -> String {
    if s.contains(['\n', '\r']) {
        s.replace('\r', "\\r").replace('\n', "\\n")
    } else {
        s
    }
}

/// Render a diff for people: summary first, then up to `limit` rows of
/// each kind, values quoted as CSV quotes them.
pub fn render_text(d: &FileDiff, o: &TextOptions, out: &mut impl Write) -> io::Result<()> {
    let t = &d.tabular;
    let paint = |code: &str, s: String| if o.color { format!("\x1b[{code}m{s}\x1b[0m") } else { s };
    let kdesc =
        if t.keys.is_empty() { "rows matched by content".to_string() } else { format!("keys: {}", t.keys.join(",")) };
    let status = match d.status {
        FileStatus::Added => " (new file)",
        FileStatus::Removed => " (deleted file)",
        FileStatus::Modified => "",
    };
    writeln!(out, "{}", paint("1", format!("tabular {} {}{status} ({kdesc})", t.format, d.path)))?;
    let c = &t.columns;
    let mut parts = Vec::new();
    for r in &c.renamed {
        parts.push(format!(
            "renamed {} -> {}",
            display_value(&Value::String(r.from.clone()), b','),
            display_value(&Value::String(r.to.clone()), b',')
        ));
    }
    for a in &c.added {
        parts.push(format!("added {a}"));
    }
    for a in &c.removed {
        parts.push(format!("removed {a}"));
    }
    for tc in &c.type_changed {
        parts.push(format!("{} {} -> {}", tc.column, tc.from, tc.to));
    }
    if c.reordered {
        parts.push("reordered".into());
    }
    if !parts.is_empty() {
        writeln!(out, "columns: {}", parts.join("; "))?;
    }
    writeln!(out, "rows: {} added, {} removed, {} modified", t.rows.added, t.rows.removed, t.rows.modified)?;
    for n in &t.notes {
        writeln!(out, "note: {n}")?;
    }
    if !t.suggested_keys.is_empty() {
        writeln!(
            out,
            "hint: {} is unique in both versions; diff with keys {} to see modified rows",
            t.suggested_keys.join(", "),
            t.suggested_keys[0]
        )?;
    }
    let more = |out: &mut dyn Write, shown: usize, total: u64, kind: &str| -> io::Result<()> {
        if total > shown as u64 {
            writeln!(out, "  ... {} more {kind}", total - shown as u64)?;
        }
        Ok(())
    };
    let mut shown = 0;
    for r in t.added.iter().take(o.limit) {
        writeln!(out, "{}", paint("32", format!("+ {}", obj_line(r))))?;
        shown += 1;
    }
    more(out, shown, t.rows.added, "added")?;
    shown = 0;
    for r in t.removed.iter().take(o.limit) {
        writeln!(out, "{}", paint("31", format!("- {}", obj_line(r))))?;
        shown += 1;
    }
    more(out, shown, t.rows.removed, "removed")?;
    shown = 0;
    for m in t.modified.iter().take(o.limit) {
        let key: Vec<String> =
            m.key.0.iter().map(|(k, v)| format!("{k}={}", one_line(display_value(v, b',')))).collect();
        let ch: Vec<String> = m.changes.0.iter().map(|(c, a, b)| format!("{c}: {} -> {}", show(a), show(b))).collect();
        writeln!(out, "{}", paint("33", format!("~ {}: {}", key.join(","), ch.join(", "))))?;
        shown += 1;
    }
    more(out, shown, t.rows.modified, "modified")?;
    Ok(())
}

/// A value in a change line: empty shows as `""` so it is visible.
fn show(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::String(s) if s.is_empty() => "\"\"".into(),
        v => one_line(display_value(v, b',')),
    }
}
