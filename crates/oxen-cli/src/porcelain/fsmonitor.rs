//! `oxen fsmonitor` and the hidden `oxen fsmonitor--daemon`.

use std::io::Write;
use std::time::Duration;

use oxen_repo::Repo;

use crate::CommandResult;

/// Show or stop the file-system monitor: with `oxen config core.fsmonitor
/// true`, the first status (or add) starts a per-repository daemon that
/// watches the work tree with inotify, and later statuses look only at
/// the paths it reports changed. The daemon exits on `stop`, when the
/// repository is deleted, and after core.fsmonitorIdleTimeout seconds
/// (default 3600) without a request.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub cmd: Sub,
}

/// `oxen fsmonitor` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Sub {
    /// Whether the daemon runs, its pid, how many directories it watches, its current token.
    Status,
    /// Stop the daemon (the next status with core.fsmonitor on starts it again).
    Stop,
}

/// Run the daemon in the foreground (started detached by status and add).
#[derive(clap::Args, Debug)]
pub struct DaemonArgs {
    /// Exit after this many seconds without a request.
    #[arg(long, default_value_t = 3600)]
    pub idle_timeout: u64,
}

pub fn run(a: Args, out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let repo = super::open()?;
    let dot = &repo.layout.dot;
    match a.cmd {
        Sub::Status => {
            let enabled = repo.config()?.core.fsmonitor.unwrap_or(false);
            writeln!(out, "core.fsmonitor: {enabled}")?;
            match oxen_fsmonitor::status(dot) {
                Ok(s) => {
                    writeln!(out, "running: yes")?;
                    for (k, v) in &s.fields {
                        writeln!(out, "{k}: {v}")?;
                    }
                    writeln!(out, "socket: {}", oxen_fsmonitor::socket_path(dot).display())?;
                }
                Err(_) => writeln!(out, "running: no")?,
            }
        }
        Sub::Stop => match oxen_fsmonitor::request_stop(dot) {
            Ok(()) => {
                // Wait for it to let go of its socket, so a `status` right
                // after says it is gone.
                for _ in 0..100 {
                    if !oxen_fsmonitor::is_running(dot) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                writeln!(out, "stopped")?;
            }
            Err(_) => writeln!(out, "not running")?,
        },
    }
    Ok(())
}

pub fn run_daemon(a: DaemonArgs, _out: &mut dyn Write, _err: &mut dyn Write) -> CommandResult {
    let repo = super::open()?;
    let env_n = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<usize>().ok());
    let opts = oxen_fsmonitor::DaemonOptions {
        work_tree: repo.layout.work.clone(),
        oxen_dir: repo.layout.dot.clone(),
        idle_timeout: Duration::from_secs(a.idle_timeout.max(1)),
        max_paths: env_n("OXEN_FSMONITOR_MAX_PATHS").unwrap_or(1_000_000),
        overflow_after: env_n("OXEN_FSMONITOR_TEST_QUEUE"),
    };
    drop(repo);
    oxen_fsmonitor::run(opts).map_err(|e| crate::user_error(e.to_string()))?;
    Ok(())
}

/// With core.fsmonitor on, start the daemon when none runs, detached (it
/// outlives this command). Best effort: without it, status scans.
pub(crate) fn ensure_running(repo: &Repo) {
    let Ok(cfg) = repo.config() else { return };
    if cfg.core.fsmonitor != Some(true) || oxen_fsmonitor::is_running(&repo.layout.dot) {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let idle = cfg.core.fsmonitor_idle_timeout.unwrap_or(3600).to_string();
    let _ = oxen_fsmonitor::spawn_daemon(&exe, &["fsmonitor--daemon", "--idle-timeout", &idle], &repo.layout.work);
}
