//! Typed vocabulary of the engine: formats, column types, schemas, errors
//! and byte sources.

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A tabular file format.
///
/// Serialises as the lower-case strings stored in tree objects today
/// (`csv`, `tsv`, `jsonl`, `parquet`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TabularFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// Tab-separated values with a header row.
    Tsv,
    /// One JSON object per line (`.jsonl`, `.ndjson`).
    Jsonl,
    /// Apache Parquet.
    Parquet,
}

impl TabularFormat {
    /// The format a path has by its extension, if any.
    pub fn from_path(path: &str) -> Option<TabularFormat> {
        let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(TabularFormat::Csv),
            "tsv" => Some(TabularFormat::Tsv),
            "jsonl" | "ndjson" => Some(TabularFormat::Jsonl),
            "parquet" => Some(TabularFormat::Parquet),
            _ => None,
        }
    }

    /// Parse the stored spelling (`csv`, `tsv`, `jsonl`, `parquet`).
    pub fn parse(s: &str) -> Option<TabularFormat> {
        match s {
            "csv" => Some(TabularFormat::Csv),
            "tsv" => Some(TabularFormat::Tsv),
            "jsonl" => Some(TabularFormat::Jsonl),
            "parquet" => Some(TabularFormat::Parquet),
            _ => None,
        }
    }

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TabularFormat::Csv => "csv",
            TabularFormat::Tsv => "tsv",
            TabularFormat::Jsonl => "jsonl",
            TabularFormat::Parquet => "parquet",
        }
    }

    /// Field delimiter of the delimited formats.
    pub fn delimiter(self) -> u8 {
        match self {
            TabularFormat::Tsv => b'\t',
            _ => b',',
        }
    }

    /// True for the line-oriented text formats (CSV, TSV, JSONL).
    pub fn is_text(self) -> bool {
        !matches!(self, TabularFormat::Parquet)
    }
}

impl fmt::Display for TabularFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The inferred type of a column.
///
/// Serialises exactly as the dtype strings stored in tree objects
/// (`null`, `bool`, `int`, `float`, `str`), so replacing the strings in
/// `TabularMeta` by this enum does not change any id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ColumnType {
    /// Every value is empty / null.
    #[serde(rename = "null")]
    Null,
    /// `true` / `false` (any case in CSV).
    #[serde(rename = "bool")]
    Bool,
    /// 64-bit integers.
    #[serde(rename = "int")]
    Int,
    /// Floating point numbers (integers mixed with floats widen to this).
    #[serde(rename = "float")]
    Float,
    /// Anything else: text, mixed types, nested JSON values.
    #[serde(rename = "str")]
    Str,
}

impl ColumnType {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::Null => "null",
            ColumnType::Bool => "bool",
            ColumnType::Int => "int",
            ColumnType::Float => "float",
            ColumnType::Str => "str",
        }
    }

    /// Parse the stored spelling.
    pub fn parse(s: &str) -> Option<ColumnType> {
        match s {
            "null" => Some(ColumnType::Null),
            "bool" => Some(ColumnType::Bool),
            "int" => Some(ColumnType::Int),
            "float" => Some(ColumnType::Float),
            "str" => Some(ColumnType::Str),
            _ => None,
        }
    }

    /// The type of one CSV/TSV cell (the rule recorded at add time since
    /// the first version: empty is null, then i64, f64, true/false, text).
    pub fn of_text(v: &[u8]) -> ColumnType {
        if v.is_empty() {
            return ColumnType::Null;
        }
        let Ok(s) = std::str::from_utf8(v) else { return ColumnType::Str };
        if s.parse::<i64>().is_ok() {
            ColumnType::Int
        } else if s.parse::<f64>().is_ok() {
            ColumnType::Float
        } else if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") {
            ColumnType::Bool
        } else {
            ColumnType::Str
        }
    }

    /// The type of one JSON value.
    pub fn of_json(v: &serde_json::Value) -> ColumnType {
        use serde_json::Value;
        match v {
            Value::Null => ColumnType::Null,
            Value::Bool(_) => ColumnType::Bool,
            Value::Number(n) if n.is_i64() || n.is_u64() => ColumnType::Int,
            Value::Number(_) => ColumnType::Float,
            _ => ColumnType::Str,
        }
    }

    /// The narrowest type holding values of both types.
    pub fn widen(self, other: ColumnType) -> ColumnType {
        use ColumnType::*;
        match (self, other) {
            (a, b) if a == b => a,
            (Null, b) => b,
            (a, Null) => a,
            (Int, Float) | (Float, Int) => Float,
            _ => Str,
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One column of a schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// Column name.
    pub name: String,
    /// Inferred type.
    pub dtype: ColumnType,
}

/// Schema and row count of a table, computed streaming.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// File format.
    pub format: TabularFormat,
    /// Columns in file order.
    pub columns: Vec<Field>,
    /// Data rows (not counting a header).
    pub rows: u64,
}

impl Schema {
    /// Column names in file order.
    pub fn names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    /// The metadata recorded in tree objects.
    pub fn to_meta(&self) -> oxen_object::TabularMeta {
        oxen_object::TabularMeta {
            format: self.format.as_str().to_string(),
            columns: self
                .columns
                .iter()
                .map(|c| oxen_object::Column { name: c.name.clone(), dtype: c.dtype.as_str().to_string() })
                .collect(),
            rows: self.rows,
        }
    }
}

/// Why a file could not be read as a table. This is an expected outcome,
/// not a failure: callers store such a file as plain bytes, warn in one
/// line and diff it as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotParsable {
    /// The path (or label) the data was read for.
    pub path: String,
    /// The format it was read as.
    pub format: TabularFormat,
    /// What is wrong, with the line or row number where known.
    pub why: String,
}

impl fmt::Display for NotParsable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: does not parse as {}: {}", self.path, self.format, self.why)
    }
}

/// Errors of the table engine.
#[derive(Debug, thiserror::Error)]
pub enum TabularError {
    /// Kept for the original API; the engine reports [`TabularError::NotParsable`].
    #[error("{path}: malformed {format}: {why}")]
    Malformed {
        /// Path or label.
        path: String,
        /// Format name.
        format: &'static str,
        /// Reason.
        why: String,
    },
    /// Reading the data (or a spill file) failed.
    #[error("{path}: {source}")]
    Io {
        /// Path or label.
        path: String,
        /// The I/O error.
        source: io::Error,
    },
    /// A key column does not exist (original API only; the engine falls back
    /// and reports it instead).
    #[error("{path}: key column '{key}' not found")]
    NoSuchKey {
        /// Path or label.
        path: String,
        /// The missing key.
        key: String,
    },
    /// The data is not a well-formed table of its format: a typed outcome
    /// callers act on (store as bytes, warn, diff as text).
    #[error("{0}")]
    NotParsable(NotParsable),
    /// A query (column list, filter expression, slice) is not valid.
    #[error("{0}")]
    Query(String),
}

impl TabularError {
    /// The parse failure, when this error is one.
    pub fn not_parsable(&self) -> Option<&NotParsable> {
        match self {
            TabularError::NotParsable(n) => Some(n),
            _ => None,
        }
    }

    pub(crate) fn io(path: &str, e: io::Error) -> TabularError {
        TabularError::Io { path: path.to_string(), source: e }
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, TabularError>;

/// Opens a fresh reader on some bytes.
pub type Opener = dyn Fn() -> io::Result<Box<dyn Read + Send>> + Send + Sync;

/// Where a table's bytes come from. Sources are opened more than once
/// (a diff reads each side twice; a merge up to three times), so they are
/// a file path, bytes in memory, or a function that opens a new reader.
#[derive(Clone)]
pub enum Source {
    /// A file (random access: rows needed for output are read by offset).
    Path(PathBuf),
    /// Bytes in memory.
    Bytes(Arc<[u8]>),
    /// Any re-openable reader (e.g. a stored blob); read sequentially.
    Reader(Arc<Opener>),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Path(p) => write!(f, "Source::Path({})", p.display()),
            Source::Bytes(b) => write!(f, "Source::Bytes({} bytes)", b.len()),
            Source::Reader(_) => f.write_str("Source::Reader"),
        }
    }
}

impl Source {
    /// A file.
    pub fn path(p: impl AsRef<Path>) -> Source {
        Source::Path(p.as_ref().to_path_buf())
    }

    /// Bytes in memory.
    pub fn bytes(b: impl Into<Arc<[u8]>>) -> Source {
        Source::Bytes(b.into())
    }

    /// A function opening a new reader each time.
    pub fn reader(f: impl Fn() -> io::Result<Box<dyn Read + Send>> + Send + Sync + 'static) -> Source {
        Source::Reader(Arc::new(f))
    }

    /// A new reader from the start.
    pub fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        match self {
            Source::Path(p) => Ok(Box::new(std::fs::File::open(p)?)),
            Source::Bytes(b) => Ok(Box::new(io::Cursor::new(b.clone()))),
            Source::Reader(f) => f(),
        }
    }

    /// A reader starting at byte `off`, when the source has random access.
    pub(crate) fn open_at(&self, off: u64) -> Option<io::Result<Box<dyn Read + Send>>> {
        use std::io::Seek;
        match self {
            Source::Path(p) => Some((|| {
                let mut f = std::fs::File::open(p)?;
                f.seek(io::SeekFrom::Start(off))?;
                Ok(Box::new(f) as Box<dyn Read + Send>)
            })()),
            Source::Bytes(b) => {
                let mut c = io::Cursor::new(b.clone());
                c.set_position(off);
                Some(Ok(Box::new(c)))
            }
            Source::Reader(_) => None,
        }
    }
}

/// Resource limits for diff and merge.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Memory for row summaries before they are sorted and spilled to
    /// disk, in bytes, shared by all sides of one operation.
    pub mem_budget: usize,
    /// Directory for spill files (the system temp dir when `None`).
    pub temp_dir: Option<PathBuf>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { mem_budget: 96 << 20, temp_dir: None }
    }
}

impl Limits {
    pub(crate) fn dir(&self) -> PathBuf {
        self.temp_dir.clone().unwrap_or_else(std::env::temp_dir)
    }
}
