//! `oxen-hash-object`: print content ids, optionally storing the contents.

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use std::process::ExitCode;

use clap::Parser;
use oxen_hash::ContentId;

use crate::CommandResult;

/// Compute the content id (xxh3-128) of files, optionally writing them into
/// the versions store. Files are streamed: memory stays bounded whatever
/// their size.
#[derive(Parser, Debug)]
#[command(name = "oxen-hash-object", version)]
pub struct Args {
    /// Write the contents into the repository's versions store.
    #[arg(short = 'w')]
    pub write: bool,
    /// Read the contents from standard input instead of a file.
    #[arg(long)]
    pub stdin: bool,
    /// Read file paths from standard input, one per line.
    #[arg(long)]
    pub stdin_paths: bool,
    /// Files to hash.
    pub files: Vec<PathBuf>,
}

/// Entry point.
pub fn main() -> ExitCode {
    crate::run_main(run)
}

/// Run with parsed arguments.
pub fn run(args: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let versions = if args.write { Some(super::repo()?.versions) } else { None };
    let hash_one = |path: &Path| -> CommandResult<ContentId> {
        Ok(match &versions {
            Some(v) => v.write_file(path)?.0,
            None => ContentId::of_file(path).map_err(|e| crate::user_error(format!("{}: {e}", path.display())))?.0,
        })
    };
    if args.stdin {
        let stdin = std::io::stdin();
        let id = match &versions {
            Some(v) => {
                let id = v.write_reader(stdin.lock(), Path::new("<stdin>"))?.0;
                v.flush()?;
                id
            }
            None => ContentId::of_reader(stdin.lock()).map_err(|e| crate::user_error(format!("<stdin>: {e}")))?.0,
        };
        writeln!(out, "{id}")?;
    }
    let mut paths = args.files.clone();
    if args.stdin_paths {
        // Paths are bytes: read lines as they are, UTF-8 or not.
        for line in std::io::stdin().lock().split(b'\n') {
            let line = line?;
            if !line.is_empty() {
                paths.push(PathBuf::from(OsString::from_vec(line)));
            }
        }
    }
    if paths.is_empty() && !args.stdin {
        return Err(crate::user_error("no files given (use --stdin to hash standard input)"));
    }
    for path in paths {
        if path.is_dir() {
            return Err(crate::user_error(format!("{}: is a directory", path.display())));
        }
        let id = hash_one(&path)?;
        writeln!(out, "{id}")?;
    }
    if let Some(v) = &versions {
        v.flush()?;
    }
    Ok(())
}
