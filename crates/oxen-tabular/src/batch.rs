//! Arrow record batches of any format, streaming.
//!
//! Parquet batches come straight from the Arrow reader. CSV, TSV and JSONL
//! rows are built into Arrow arrays with the engine's own inferred types
//! (one streaming schema pass first), so a column's Arrow type always
//! agrees with the dtype recorded in tree objects: `int` → Int64, `float`
//! → Float64, `bool` → Boolean, `str` and `null` → Utf8 (JSONL objects and
//! arrays as their JSON text).

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field as ArrowField, Schema as ArrowSchema, SchemaRef};
use serde_json::Value;

use crate::read::{Row, TableReader};
use crate::types::{ColumnType, Limits, Result, Source, TabularError, TabularFormat};
use crate::value::typed;

/// The Arrow type of a column type.
pub fn arrow_type(t: ColumnType) -> DataType {
    match t {
        ColumnType::Int => DataType::Int64,
        ColumnType::Float => DataType::Float64,
        ColumnType::Bool => DataType::Boolean,
        ColumnType::Str | ColumnType::Null => DataType::Utf8,
    }
}

/// Streams record batches of up to `batch_size` rows.
pub struct Batches {
    inner: Inner,
}

enum Inner {
    Parquet(parquet::arrow::arrow_reader::ParquetRecordBatchReader),
    Rows { reader: Box<TableReader<'static>>, schema: SchemaRef, types: Vec<ColumnType>, size: usize, done: bool },
}

impl Batches {
    /// The Arrow schema.
    pub fn schema(&self) -> SchemaRef {
        match &self.inner {
            Inner::Parquet(r) => {
                use arrow_array::RecordBatchReader;
                r.schema()
            }
            Inner::Rows { schema, .. } => schema.clone(),
        }
    }
}

/// Record batches of a table.
pub fn record_batches(path: &str, format: TabularFormat, source: &Source, batch_size: usize) -> Result<Batches> {
    let limits = Limits::default();
    if format == TabularFormat::Parquet {
        let b = crate::read::parquet_builder(source, path, &limits.dir())?;
        let r = b
            .with_batch_size(batch_size.max(1))
            .build()
            .map_err(|e| crate::read::not_parsable(path, format, e.to_string()))?;
        return Ok(Batches { inner: Inner::Parquet(r) });
    }
    let schema = crate::schema(path, format, source)?;
    let types: Vec<ColumnType> = schema.columns.iter().map(|c| c.dtype).collect();
    let fields: Vec<ArrowField> =
        schema.columns.iter().map(|c| ArrowField::new(c.name.clone(), arrow_type(c.dtype), true)).collect();
    let mut reader = TableReader::open(source, format, path, Some(schema.names()), false, &limits.dir())?;
    reader.infer = false;
    Ok(Batches {
        inner: Inner::Rows {
            reader: Box::new(reader),
            schema: Arc::new(ArrowSchema::new(fields)),
            types,
            size: batch_size.max(1),
            done: false,
        },
    })
}

enum Col {
    I(Int64Builder),
    F(Float64Builder),
    B(BooleanBuilder),
    S(StringBuilder),
}

impl Iterator for Batches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Inner::Parquet(r) => r.next().map(|b| b.map_err(|e| TabularError::Query(e.to_string()))),
            Inner::Rows { reader, schema, types, size, done } => {
                if *done {
                    return None;
                }
                let format = reader.format;
                let mut cols: Vec<Col> = types
                    .iter()
                    .map(|t| match t {
                        ColumnType::Int => Col::I(Int64Builder::new()),
                        ColumnType::Float => Col::F(Float64Builder::new()),
                        ColumnType::Bool => Col::B(BooleanBuilder::new()),
                        _ => Col::S(StringBuilder::new()),
                    })
                    .collect();
                let mut row = Row::default();
                let mut n = 0;
                while n < *size {
                    match reader.next(&mut row) {
                        Err(e) => return Some(Err(e)),
                        Ok(false) => {
                            *done = true;
                            break;
                        }
                        Ok(true) => {}
                    }
                    for (i, c) in cols.iter_mut().enumerate() {
                        let v = typed(row.cell(i), types[i], format).unwrap_or(Value::Null);
                        match c {
                            Col::I(b) => b.append_option(v.as_i64()),
                            Col::F(b) => b.append_option(v.as_f64()),
                            Col::B(b) => b.append_option(v.as_bool()),
                            Col::S(b) => match v {
                                Value::Null => b.append_null(),
                                Value::String(s) => b.append_value(s),
                                other => b.append_value(other.to_string()),
                            },
                        }
                    }
                    n += 1;
                }
                if n == 0 {
                    return None;
                }
                let arrays: Vec<ArrayRef> = cols
                    .into_iter()
                    .map(|c| -> ArrayRef {
                        match c {
                            Col::I(mut b) => Arc::new(b.finish()),
                            Col::F(mut b) => Arc::new(b.finish()),
                            Col::B(mut b) => Arc::new(b.finish()),
                            Col::S(mut b) => Arc::new(b.finish()),
                        }
                    })
                    .collect();
                Some(RecordBatch::try_new(schema.clone(), arrays).map_err(|e| TabularError::Query(e.to_string())))
            }
        }
    }
}
