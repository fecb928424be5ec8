//! A small driver of the table engine for benchmarks and manual checks
//! (the `oxen` CLI integration comes later).
//!
//! ```text
//! tables gen ROWS OUT.csv [SEED]                      write a synthetic table
//! tables edit IN.csv OUT.csv MODIFY_EVERY [SALT]      change one cell of every Nth row
//! tables diff OLD NEW [--keys a,b] [--json] [--limit N] [--format csv]
//! tables merge BASE OURS THEIRS --keys a,b [-o OUT]
//! tables schema FILE
//! tables df FILE [--head N] [--slice A..B] [--columns a,b] [--filter EXPR] [--json|--csv]
//! ```

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use oxen_tabular::df::{df, write_schema, DfOutput, DfQuery};
use oxen_tabular::diff::{diff, render_text, DiffOptions, TextOptions};
use oxen_tabular::merge::{merge, MergeOptions, MergeOutcome};
use oxen_tabular::{Limits, Source, TabularFormat};

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn has(args: &[String], name: &str) -> bool {
    args.iter().any(|a| a == name)
}

fn positional(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut skip = false;
    for a in args {
        if skip {
            skip = false;
            continue;
        }
        if a.starts_with("--") || a == "-o" {
            skip = !matches!(a.as_str(), "--json" | "--csv" | "--color");
            continue;
        }
        out.push(a.clone());
    }
    out
}

fn keys(args: &[String]) -> Vec<String> {
    flag(args, "--keys").map(|k| k.split(',').map(str::to_string).collect()).unwrap_or_default()
}

fn format_of(args: &[String], path: &str) -> TabularFormat {
    flag(args, "--format")
        .and_then(|f| TabularFormat::parse(&f))
        .or_else(|| TabularFormat::from_path(path))
        .unwrap_or(TabularFormat::Csv)
}

fn limits() -> Limits {
    let mut l = Limits::default();
    if let Ok(m) = std::env::var("TABLES_MEM_MB") {
        l.mem_budget = m.parse::<usize>().unwrap_or(96) << 20;
    }
    l
}

/// A deterministic synthetic row (about 60 bytes).
fn gen_row(i: u64, seed: u64) -> String {
    let h = (i ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let cities = ["Paris", "Lagos", "Lima", "Oslo", "Pune", "Osaka", "Quito", "Accra"];
    format!(
        "{i},user{},{}.{:02},{},2024-{:02}-{:02},\"{} items, {}\"",
        h % 100_000,
        (h >> 20) % 1000,
        (h >> 30) % 100,
        cities[((h >> 40) % 8) as usize],
        1 + (h >> 44) % 12,
        1 + (h >> 48) % 28,
        (h >> 52) % 50,
        if h.is_multiple_of(3) { "ok" } else { "late" }
    )
}

fn run(args: &[String]) -> Result<i32, Box<dyn std::error::Error>> {
    let cmd = args.first().map(String::as_str).unwrap_or("");
    let rest = &args[1.min(args.len())..];
    let pos = positional(rest);
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    match cmd {
        "gen" => {
            let n: u64 = pos[0].parse()?;
            let seed: u64 = pos.get(2).map(|s| s.parse()).transpose()?.unwrap_or(1);
            let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&pos[1])?);
            writeln!(w, "id,name,score,city,created,note")?;
            for i in 0..n {
                writeln!(w, "{}", gen_row(i, seed))?;
            }
            w.flush()?;
        }
        "edit" => {
            // Rewrite the score cell of every Nth data row (offset by SALT).
            use std::io::BufRead;
            let every: u64 = pos[2].parse()?;
            let salt: u64 = pos.get(3).map(|s| s.parse()).transpose()?.unwrap_or(0);
            let r = io::BufReader::with_capacity(1 << 20, std::fs::File::open(&pos[0])?);
            let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&pos[1])?);
            for (i, line) in r.lines().enumerate() {
                let line = line?;
                let i = i as u64;
                if i > 0 && (i - 1 + salt).is_multiple_of(every) {
                    let mut f: Vec<&str> = line.splitn(4, ',').collect();
                    let v = format!("{}.5", salt + 7);
                    f[2] = &v;
                    writeln!(w, "{}", f.join(","))?;
                } else {
                    writeln!(w, "{line}")?;
                }
            }
            w.flush()?;
        }
        "diff" => {
            let (a, b) = (&pos[0], &pos[1]);
            let limit: usize = flag(rest, "--limit").map(|l| l.parse()).transpose()?.unwrap_or(10);
            let opts = DiffOptions { keys: keys(rest), row_limit: Some(limit), limits: limits() };
            let d = diff(b, format_of(rest, b), Some(&Source::path(a)), Some(&Source::path(b)), &opts)?;
            if has(rest, "--json") {
                serde_json::to_writer(&mut out, &serde_json::json!({ "files": [d] }))?;
                writeln!(out)?;
            } else {
                render_text(&d, &TextOptions { limit, color: has(rest, "--color") }, &mut out)?;
            }
        }
        "merge" => {
            let opts = MergeOptions { keys: keys(rest), limits: limits(), ..Default::default() };
            let (b, o, t) = (&pos[0], &pos[1], &pos[2]);
            let mut sink: Box<dyn Write> = match flag(rest, "-o") {
                Some(p) => Box::new(BufWriter::new(std::fs::File::create(p)?)),
                None => Box::new(io::sink()),
            };
            let outcome = merge(
                o,
                format_of(rest, o),
                Some(&Source::path(b)),
                &Source::path(o),
                &Source::path(t),
                &opts,
                &mut sink,
            )?;
            sink.flush()?;
            match outcome {
                MergeOutcome::Merged(r) => {
                    serde_json::to_writer(&mut out, &r.stats)?;
                    writeln!(out, "\n{} conflicts", r.conflict_count)?;
                    for c in r.conflicts.iter().take(10) {
                        serde_json::to_writer(&mut out, c)?;
                        writeln!(out)?;
                    }
                    return Ok(if r.is_clean() { 0 } else { 1 });
                }
                other => {
                    writeln!(out, "{other:?}")?;
                    return Ok(2);
                }
            }
        }
        "schema" => {
            let s = oxen_tabular::schema(&pos[0], format_of(rest, &pos[0]), &Source::path(&pos[0]))?;
            let o = if has(rest, "--json") { DfOutput::Json } else { DfOutput::Table };
            write_schema(&s, o, &mut out)?;
        }
        "df" => {
            let q = DfQuery {
                head: flag(rest, "--head").map(|h| h.parse()).transpose()?,
                slice: flag(rest, "--slice")
                    .map(|s| -> Result<(u64, u64), Box<dyn std::error::Error>> {
                        let (a, b) = s.split_once("..").ok_or("slice is A..B")?;
                        Ok((a.parse()?, b.parse()?))
                    })
                    .transpose()?,
                columns: flag(rest, "--columns").map(|c| c.split(',').map(str::to_string).collect()),
                filter: flag(rest, "--filter"),
            };
            let o = if has(rest, "--json") {
                DfOutput::Json
            } else if has(rest, "--csv") {
                DfOutput::Csv
            } else {
                DfOutput::Table
            };
            df(&pos[0], format_of(rest, &pos[0]), &Source::path(&pos[0]), &q, o, &mut out)?;
        }
        _ => {
            writeln!(io::stderr(), "usage: tables gen|edit|diff|merge|schema|df ... (see the source)")?;
            return Ok(2);
        }
    }
    out.flush()?;
    Ok(0)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(c) => ExitCode::from(c as u8),
        Err(e) => {
            let _ = writeln!(io::stderr(), "tables: {e}");
            ExitCode::from(2)
        }
    }
}
