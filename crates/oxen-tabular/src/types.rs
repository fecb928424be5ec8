//! Typed vocabulary of the engine: formats, column types, schemas, errors
//! and byte sources.

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use oxen_object::{ColumnType, TabularFormat};
use serde::{Deserialize, Serialize};

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
            format: self.format,
            columns: self
                .columns
                .iter()
                .map(|c| oxen_object::Column { name: c.name.clone(), dtype: c.dtype })
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
