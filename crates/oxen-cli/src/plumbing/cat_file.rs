//! `oxen-cat-file`: show an object's type, size or contents.

use std::io::{Read, Write};

use std::process::ExitCode;

use clap::{ArgGroup, Parser};
use oxen_object::{EntryKind, Tree};
use oxen_repo::ObjectKind;
use oxen_store::Table;

use crate::{CommandResult, Exit};

/// Show the type (-t), size (-s) or contents (-p) of an object, or test that
/// it exists (-e). OBJECT is an id, a unique id prefix, a ref, or REV:PATH.
/// Reading verifies the object's bytes against its id.
#[derive(Parser, Debug)]
#[command(name = "oxen-cat-file", version)]
#[command(group(ArgGroup::new("what").required(true).args(["type_", "size", "pretty", "exists"])))]
pub struct Args {
    /// Print the object type: commit, tree or blob.
    #[arg(short = 't')]
    pub type_: bool,
    /// Print the object size in bytes.
    #[arg(short = 's')]
    pub size: bool,
    /// Pretty-print the contents (blobs are written raw).
    #[arg(short = 'p')]
    pub pretty: bool,
    /// Exit 0 if the object exists and is valid, 1 otherwise, printing nothing.
    #[arg(short = 'e')]
    pub exists: bool,
    /// The object.
    pub object: String,
}

/// Entry point.
pub fn main() -> ExitCode {
    crate::run_main(run)
}

/// Run with parsed arguments.
/// `-e` answers through the exit status alone; everything else prints.
pub fn run(args: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult<Exit> {
    let repo = super::repo()?;
    if args.exists {
        let ok = repo.resolve(&args.object).is_ok();
        return Ok(if ok { Exit::Success } else { Exit::Failure });
    }
    let t = repo.resolve(&args.object)?;
    if args.type_ {
        writeln!(out, "{}", t.kind.name())?;
        return Ok(Exit::Success);
    }
    if args.size {
        let size = match t.kind {
            ObjectKind::Commit => repo.db.get_object(Table::Commits, &t.id)?.len() as u64,
            ObjectKind::Tree => repo.db.get_object(Table::Trees, &t.id)?.len() as u64,
            ObjectKind::Blob => repo.versions.size(&t.id)?,
        };
        writeln!(out, "{size}")?;
        return Ok(Exit::Success);
    }
    match t.kind {
        ObjectKind::Commit => {
            out.write_all(&repo.db.get_object(Table::Commits, &t.id)?)?;
        }
        ObjectKind::Tree => {
            if let Tree::Buckets { bits, buckets } = repo.read_tree_node(&t.id)? {
                writeln!(out, "# bucketed directory: {} buckets of {} bits", buckets.len(), bits)?;
            }
            for e in repo.dir_entries(&t.id)? {
                let kind = if e.kind == EntryKind::Dir { "tree" } else { "blob" };
                let name = oxen_path::quote(&e.name, oxen_path::Quote::C);
                writeln!(out, "{:06o} {kind} {} {}\t{name}", e.mode, e.id, e.size)?;
            }
        }
        ObjectKind::Blob => {
            // The store verifies as it streams: corrupt contents fail before
            // their last bytes are written, naming the object asked for.
            let mut f = repo.versions.open(&t.id).map_err(|e| e.reading_for(&args.object))?;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(f.store_error(e).reading_for(args.object).into()),
                };
                out.write_all(&buf[..n])?;
            }
            out.flush()?;
        }
    }
    Ok(Exit::Success)
}
