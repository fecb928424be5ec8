//! `oxen-update-ref`: move or delete a ref with compare-and-swap.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use oxen_hash::ContentId;
use oxen_refs::{Expect, Head};

use crate::{user_error, CommandResult};

/// Point a ref at a commit (or delete it with -d), safely: when OLD is
/// given the update happens only if the ref currently has that value (an id
/// of 32 zeros means "must not exist"), checked and written in one
/// transaction. REF may be HEAD, a branch name, heads/<b>, tags/<t> or
/// refs/heads/<b>.
#[derive(Parser, Debug)]
#[command(name = "oxen-update-ref", version)]
pub struct Args {
    /// Delete the ref instead of updating it.
    #[arg(short = 'd')]
    pub delete: bool,
    /// Ref to update.
    pub reference: String,
    /// New value (a commit), or with -d the expected old value.
    pub new: Option<String>,
    /// Expected old value.
    pub old: Option<String>,
}

/// Entry point.
pub fn main() -> ExitCode {
    crate::run_main(run)
}

/// Run with parsed arguments.
pub fn run(args: Args, _out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let repo = super::repo()?;
    let (new_arg, old_arg) =
        if args.delete { (None, args.new.as_deref()) } else { (args.new.as_deref(), args.old.as_deref()) };
    if !args.delete && new_arg.is_none() {
        return Err(user_error("missing new value"));
    }
    if args.delete && args.old.is_some() {
        return Err(user_error("-d takes a ref and at most one expected old value"));
    }
    let expect = match old_arg {
        None => Expect::Any,
        Some(o) if o.len() == 32 && o.bytes().all(|b| b == b'0') => Expect::Absent,
        Some(o) => Expect::Is(ContentId::from_hex(o).or_else(|_| repo.resolve_commit(o))?),
    };
    let new = match new_arg {
        Some(n) => Some(repo.resolve_commit(n)?),
        None => None,
    };
    if args.reference == "HEAD" {
        match repo.head()? {
            Head::Branch(b) => {
                repo.refs().update(&b.to_ref(), new, expect, "update-ref")?;
            }
            Head::Detached(cur) => {
                if let Expect::Is(e) = expect {
                    if e != cur {
                        return Err(user_error(format!("HEAD is at {cur}, expected {e}")));
                    }
                }
                let Some(n) = new else { return Err(user_error("cannot delete a detached HEAD")) };
                repo.refs().set_head(&Head::Detached(n), Some(&Head::Detached(cur)), "update-ref")?;
            }
        }
        return Ok(());
    }
    let name = oxen_refs::RefName::from_shorthand(&args.reference)?;
    if args.delete && repo.refs().get(&name)?.is_none() {
        return Err(user_error(format!("ref {name} does not exist")));
    }
    repo.refs().update(&name, new, expect, "update-ref")?;
    Ok(())
}
