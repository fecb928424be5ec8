//! `oxen-receive-pack`: store a pack read from stdin, then update refs.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use oxen_pack::RefUpdateReq;

use crate::{user_error, CommandResult};

/// Read a pack stream on stdin into the repository at REPO_DIR (the same
/// code the server's receive-pack endpoint runs): every object is verified
/// against its id and its dependencies before it becomes visible (blobs via
/// temp file + rename, commits and trees via LMDB transactions), so an
/// interrupted stream leaves the repository consistent and a retry needs
/// only the rest. Then apply each --update in one compare-and-swap
/// transaction, refusing non-fast-forwards unless --force and the
/// checked-out branch of a repository that is not bare. Prints a JSON
/// summary. Works over any pipe, e.g.
/// `oxen-upload-pack . --want main | ssh host oxen-receive-pack /srv/repo --update heads/main:OLD:NEW`.
#[derive(Parser, Debug)]
#[command(name = "oxen-receive-pack", version)]
pub struct Args {
    /// Allow ref updates that are not fast-forwards.
    #[arg(short, long)]
    pub force: bool,
    /// Ref update REF:OLD:NEW (ids; an empty or all-zero OLD means the ref
    /// must not exist, an empty or all-zero NEW deletes it).
    #[arg(long = "update", value_name = "REF:OLD:NEW")]
    pub updates: Vec<String>,
    /// The receiving repository's work tree (or bare directory).
    pub repo_dir: std::path::PathBuf,
}

/// Entry point.
pub fn main() -> ExitCode {
    crate::run_main(run)
}

/// Parse `REF:OLD:NEW`.
pub fn parse_update(s: &str) -> CommandResult<RefUpdateReq> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 3 {
        return Err(user_error(format!("bad --update '{s}': expected REF:OLD:NEW")));
    }
    let opt = |x: &str| if x.is_empty() { None } else { Some(x.to_string()) };
    Ok(RefUpdateReq { name: parts[0].to_string(), old: opt(parts[1]), new: opt(parts[2]) })
}

/// Run with parsed arguments.
pub fn run(args: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let updates = args.updates.iter().map(|u| parse_update(u)).collect::<CommandResult<Vec<_>>>()?;
    let repo = oxen_repo::Repo::open(&args.repo_dir)?;
    let stdin = std::io::stdin().lock();
    let bar = crate::progress::Bar::objects("Receiving");
    let stats = oxen_pack::receive_pack(&repo, stdin, &bar)?;
    bar.finish();
    let updated = oxen_pack::apply_ref_updates(&repo, &repo.refs(), &updates, args.force)?;
    let summary =
        serde_json::json!({"objects": stats.objects, "stored": stats.stored, "bytes": stats.bytes, "updated": updated});
    writeln!(out, "{summary}")?;
    Ok(())
}
