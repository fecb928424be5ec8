//! `oxen kvdb-inspect`

use std::io::Write;

use crate::CommandResult;

/// Dump every key and value of each named database in an LMDB environment
/// (e.g. .oxen/db), for debugging the stores. Printable values are shown as
/// text; binary keys and values as hex, with known encodings decoded.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Path to the LMDB environment directory (holding data.mdb).
    pub path: std::path::PathBuf,
    /// Only dump this database.
    #[arg(long)]
    pub db: Option<String>,
}

fn show(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if s.chars().all(|c| !c.is_control() || c == '\n' || c == '\t') => {
            format!("{:?}", s)
        }
        _ => {
            if let Some(id) = oxen_hash::ContentId::from_slice(bytes) {
                return id.to_hex();
            }
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        }
    }
}

fn decode(db: &str, key: &[u8], value: &[u8]) -> String {
    match db {
        "index" => match oxen_index::decode_index_row(key, value) {
            Ok(Some((path, e))) => format!(
                "path={path} id={} size={} mtime_ns={} inode={} mode={:o} tracking={}{}",
                e.id,
                e.stat.size,
                e.stat.mtime_ns,
                e.stat.inode,
                e.stat.mode,
                e.tracking.as_str(),
                e.tabular
                    .map(|t| format!(" schema={}", serde_json::to_string(&t).unwrap_or_default()))
                    .unwrap_or_default()
            ),
            _ => show(value),
        },
        "trees" => match oxen_object::Tree::decode(value) {
            Ok(oxen_object::Tree::Entries(es)) => {
                let names: Vec<String> =
                    es.iter().map(|e| format!("{}:{}", oxen_path::quote(&e.name, oxen_path::Quote::C), e.id)).collect();
                format!("entries[{}] {}", es.len(), names.join(" "))
            }
            Ok(oxen_object::Tree::Buckets { bits, buckets }) => format!("buckets[{}] bits={bits}", buckets.len()),
            Err(e) => format!("<{e}>"),
        },
        "meta" if value.len() == 8 => format!("{}", i64::from_le_bytes(value.try_into().unwrap_or([0; 8]))),
        _ => show(value),
    }
}

/// Dump through `oxen_store::dump_env`, decoding what it recognises.
pub fn run(a: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let tables = oxen_store::dump_env(&a.path, a.db.as_deref())?;
    let mut out = std::io::BufWriter::new(out);
    for t in tables {
        writeln!(out, "[{}] {} entries", t.name, t.rows.len())?;
        for (k, v) in &t.rows {
            writeln!(out, "  {} => {}", show(k), decode(&t.name, k, v))?;
        }
    }
    out.flush()?;
    Ok(())
}
