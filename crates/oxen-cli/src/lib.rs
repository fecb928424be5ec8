//! Every Oxen command line: the clap definition of each binary and the glue
//! that turns its arguments into library calls and its results into output.
//! The binaries in `bin/` and `porcelain/` are one-line mains over this
//! crate; the man page generator reads the same definitions.
//!
//! Plumbing lives in `plumbing/<command>.rs`, porcelain subcommands in
//! `porcelain/<command>.rs`.

pub mod plumbing;
pub mod porcelain;
pub mod progress;

use std::io::Write;

/// Any error that reaches a binary's edge; printed as one line.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;

/// Result alias for command glue.
pub type CliResult<T = ()> = Result<T, CliError>;

/// Build a plain error from a message.
pub fn fail(msg: impl Into<String>) -> CliError {
    msg.into().into()
}

/// Run a command's body and exit: 0 on success, 1 with a single
/// `error: ...` line on stderr on failure.
pub fn exit_with(result: CliResult) -> ! {
    match result {
        Ok(()) => {
            let _ = std::io::stdout().flush();
            std::process::exit(0)
        }
        Err(e) => {
            let _ = std::io::stdout().flush();
            // A closed pipe (`oxen log | head`) is not an error worth a message.
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    std::process::exit(0);
                }
            }
            let msg = e.to_string().replace('\n', " ");
            eprintln!("error: {msg}");
            std::process::exit(1)
        }
    }
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
        v.push(sub.clone().name(name).display_name(format!("oxen {}", sub.get_name())));
    }
    v.push(oxen);
    v
}

/// The current directory, as an error rather than a panic when it is gone.
pub fn cwd() -> CliResult<std::path::PathBuf> {
    std::env::current_dir().map_err(|e| fail(format!("cannot read current directory: {e}")))
}
