//! `oxen-server`: the sync server.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::CommandResult;

/// Serve the repositories under SYNC_DIR (one directory per repository,
/// the usual .oxen layout) over HTTP for push, fetch, pull and clone.
/// Every request but `GET /api/health` and `GET /api/version` needs
/// `Authorization: Bearer <token>`; tokens are made by `oxen-server
/// add-user`, carry scopes (admin, or read/write per repository) and are
/// stored hashed. Serve plain HTTP on loopback
/// only: anywhere else, put it behind a proxy that speaks HTTPS (tokens
/// travel in every request). Requests are logged on stderr, one line
/// each, filtered by RUST_LOG (default info).
#[derive(Parser, Debug)]
#[command(name = "oxen-server", version)]
pub struct Args {
    /// Directory holding the repositories (and the user database).
    #[arg(long, global = true, env = "SYNC_DIR", default_value = "/tmp/oxen_sync", value_name = "DIR")]
    pub sync_dir: PathBuf,
    /// Keep metadata (repositories, refs, commits, trees, the block index,
    /// users) in this PostgreSQL database instead of LMDB under SYNC_DIR,
    /// so several servers (replicas, each with its own SYNC_DIR for
    /// scratch) serve the same repositories. The schema is created or
    /// migrated on first use. `start` also needs --storage (contents must
    /// be shared too).
    #[arg(long, global = true, env = "OXEN_DB", value_name = "postgres://USER@HOST:PORT/DB")]
    pub db: Option<String>,
    /// What to do: add a user or serve.
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Create a user with a random token and write a client config holding
    /// it for this server; copy that file to ~/.oxen/user_config.toml on the
    /// client. The client sends the token to this server only. The token
    /// carries scopes: --admin (every repository, creating and deleting
    /// them), or --read/--write REPO (write implies read; creating REPO
    /// needs write access to it). With none of these the token is an
    /// admin's, as every token was before scopes existed.
    AddUser {
        /// The user's email.
        #[arg(long)]
        email: String,
        /// The user's name.
        #[arg(long)]
        name: String,
        /// The server the token is for, as clients will address it:
        /// http(s)://host[:port] (or host:port for plain HTTP). The token is
        /// sent to this origin only: same scheme, host and port.
        #[arg(long, default_value = "http://localhost:3000", value_name = "URL")]
        host: String,
        /// Where to write the client config.
        #[arg(long, short, default_value = "user_config.toml")]
        output: PathBuf,
        /// Every repository: read, write, create, delete.
        #[arg(long)]
        admin: bool,
        /// May read (clone, fetch, pull) REPO; repeat for more.
        #[arg(long, value_name = "REPO")]
        read: Vec<String>,
        /// May read and write (push to) REPO, and create it; repeat for more.
        #[arg(long, value_name = "REPO")]
        write: Vec<String>,
    },
    /// Revoke tokens: every token of a user (--email) or one (--token-id,
    /// as list-users shows it). Requests with them get 401 at once.
    Revoke {
        /// Revoke every token of the user with this email.
        #[arg(long, required_unless_present = "token_id", conflicts_with = "token_id")]
        email: Option<String>,
        /// Revoke the token with this id.
        #[arg(long, value_name = "ID")]
        token_id: Option<String>,
    },
    /// List the tokens: id, user name, email and scopes, one per line
    /// (never a token or its hash). Tokens from before scopes existed are
    /// listed as `legacy-...` with admin scope.
    ListUsers,
    /// Serve until SIGINT/SIGTERM (in-flight requests are finished). Prints
    /// `listening on http://ADDR` once bound.
    Start {
        /// Address to bind.
        #[arg(long, default_value = "0.0.0.0")]
        host: String,
        /// Port to bind (0 picks a free one).
        #[arg(long, short, default_value_t = 3000)]
        port: u16,
        /// Requests handled at once (threads for the handlers; idle and
        /// slow connections do not take one).
        #[arg(long, default_value_t = 16)]
        threads: usize,
        /// Largest request body accepted, in bytes (a push's pack is one body).
        #[arg(long, default_value_t = 64 << 30)]
        max_body: u64,
        /// Connections open at once; more are answered 503 and closed.
        #[arg(long, default_value_t = 512)]
        max_connections: usize,
        /// Seconds a client has to send a request's headers (and an idle
        /// connection stays open).
        #[arg(long, default_value_t = 30, value_name = "SECS")]
        header_timeout: u64,
        /// Seconds a request body may stall (then 408), or a response go
        /// unread (then the connection is closed).
        #[arg(long, default_value_t = 60, value_name = "SECS")]
        body_timeout: u64,
        /// Seconds SIGINT/SIGTERM wait for requests in flight to finish.
        #[arg(long, default_value_t = 30, value_name = "SECS")]
        shutdown_grace: u64,
        /// Keep file contents (blocks) in S3-compatible object storage,
        /// each repository's under PREFIX/<repo>/blocks/, and only metadata
        /// under SYNC_DIR. Endpoint and credentials come from the standard
        /// AWS variables (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
        /// AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ALLOW_HTTP=true for a
        /// plain-http endpoint). The bucket must exist; startup checks it.
        #[arg(long, env = "OXEN_STORAGE", value_name = "s3://BUCKET[/PREFIX]")]
        storage: Option<String>,
    },
    /// `oxen gc` for every repository under SYNC_DIR: reflog entries past
    /// each repository's `gc.reflogExpire` (90d) and
    /// `gc.reflogExpireUnreachable` (30d; a deleted branch's entries are
    /// unreachable) are expired first, whatever `--prune` says; contents
    /// no ref or reflog entry reaches and older than the grace period are removed,
    /// then the space they and interrupted writes left (a push killed
    /// mid-way leaves segment records no location refers to, and temp
    /// files) is reclaimed: one line per repository, as `oxen gc` prints.
    /// Safe while the server runs: a push in flight stores its contents
    /// before it moves the ref, and they are younger than the grace period;
    /// segments of live processes are left alone. With --db (and
    /// --storage): every repository in the database, safe while replicas
    /// on any host push (see --storage); run it from any one host.
    Gc {
        /// Print what would be done, and change nothing.
        #[arg(long, short = 'n')]
        dry_run: bool,
        /// Remove unreachable contents older than this: `now`, `never`, or
        /// a duration such as `30m`, `12h`, `1d`, `2w`.
        #[arg(long, value_name = "DURATION|now|never", default_value = "1d", value_parser = crate::porcelain::gc::parse_prune)]
        prune: oxen_store::Prune,
        /// The bucket the repositories' blocks are in (as `start
        /// --storage`): blocks there of repositories that no longer exist
        /// (a delete interrupted before it removed them) are removed too.
        /// Needed with --db, where gc is safe with replicas on other hosts
        /// pushing meanwhile: it holds the database's gc lock (a second gc
        /// is refused), leaves alone blocks a writer holds a lease on and
        /// blocks younger than --block-grace, and keeps contents a writer
        /// relied on within the grace period.
        #[arg(long, env = "OXEN_STORAGE", value_name = "s3://BUCKET[/PREFIX]")]
        storage: Option<String>,
        /// A block in the bucket written (or relied on by a writer) more
        /// recently than this is not compacted or deleted: `now` or a
        /// duration such as `30m`, `1h`. Multipart uploads a killed server
        /// left unfinished (their parts stay in the bucket) are aborted
        /// once older than this; with LMDB, never while their writer's pid
        /// is alive on this host.
        #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_grace)]
        block_grace: Duration,
    },
    /// `oxen migrate` for every repository under SYNC_DIR: contents stored
    /// the way older releases stored them (loose files, whole uncompressed
    /// segment records) are rewritten into the current encoding (chunked,
    /// compressed when it pays), each verified against its id and its old
    /// copy removed only once the new one is recorded; one line per
    /// repository, as `oxen migrate` prints. A kill loses nothing and a
    /// rerun finishes the job; running it again does nothing. Stop the
    /// server first (a migration holds no lock against pushes).
    Migrate,
}

/// `--block-grace`: `now` (none) or a duration as `--prune` takes it.
fn parse_grace(s: &str) -> Result<Duration, String> {
    match s.parse::<oxen_store::Prune>()? {
        oxen_store::Prune::Now => Ok(Duration::ZERO),
        oxen_store::Prune::OlderThan(d) => Ok(d),
        oxen_store::Prune::Never => Err("'never' is not a grace period here: give a duration such as 1h".into()),
    }
}

/// Entry point.
pub fn main() -> ExitCode {
    crate::run_main(run)
}

/// Run with parsed arguments. The request log goes to stderr through
/// `tracing` (it is written from the server's threads, not through `_err`).
pub fn run(args: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    // An empty OXEN_DB means none (LMDB), as an empty OXEN_STORAGE does.
    let db = args.db.as_deref().filter(|s| !s.is_empty());
    match args.cmd {
        Cmd::AddUser { email, name, host, output, admin, read, write } => {
            let output = if output.is_absolute() { output } else { crate::cwd()?.join(output) };
            let scopes = oxen_server::Scopes {
                admin: admin || (read.is_empty() && write.is_empty()),
                read: read.into_iter().collect(),
                write: write.into_iter().collect(),
            };
            let origin = oxen_server::check_add_user(&scopes, &host)?;
            let users = oxen_server::open_users(&args.sync_dir, db)?;
            let (token, origin) = oxen_server::add_user_in(&users, &name, &email, &scopes, &origin, &output)?;
            writeln!(
                out,
                "created user {name} <{email}>, token id {} ({}); token for {origin} written to {}",
                token.token_id,
                scopes.describe(),
                output.display()
            )?;
            writeln!(
                out,
                "copy it to ~/.oxen/user_config.toml on the client machine; the token is sent to {origin} only"
            )?;
            Ok(())
        }
        Cmd::Start {
            host,
            port,
            threads,
            max_body,
            max_connections,
            header_timeout,
            body_timeout,
            shutdown_grace,
            storage,
        } => {
            let storage = match storage.filter(|s| !s.is_empty()) {
                None => None,
                Some(s) => Some(oxen_store::S3Url::parse(&s).ok_or_else(|| {
                    crate::command_error::user_error(format!("--storage '{s}' is not s3://BUCKET[/PREFIX]"))
                })?),
            };
            let mut cfg = oxen_server::ServerConfig::new(args.sync_dir, host, port);
            cfg.threads = threads;
            cfg.max_body = max_body;
            cfg.max_connections = max_connections;
            cfg.header_timeout = Duration::from_secs(header_timeout.max(1));
            cfg.body_timeout = Duration::from_secs(body_timeout.max(1));
            cfg.shutdown_grace = Duration::from_secs(shutdown_grace);
            cfg.storage = storage;
            cfg.db = db.map(str::to_string);
            oxen_server::init_logging();
            oxen_server::serve(cfg, out)?;
            Ok(())
        }
        Cmd::Revoke { email, token_id } => {
            let what = match (email, token_id) {
                (Some(e), _) => oxen_server::Revoke::Email(e),
                (None, Some(id)) => oxen_server::Revoke::TokenId(id),
                (None, None) => return Err(crate::command_error::user_error("give --email or --token-id")),
            };
            for id in oxen_server::revoke_in(&oxen_server::open_users(&args.sync_dir, db)?, &what)? {
                writeln!(out, "revoked {id}")?;
            }
            Ok(())
        }
        Cmd::ListUsers => {
            // Tab-separated: token id, name, email, scopes.
            for t in oxen_server::list_users_in(&oxen_server::open_users(&args.sync_dir, db)?)? {
                writeln!(out, "{}\t{}\t{}\t{}", t.token_id, t.user.name, t.user.email, t.scopes.describe())?;
            }
            Ok(())
        }
        Cmd::Gc { dry_run, prune, storage, block_grace } => {
            let storage = match storage.filter(|s| !s.is_empty()) {
                None => None,
                Some(s) => Some(oxen_store::S3Url::parse(&s).ok_or_else(|| {
                    crate::command_error::user_error(format!("--storage '{s}' is not s3://BUCKET[/PREFIX]"))
                })?),
            };
            let orphans = if let Some(url) = db {
                let storage = storage.ok_or_else(|| {
                    crate::command_error::user_error(
                        "gc --db needs --storage s3://BUCKET[/PREFIX]: the bucket the replicas keep contents in",
                    )
                })?;
                let pg = oxen_server::connect_db(url)?;
                let done = oxen_server::sweep::gc_pg(&pg, &args.sync_dir, &storage, prune, dry_run, block_grace)?;
                for (name, report) in &done.repos {
                    crate::porcelain::gc::write_report(report, dry_run, &format!("{name}: "), out)?;
                }
                Some((done.orphan_blocks, done.orphan_bytes))
            } else {
                for (name, report) in oxen_server::sweep::gc_repos_with(&args.sync_dir, prune, dry_run, block_grace)? {
                    crate::porcelain::gc::write_report(&report, dry_run, &format!("{name}: "), out)?;
                }
                match &storage {
                    Some(s) => Some(oxen_server::sweep::gc_orphans_local(&args.sync_dir, s, dry_run)?),
                    None => None,
                }
            };
            if let Some((n, bytes)) = orphans {
                let verb = if dry_run { "would be removed" } else { "removed" };
                writeln!(out, "deleted repositories: {n} blocks ({bytes} bytes) {verb}")?;
            }
            Ok(())
        }
        Cmd::Migrate => {
            let mut failed = None;
            oxen_server::sweep::migrate_repos(&args.sync_dir, |name, m, gc| {
                if let Err(e) = crate::porcelain::migrate::write_report(m, gc, &format!("{name}: "), out) {
                    failed = Some(e);
                }
                Ok(())
            })?;
            failed.map_or(Ok(()), Err)
        }
    }
}
