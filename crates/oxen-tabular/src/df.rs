//! The building block of `oxen df`: read a table with `head`, `slice`,
//! column projection and a simple filter, and print it as JSON lines, CSV
//! or a text table; or print its schema.
//!
//! Filter expressions: comparisons `col OP value` with `==`, `!=`, `<`,
//! `<=`, `>`, `>=`, joined by `&&` and `||` (`&&` binds tighter), with
//! parentheses. Values are numbers, `true`/`false`, `null`, or strings
//! (quoted with `"` or `'`, or bare words). Numbers compare numerically
//! when both sides are numbers, otherwise values compare as text. Column
//! names with spaces can be quoted with backticks.

use std::io::Write;

use serde_json::Value;

use crate::read::{Row, TableReader};
use crate::types::{ColumnType, Limits, Result, Schema, Source, TabularError, TabularFormat};
use crate::value::{display_value, typed, RowObject};

/// What to read.
#[derive(Clone, Debug, Default)]
pub struct DfQuery {
    /// Only the first N matching rows.
    pub head: Option<u64>,
    /// Rows `[start, end)` of the matching rows.
    pub slice: Option<(u64, u64)>,
    /// Only these columns, in this order.
    pub columns: Option<Vec<String>>,
    /// A filter expression.
    pub filter: Option<String>,
}

/// How to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DfOutput {
    /// One JSON object per line.
    Json,
    /// CSV with a header.
    Csv,
    /// An aligned text table for people.
    Table,
}

/// What a df run printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DfStats {
    /// Rows printed.
    pub printed: u64,
    /// Rows read.
    pub scanned: u64,
}

/// A parsed filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// `col OP value`.
    Cmp {
        /// Column.
        column: String,
        /// Operator.
        op: Op,
        /// Literal.
        value: Value,
    },
    /// Both.
    And(Box<Filter>, Box<Filter>),
    /// Either.
    Or(Box<Filter>, Box<Filter>),
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Lit(Value),
    Op(Op),
    And,
    Or,
    LParen,
    RParen,
}

fn tokenize(s: &str) -> Result<Vec<Tok>> {
    let err = |m: String| TabularError::Query(format!("filter '{s}': {m}"));
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
            continue;
        }
        let two: String = c[i..(i + 2).min(c.len())].iter().collect();
        let op = match two.as_str() {
            "==" => Some((Tok::Op(Op::Eq), 2)),
            "!=" => Some((Tok::Op(Op::Ne), 2)),
            "<=" => Some((Tok::Op(Op::Le), 2)),
            ">=" => Some((Tok::Op(Op::Ge), 2)),
            "&&" => Some((Tok::And, 2)),
            "||" => Some((Tok::Or, 2)),
            _ => match ch {
                '<' => Some((Tok::Op(Op::Lt), 1)),
                '>' => Some((Tok::Op(Op::Gt), 1)),
                '=' => Some((Tok::Op(Op::Eq), 1)),
                '(' => Some((Tok::LParen, 1)),
                ')' => Some((Tok::RParen, 1)),
                _ => None,
            },
        };
        if let Some((t, n)) = op {
            out.push(t);
            i += n;
            continue;
        }
        if ch == '"' || ch == '\'' || ch == '`' {
            let mut j = i + 1;
            let mut v = String::new();
            while j < c.len() && c[j] != ch {
                if c[j] == '\\' && j + 1 < c.len() {
                    j += 1;
                }
                v.push(c[j]);
                j += 1;
            }
            if j >= c.len() {
                return Err(err(format!("unterminated {ch}")));
            }
            out.push(if ch == '`' { Tok::Ident(v) } else { Tok::Lit(Value::String(v)) });
            i = j + 1;
            continue;
        }
        let mut j = i;
        while j < c.len() && !c[j].is_whitespace() && !"=!<>&|()\"'`".contains(c[j]) {
            j += 1;
        }
        if j == i {
            return Err(err(format!("unexpected '{ch}'")));
        }
        let w: String = c[i..j].iter().collect();
        out.push(Tok::Ident(w));
        i = j;
    }
    Ok(out)
}

fn literal(w: &str) -> Value {
    match w {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        _ => {
            if let Ok(i) = w.parse::<i64>() {
                Value::from(i)
            } else if let Some(n) = w.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
                Value::Number(n)
            } else {
                Value::String(w.to_string())
            }
        }
    }
}

/// Parse a filter expression.
pub fn parse_filter(s: &str) -> Result<Filter> {
    let toks = tokenize(s)?;
    let mut p = 0;
    let f = parse_or(s, &toks, &mut p)?;
    if p != toks.len() {
        return Err(TabularError::Query(format!("filter '{s}': unexpected {:?}", toks[p])));
    }
    Ok(f)
}

fn parse_or(s: &str, t: &[Tok], p: &mut usize) -> Result<Filter> {
    let mut l = parse_and(s, t, p)?;
    while t.get(*p) == Some(&Tok::Or) {
        *p += 1;
        l = Filter::Or(Box::new(l), Box::new(parse_and(s, t, p)?));
    }
    Ok(l)
}

fn parse_and(s: &str, t: &[Tok], p: &mut usize) -> Result<Filter> {
    let mut l = parse_cmp(s, t, p)?;
    while t.get(*p) == Some(&Tok::And) {
        *p += 1;
        l = Filter::And(Box::new(l), Box::new(parse_cmp(s, t, p)?));
    }
    Ok(l)
}

fn parse_cmp(s: &str, t: &[Tok], p: &mut usize) -> Result<Filter> {
    let err = |m: &str| TabularError::Query(format!("filter '{s}': {m}"));
    if t.get(*p) == Some(&Tok::LParen) {
        *p += 1;
        let f = parse_or(s, t, p)?;
        if t.get(*p) != Some(&Tok::RParen) {
            return Err(err("missing ')'"));
        }
        *p += 1;
        return Ok(f);
    }
    let Some(Tok::Ident(column)) = t.get(*p).cloned() else { return Err(err("expected a column name")) };
    let Some(Tok::Op(op)) = t.get(*p + 1).cloned() else { return Err(err("expected ==, !=, <, <=, > or >=")) };
    let value = match t.get(*p + 2).cloned() {
        Some(Tok::Lit(v)) => v,
        Some(Tok::Ident(w)) => literal(&w),
        _ => return Err(err("expected a value")),
    };
    *p += 3;
    Ok(Filter::Cmp { column, op, value })
}

fn as_num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        o => o.to_string(),
    }
}

impl Filter {
    fn columns(&self, out: &mut Vec<String>) {
        match self {
            Filter::Cmp { column, .. } => out.push(column.clone()),
            Filter::And(a, b) | Filter::Or(a, b) => {
                a.columns(out);
                b.columns(out);
            }
        }
    }

    /// Evaluate against a row's values (`get` returns a column's value).
    pub fn eval(&self, get: &dyn Fn(&str) -> Value) -> bool {
        match self {
            Filter::And(a, b) => a.eval(get) && b.eval(get),
            Filter::Or(a, b) => a.eval(get) || b.eval(get),
            Filter::Cmp { column, op, value } => {
                let v = get(column);
                let is_null = |x: &Value| x.is_null() || x.as_str() == Some("");
                if value.is_null() || v.is_null() {
                    let both = is_null(&v) == is_null(value);
                    return match op {
                        Op::Eq => both,
                        Op::Ne => !both,
                        _ => false,
                    };
                }
                let ord = match (as_num(&v), as_num(value), value.is_number()) {
                    (Some(a), Some(b), true) => a.partial_cmp(&b),
                    _ => match (&v, value) {
                        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
                        _ => Some(as_text(&v).cmp(&as_text(value))),
                    },
                };
                let Some(o) = ord else { return false };
                use std::cmp::Ordering::*;
                match op {
                    Op::Eq => o == Equal,
                    Op::Ne => o != Equal,
                    Op::Lt => o == Less,
                    Op::Le => o != Greater,
                    Op::Gt => o == Greater,
                    Op::Ge => o != Less,
                }
            }
        }
    }
}

/// Read a table and print the rows the query selects.
pub fn df(
    path: &str,
    format: TabularFormat,
    source: &Source,
    query: &DfQuery,
    output: DfOutput,
    out: &mut dyn Write,
) -> Result<DfStats> {
    let io = |e: std::io::Error| TabularError::io(path, e);
    let limits = Limits::default();
    let mut r = TableReader::open(source, format, path, None, false, &limits.dir())?;
    r.infer = false;
    let all = r.columns.clone();
    let proj: Vec<usize> = match &query.columns {
        None => (0..all.len()).collect(),
        Some(cs) => cs
            .iter()
            .map(|c| {
                all.iter()
                    .position(|a| a == c)
                    .ok_or_else(|| TabularError::Query(format!("no column '{c}' (columns: {})", all.join(", "))))
            })
            .collect::<Result<_>>()?,
    };
    let filter = query.filter.as_deref().map(parse_filter).transpose()?;
    if let Some(f) = &filter {
        let mut used = Vec::new();
        f.columns(&mut used);
        if let Some(c) = used.iter().find(|c| !all.contains(c)) {
            return Err(TabularError::Query(format!("filter: no column '{c}' (columns: {})", all.join(", "))));
        }
    }
    let (start, end) = match (query.slice, query.head) {
        (Some((a, b)), Some(h)) => (a, b.min(a + h)),
        (Some((a, b)), None) => (a, b),
        (None, Some(h)) => (0, h),
        (None, None) => (0, u64::MAX),
    };
    let names: Vec<String> = proj.iter().map(|&i| all[i].clone()).collect();
    let fixed_types = if format == TabularFormat::Parquet { Some(r.types.clone()) } else { None };
    let value = |row: &Row, i: usize| -> Option<Value> {
        let t = match &fixed_types {
            Some(t) => t[i],
            None => match row.cell(i) {
                Some(c) if format != TabularFormat::Jsonl => ColumnType::of_text(c),
                _ => ColumnType::Str,
            },
        };
        typed(row.cell(i), t, format)
    };
    let mut printer = Printer::new(output, names.clone(), format);
    printer.start(out).map_err(io)?;
    let mut stats = DfStats::default();
    let mut matched = 0u64;
    let mut row = Row::default();
    while matched < end && r.next(&mut row)? {
        stats.scanned += 1;
        if let Some(f) = &filter {
            let get = |c: &str| all.iter().position(|a| a == c).and_then(|i| value(&row, i)).unwrap_or(Value::Null);
            if !f.eval(&get) {
                continue;
            }
        }
        matched += 1;
        if matched <= start {
            continue;
        }
        let obj: Vec<(String, Option<Value>)> = proj.iter().map(|&i| (all[i].clone(), value(&row, i))).collect();
        printer.row(obj, out).map_err(io)?;
        stats.printed += 1;
    }
    printer.finish(out).map_err(io)?;
    Ok(stats)
}

struct Printer {
    output: DfOutput,
    names: Vec<String>,
    format: TabularFormat,
    pending: Vec<Vec<String>>,
    widths: Option<Vec<usize>>,
}

const MAX_WIDTH: usize = 40;
const CHUNK: usize = 200;

fn clip(s: &str) -> String {
    let s = s.replace('\n', "\\n").replace('\r', "\\r").replace('\t', "\\t");
    if s.chars().count() > MAX_WIDTH {
        let t: String = s.chars().take(MAX_WIDTH - 1).collect();
        format!("{t}…")
    } else {
        s
    }
}

impl Printer {
    fn new(output: DfOutput, names: Vec<String>, format: TabularFormat) -> Printer {
        Printer { output, names, format, pending: Vec::new(), widths: None }
    }

    fn start(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        if self.output == DfOutput::Csv {
            let h: Vec<String> = self.names.iter().map(|n| crate::value::csv_field(n, b',')).collect();
            writeln!(out, "{}", h.join(","))?;
        }
        Ok(())
    }

    fn row(&mut self, obj: Vec<(String, Option<Value>)>, out: &mut dyn Write) -> std::io::Result<()> {
        match self.output {
            DfOutput::Json => {
                let o = RowObject(
                    obj.into_iter()
                        .filter_map(|(k, v)| match (v, self.format) {
                            (None, TabularFormat::Jsonl) => None,
                            (v, _) => Some((k, v.unwrap_or(Value::Null))),
                        })
                        .collect(),
                );
                serde_json::to_writer(&mut *out, &o)?;
                writeln!(out)
            }
            DfOutput::Csv => {
                let f: Vec<String> =
                    obj.iter().map(|(_, v)| display_value(v.as_ref().unwrap_or(&Value::Null), b',')).collect();
                writeln!(out, "{}", f.join(","))
            }
            DfOutput::Table => {
                let cells: Vec<String> = obj
                    .iter()
                    .map(|(_, v)| match v {
                        None | Some(Value::Null) => String::new(),
                        Some(Value::String(s)) => clip(s),
                        Some(o) => clip(&o.to_string()),
                    })
                    .collect();
                self.pending.push(cells);
                if self.pending.len() >= CHUNK {
                    self.flush_table(out)?;
                }
                Ok(())
            }
        }
    }

    fn flush_table(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        if self.widths.is_none() {
            let mut w: Vec<usize> = self.names.iter().map(|n| clip(n).chars().count()).collect();
            for r in &self.pending {
                for (i, c) in r.iter().enumerate() {
                    w[i] = w[i].max(c.chars().count());
                }
            }
            let head: Vec<String> =
                self.names.iter().zip(&w).map(|(n, w)| format!("{:<w$}", clip(n), w = *w)).collect();
            writeln!(out, "{}", head.join(" | ").trim_end())?;
            let sep: Vec<String> = w.iter().map(|w| "-".repeat(*w)).collect();
            writeln!(out, "{}", sep.join("-+-"))?;
            self.widths = Some(w);
        }
        let w = self.widths.as_ref().expect("set");
        for r in self.pending.drain(..) {
            let cells: Vec<String> = r.iter().zip(w).map(|(c, w)| format!("{c:<w$}", w = *w)).collect();
            writeln!(out, "{}", cells.join(" | ").trim_end())?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        if self.output == DfOutput::Table {
            self.flush_table(out)?;
        }
        Ok(())
    }
}

/// Print a schema as JSON or as a text table.
pub fn write_schema(s: &Schema, output: DfOutput, out: &mut dyn Write) -> std::io::Result<()> {
    match output {
        DfOutput::Json => {
            serde_json::to_writer(&mut *out, s)?;
            writeln!(out)
        }
        DfOutput::Csv => {
            writeln!(out, "column,type")?;
            for c in &s.columns {
                writeln!(out, "{},{}", crate::value::csv_field(&c.name, b','), c.dtype)?;
            }
            Ok(())
        }
        DfOutput::Table => {
            writeln!(out, "{} rows x {} columns ({})", s.rows, s.columns.len(), s.format)?;
            let w = s.columns.iter().map(|c| c.name.chars().count()).max().unwrap_or(0).max(6);
            writeln!(out, "{:<w$} | type", "column")?;
            writeln!(out, "{}-+-----", "-".repeat(w))?;
            for c in &s.columns {
                writeln!(out, "{:<w$} | {}", c.name, c.dtype)?;
            }
            Ok(())
        }
    }
}
