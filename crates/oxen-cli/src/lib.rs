//! Every Oxen command line: the clap definition of each binary and the glue
//! that turns its arguments into library calls and its results into output.
//! The binaries in `bin/` and `porcelain/` are one-line mains over this
//! crate; the man page generator reads the same definitions.
//!
//! Plumbing lives in `plumbing/<command>.rs`, porcelain subcommands in
//! `porcelain/<command>.rs`.

pub mod command_error;
pub mod plumbing;
pub mod porcelain;
pub mod progress;

use std::io::Write;
use std::process::ExitCode;

pub use command_error::{user_error, CommandError, CommandResult, Exit};

/// The binary edge: parse arguments (clap's own usage errors keep clap's
/// form and exit status 2), run the command with stdout and stderr as its
/// writers, flush, and turn the outcome into an exit status via
/// [`command_error::handle_command_result`]. The only place a process's
/// exit status is decided; nothing below it exits.
pub fn run_main<A: clap::Parser, T: Into<Exit>>(
    run: impl FnOnce(A, &mut dyn Write, &mut dyn Write) -> CommandResult<T>,
) -> ExitCode {
    let args = match A::try_parse() {
        Ok(a) => a,
        Err(e) => {
            // Help and version go to stdout; a closed pipe there is fine.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    // stdout is line-buffered (so pipelines see each line as it is made);
    // commands with bulk output buffer further themselves. stderr is not
    // held locked: progress bars draw to it from their own threads.
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr();
    let result = run(args, &mut out, &mut err).map(Into::into).and_then(|exit| {
        out.flush()?;
        Ok(exit)
    });
    // For the crash tests (OXEN_TEST_ABORT_AT_WRITE=count): how many write
    // points this command passed, i.e. the range of N worth aborting at.
    if let Some(n) = oxen_store::faults::counted_writes() {
        let _ = writeln!(err, "oxen: write points: {n}");
    }
    command_error::handle_command_result(&mut err, result)
}

/// Every command definition with its binary name, for man pages and tests:
/// plumbing binaries, the `oxen` command, and each `oxen` subcommand as
/// `oxen-<sub>`.
pub fn all_commands() -> Vec<clap::Command> {
    let mut v = plumbing::commands();
    let oxen = porcelain::command();
    let plumbing: Vec<String> = v.iter().map(|c| c.get_name().to_string()).collect();
    for sub in oxen.get_subcommands() {
        let name = format!("oxen-{}", sub.get_name());
        // `oxen fsck` and `oxen-fsck` are one command; the binary's page serves both.
        if plumbing.contains(&name) {
            continue;
        }
        // Internal entry points (the monitor's daemon) have no page.
        if sub.is_hide_set() {
            continue;
        }
        v.push(sub.clone().name(name).display_name(format!("oxen {}", sub.get_name())));
    }
    v.push(oxen);
    v
}

/// The current directory, as an error rather than a panic when it is gone.
pub fn cwd() -> CommandResult<std::path::PathBuf> {
    std::env::current_dir().map_err(|e| user_error(format!("cannot read current directory: {e}")))
}
