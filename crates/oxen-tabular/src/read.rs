//! Streaming row readers for every format.
//!
//! CSV and TSV go through the `csv` crate (csv-core underneath): it gives
//! each record's byte range, which merge needs to copy untouched rows byte
//! for byte and diff uses to fetch the few rows it prints by seeking. JSONL
//! is read line by line with serde_json, keeping each object's key order.
//! Parquet goes through the Arrow reader of the `parquet` crate, batch by
//! batch. Every reader holds one row (or one record batch) at a time.
//!
//! A row's cells are bytes: the unescaped field of CSV/TSV, the canonical
//! (compact) JSON text of a JSONL value, the display text of a Parquet
//! value. A cell can also be absent (a JSONL key missing from that line, a
//! Parquet null).

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read};

use xxhash_rust::xxh3::Xxh3;

use crate::types::{ColumnType, NotParsable, Result, Source, TabularError, TabularFormat};

/// Byte-level facts about a text file, gathered while it is read: what a
/// diff reports when the table is equal but the bytes are not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dialect {
    /// Starts with a UTF-8 byte order mark.
    pub bom: bool,
    /// Lines ending in `\n` alone.
    pub lf: u64,
    /// Lines ending in `\r\n`.
    pub crlf: u64,
    /// Number of `"` bytes (a change in quoting style shows here).
    pub quotes: u64,
    /// The last byte is a newline.
    pub trailing_newline: bool,
    /// File size.
    pub bytes: u64,
    /// xxh3-128 of the whole file.
    pub raw_hash: u128,
}

impl Dialect {
    /// `CRLF`, `LF`, `mixed` or `none`.
    pub fn line_ending(&self) -> &'static str {
        match (self.lf, self.crlf) {
            (0, 0) => "none",
            (_, 0) => "LF",
            (0, _) => "CRLF",
            _ => "mixed",
        }
    }

    /// The terminator to write new rows with.
    pub fn terminator(&self) -> &'static [u8] {
        if self.crlf > self.lf {
            b"\r\n"
        } else {
            b"\n"
        }
    }
}

/// Passes bytes through while hashing them, counting line endings and
/// quotes, stripping a leading BOM, and optionally keeping the bytes not yet
/// claimed so a row can be copied verbatim.
pub(crate) struct Tee<'a> {
    inner: Box<dyn Read + 'a>,
    hasher: Xxh3,
    prefix: Vec<u8>,
    prev_cr: bool,
    pub(crate) d: Dialect,
    last: u8,
    /// Bytes delivered downstream (after the BOM).
    delivered: u64,
    pub(crate) bom_len: u64,
    capture: Option<Vec<u8>>,
    /// Bytes at the front of `capture` already taken (compacted lazily, so
    /// taking a row does not move the rest of the buffer).
    cap_skip: usize,
    /// File offset of `capture[cap_skip]`.
    cap_base: u64,
}

impl<'a> Tee<'a> {
    fn new(mut inner: Box<dyn Read + 'a>, capture: bool) -> io::Result<Tee<'a>> {
        let mut head = Vec::with_capacity(3);
        while head.len() < 3 {
            let mut b = [0u8; 3];
            let n = inner.read(&mut b[..3 - head.len()])?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&b[..n]);
        }
        let mut hasher = Xxh3::new();
        hasher.update(&head);
        let bom = head == [0xEF, 0xBB, 0xBF];
        let mut d = Dialect { bom, ..Default::default() };
        d.bytes = head.len() as u64;
        let bom_len = if bom { 3 } else { 0 };
        let prefix = if bom { Vec::new() } else { head };
        let mut t = Tee {
            inner,
            hasher,
            prefix: Vec::new(),
            prev_cr: false,
            d,
            last: 0,
            delivered: 0,
            bom_len,
            capture: capture.then(Vec::new),
            cap_skip: 0,
            cap_base: bom_len,
        };
        t.count(&prefix);
        if bom {
            t.last = 0xBF;
        }
        t.prefix = prefix;
        Ok(t)
    }

    fn count(&mut self, b: &[u8]) {
        count_bytes(&mut self.d, &mut self.prev_cr, &mut self.last, b);
    }

    fn finish(&mut self) -> Dialect {
        let mut d = self.d.clone();
        d.raw_hash = self.hasher.digest128();
        d.trailing_newline = self.last == b'\n';
        d
    }

    /// The captured bytes `[start, end)` (file offsets); everything before
    /// `end` is released.
    pub(crate) fn take(&mut self, start: u64, end: u64, out: &mut Vec<u8>) {
        let cap = self.capture.as_mut().expect("capture enabled");
        let s = self.cap_skip + (start - self.cap_base) as usize;
        let e = self.cap_skip + (end - self.cap_base) as usize;
        out.extend_from_slice(&cap[s..e]);
        self.cap_skip = e;
        self.cap_base = end;
        if self.cap_skip >= 1 << 16 && self.cap_skip * 2 >= cap.len() {
            cap.drain(..self.cap_skip);
            self.cap_skip = 0;
        }
    }
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.len());
            buf[..n].copy_from_slice(&self.prefix[..n]);
            self.prefix.drain(..n);
            n
        } else {
            let n = self.inner.read(buf)?;
            self.hasher.update(&buf[..n]);
            self.d.bytes += n as u64;
            count_bytes(&mut self.d, &mut self.prev_cr, &mut self.last, &buf[..n]);
            n
        };
        if let Some(c) = self.capture.as_mut() {
            c.extend_from_slice(&buf[..n]);
        }
        self.delivered += n as u64;
        Ok(n)
    }
}

fn count_bytes(d: &mut Dialect, prev_cr: &mut bool, last: &mut u8, b: &[u8]) {
    if b.is_empty() {
        return;
    }
    for i in memchr::memchr_iter(b'\n', b) {
        let cr = if i == 0 { *prev_cr } else { b[i - 1] == b'\r' };
        if cr {
            d.crlf += 1;
        } else {
            d.lf += 1;
        }
    }
    d.quotes += memchr::memchr_iter(b'"', b).count() as u64;
    *prev_cr = b[b.len() - 1] == b'\r';
    *last = b[b.len() - 1];
}

/// One row: cells as bytes, with where the row is in the file.
#[derive(Clone, Debug, Default)]
pub(crate) struct Row {
    pub rec: csv::ByteRecord,
    /// Per column: the cell is absent. Empty when no cell is.
    pub absent: Vec<bool>,
    /// File offset of the row's first byte (text formats).
    pub start: u64,
    /// File offset after the row and its terminator (text formats).
    pub end: u64,
    /// 1-based line of the row's start (text), or row number (Parquet).
    pub line: u64,
}

impl Row {
    pub(crate) fn cell(&self, i: usize) -> Option<&[u8]> {
        if self.absent.get(i).copied().unwrap_or(false) {
            return None;
        }
        Some(self.rec.get(i).unwrap_or(b""))
    }

    pub(crate) fn len(&self) -> usize {
        self.rec.len()
    }

    /// Cells as owned values.
    pub(crate) fn cells(&self) -> Vec<Option<Vec<u8>>> {
        (0..self.len()).map(|i| self.cell(i).map(<[u8]>::to_vec)).collect()
    }
}

/// A JSON object with its keys in file order.
pub(crate) struct OrderedObject(pub Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for OrderedObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OrderedObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> std::result::Result<OrderedObject, A::Error> {
                let mut v = Vec::new();
                while let Some((k, val)) = m.next_entry::<String, serde_json::Value>()? {
                    v.push((k, val));
                }
                Ok(OrderedObject(v))
            }
        }
        d.deserialize_map(V)
    }
}

/// Parse one JSONL line (without its terminator).
pub(crate) fn parse_json_line(line: &[u8]) -> std::result::Result<OrderedObject, String> {
    serde_json::from_slice::<OrderedObject>(line).map_err(|e| {
        let s = e.to_string();
        // serde_json says "line 1 column N" of the line itself: keep the column.
        match s.rsplit_once(" at line 1 column ") {
            Some((msg, col)) => format!("{msg} at column {col}"),
            None => s,
        }
    })
}

fn is_blank(b: &[u8]) -> bool {
    b.iter().all(|c| c.is_ascii_whitespace())
}

fn trim_eol(b: &[u8]) -> &[u8] {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    b.strip_suffix(b"\r").unwrap_or(b)
}

enum Kind<'a> {
    Csv {
        rdr: csv::Reader<Tee<'a>>,
    },
    Jsonl {
        rdr: BufReader<Tee<'a>>,
        index: HashMap<String, usize>,
        line: u64,
        pos: u64,
        buf: Vec<u8>,
        scratch: Vec<u8>,
    },
    Parquet {
        rdr: parquet::arrow::arrow_reader::ParquetRecordBatchReader,
        batch: Vec<arrow_array::StringArray>,
        nulls: Vec<Option<arrow_array::BooleanArray>>,
        at: usize,
        len: usize,
        ord: u64,
    },
}

/// A streaming reader of one table.
pub(crate) struct TableReader<'a> {
    kind: Kind<'a>,
    pub format: TabularFormat,
    pub path: String,
    pub columns: Vec<String>,
    /// Types of the rows read so far (the whole file's at the end).
    pub types: Vec<ColumnType>,
    /// Rows read so far.
    pub rows: u64,
    /// Infer CSV cell types (costs a parse per cell).
    pub infer: bool,
}

pub(crate) fn not_parsable(path: &str, format: TabularFormat, why: impl Into<String>) -> TabularError {
    TabularError::NotParsable(NotParsable { path: path.to_string(), format, why: why.into() })
}

fn csv_err(path: &str, format: TabularFormat, e: csv::Error) -> TabularError {
    match e.kind() {
        csv::ErrorKind::Io(_) => match e.into_kind() {
            csv::ErrorKind::Io(io) => TabularError::io(path, io),
            _ => unreachable!(),
        },
        _ => not_parsable(path, format, e.to_string()),
    }
}

/// Read the first rows' columns of a JSONL source: the union of keys in
/// first-seen order needs the whole file, so this is a full streaming pass
/// (one line in memory at a time). Also returns types and row count.
pub(crate) fn jsonl_schema(source: &Source, path: &str) -> Result<(Vec<String>, Vec<ColumnType>, u64)> {
    let f = source.open().map_err(|e| TabularError::io(path, e))?;
    jsonl_schema_from(f, path)
}

/// [`jsonl_schema`] of any reader.
pub(crate) fn jsonl_schema_from(f: impl Read, path: &str) -> Result<(Vec<String>, Vec<ColumnType>, u64)> {
    let mut rdr = BufReader::with_capacity(1 << 16, f);
    let mut cols: Vec<String> = Vec::new();
    let mut types: Vec<ColumnType> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut buf = Vec::new();
    let (mut line, mut rows) = (0u64, 0u64);
    loop {
        buf.clear();
        let n = rdr.read_until(b'\n', &mut buf).map_err(|e| TabularError::io(path, e))?;
        if n == 0 {
            break;
        }
        line += 1;
        let l = trim_eol(&buf);
        let l = if line == 1 { l.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(l) } else { l };
        if is_blank(l) {
            continue;
        }
        let obj =
            parse_json_line(l).map_err(|w| not_parsable(path, TabularFormat::Jsonl, format!("line {line}: {w}")))?;
        rows += 1;
        for (k, v) in &obj.0 {
            let i = match index.get(k) {
                Some(&i) => i,
                None => {
                    index.insert(k.clone(), cols.len());
                    cols.push(k.clone());
                    types.push(ColumnType::Null);
                    cols.len() - 1
                }
            };
            types[i] = types[i].widen(ColumnType::of_json(v));
        }
    }
    Ok((cols, types, rows))
}

fn arrow_type(t: &arrow_schema::DataType) -> ColumnType {
    use arrow_schema::DataType::*;
    match t {
        Null => ColumnType::Null,
        Boolean => ColumnType::Bool,
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => ColumnType::Int,
        Float16 | Float32 | Float64 | Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..) => {
            ColumnType::Float
        }
        Dictionary(_, v) => arrow_type(v),
        _ => ColumnType::Str,
    }
}

pub(crate) fn parquet_builder(
    source: &Source,
    path: &str,
    dir: &std::path::Path,
) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder<ParquetInput>> {
    let input = match source {
        Source::Path(p) => ParquetInput::File(std::fs::File::open(p).map_err(|e| TabularError::io(path, e))?),
        Source::Bytes(b) => ParquetInput::Bytes(bytes::Bytes::from(b.to_vec())),
        Source::Reader(_) => {
            // Parquet needs random access: spool the stream to a temp file.
            let mut f = tempfile::tempfile_in(dir).map_err(|e| TabularError::io(path, e))?;
            let mut r = source.open().map_err(|e| TabularError::io(path, e))?;
            io::copy(&mut r, &mut f).map_err(|e| TabularError::io(path, e))?;
            ParquetInput::File(f)
        }
    };
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(input)
        .map_err(|e| not_parsable(path, TabularFormat::Parquet, e.to_string()))
}

/// A random-access input the Parquet reader accepts.
pub(crate) enum ParquetInput {
    File(std::fs::File),
    Bytes(bytes::Bytes),
}

impl parquet::file::reader::Length for ParquetInput {
    fn len(&self) -> u64 {
        match self {
            ParquetInput::File(f) => f.len(),
            ParquetInput::Bytes(b) => b.len() as u64,
        }
    }
}

impl parquet::file::reader::ChunkReader for ParquetInput {
    type T = Box<dyn Read + Send>;
    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(match self {
            ParquetInput::File(f) => Box::new(f.get_read(start)?),
            ParquetInput::Bytes(b) => Box::new(b.get_read(start)?),
        })
    }
    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<bytes::Bytes> {
        match self {
            ParquetInput::File(f) => f.get_bytes(start, length),
            ParquetInput::Bytes(b) => b.get_bytes(start, length),
        }
    }
}

/// Schema and row count of a Parquet file from its metadata alone.
pub(crate) fn parquet_schema_file(f: std::fs::File, path: &str) -> Result<(Vec<String>, Vec<ColumnType>, u64)> {
    let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| not_parsable(path, TabularFormat::Parquet, e.to_string()))?;
    let rows = b.metadata().file_metadata().num_rows().max(0) as u64;
    let (names, types) = b.schema().fields().iter().map(|f| (f.name().clone(), arrow_type(f.data_type()))).unzip();
    Ok((names, types, rows))
}

/// Schema and row count of a Parquet source from its metadata alone.
pub(crate) fn parquet_schema(
    source: &Source,
    path: &str,
    dir: &std::path::Path,
) -> Result<(Vec<String>, Vec<ColumnType>, u64)> {
    let b = parquet_builder(source, path, dir)?;
    let rows = b.metadata().file_metadata().num_rows().max(0) as u64;
    let (names, types) = b.schema().fields().iter().map(|f| (f.name().clone(), arrow_type(f.data_type()))).unzip();
    Ok((names, types, rows))
}

impl<'a> TableReader<'a> {
    /// Open a table. `capture` keeps raw bytes for [`TableReader::raw`].
    /// JSONL needs its columns: pass them when known (from an earlier
    /// pass), or they are read with a schema pass first.
    pub(crate) fn open(
        source: &Source,
        format: TabularFormat,
        path: &str,
        jsonl_columns: Option<Vec<String>>,
        capture: bool,
        dir: &std::path::Path,
    ) -> Result<TableReader<'static>> {
        let io_err = |e| TabularError::io(path, e);
        match format {
            TabularFormat::Csv | TabularFormat::Tsv => {
                TableReader::from_read(source.open().map_err(io_err)?, format, path, None, capture)
            }
            TabularFormat::Jsonl => {
                let columns = match jsonl_columns {
                    Some(c) => c,
                    None => jsonl_schema(source, path)?.0,
                };
                TableReader::from_read(source.open().map_err(io_err)?, format, path, Some(columns), capture)
            }
            TabularFormat::Parquet => {
                let b = parquet_builder(source, path, dir)?;
                let (columns, types) =
                    b.schema().fields().iter().map(|f| (f.name().clone(), arrow_type(f.data_type()))).unzip();
                let rdr = b.with_batch_size(8192).build().map_err(|e| not_parsable(path, format, e.to_string()))?;
                Ok(TableReader {
                    kind: Kind::Parquet { rdr, batch: Vec::new(), nulls: Vec::new(), at: 0, len: 0, ord: 0 },
                    format,
                    path: path.to_string(),
                    columns,
                    types,
                    rows: 0,
                    infer: false,
                })
            }
        }
    }

    /// A text table from a one-shot reader (JSONL needs its columns).
    pub(crate) fn from_read(
        r: Box<dyn Read + 'a>,
        format: TabularFormat,
        path: &str,
        jsonl_columns: Option<Vec<String>>,
        capture: bool,
    ) -> Result<TableReader<'a>> {
        let io_err = |e| TabularError::io(path, e);
        match format {
            TabularFormat::Csv | TabularFormat::Tsv => {
                let tee = Tee::new(r, capture).map_err(io_err)?;
                let mut rdr = csv::ReaderBuilder::new()
                    .delimiter(format.delimiter())
                    .has_headers(false)
                    .flexible(true)
                    .buffer_capacity(1 << 16)
                    .from_reader(tee);
                let mut rec = csv::ByteRecord::new();
                let has = rdr.read_byte_record(&mut rec).map_err(|e| csv_err(path, format, e))?;
                let columns: Vec<String> = if has {
                    match std::str::from_utf8(rec.as_slice()) {
                        Ok(_) => rec.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect(),
                        Err(_) => return Err(not_parsable(path, format, "line 1: header is not valid UTF-8")),
                    }
                } else {
                    Vec::new()
                };
                let n = columns.len();
                Ok(TableReader {
                    kind: Kind::Csv { rdr },
                    format,
                    path: path.to_string(),
                    columns,
                    types: vec![ColumnType::Null; n],
                    rows: 0,
                    infer: true,
                })
            }
            TabularFormat::Jsonl => {
                let columns = jsonl_columns.unwrap_or_default();
                let tee = Tee::new(r, capture).map_err(io_err)?;
                let pos = tee.bom_len;
                let index = columns.iter().enumerate().map(|(i, c)| (c.clone(), i)).collect();
                let n = columns.len();
                Ok(TableReader {
                    kind: Kind::Jsonl {
                        rdr: BufReader::with_capacity(1 << 16, tee),
                        index,
                        line: 0,
                        pos,
                        buf: Vec::new(),
                        scratch: Vec::new(),
                    },
                    format,
                    path: path.to_string(),
                    columns,
                    types: vec![ColumnType::Null; n],
                    rows: 0,
                    infer: true,
                })
            }
            TabularFormat::Parquet => Err(not_parsable(path, format, "parquet needs random access")),
        }
    }

    /// Read the next row into `row`. False at the end.
    pub(crate) fn next(&mut self, row: &mut Row) -> Result<bool> {
        let format = self.format;
        let ncols = self.columns.len();
        match &mut self.kind {
            Kind::Csv { rdr } => {
                let has = rdr.read_byte_record(&mut row.rec).map_err(|e| csv_err(&self.path, format, e))?;
                if !has {
                    return Ok(false);
                }
                let bom = rdr.get_ref().bom_len;
                let p = row.rec.position().expect("csv records have positions");
                row.start = p.byte() + bom;
                row.line = p.line();
                row.end = rdr.position().byte() + bom;
                row.absent.clear();
                if row.rec.len() != ncols {
                    return Err(not_parsable(
                        &self.path,
                        format,
                        format!("line {}: expected {} fields, found {}", p.line(), ncols, row.rec.len()),
                    ));
                }
                if std::str::from_utf8(row.rec.as_slice()).is_err() {
                    return Err(not_parsable(&self.path, format, format!("line {}: not valid UTF-8", p.line())));
                }
                if self.infer {
                    for (i, t) in self.types.iter_mut().enumerate() {
                        if *t != ColumnType::Str {
                            *t = t.widen(ColumnType::of_text(&row.rec[i]));
                        }
                    }
                }
                self.rows += 1;
                Ok(true)
            }
            Kind::Jsonl { rdr, index, line, pos, buf, scratch } => loop {
                buf.clear();
                let n = rdr.read_until(b'\n', buf).map_err(|e| TabularError::io(&self.path, e))?;
                if n == 0 {
                    return Ok(false);
                }
                *line += 1;
                let start = *pos;
                *pos += n as u64;
                let l = trim_eol(buf);
                if is_blank(l) {
                    continue;
                }
                let obj =
                    parse_json_line(l).map_err(|w| not_parsable(&self.path, format, format!("line {}: {w}", *line)))?;
                row.rec.clear();
                row.absent.clear();
                row.absent.resize(ncols, true);
                let mut cells: Vec<Option<(usize, usize)>> = vec![None; ncols];
                scratch.clear();
                for (k, v) in &obj.0 {
                    let Some(&i) = index.get(k) else {
                        return Err(not_parsable(
                            &self.path,
                            format,
                            format!("line {}: key '{k}' not seen when the schema was read (file changed?)", *line),
                        ));
                    };
                    let s = scratch.len();
                    serde_json::to_writer(&mut *scratch, v).expect("writing JSON to memory");
                    cells[i] = Some((s, scratch.len()));
                    if self.infer {
                        self.types[i] = self.types[i].widen(ColumnType::of_json(v));
                    }
                }
                for (i, c) in cells.iter().enumerate() {
                    match c {
                        Some((s, e)) => {
                            row.rec.push_field(&scratch[*s..*e]);
                            row.absent[i] = false;
                        }
                        None => row.rec.push_field(b""),
                    }
                }
                if !row.absent.iter().any(|a| *a) {
                    row.absent.clear();
                }
                row.start = start;
                row.end = *pos;
                row.line = *line;
                self.rows += 1;
                return Ok(true);
            },
            Kind::Parquet { rdr, batch, nulls, at, len, ord } => {
                while *at >= *len {
                    let Some(b) = rdr.next() else { return Ok(false) };
                    let b = b.map_err(|e| not_parsable(&self.path, format, e.to_string()))?;
                    *len = b.num_rows();
                    *at = 0;
                    batch.clear();
                    nulls.clear();
                    for col in b.columns() {
                        let (text, null) = parquet_column_text(col).map_err(|e| not_parsable(&self.path, format, e))?;
                        batch.push(text);
                        nulls.push(null);
                    }
                }
                row.rec.clear();
                row.absent.clear();
                let mut any_null = false;
                for (c, n) in batch.iter().zip(nulls.iter()) {
                    use arrow_array::Array;
                    let is_null = n.as_ref().is_some_and(|n| n.value(*at)) || c.is_null(*at);
                    any_null |= is_null;
                    row.rec.push_field(if is_null { b"" } else { c.value(*at).as_bytes() });
                }
                if any_null {
                    row.absent = batch
                        .iter()
                        .zip(nulls.iter())
                        .map(|(c, n)| {
                            use arrow_array::Array;
                            n.as_ref().is_some_and(|n| n.value(*at)) || c.is_null(*at)
                        })
                        .collect();
                }
                *at += 1;
                *ord += 1;
                row.line = *ord;
                row.start = *ord - 1;
                row.end = *ord;
                self.rows += 1;
                Ok(true)
            }
        }
    }

    /// Byte-level facts, once the whole file has been read (text formats).
    pub(crate) fn dialect(&mut self) -> Option<Dialect> {
        match &mut self.kind {
            Kind::Csv { rdr } => Some(rdr.get_mut().finish()),
            Kind::Jsonl { rdr, .. } => Some(rdr.get_mut().finish()),
            Kind::Parquet { .. } => None,
        }
    }

    /// The raw bytes of the header (text formats with capture on).
    pub(crate) fn raw(&mut self, start: u64, end: u64, out: &mut Vec<u8>) {
        match &mut self.kind {
            Kind::Csv { rdr } => rdr.get_mut().take(start, end, out),
            Kind::Jsonl { rdr, .. } => rdr.get_mut().take(start, end, out),
            Kind::Parquet { .. } => {}
        }
    }

    /// Where a row's content starts: csv-core may place a record's start
    /// on the `\n` of the previous CRLF or on skipped blank lines.
    pub(crate) fn content_start(&mut self, start: u64) -> u64 {
        let tee = match &mut self.kind {
            Kind::Csv { rdr } => rdr.get_mut(),
            _ => return start,
        };
        let Some(cap) = tee.capture.as_ref() else { return start };
        let first = tee.cap_skip + (start - tee.cap_base) as usize;
        let mut i = first;
        while i < cap.len() && (cap[i] == b'\n' || cap[i] == b'\r') {
            i += 1;
        }
        start + (i - first) as u64
    }

    /// The captured bytes from `start` to the end of the file (after the
    /// last row has been read).
    pub(crate) fn raw_rest(&mut self, start: u64, out: &mut Vec<u8>) {
        let tee = match &mut self.kind {
            Kind::Csv { rdr } => {
                let mut sink = Vec::new();
                let _ = rdr.get_mut().read_to_end(&mut sink);
                rdr.get_mut()
            }
            Kind::Jsonl { rdr, .. } => rdr.get_mut(),
            Kind::Parquet { .. } => return,
        };
        if let Some(cap) = tee.capture.as_mut() {
            let s = tee.cap_skip + (start - tee.cap_base) as usize;
            out.extend_from_slice(&cap[s.min(cap.len())..]);
            cap.clear();
            tee.cap_skip = 0;
        }
    }

    /// Read the whole table, calling `f` for each row.
    pub(crate) fn for_each(&mut self, mut f: impl FnMut(&Row) -> Result<()>) -> Result<()> {
        let mut row = Row::default();
        while self.next(&mut row)? {
            f(&row)?;
        }
        Ok(())
    }
}

/// A Parquet column as display text, plus a null mask for columns whose
/// nulls the text array cannot carry.
fn parquet_column_text(
    col: &arrow_array::ArrayRef,
) -> std::result::Result<(arrow_array::StringArray, Option<arrow_array::BooleanArray>), String> {
    use arrow_array::Array;
    use arrow_cast::display::{ArrayFormatter, FormatOptions};
    if let Some(s) = col.as_any().downcast_ref::<arrow_array::StringArray>() {
        return Ok((s.clone(), None));
    }
    let opts = FormatOptions::default().with_null("");
    let f = ArrayFormatter::try_new(col.as_ref(), &opts).map_err(|e| e.to_string())?;
    let mut b = arrow_array::builder::StringBuilder::with_capacity(col.len(), col.len() * 8);
    let mut s = String::new();
    for i in 0..col.len() {
        if col.is_null(i) {
            b.append_null();
        } else {
            s.clear();
            use std::fmt::Write;
            let _ = write!(s, "{}", f.value(i));
            b.append_value(&s);
        }
    }
    Ok((b.finish(), None))
}

/// Read one row of a text table starting at byte `off` (random access).
pub(crate) fn read_row_at(
    source: &Source,
    format: TabularFormat,
    path: &str,
    columns: &[String],
    off: u64,
) -> Option<Result<Row>> {
    let r = match source.open_at(off)? {
        Ok(r) => r,
        Err(e) => return Some(Err(TabularError::io(path, e))),
    };
    Some((|| {
        let mut row = Row::default();
        match format {
            TabularFormat::Csv | TabularFormat::Tsv => {
                let mut rdr = csv::ReaderBuilder::new()
                    .delimiter(format.delimiter())
                    .has_headers(false)
                    .flexible(true)
                    .from_reader(r);
                if !rdr.read_byte_record(&mut row.rec).map_err(|e| csv_err(path, format, e))? {
                    return Err(not_parsable(path, format, format!("no row at byte {off}")));
                }
            }
            TabularFormat::Jsonl => {
                let mut br = BufReader::new(r);
                let mut buf = Vec::new();
                br.read_until(b'\n', &mut buf).map_err(|e| TabularError::io(path, e))?;
                let obj = parse_json_line(trim_eol(&buf)).map_err(|w| not_parsable(path, format, w))?;
                let mut cells: Vec<Option<Vec<u8>>> = vec![None; columns.len()];
                for (k, v) in obj.0 {
                    if let Some(i) = columns.iter().position(|c| *c == k) {
                        cells[i] = Some(serde_json::to_vec(&v).expect("JSON to memory"));
                    }
                }
                row.absent = cells.iter().map(Option::is_none).collect();
                for c in &cells {
                    row.rec.push_field(c.as_deref().unwrap_or(b""));
                }
                if !row.absent.iter().any(|a| *a) {
                    row.absent.clear();
                }
            }
            TabularFormat::Parquet => unreachable!("parquet rows are read by ordinal"),
        }
        Ok(row)
    })())
}
