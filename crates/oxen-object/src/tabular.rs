//! What trees record about a tabular file: its format, columns with their
//! inferred types, and row count. The vocabulary is typed here, where it is
//! stored; each enum serialises as the lower-case string trees have always
//! held (`csv`, `int`, ...), so typing it changed no tree id.

use std::fmt;

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
        TabularFormat::from_name(path.as_bytes())
    }

    /// The format a file name (or path, as bytes) has by its extension.
    pub fn from_name(name: &[u8]) -> Option<TabularFormat> {
        let dot = name.iter().rposition(|b| *b == b'.')?;
        let ext = std::str::from_utf8(&name[dot + 1..]).ok()?.to_ascii_lowercase();
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

/// One column of a tabular file's schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Column name from the header (JSONL: the key).
    pub name: String,
    /// Inferred type.
    pub dtype: ColumnType,
}

/// Metadata recorded for a tabular file when it is staged. Only files that
/// parse as their format get it; any other file is stored as plain bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabularMeta {
    /// File format.
    pub format: TabularFormat,
    /// Columns in file order.
    pub columns: Vec<Column>,
    /// Data rows (not counting a header).
    pub rows: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tree ids depend on these exact bytes: field order and spellings.
    #[test]
    fn encodes_as_the_strings_trees_have_always_held() {
        let m = TabularMeta {
            format: TabularFormat::Tsv,
            columns: vec![
                Column { name: "a".into(), dtype: ColumnType::Int },
                Column { name: "b".into(), dtype: ColumnType::Null },
            ],
            rows: 3,
        };
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(
            json,
            r#"{"format":"tsv","columns":[{"name":"a","dtype":"int"},{"name":"b","dtype":"null"}],"rows":3}"#
        );
        assert_eq!(serde_json::from_str::<TabularMeta>(&json).unwrap(), m);
        assert!(serde_json::from_str::<TabularMeta>(r#"{"format":"xls","columns":[],"rows":0}"#).is_err());
    }
}
