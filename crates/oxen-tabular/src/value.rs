//! Cell bytes as typed JSON values, and CSV quoting for display.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use crate::types::{ColumnType, TabularFormat};

/// A cell as the table's own value: JSONL keeps its JSON value; CSV, TSV
/// and Parquet cells are typed as the column was inferred (empty is null,
/// except in text columns where it stays an empty string). `None` when the
/// cell is absent (a JSONL key missing on that line).
pub(crate) fn typed(cell: Option<&[u8]>, dtype: ColumnType, format: TabularFormat) -> Option<Value> {
    let b = cell?;
    if format == TabularFormat::Jsonl {
        return Some(serde_json::from_slice(b).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into())));
    }
    let s = String::from_utf8_lossy(b);
    Some(match dtype {
        _ if s.is_empty() && dtype != ColumnType::Str => Value::Null,
        ColumnType::Null => Value::Null,
        ColumnType::Int => s.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::String(s.into_owned())),
        ColumnType::Float => match s.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
            Some(n) => Value::Number(n),
            None => Value::String(s.into_owned()),
        },
        ColumnType::Bool => {
            if s.eq_ignore_ascii_case("true") {
                Value::Bool(true)
            } else if s.eq_ignore_ascii_case("false") {
                Value::Bool(false)
            } else {
                Value::String(s.into_owned())
            }
        }
        ColumnType::Str => Value::String(s.into_owned()),
    })
}

/// A row as a JSON object with keys in the table's column order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RowObject(pub Vec<(String, Value)>);

impl RowObject {
    /// The value of a column.
    pub fn get(&self, col: &str) -> Option<&Value> {
        self.0.iter().find(|(c, _)| c == col).map(|(_, v)| v)
    }

    /// As a `serde_json` value (keys sorted, since serde_json maps are).
    pub fn to_value(&self) -> Value {
        Value::Object(self.0.iter().cloned().collect())
    }
}

impl Serialize for RowObject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> serde::Deserialize<'de> for RowObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let o = crate::read::OrderedObject::deserialize(d)?;
        Ok(RowObject(o.0))
    }
}

/// Build the object of a row from its cells.
pub(crate) fn row_object(
    columns: &[String],
    types: &[ColumnType],
    cells: &[Option<Vec<u8>>],
    format: TabularFormat,
) -> RowObject {
    let mut out = Vec::with_capacity(columns.len());
    for (i, c) in columns.iter().enumerate() {
        let cell = cells.get(i).and_then(|c| c.as_deref());
        let t = types.get(i).copied().unwrap_or(ColumnType::Str);
        let v = match (cell, format) {
            (None, TabularFormat::Jsonl) => continue,
            (None, _) => Value::Null,
            (Some(b), _) => typed(Some(b), t, format).unwrap_or(Value::Null),
        };
        out.push((c.clone(), v));
    }
    RowObject(out)
}

/// Quote one field as CSV does: only when it holds the delimiter, a quote,
/// a line break, or leading/trailing space; quotes inside are doubled.
pub fn csv_field(s: &str, delim: u8) -> String {
    let needs = s.bytes().any(|b| b == delim || b == b'"' || b == b'\n' || b == b'\r')
        || s.starts_with(' ')
        || s.ends_with(' ');
    if needs {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A JSON value shown as a CSV field: strings bare (quoted when needed),
/// null as empty, anything else as its JSON text.
pub fn display_value(v: &Value, delim: u8) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => csv_field(s, delim),
        other => csv_field(&other.to_string(), delim),
    }
}
