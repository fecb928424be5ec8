//! `oxen-update-index`: stage paths into the index.

use std::ffi::{OsStr, OsString};
use std::io::BufRead;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use std::process::ExitCode;

use clap::Parser;
use oxen_hash::ContentId;
use oxen_index::{stage_cacheinfo, stage_paths, StageOptions};
use oxen_path::RepoPath;

use crate::{user_error, CommandResult};

/// Register file contents in the staging index: hash each file into the
/// versions store and record its stat (size, mtime, inode, mode) so that an
/// unchanged file is never re-read. Tabular files (.csv .tsv .jsonl
/// .parquet) also record their schema and row count.
#[derive(Parser, Debug)]
#[command(name = "oxen-update-index", version)]
pub struct Args {
    /// Allow paths not yet in the index to be added.
    #[arg(long)]
    pub add: bool,
    /// Remove paths that no longer exist in the work tree from the index.
    #[arg(long)]
    pub remove: bool,
    /// Remove the paths from the index even if the files still exist.
    #[arg(long)]
    pub force_remove: bool,
    /// Stage an existing object by id without reading the work tree: MODE,ID,PATH.
    #[arg(long, value_name = "MODE,ID,PATH")]
    pub cacheinfo: Vec<OsString>,
    /// Read paths from standard input, one per line.
    #[arg(long)]
    pub stdin: bool,
    /// With --stdin, paths are NUL-terminated (any bytes, newlines included).
    #[arg(short = 'z', requires = "stdin")]
    pub nul: bool,
    /// Paths to update.
    pub paths: Vec<PathBuf>,
}

/// Entry point.
pub fn main() -> ExitCode {
    crate::run_main(run)
}

/// Run with parsed arguments.
pub fn run(args: Args, _out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let repo = super::repo()?;
    // A checkout writes the index in batches under its record: completed
    // first, the index is never seen half way.
    crate::porcelain::finish_interrupted(&repo, err)?;
    let cwd = crate::cwd()?;
    let work = repo.layout.work.clone();
    for ci in &args.cacheinfo {
        // MODE and ID are text; PATH is any bytes.
        let shown = ci.to_string_lossy();
        let parts: Vec<&[u8]> = ci.as_bytes().splitn(3, |b| *b == b',').collect();
        if parts.len() != 3 {
            return Err(user_error(format!("--cacheinfo '{shown}': expected MODE,ID,PATH")));
        }
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let mode = u32::from_str_radix(&text(parts[0]), 8)
            .map_err(|_| user_error(format!("--cacheinfo '{shown}': bad mode '{}'", text(parts[0]))))?;
        let mode = oxen_object::mode::from_st_mode(mode);
        let id = ContentId::from_hex(&text(parts[1]))?;
        if !repo.versions.has(&id) {
            return Err(user_error(format!("--cacheinfo '{shown}': object {id} is not in the versions store")));
        }
        let path = RepoPath::from_user(&work, &cwd, Path::new(OsStr::from_bytes(parts[2])))?;
        if let Some(w) = stage_cacheinfo(&repo.db, &repo.versions, mode, id, &path)? {
            writeln!(err, "warning: {w}")?;
        }
    }
    let mut given = args.paths.clone();
    if args.stdin {
        let sep = if args.nul { 0 } else { b'\n' };
        for item in std::io::stdin().lock().split(sep) {
            let item = item?;
            if !item.is_empty() {
                given.push(PathBuf::from(OsString::from_vec(item)));
            }
        }
    }
    if given.is_empty() {
        return Ok(());
    }
    let index = repo.index()?;
    let mut stage = Vec::new();
    let mut remove = Vec::new();
    for g in &given {
        let p = RepoPath::from_user(&work, &cwd, g)?;
        // Messages name the path as given, quoted like any path we print.
        let g = oxen_path::quote(g.as_os_str().as_bytes(), oxen_path::Quote::C);
        if p.is_root() {
            return Err(user_error(format!("'{g}' is the repository root; name files")));
        }
        if repo.worktree.symlink_leading(&p)?.is_some() {
            return Err(oxen_index::IndexError::BeyondSymlink(p).into());
        }
        let meta = repo.worktree.lstat(&p)?;
        let tracked = index.entries.contains_key(&p);
        if args.force_remove {
            if !tracked {
                return Err(user_error(format!("'{g}' is not in the index")));
            }
            remove.push(p);
            continue;
        }
        match meta {
            Some(m) if m.is_dir() => return Err(user_error(format!("'{g}' is a directory; add the files inside it"))),
            Some(_) => {
                if !tracked && !args.add {
                    return Err(user_error(format!("'{g}' is not in the index; use --add to add it")));
                }
                stage.push(p);
            }
            None => {
                if !tracked {
                    return Err(user_error(format!("'{g}' does not exist and is not in the index")));
                }
                if !args.remove {
                    return Err(user_error(format!("'{g}' does not exist; use --remove to remove it from the index")));
                }
                // stage_paths unstages tracked paths that are gone.
                stage.push(p);
            }
        }
    }
    if !stage.is_empty() {
        let report = stage_paths(
            &repo.worktree,
            &repo.db,
            &repo.versions,
            &stage,
            StageOptions { honor_ignore: false, ..Default::default() },
            &oxen_store::NoProgress,
        )?;
        for w in &report.warnings {
            writeln!(err, "warning: {w}")?;
        }
    }
    if !remove.is_empty() {
        oxen_index::remove_paths(&repo.db, &remove, false)?;
    }
    Ok(())
}
