//! `oxen-server`: the sync server.

use std::io::Write;
use std::path::PathBuf;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::CommandResult;

/// Serve the repositories under SYNC_DIR (one directory per repository,
/// the usual .oxen layout) over HTTP for push, fetch, pull and clone.
/// Every request needs `Authorization: Bearer <token>`; tokens are made by
/// `oxen-server add-user` and stored hashed.
#[derive(Parser, Debug)]
#[command(name = "oxen-server", version)]
pub struct Args {
    /// Directory holding the repositories (and the user database).
    #[arg(long, global = true, env = "SYNC_DIR", default_value = "/tmp/oxen_sync", value_name = "DIR")]
    pub sync_dir: PathBuf,
    /// What to do: add a user or serve.
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Create a user with a random token and write a client config holding
    /// it; copy that file to ~/.oxen/user_config.toml on the client.
    AddUser {
        /// The user's email.
        #[arg(long)]
        email: String,
        /// The user's name.
        #[arg(long)]
        name: String,
        /// Where to write the client config.
        #[arg(long, short, default_value = "user_config.toml")]
        output: PathBuf,
    },
    /// Serve until SIGINT/SIGTERM (in-flight requests are finished). Prints
    /// `listening on http://ADDR` once bound.
    Start {
        /// Address to bind.
        #[arg(long, default_value = "0.0.0.0")]
        host: String,
        /// Port to bind (0 picks a free one).
        #[arg(long, short, default_value_t = 3000)]
        port: u16,
        /// Requests served at once.
        #[arg(long, default_value_t = 8)]
        threads: usize,
        /// Largest request body accepted, in bytes (a push's pack is one body).
        #[arg(long, default_value_t = 64 << 30)]
        max_body: u64,
    },
}

/// Entry point.
pub fn main() -> ExitCode {
    crate::run_main(run)
}

/// Run with parsed arguments.
pub fn run(args: Args, out: &mut dyn Write, err: &mut dyn Write) -> CommandResult {
    match args.cmd {
        Cmd::AddUser { email, name, output } => {
            let output = if output.is_absolute() { output } else { crate::cwd()?.join(output) };
            oxen_server::add_user(&args.sync_dir, &name, &email, &output)?;
            writeln!(out, "created user {name} <{email}>; token written to {}", output.display())?;
            writeln!(out, "copy it to ~/.oxen/user_config.toml on the client machine")?;
            Ok(())
        }
        Cmd::Start { host, port, threads, max_body } => {
            let cfg = oxen_server::ServerConfig { sync_dir: args.sync_dir, host, port, threads, max_body };
            oxen_server::serve(cfg, out, err)?;
            Ok(())
        }
    }
}
