//! The table engine: tabular files (CSV, TSV, JSONL, Parquet) read as
//! streams of rows or Arrow record batches, with typed columns, and the
//! operations data version control needs on them at any size.
//!
//! - [`schema`] / [`schema_of_reader`]: column names, inferred
//!   [`ColumnType`]s and row count, in one streaming pass (Parquet from its
//!   metadata).
//! - [`diff::diff`]: keyed or content-matched row diff with column changes
//!   (added, removed, renamed, reordered, type changed), row order and
//!   byte-only changes explained; bounded memory via row summaries and an
//!   external sort ([`mod@diff`] module docs). Serialises to the CLI's JSON
//!   shape; [`diff::render_text`] renders it for people.
//! - [`merge::merge`]: three-way merge by key at cell level, keeping the
//!   file's dialect and copying untouched rows byte for byte ([`merge`]
//!   module docs describe the conflict format).
//! - [`df`]: head, slice, projection, filter and output as JSON, CSV or a
//!   text table; [`batch::record_batches`] gives Arrow record batches.
//!
//! Data that does not parse is never an error to abort on: it is
//! [`TabularError::NotParsable`] ("does not parse as csv: line 3: expected
//! 2 fields, found 1"), so callers store the file as plain bytes, warn in one
//! line, and diff it as text.

pub mod batch;
pub mod df;
pub mod diff;
pub mod merge;
mod read;
mod sort;
mod summary;
mod types;
mod value;

use std::io::Read;

pub use read::Dialect;
pub use summary::{diff_summaries, read_summary, summarize, SummaryDiff, TableSummary};
pub use types::{ColumnType, Field, Limits, NotParsable, Result, Schema, Source, TabularError, TabularFormat};
pub use value::{csv_field, RowObject};

/// Schema and row count of a table, streaming (Parquet: from metadata).
pub fn schema(path: &str, format: TabularFormat, source: &Source) -> Result<Schema> {
    let limits = Limits::default();
    match format {
        TabularFormat::Parquet => {
            let (names, types, rows) = read::parquet_schema(source, path, &limits.dir())?;
            Ok(Schema { format, columns: fields(names, types), rows })
        }
        TabularFormat::Jsonl => {
            let (names, types, rows) = read::jsonl_schema(source, path)?;
            Ok(Schema { format, columns: fields(names, types), rows })
        }
        _ => {
            let r = source.open().map_err(|e| TabularError::io(path, e))?;
            schema_of_reader(r, format, path)
        }
    }
}

/// Schema and row count of a table read once from `reader` (Parquet is
/// spooled to a temp file, since it needs random access).
pub fn schema_of_reader<R: Read>(mut reader: R, format: TabularFormat, path: &str) -> Result<Schema> {
    match format {
        TabularFormat::Jsonl => {
            let (names, types, rows) = read::jsonl_schema_from(reader, path)?;
            Ok(Schema { format, columns: fields(names, types), rows })
        }
        TabularFormat::Parquet => {
            let limits = Limits::default();
            let mut f = tempfile::tempfile_in(limits.dir()).map_err(|e| TabularError::io(path, e))?;
            std::io::copy(&mut reader, &mut f).map_err(|e| TabularError::io(path, e))?;
            let (names, types, rows) = read::parquet_schema_file(f, path)?;
            Ok(Schema { format, columns: fields(names, types), rows })
        }
        _ => {
            let mut r = read::TableReader::from_read(Box::new(reader), format, path, None, false)?;
            r.for_each(|_| Ok(()))?;
            Ok(Schema { format, columns: fields(r.columns.clone(), r.types.clone()), rows: r.rows })
        }
    }
}

/// [`schema`] of a file already open (work-tree files are opened relative
/// to their directory, never by a path a symlink could redirect); `label`
/// names it in messages. Parquet is read in place, with random access.
pub fn schema_of_file(file: std::fs::File, format: TabularFormat, label: &str) -> Result<Schema> {
    match format {
        TabularFormat::Parquet => {
            let (names, types, rows) = read::parquet_schema_file(file, label)?;
            Ok(Schema { format, columns: fields(names, types), rows })
        }
        f => schema_of_reader(file, f, label),
    }
}

fn fields(names: Vec<String>, types: Vec<ColumnType>) -> Vec<Field> {
    names.into_iter().zip(types).map(|(name, dtype)| Field { name, dtype }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_schema() {
        let m = schema_of_reader("id,name,score\n1,a,1.5\n2,b,\n3,c,2\n".as_bytes(), TabularFormat::Csv, "x").unwrap();
        assert_eq!(m.rows, 3);
        let types: Vec<_> = m.columns.iter().map(|c| c.dtype.as_str()).collect();
        assert_eq!(types, ["int", "str", "float"]);
    }

    #[test]
    fn malformed_csv_is_not_parsable() {
        let e = schema_of_reader("a,b\n1,2\n3\n".as_bytes(), TabularFormat::Csv, "x").unwrap_err();
        let np = e.not_parsable().expect("typed outcome");
        assert_eq!(np.format, TabularFormat::Csv);
        assert_eq!(e.to_string(), "x: does not parse as csv: line 3: expected 2 fields, found 1");
    }

    #[test]
    fn enums_serialise_as_the_stored_strings() {
        for (t, s) in [
            (ColumnType::Null, "null"),
            (ColumnType::Bool, "bool"),
            (ColumnType::Int, "int"),
            (ColumnType::Float, "float"),
            (ColumnType::Str, "str"),
        ] {
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<ColumnType>(&format!("\"{s}\"")).unwrap(), t);
            assert_eq!(ColumnType::parse(s), Some(t));
            assert_eq!(t.to_string(), s);
        }
        for (f, s) in [
            (TabularFormat::Csv, "csv"),
            (TabularFormat::Tsv, "tsv"),
            (TabularFormat::Jsonl, "jsonl"),
            (TabularFormat::Parquet, "parquet"),
        ] {
            assert_eq!(serde_json::to_string(&f).unwrap(), format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<TabularFormat>(&format!("\"{s}\"")).unwrap(), f);
            assert_eq!(TabularFormat::from_path(&format!("x.{s}")), Some(f));
        }
        assert_eq!(TabularFormat::from_path("a/b.NDJSON"), Some(TabularFormat::Jsonl));
        // The metadata recorded in trees keeps the same spellings.
        let m = schema_of_reader("a,b,c,d,e\n1,1.5,true,x,\n".as_bytes(), TabularFormat::Csv, "x").unwrap().to_meta();
        let d: Vec<&str> = m.columns.iter().map(|c| c.dtype.as_str()).collect();
        assert_eq!(d, ["int", "float", "bool", "str", "null"]);
    }
}
