//! `oxen-update-index`: stage paths into the index.

use std::io::BufRead;
use std::io::Write;

use std::process::ExitCode;

use clap::Parser;
use oxen_hash::ContentId;
use oxen_index::{repo_path, stage_cacheinfo, stage_paths, StageOptions};

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
    pub cacheinfo: Vec<String>,
    /// Read paths from standard input, one per line.
    #[arg(long)]
    pub stdin: bool,
    /// Paths to update.
    pub paths: Vec<String>,
}

/// Entry point.
pub fn main() -> ExitCode {
    crate::run_main(run)
}

/// Run with parsed arguments.
pub fn run(args: Args, _out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let repo = super::repo()?;
    let cwd = crate::cwd()?;
    let work = repo.layout.work.clone();
    for ci in &args.cacheinfo {
        let parts: Vec<&str> = ci.splitn(3, ',').collect();
        if parts.len() != 3 {
            return Err(user_error(format!("--cacheinfo '{ci}': expected MODE,ID,PATH")));
        }
        let mode = u32::from_str_radix(parts[0], 8)
            .map_err(|_| user_error(format!("--cacheinfo '{ci}': bad mode '{}'", parts[0])))?;
        let mode = oxen_object::mode::from_st_mode(mode);
        let id = ContentId::from_hex(parts[1])?;
        if !repo.versions.has(&id) {
            return Err(user_error(format!("--cacheinfo '{ci}': object {id} is not in the versions store")));
        }
        let path = repo_path(&work, &cwd, parts[2])?;
        stage_cacheinfo(&repo.db, &repo.versions, mode, id, &path)?;
    }
    let mut given = args.paths.clone();
    if args.stdin {
        for line in std::io::stdin().lock().lines() {
            let line = line?;
            if !line.is_empty() {
                given.push(line);
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
        let p = repo_path(&work, &cwd, g)?;
        if p.is_empty() {
            return Err(user_error(format!("'{g}' is the repository root; name files")));
        }
        let abs = work.join(&p);
        let meta = std::fs::symlink_metadata(&abs).ok();
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
            &work,
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
