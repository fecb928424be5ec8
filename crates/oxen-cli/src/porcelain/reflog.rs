//! `oxen reflog`

use std::io::Write;

use oxen_refs::{ExpirePolicy, LogSelection};
use oxen_store::Prune;

use crate::{user_error, CommandResult};

/// Show where HEAD or a ref has been, newest first (`HEAD@{0}` is now):
/// every commit, checkout, reset, merge, pull, fetch and branch move is
/// logged. Any `<ref>@{N}` shown can be used as a revision. `oxen reflog
/// expire` lets old entries go, so that gc can remove what only they kept.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    /// `show` or `expire`; without one, the log is shown.
    #[command(subcommand)]
    pub action: Option<Action>,
    /// The ref whose log to show (default HEAD).
    #[arg(value_name = "REF")]
    pub name: Option<String>,
}

/// What to do with the reflog.
#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Show a log (the default).
    Show {
        /// The ref whose log to show (default HEAD).
        #[arg(value_name = "REF")]
        name: Option<String>,
    },
    /// Remove old entries, as git's `reflog expire` does: those older than
    /// --expire, and those older than --expire-unreachable that name a
    /// commit their ref no longer reaches (old or new side). Every entry of
    /// a deleted branch's log is unreachable; HEAD's entries are reachable
    /// from HEAD or any ref. The commits only expired entries named are then
    /// left to `oxen gc`. All logs change in one transaction: an
    /// interrupted run removes all or nothing. Times are written as gc's
    /// `--prune`: `now` (every entry, even one written this second),
    /// `never`, or a duration such as `12h`, `30d`, `2w`. Usage: `oxen
    /// reflog expire [--expire=<time>] [--expire-unreachable=<time>]
    /// [--dry-run] (--all | <ref>...)`, defaults 90d and 30d.
    Expire {
        /// Remove entries older than this.
        #[arg(long, value_name = "DURATION|now|never", default_value = "90d", value_parser = super::gc::parse_prune)]
        expire: Prune,
        /// Remove entries older than this that name a commit their ref no
        /// longer reaches.
        #[arg(long, value_name = "DURATION|now|never", default_value = "30d", value_parser = super::gc::parse_prune)]
        expire_unreachable: Prune,
        /// Every log, deleted branches' included.
        #[arg(long, conflicts_with = "refs")]
        all: bool,
        /// Print what would be removed, and change nothing.
        #[arg(long, short = 'n')]
        dry_run: bool,
        /// The logs to expire (`HEAD`, a branch, a tag...); --all for every one.
        #[arg(value_name = "REF")]
        refs: Vec<String>,
    },
}

pub fn run(a: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    match a.action {
        None => show(a.name.as_deref().unwrap_or("HEAD"), out),
        Some(Action::Show { name }) => show(name.as_deref().unwrap_or("HEAD"), out),
        Some(Action::Expire { expire, expire_unreachable, all, dry_run, refs }) => {
            expire_logs(ExpirePolicy { expire, expire_unreachable }, all, dry_run, &refs, out)
        }
    }
}

fn show(name: &str, out: &mut dyn Write) -> CommandResult {
    let repo = super::open()?;
    let log = repo.refs().log_named(name)?.ok_or_else(|| user_error(format!("no reflog for '{name}'")))?;
    for (n, e) in repo.refs().reflog(&log)?.iter().rev().enumerate() {
        let id = match e.new {
            Some(id) => id.short(),
            None => "0".repeat(oxen_hash::ContentId::SHORT_LEN),
        };
        writeln!(out, "{id} {name}@{{{n}}}: {}", e.message)?;
    }
    Ok(())
}

fn expire_logs(policy: ExpirePolicy, all: bool, dry_run: bool, names: &[String], out: &mut dyn Write) -> CommandResult {
    let repo = super::open()?;
    let which = if all {
        LogSelection::All
    } else if names.is_empty() {
        return Err(user_error("reflog expire: name the refs whose logs to expire, or use --all"));
    } else {
        let mut logs = Vec::with_capacity(names.len());
        for n in names {
            logs.push(repo.refs().log_named(n)?.ok_or_else(|| user_error(format!("no reflog for '{n}'")))?);
        }
        LogSelection::Only(logs)
    };
    let report = repo.refs().expire_reflogs(&which, &policy, dry_run)?;
    if dry_run {
        for l in report.logs.iter().filter(|l| l.expired > 0) {
            writeln!(out, "would expire {} of {} entries of {}", l.expired, l.expired + l.kept, l.log)?;
        }
    }
    let verb = if dry_run { "would expire" } else { "expired" };
    let logs = report.logs.iter().filter(|l| l.expired > 0).count();
    writeln!(out, "reflog: {verb} {} entries from {logs} logs", report.expired())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        a: Args,
    }

    #[test]
    fn show_is_the_default_and_expire_takes_gc_times() {
        let p = |args: &[&str]| Cli::try_parse_from(std::iter::once("reflog").chain(args.iter().copied())).map(|c| c.a);
        assert!(matches!(p(&[]).unwrap(), Args { action: None, name: None }));
        assert_eq!(p(&["main"]).unwrap().name.as_deref(), Some("main"));
        assert!(matches!(p(&["show", "main"]).unwrap().action, Some(Action::Show { name: Some(_) })));
        match p(&["expire", "--expire-unreachable=now", "--all"]).unwrap().action {
            Some(Action::Expire { expire, expire_unreachable, all: true, dry_run: false, refs }) => {
                assert_eq!(expire, ExpirePolicy::DEFAULT.expire);
                assert_eq!(expire_unreachable, Prune::Now);
                assert!(refs.is_empty());
            }
            other => panic!("{other:?}"),
        }
        assert!(p(&["expire", "--expire=1y", "--all"]).is_err());
        assert!(p(&["expire", "--all", "main"]).is_err());
    }
}
