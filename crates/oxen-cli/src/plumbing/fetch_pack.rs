//! `oxen-fetch-pack`: receive a remote's branches' objects.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use oxen_hash::ContentId;
use oxen_remote::Remote;

use crate::{user_error, CommandResult};

/// Receive from REMOTE (a configured remote name, an
/// http://host:port/<RepoName> URL or a repository path) the objects of its
/// branches (all, or those named) that this repository lacks; the local
/// ref tips are sent as haves so only new history travels, and files the
/// remote stores chunked come as the chunks this repository lacks (as
/// `oxen fetch` does; prints `received N bytes (M chunks, K reused)`). No ref is
/// changed: prints `<id> heads/<branch>` for each fetched branch, for a
/// script to act on (`oxen fetch` updates remote-tracking refs instead).
#[derive(Parser, Debug)]
#[command(name = "oxen-fetch-pack", version)]
pub struct Args {
    /// Remote name, URL or repository path.
    pub remote: String,
    /// Branches to fetch (default: all).
    pub branches: Vec<String>,
}

/// Entry point.
pub fn main() -> ExitCode {
    crate::run_main(run)
}

/// Run with parsed arguments.
pub fn run(args: Args, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    let repo = super::repo()?;
    let (_, url) = oxen_remote::resolve_remote(&repo, &args.remote)?;
    let remote = Remote::open(&url)?;
    let refs = remote.list_refs()?;
    let mut chosen: Vec<(oxen_refs::RefName, ContentId)> = Vec::new();
    if args.branches.is_empty() {
        chosen.extend(refs.branches().map(|(b, id)| (b.to_ref(), id)));
    } else {
        for b in &args.branches {
            let name = oxen_refs::RefName::from_shorthand(b)?;
            let id = refs.refs.get(&name).ok_or_else(|| user_error(format!("remote has no ref {name}")))?;
            chosen.push((name, *id));
        }
    }
    let mut wants = Vec::new();
    for (_, id) in &chosen {
        if !repo.db.has_object(oxen_store::Table::Commits, id)? && !wants.contains(id) {
            wants.push(*id);
        }
    }
    if !wants.is_empty() {
        let haves: Vec<ContentId> = repo.refs().all()?.into_iter().map(|(_, id)| id).collect();
        let bar = crate::progress::Bar::objects("Receiving");
        let (stats, counts) = remote.fetch_pack(&repo, &wants, &haves, &bar)?;
        bar.finish();
        let objects = stats.objects.saturating_sub(counts.sent);
        writeln!(err, "received {objects} objects, {}", crate::progress::human_bytes(stats.bytes))?;
        // Exact and stable, as fetch prints it: tests parse `received N bytes`.
        writeln!(err, "received {} bytes ({} chunks, {} reused)", stats.bytes, counts.sent, counts.reused)?;
    }
    for (name, id) in chosen {
        writeln!(out, "{id} {name}")?;
    }
    Ok(())
}
