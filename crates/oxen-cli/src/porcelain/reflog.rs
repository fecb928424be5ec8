//! `oxen reflog`

use std::io::Write;

use crate::{user_error, CommandResult};

/// Show where HEAD or a ref has been, newest first (`HEAD@{0}` is now):
/// every commit, checkout, reset, merge, pull, fetch and branch move is
/// logged. Any `<ref>@{N}` shown can be used as a revision.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// `show` (the default action, accepted for git's sake), then the ref
    /// whose log to show (default HEAD).
    #[arg(num_args = 0..=2, value_name = "show] [REF")]
    pub args: Vec<String>,
}

pub fn run(a: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let repo = super::open()?;
    let mut args = a.args.as_slice();
    if args.first().map(String::as_str) == Some("show") {
        args = &args[1..];
    }
    let name = match args {
        [] => "HEAD",
        [one] => one.as_str(),
        _ => return Err(user_error("usage: oxen reflog [show] [<ref>]")),
    };
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
