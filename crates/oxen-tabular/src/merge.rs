//! Three-way merge of a table by key, at cell level, in bounded memory.
//!
//! # Rules
//! - Rows are matched by key across base, ours and theirs. For a key with
//!   one row per side, each cell merges on its own: a cell changed on one
//!   side takes that change; a cell changed the same way on both is taken
//!   once; only a cell changed differently on both sides conflicts.
//! - Columns: the result has ours' columns in ours' order, minus columns
//!   theirs removed, plus columns theirs added (placed after the column
//!   that precedes them in theirs). Row edits on one side merge with column
//!   additions and removals on the other. A cell edited on one side in a
//!   column the other side removed is a conflict (listed; the removal is
//!   kept in the file).
//! - A row deleted on one side and unchanged on the other is deleted; a
//!   row deleted on one side and modified on the other conflicts. Rows
//!   added on theirs are appended after ours' rows, in theirs' order.
//! - Duplicate keys never lose a row: rows of a duplicated key are matched
//!   as a multiset through the base (a row equal to a base row on each side
//!   is "the same row"); each side's removals and additions are applied.
//!   When both sides changed rows of the same duplicated key, both sides'
//!   rows are kept and a conflict names the key.
//! - The file keeps ours' dialect: delimiter, BOM, line endings, quoting
//!   of rewritten rows (all fields quoted if ours' header is), column order;
//!   rows no one changed are copied byte for byte (so is the header when
//!   the columns did not change). JSONL values keep their JSON types and
//!   rewritten lines list keys in column order.
//!
//! # Conflict format
//! Conflicts come back as a list of [`Conflict`] (key, column, kind, and
//! the base/ours/theirs values). In the merged file each conflicting row is
//! written as a block of lines, like git's markers, with the key and the
//! conflicting columns on the opening line:
//!
//! ```text
//! <<<<<<< ours id=2 [price]
//! 2,b,25
//! =======
//! 2,b,30
//! >>>>>>> theirs
//! ```
//!
//! Each side's row has every non-conflicting cell merged; only the
//! conflicting cells differ. A side that deleted the row has nothing
//! between its markers. Marker lines do not parse as CSV rows (a file with
//! markers is reported as not parsable until they are resolved), which is
//! what keeps a conflicted table from being committed by accident.
//!
//! # Passes
//! 1. Headers of the three versions; result columns.
//! 2. Summaries of each version (in parallel): key hash, row hash over the
//!    columns shared with base, ordinal, offset; sorted externally.
//! 3. Three-way join by key → a plan: which ours rows to delete or rewrite,
//!    which base/theirs rows each needs, which theirs rows to append. Plan
//!    and requests are records in external sorters.
//! 4. Fetch: base and theirs are streamed (or read by offset when only a
//!    few rows are needed) and the requested rows are added to the plan.
//! 5. Write: ours is streamed; each row is copied verbatim or rewritten
//!    from the plan, which arrives sorted by ours' ordinal; appended rows
//!    follow.

use std::io::{self, Read, Write};

use serde::Serialize;
use serde_json::Value;

use crate::diff::{fetch, header, scan, Header, Spec};
use crate::read::{Row, TableReader};
use crate::sort::{read_first_u64, read_u64, Peek, Sorter, Spill};
use crate::summary::{indices, RowSummary};
use crate::types::{ColumnType, Limits, NotParsable, Result, Source, TabularError, TabularFormat};
use crate::value::{typed, RowObject};

/// How to merge.
#[derive(Clone, Debug)]
pub struct MergeOptions {
    /// Key columns. Empty: the outcome is [`MergeOutcome::NeedsTextMerge`].
    pub keys: Vec<String>,
    /// Label of ours in conflict markers.
    pub ours_label: String,
    /// Label of theirs in conflict markers.
    pub theirs_label: String,
    /// At most this many conflicts are listed (all are counted).
    pub conflict_limit: usize,
    /// Memory budget and spill directory.
    pub limits: Limits,
}

impl Default for MergeOptions {
    fn default() -> Self {
        MergeOptions {
            keys: Vec::new(),
            ours_label: "ours".into(),
            theirs_label: "theirs".into(),
            conflict_limit: 1000,
            limits: Limits::default(),
        }
    }
}

/// Which version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeSide {
    /// The common ancestor.
    Base,
    /// The current branch.
    Ours,
    /// The branch merged in.
    Theirs,
}

/// What kind of conflict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// The same cell changed differently on both sides (or added with
    /// different values on both).
    Cell,
    /// Ours modified the row, theirs deleted it.
    ModifyDelete,
    /// Ours deleted the row, theirs modified it.
    DeleteModify,
    /// A cell was edited in a column the other side removed.
    RemovedColumnEdited,
    /// Both sides changed rows of a duplicated key; both sides' rows are kept.
    DuplicateKey,
}

/// One conflict, naming the key and the column.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Conflict {
    /// The row's key.
    pub key: RowObject,
    /// The column (none for whole-row conflicts).
    pub column: Option<String>,
    /// Kind.
    pub kind: ConflictKind,
    /// Base value.
    pub base: Option<Value>,
    /// Ours value.
    pub ours: Option<Value>,
    /// Theirs value.
    pub theirs: Option<Value>,
}

/// Counts of what a merge did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MergeStats {
    /// Rows written.
    pub rows: u64,
    /// Rows copied byte for byte from ours.
    pub copied: u64,
    /// Rows rewritten (cells merged or columns changed).
    pub rewritten: u64,
    /// Rows appended from theirs.
    pub appended: u64,
    /// Ours rows deleted.
    pub deleted: u64,
}

/// A merge that ran: the merged table was written.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MergeReport {
    /// Result columns.
    pub columns: Vec<String>,
    /// Counts.
    pub stats: MergeStats,
    /// Conflicts (the first `conflict_limit`).
    pub conflicts: Vec<Conflict>,
    /// All conflicts.
    pub conflict_count: u64,
}

impl MergeReport {
    /// No conflicts.
    pub fn is_clean(&self) -> bool {
        self.conflict_count == 0
    }
}

/// The outcome of a table merge; the caller acts on each.
#[derive(Clone, Debug, PartialEq)]
pub enum MergeOutcome {
    /// Merged (written to the output, with markers if conflicted).
    Merged(MergeReport),
    /// Merge the file line by line instead (no keys, or a key column is
    /// missing in one version); nothing was written.
    NeedsTextMerge {
        /// Why.
        reason: String,
    },
    /// One version does not parse; nothing was written.
    NotParsable {
        /// Which version.
        side: MergeSide,
        /// The parse failure.
        error: NotParsable,
    },
    /// This format is not merged (Parquet); nothing was written.
    Unsupported {
        /// Why.
        reason: String,
    },
}

/// A generic spilled record: three numbers, a kind, bytes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rec {
    a: u64,
    b: u64,
    kind: u8,
    c: u64,
    data: Vec<u8>,
}

impl Spill for Rec {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.a.to_le_bytes());
        out.extend_from_slice(&self.b.to_le_bytes());
        out.extend_from_slice(&self.c.to_le_bytes());
        out.push(self.kind);
        out.extend_from_slice(&(self.data.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.data);
    }
    fn decode(r: &mut impl Read) -> io::Result<Option<Self>> {
        let Some(a) = read_first_u64(r)? else { return Ok(None) };
        let b = read_u64(r)?;
        let c = read_u64(r)?;
        let mut k = [0u8];
        r.read_exact(&mut k)?;
        let n = read_u64(r)? as usize;
        let mut data = vec![0; n];
        r.read_exact(&mut data)?;
        Ok(Some(Rec { a, b, kind: k[0], c, data }))
    }
    fn mem(&self) -> usize {
        std::mem::size_of::<Self>() + self.data.capacity()
    }
}

// Plan record kinds (sorted in this order for one target).
const ACTION: u8 = 0;
const BASE_ROW: u8 = 1;
const THEIRS_ROW: u8 = 2;
// Actions.
const DELETE: u8 = 1;
const REWRITE: u8 = 2;
const MODIFY_DELETE: u8 = 3;
const APPEND: u8 = 4;
const DELETE_MODIFY: u8 = 5;
// Action flags.
const DUP_CONFLICT: u8 = 1;
/// The key is not in base (added on both sides).
const NO_BASE: u8 = 2;
const APPENDED: u64 = u64::MAX;

type Cells = Vec<Option<Vec<u8>>>;

fn encode_cells(cells: &Cells) -> Vec<u8> {
    let mut out = Vec::new();
    for c in cells {
        match c {
            None => out.push(0),
            Some(b) => {
                out.push(1);
                out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                out.extend_from_slice(b);
            }
        }
    }
    out
}

fn decode_cells(mut d: &[u8]) -> Cells {
    let mut out = Vec::new();
    while let Some((&t, rest)) = d.split_first() {
        if t == 0 {
            out.push(None);
            d = rest;
        } else {
            let n = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
            out.push(Some(rest[4..4 + n].to_vec()));
            d = &rest[4 + n..];
        }
    }
    out
}

fn side_err(e: TabularError, side: MergeSide) -> std::result::Result<MergeOutcome, TabularError> {
    match e {
        TabularError::NotParsable(np) => Ok(MergeOutcome::NotParsable { side, error: np }),
        e => Err(e),
    }
}

/// Merge three versions of a table at `path` by key, writing the result
/// to `out`. `base` is `None` when the file did not exist in the merge
/// base (added on both sides).
pub fn merge(
    path: &str,
    format: TabularFormat,
    base: Option<&Source>,
    ours: &Source,
    theirs: &Source,
    opts: &MergeOptions,
    out: &mut dyn Write,
) -> Result<MergeOutcome> {
    if format == TabularFormat::Parquet {
        return Ok(MergeOutcome::Unsupported { reason: "parquet files are not merged by rows".into() });
    }
    if opts.keys.is_empty() {
        return Ok(MergeOutcome::NeedsTextMerge { reason: "no key columns configured for this table".into() });
    }
    let limits = &opts.limits;
    let bh = match base {
        Some(s) => match header(s, format, path, limits) {
            Ok(h) => h,
            Err(e) => return side_err(e, MergeSide::Base),
        },
        None => Header { columns: Vec::new(), types: Some(Vec::new()) },
    };
    let oh = match header(ours, format, path, limits) {
        Ok(h) => h,
        Err(e) => return side_err(e, MergeSide::Ours),
    };
    let th = match header(theirs, format, path, limits) {
        Ok(h) => h,
        Err(e) => return side_err(e, MergeSide::Theirs),
    };
    // An empty base (no header: e.g. the file was created empty) is no base.
    let base = base.filter(|_| !bh.columns.is_empty());
    let keys = &opts.keys;
    for (side, h, present) in [("base", &bh, base.is_some()), ("ours", &oh, true), ("theirs", &th, true)] {
        if present {
            if let Some(k) = keys.iter().find(|k| !h.columns.contains(k)) {
                return Ok(MergeOutcome::NeedsTextMerge { reason: format!("key column '{k}' is missing in {side}") });
            }
        }
    }
    let (bc, oc, tc) = (&bh.columns, &oh.columns, &th.columns);
    // Result columns.
    let mut rcols: Vec<String> = oc.iter().filter(|c| !bc.contains(c) || tc.contains(c)).cloned().collect();
    for (i, c) in tc.iter().enumerate() {
        if bc.contains(c) || oc.contains(c) || rcols.contains(c) {
            continue;
        }
        let at = (0..i).rev().find_map(|j| rcols.iter().position(|r| *r == tc[j])).map(|p| p + 1);
        match at {
            Some(p) => rcols.insert(p, c.clone()),
            None => rcols.push(c.clone()),
        }
    }
    let theirs_added_cols = rcols.iter().any(|c| !oc.contains(c));
    let theirs_removed_cols = oc.iter().any(|c| !rcols.contains(c));
    let same_cols = !theirs_added_cols && !theirs_removed_cols;

    // Summaries.
    let sorted_names = |a: &[String], b: &[String]| {
        let mut v: Vec<String> = a.iter().filter(|c| b.contains(c)).cloned().collect();
        v.sort();
        v
    };
    let p_bo = sorted_names(bc, oc);
    let p_bt = sorted_names(bc, tc);
    let budget = limits.mem_budget / 4;
    let b_spec = Spec {
        key: indices(bc, keys),
        hash: indices(bc, &p_bo).expect("shared"),
        extra: vec![indices(bc, &p_bt).expect("shared")],
        unique: Vec::new(),
    };
    let o_spec =
        Spec { key: indices(oc, keys), hash: indices(oc, &p_bo).expect("shared"), extra: vec![], unique: vec![] };
    let t_spec =
        Spec { key: indices(tc, keys), hash: indices(tc, &p_bt).expect("shared"), extra: vec![], unique: vec![] };
    let (bs, os, ts) = std::thread::scope(|s| {
        let b = s.spawn(|| base.map(|src| scan(src, format, path, &bh, &b_spec, budget, limits)));
        let t = s.spawn(|| scan(theirs, format, path, &th, &t_spec, budget, limits));
        let o = scan(ours, format, path, &oh, &o_spec, budget, limits);
        (b.join().expect("scan panicked"), o, t.join().expect("scan panicked"))
    });
    let bs = match bs.transpose() {
        Ok(b) => b,
        Err(e) => return side_err(e, MergeSide::Base),
    };
    let os = match os {
        Ok(o) => o,
        Err(e) => return side_err(e, MergeSide::Ours),
    };
    let ts = match ts {
        Ok(t) => t,
        Err(e) => return side_err(e, MergeSide::Theirs),
    };
    let io = |e: io::Error| TabularError::io(path, e);
    let b_types = bs.as_ref().map(|s| s.types.clone()).unwrap_or_default();
    let o_types = os.types.clone();
    let t_types = ts.types.clone();
    let o_dialect = os.dialect.clone().unwrap_or_default();
    let t_rows = ts.rows;
    let b_rows = bs.as_ref().map(|s| s.rows).unwrap_or(0);

    // Join.
    let dir = limits.dir();
    let mut plan: Sorter<Rec> = Sorter::new(budget, dir.clone());
    let mut req_b: Sorter<Rec> = Sorter::new(budget / 2, dir.clone());
    let mut req_t: Sorter<Rec> = Sorter::new(budget / 2, dir.clone());
    let mut bi = Peek::new(match bs {
        Some(s) => s.sorted,
        None => crate::sort::Sorted::Mem(Vec::new().into_iter()),
    })
    .map_err(io)?;
    let mut oi = Peek::new(os.sorted).map_err(io)?;
    let mut ti = Peek::new(ts.sorted).map_err(io)?;
    let (mut bg, mut og, mut tg): (Vec<RowSummary>, Vec<RowSummary>, Vec<RowSummary>) = (vec![], vec![], vec![]);
    let action =
        |slot: u64, sub: u64, code: u8, flags: u8| Rec { a: slot, b: sub, kind: ACTION, c: 0, data: vec![code, flags] };
    let request = |src: &RowSummary, slot: u64, sub: u64, kind: u8| Rec {
        a: src.ord,
        b: slot,
        kind,
        c: sub,
        data: src.off.to_le_bytes().to_vec(),
    };
    loop {
        let k = [bi.peek(), oi.peek(), ti.peek()].iter().flatten().map(|r| r.key).min();
        let Some(k) = k else { break };
        bg.clear();
        og.clear();
        tg.clear();
        for (it, g) in [(&mut bi, &mut bg), (&mut oi, &mut og), (&mut ti, &mut tg)] {
            while it.peek().is_some_and(|r| r.key == k) {
                g.push(it.pop().map_err(io)?.expect("peeked"));
            }
        }
        if bg.len() <= 1 && og.len() <= 1 && tg.len() <= 1 {
            let (b, o, t) = (bg.first(), og.first(), tg.first());
            let o_changed = match (b, o) {
                (Some(b), Some(o)) => b.hash != o.hash,
                (None, None) => false,
                _ => true,
            };
            let t_changed = match (b, t) {
                (Some(b), Some(t)) => b.extra[0] != t.hash,
                (None, None) => false,
                _ => true,
            };
            match (o, t) {
                (Some(o), Some(t)) => {
                    let need_t = t_changed || theirs_added_cols;
                    let need_b = b.is_some() && (t_changed || (o_changed && theirs_removed_cols));
                    if need_t || need_b || !same_cols {
                        let flags = if b.is_none() { NO_BASE } else { 0 };
                        plan.push(action(o.ord, 0, REWRITE, flags)).map_err(io)?;
                        if need_t {
                            req_t.push(request(t, o.ord, 0, THEIRS_ROW)).map_err(io)?;
                        }
                        if need_b {
                            req_b.push(request(b.expect("need_b"), o.ord, 0, BASE_ROW)).map_err(io)?;
                        }
                    }
                }
                (Some(o), None) => match b {
                    // Added by ours.
                    None if !same_cols => plan.push(action(o.ord, 0, REWRITE, 0)).map_err(io)?,
                    None => {}
                    Some(b) if o_changed => {
                        plan.push(action(o.ord, 0, MODIFY_DELETE, 0)).map_err(io)?;
                        req_b.push(request(b, o.ord, 0, BASE_ROW)).map_err(io)?;
                    }
                    Some(_) => plan.push(action(o.ord, 0, DELETE, 0)).map_err(io)?,
                },
                (None, Some(t)) => match b {
                    None => {
                        plan.push(action(APPENDED, t.ord, APPEND, 0)).map_err(io)?;
                        req_t.push(request(t, APPENDED, t.ord, THEIRS_ROW)).map_err(io)?;
                    }
                    Some(b) if t_changed => {
                        plan.push(action(APPENDED, t.ord, DELETE_MODIFY, 0)).map_err(io)?;
                        req_t.push(request(t, APPENDED, t.ord, THEIRS_ROW)).map_err(io)?;
                        req_b.push(request(b, APPENDED, t.ord, BASE_ROW)).map_err(io)?;
                    }
                    Some(_) => {}
                },
                (None, None) => {}
            }
            continue;
        }
        // A duplicated key: match each side's rows to base rows by content.
        let mut o_used = vec![false; og.len()];
        let mut t_used = vec![false; tg.len()];
        bg.sort_by_key(|r| r.ord);
        og.sort_by_key(|r| r.ord);
        tg.sort_by_key(|r| r.ord);
        let mut triples: Vec<(usize, Option<usize>, Option<usize>)> = Vec::new();
        for (bi_, b) in bg.iter().enumerate() {
            let o = (0..og.len()).find(|&i| !o_used[i] && og[i].hash == b.hash);
            let t = (0..tg.len()).find(|&i| !t_used[i] && tg[i].hash == b.extra[0]);
            if let Some(i) = o {
                o_used[i] = true;
            }
            if let Some(i) = t {
                t_used[i] = true;
            }
            triples.push((bi_, o, t));
        }
        let ours_changed = o_used.iter().any(|u| !u) || triples.iter().any(|t| t.1.is_none());
        let theirs_changed = t_used.iter().any(|u| !u) || triples.iter().any(|t| t.2.is_none());
        let flag = if ours_changed && theirs_changed { DUP_CONFLICT } else { 0 };
        let mut flagged = false;
        for &(b_, o, t) in &triples {
            match (o, t) {
                (Some(o), Some(t)) => {
                    let o = &og[o];
                    if theirs_added_cols || !same_cols || (flag != 0 && !flagged) {
                        let f = if flag != 0 && !flagged {
                            flagged = true;
                            flag
                        } else {
                            0
                        };
                        plan.push(action(o.ord, 0, REWRITE, f)).map_err(io)?;
                        if theirs_added_cols {
                            req_t.push(request(&tg[t], o.ord, 0, THEIRS_ROW)).map_err(io)?;
                            req_b.push(request(&bg[b_], o.ord, 0, BASE_ROW)).map_err(io)?;
                        }
                    }
                }
                (Some(o), None) => plan.push(action(og[o].ord, 0, DELETE, 0)).map_err(io)?,
                _ => {}
            }
        }
        for (i, o) in og.iter().enumerate() {
            if !o_used[i] && (!same_cols || (flag != 0 && !flagged)) {
                let f = if flag != 0 && !flagged {
                    flagged = true;
                    flag
                } else {
                    0
                };
                plan.push(action(o.ord, 0, REWRITE, f)).map_err(io)?;
            }
        }
        for (i, t) in tg.iter().enumerate() {
            if !t_used[i] {
                let f = if flag != 0 && !flagged {
                    flagged = true;
                    flag
                } else {
                    0
                };
                plan.push(action(APPENDED, t.ord, APPEND, f)).map_err(io)?;
                req_t.push(request(t, APPENDED, t.ord, THEIRS_ROW)).map_err(io)?;
            }
        }
    }

    // Fetch requested base and theirs rows into the plan.
    let fetch_into = |src: &Source, h: &Header, reqs: Sorter<Rec>, total: u64, plan: &mut Sorter<Rec>| -> Result<()> {
        let n = reqs.len();
        if n == 0 {
            return Ok(());
        }
        let mut it = reqs.finish().map_err(io)?;
        // A seek costs a csv-core reader build (~20 us): stream past a few hundred rows.
        let seek = format.is_text() && !matches!(src, Source::Reader(_)) && n <= 512 && n < total / 32 + 1;
        if seek {
            let mut batch: Vec<Rec> = Vec::new();
            while let Some(r) = it.next_record().map_err(io)? {
                batch.push(r);
                if batch.len() >= 4096 {
                    fetch_batch(src, format, path, h, &mut batch, plan, limits)?;
                }
            }
            fetch_batch(src, format, path, h, &mut batch, plan, limits)?;
            return Ok(());
        }
        let mut r = TableReader::open(src, format, path, Some(h.columns.clone()), false, &limits.dir())?;
        r.infer = false;
        let mut row = Row::default();
        let mut ord = 0u64;
        let mut next = it.next_record().map_err(io)?;
        while next.is_some() && r.next(&mut row)? {
            while let Some(q) = next.as_ref().filter(|q| q.a == ord) {
                plan.push(Rec { a: q.b, b: q.c, kind: q.kind, c: 0, data: encode_cells(&row.cells()) }).map_err(io)?;
                next = it.next_record().map_err(io)?;
            }
            ord += 1;
        }
        Ok(())
    };
    if let Some(b) = base {
        fetch_into(b, &bh, req_b, b_rows, &mut plan)?;
    }
    fetch_into(theirs, &th, req_t, t_rows, &mut plan)?;

    // Write.
    let mut report = MergeReport { columns: rcols.clone(), ..Default::default() };
    let mut plan = Peek::new(plan.finish().map_err(io)?).map_err(io)?;
    let mut r = TableReader::open(ours, format, path, Some(oc.clone()), true, &limits.dir())?;
    r.infer = false;
    let ctx = Ctx {
        keys,
        rcols: &rcols,
        bc,
        oc,
        tc,
        b_types: &b_types,
        o_types: &o_types,
        t_types: &t_types,
        format,
        conflict_limit: opts.conflict_limit,
        ours_label: &opts.ours_label,
        theirs_label: &opts.theirs_label,
    };
    // Each row's raw bytes run from the first byte of its content to the
    // first byte of the next row's (so line terminators and blank lines
    // travel with the row before them); a row is written once the next
    // one has been read.
    let mut raw = Vec::new();
    let mut w: Option<Writer> = None;
    let mut out = Some(out);
    let mut cursor = if o_dialect.bom { 3 } else { 0 };
    let (mut row, mut prev) = (Row::default(), Row::default());
    let mut ord = 0u64;
    let mut have_prev = false;
    loop {
        let got = r.next(&mut row)?;
        raw.clear();
        let boundary = if got {
            let b = r.content_start(row.start);
            r.raw(cursor, b, &mut raw);
            b
        } else {
            r.raw_rest(cursor, &mut raw);
            u64::MAX
        };
        cursor = boundary;
        match w.as_mut() {
            None => {
                // The header.
                let quote_all = format != TabularFormat::Jsonl
                    && !oc.is_empty()
                    && raw.first() == Some(&b'"')
                    && raw.iter().filter(|&&b| b == b'"').count() >= 2 * oc.len();
                let mut nw = Writer::new(format, &o_dialect, quote_all, &rcols, out.take().expect("once"), path)?;
                if o_dialect.bom {
                    nw.out.write_all(&[0xEF, 0xBB, 0xBF]).map_err(io)?;
                }
                if same_cols {
                    nw.raw(&raw)?;
                } else {
                    nw.header()?;
                }
                w = Some(nw);
            }
            Some(w) if have_prev => {
                let pord = ord - 1;
                let mut act: Option<(u8, u8)> = None;
                let (mut bcells, mut tcells): (Option<Cells>, Option<Cells>) = (None, None);
                while plan.peek().is_some_and(|p| p.a == pord) {
                    let p = plan.pop().map_err(io)?.expect("peeked");
                    match p.kind {
                        ACTION => act = Some((p.data[0], p.data[1])),
                        BASE_ROW => bcells = Some(decode_cells(&p.data)),
                        _ => tcells = Some(decode_cells(&p.data)),
                    }
                }
                match act {
                    None => {
                        w.raw(&raw)?;
                        report.stats.copied += 1;
                        report.stats.rows += 1;
                    }
                    Some((DELETE, _)) => report.stats.deleted += 1,
                    Some((REWRITE, flags)) => {
                        let ocells = prev.cells();
                        let m = ctx.merge_row(bcells.as_ref(), Some(&ocells), tcells.as_ref(), flags, &mut report);
                        w.emit(&m, &ctx)?;
                        report.stats.rewritten += 1;
                        report.stats.rows += 1;
                    }
                    Some((MODIFY_DELETE, _)) => {
                        let ocells = prev.cells();
                        let m = ctx.whole_row(
                            bcells.as_ref(),
                            Some(&ocells),
                            None,
                            ConflictKind::ModifyDelete,
                            &mut report,
                        );
                        w.emit(&m, &ctx)?;
                        report.stats.rows += 1;
                    }
                    Some(_) => {}
                }
            }
            Some(_) => {}
        }
        if !got {
            break;
        }
        std::mem::swap(&mut row, &mut prev);
        have_prev = true;
        ord += 1;
    }
    let mut w = w.expect("header written");
    // Appended rows.
    while let Some(p) = plan.pop().map_err(io)? {
        if p.a != APPENDED || p.kind != ACTION {
            continue;
        }
        let (code, flags) = (p.data[0], p.data[1]);
        let (mut bcells, mut tcells) = (None, None);
        while plan.peek().is_some_and(|q| q.a == APPENDED && q.b == p.b) {
            let q = plan.pop().map_err(io)?.expect("peeked");
            match q.kind {
                BASE_ROW => bcells = Some(decode_cells(&q.data)),
                THEIRS_ROW => tcells = Some(decode_cells(&q.data)),
                _ => {}
            }
        }
        let m = if code == DELETE_MODIFY {
            ctx.whole_row(bcells.as_ref(), None, tcells.as_ref(), ConflictKind::DeleteModify, &mut report)
        } else {
            ctx.merge_row(None, None, tcells.as_ref(), flags, &mut report)
        };
        w.emit(&m, &ctx)?;
        report.stats.appended += 1;
        report.stats.rows += 1;
    }
    w.out.flush().map_err(io)?;
    Ok(MergeOutcome::Merged(report))
}

fn fetch_batch(
    src: &Source,
    format: TabularFormat,
    path: &str,
    h: &Header,
    batch: &mut Vec<Rec>,
    plan: &mut Sorter<Rec>,
    limits: &Limits,
) -> Result<()> {
    let wanted: Vec<(u64, u64)> =
        batch.iter().map(|q| (q.a, u64::from_le_bytes(q.data[..8].try_into().expect("offset")))).collect();
    let rows = fetch(src, format, path, &h.columns, &wanted, limits)?;
    for q in batch.drain(..) {
        if let Some(cells) = rows.get(&q.a) {
            plan.push(Rec { a: q.b, b: q.c, kind: q.kind, c: 0, data: encode_cells(cells) })
                .map_err(|e| TabularError::io(path, e))?;
        }
    }
    Ok(())
}

/// A merged row: one version, or two (ours, theirs) around markers.
enum Merged {
    One(Cells),
    Conflict { ours: Option<Cells>, theirs: Option<Cells>, note: String },
}

struct Ctx<'a> {
    keys: &'a [String],
    rcols: &'a [String],
    bc: &'a [String],
    oc: &'a [String],
    tc: &'a [String],
    b_types: &'a [ColumnType],
    o_types: &'a [ColumnType],
    t_types: &'a [ColumnType],
    format: TabularFormat,
    conflict_limit: usize,
    ours_label: &'a str,
    theirs_label: &'a str,
}

fn cell<'c>(cols: &[String], cells: Option<&'c Cells>, name: &str) -> Option<Option<&'c [u8]>> {
    let cells = cells?;
    let i = cols.iter().position(|c| c == name)?;
    Some(cells.get(i).and_then(|c| c.as_deref()))
}

impl Ctx<'_> {
    fn val(&self, cols: &[String], types: &[ColumnType], cells: Option<&Cells>, name: &str) -> Option<Value> {
        let i = cols.iter().position(|c| c == name)?;
        let c = cells?.get(i)?.as_deref();
        Some(typed(c, types.get(i).copied().unwrap_or(ColumnType::Str), self.format).unwrap_or(Value::Null))
    }

    fn key(&self, b: Option<&Cells>, o: Option<&Cells>, t: Option<&Cells>) -> RowObject {
        let (cols, types, cells) = match (o, t, b) {
            (Some(o), _, _) => (self.oc, self.o_types, o),
            (None, Some(t), _) => (self.tc, self.t_types, t),
            (None, None, Some(b)) => (self.bc, self.b_types, b),
            _ => return RowObject::default(),
        };
        RowObject(
            self.keys
                .iter()
                .map(|k| (k.clone(), self.val(cols, types, Some(cells), k).unwrap_or(Value::Null)))
                .collect(),
        )
    }

    fn record(&self, report: &mut MergeReport, c: Conflict) {
        report.conflict_count += 1;
        if report.conflicts.len() < self.conflict_limit {
            report.conflicts.push(c);
        }
    }

    fn key_text(&self, key: &RowObject) -> String {
        key.0.iter().map(|(k, v)| format!("{k}={}", crate::value::display_value(v, b','))).collect::<Vec<_>>().join(",")
    }

    /// Cell-level merge into the result columns.
    fn merge_row(
        &self,
        b: Option<&Cells>,
        o: Option<&Cells>,
        t: Option<&Cells>,
        flags: u8,
        report: &mut MergeReport,
    ) -> Merged {
        let mut ours_v: Cells = Vec::with_capacity(self.rcols.len());
        let mut theirs_v: Cells = Vec::with_capacity(self.rcols.len());
        let mut conflicted: Vec<String> = Vec::new();
        let key = self.key(b, o, t);
        for c in self.rcols {
            let ov = cell(self.oc, o, c);
            let tv = cell(self.tc, t, c);
            let bv = cell(self.bc, b, c);
            let (x, y) = match (ov, tv) {
                (Some(ov), Some(tv)) => {
                    // Base unknown: the column or the row is new on both
                    // sides (conflict when they differ), or base was not
                    // fetched because theirs left the row as in base.
                    let base_new = flags & NO_BASE != 0 || !self.bc.contains(c);
                    if ov == tv || (!base_new && b.is_none()) {
                        (ov, ov)
                    } else if !base_new && bv == Some(ov) {
                        (tv, tv)
                    } else if !base_new && bv == Some(tv) {
                        (ov, ov)
                    } else {
                        conflicted.push(c.clone());
                        self.record(
                            report,
                            Conflict {
                                key: key.clone(),
                                column: Some(c.clone()),
                                kind: ConflictKind::Cell,
                                base: self.val(self.bc, self.b_types, b, c),
                                ours: self.val(self.oc, self.o_types, o, c),
                                theirs: self.val(self.tc, self.t_types, t, c),
                            },
                        );
                        (ov, tv)
                    }
                }
                (Some(ov), None) => (ov, ov),
                (None, Some(tv)) => (tv, tv),
                (None, None) => (None, None),
            };
            ours_v.push(x.map(<[u8]>::to_vec));
            theirs_v.push(y.map(<[u8]>::to_vec));
        }
        // Edits in a column the other side removed.
        if b.is_some() {
            for c in self.bc {
                if self.rcols.contains(c) {
                    continue;
                }
                let (bv, ov, tv) = (cell(self.bc, b, c), cell(self.oc, o, c), cell(self.tc, t, c));
                let edited = match (ov, tv) {
                    (Some(ov), None) if o.is_some() && t.is_some() => ov != bv.flatten(),
                    (None, Some(tv)) if o.is_some() && t.is_some() => tv != bv.flatten(),
                    _ => false,
                };
                if edited {
                    self.record(
                        report,
                        Conflict {
                            key: key.clone(),
                            column: Some(c.clone()),
                            kind: ConflictKind::RemovedColumnEdited,
                            base: self.val(self.bc, self.b_types, b, c),
                            ours: self.val(self.oc, self.o_types, o, c),
                            theirs: self.val(self.tc, self.t_types, t, c),
                        },
                    );
                }
            }
        }
        if flags & DUP_CONFLICT != 0 {
            self.record(
                report,
                Conflict {
                    key: key.clone(),
                    column: None,
                    kind: ConflictKind::DuplicateKey,
                    base: None,
                    ours: None,
                    theirs: None,
                },
            );
        }
        if conflicted.is_empty() {
            Merged::One(ours_v)
        } else {
            let note = format!("{} [{}]", self.key_text(&key), conflicted.join(", "));
            Merged::Conflict { ours: Some(ours_v), theirs: Some(theirs_v), note }
        }
    }

    /// A row one side deleted and the other modified.
    fn whole_row(
        &self,
        b: Option<&Cells>,
        o: Option<&Cells>,
        t: Option<&Cells>,
        kind: ConflictKind,
        report: &mut MergeReport,
    ) -> Merged {
        let key = self.key(b, o, t);
        let row_obj = |cols: &[String], types: &[ColumnType], cells: Option<&Cells>| {
            cells.map(|c| crate::value::row_object(cols, types, c, self.format).to_value())
        };
        self.record(
            report,
            Conflict {
                key: key.clone(),
                column: None,
                kind,
                base: row_obj(self.bc, self.b_types, b),
                ours: row_obj(self.oc, self.o_types, o),
                theirs: row_obj(self.tc, self.t_types, t),
            },
        );
        let project = |cols: &[String], cells: Option<&Cells>| -> Option<Cells> {
            let cells = cells?;
            Some(self.rcols.iter().map(|c| cell(cols, Some(cells), c).flatten().map(<[u8]>::to_vec)).collect())
        };
        let what = match kind {
            ConflictKind::ModifyDelete => "modified in ours, deleted in theirs",
            _ => "deleted in ours, modified in theirs",
        };
        Merged::Conflict {
            ours: project(self.oc, o),
            theirs: project(self.tc, t),
            note: format!("{} ({what})", self.key_text(&key)),
        }
    }
}

/// Writes rows in ours' dialect.
struct Writer<'w> {
    out: io::BufWriter<&'w mut dyn Write>,
    format: TabularFormat,
    term: &'static [u8],
    quote_all: bool,
    rcols: Vec<String>,
    path: String,
    last_has_newline: bool,
}

impl<'w> Writer<'w> {
    fn new(
        format: TabularFormat,
        d: &crate::read::Dialect,
        quote_all: bool,
        rcols: &[String],
        out: &'w mut dyn Write,
        path: &str,
    ) -> Result<Writer<'w>> {
        let term = d.terminator();
        Ok(Writer {
            out: io::BufWriter::with_capacity(1 << 16, out),
            format,
            term,
            quote_all,
            rcols: rcols.to_vec(),
            path: path.to_string(),
            last_has_newline: true,
        })
    }

    fn io(&self, e: io::Error) -> TabularError {
        TabularError::io(&self.path, e)
    }

    fn raw(&mut self, b: &[u8]) -> Result<()> {
        if b.is_empty() {
            return Ok(());
        }
        self.out.write_all(b).map_err(|e| self.io(e))?;
        self.last_has_newline = b.ends_with(b"\n");
        Ok(())
    }

    fn header(&mut self) -> Result<()> {
        if self.format == TabularFormat::Jsonl {
            return Ok(());
        }
        let cols: Vec<Option<Vec<u8>>> = self.rcols.iter().map(|c| Some(c.as_bytes().to_vec())).collect();
        self.line(&cols)
    }

    fn line(&mut self, cells: &Cells) -> Result<()> {
        let mut buf = Vec::new();
        if self.format == TabularFormat::Jsonl {
            buf.push(b'{');
            let mut first = true;
            for (c, v) in self.rcols.iter().zip(cells) {
                let Some(v) = v else { continue };
                if !first {
                    buf.push(b',');
                }
                first = false;
                serde_json::to_writer(&mut buf, c).expect("JSON to memory");
                buf.push(b':');
                buf.extend_from_slice(v);
            }
            buf.push(b'}');
            buf.extend_from_slice(self.term);
        } else {
            let delim = self.format.delimiter();
            for (i, c) in cells.iter().enumerate() {
                if i > 0 {
                    buf.push(delim);
                }
                let c = c.as_deref().unwrap_or(b"");
                let quote = self.quote_all
                    || (cells.len() == 1 && c.is_empty())
                    || c.iter().any(|&b| b == delim || b == b'"' || b == b'\n' || b == b'\r');
                if quote {
                    buf.push(b'"');
                    for &b in c {
                        if b == b'"' {
                            buf.push(b'"');
                        }
                        buf.push(b);
                    }
                    buf.push(b'"');
                } else {
                    buf.extend_from_slice(c);
                }
            }
            buf.extend_from_slice(self.term);
        }
        if !self.last_has_newline {
            self.out.write_all(self.term).map_err(|e| self.io(e))?;
        }
        self.out.write_all(&buf).map_err(|e| self.io(e))?;
        self.last_has_newline = true;
        Ok(())
    }

    fn marker(&mut self, s: &str) -> Result<()> {
        if !self.last_has_newline {
            self.out.write_all(self.term).map_err(|e| self.io(e))?;
        }
        self.out.write_all(s.as_bytes()).map_err(|e| self.io(e))?;
        self.out.write_all(self.term).map_err(|e| self.io(e))?;
        self.last_has_newline = true;
        Ok(())
    }

    fn emit(&mut self, m: &Merged, ctx: &Ctx) -> Result<()> {
        match m {
            Merged::One(cells) => self.line(cells),
            Merged::Conflict { ours, theirs, note } => {
                self.marker(&format!("<<<<<<< {} {note}", ctx.ours_label))?;
                if let Some(o) = ours {
                    self.line(o)?;
                }
                self.marker("=======")?;
                if let Some(t) = theirs {
                    self.line(t)?;
                }
                self.marker(&format!(">>>>>>> {}", ctx.theirs_label))
            }
        }
    }
}
