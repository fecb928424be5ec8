//! The file-system monitor: a per-repository daemon that watches the work
//! tree with inotify and answers "which paths changed since token T" over a
//! Unix socket, so status re-checks only those paths.
//!
//! A token is `<instance>:<sequence>`. The instance id is drawn afresh each
//! time a daemon starts, so a token from an earlier daemon never matches a
//! later one; the daemon answers "full" (the caller must scan everything)
//! for a token it cannot vouch for: another instance's, one older than an
//! event-queue overflow, or none at all.
//!
//! Protocol (one request per connection): the client writes one line,
//! `query <token>`, `status` or `stop`. To a query the daemon answers
//! `token <new>\n`, then `full\n` or `changes\n` followed by the changed
//! repository paths, each ended by a NUL, then closes. Before answering it
//! writes a cookie file in `.oxen/` and waits until its own inotify queue
//! shows it, so every change made before the request has been read (as
//! git's fsmonitor--daemon does).

mod client;
mod daemon;

pub use client::{is_running, query, request_stop, spawn_daemon, status, Answer, DaemonStatus};
pub use daemon::{run, DaemonOptions};

use std::path::{Path, PathBuf};

/// Errors talking to or running the daemon.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// No daemon listens (never started, exited, or killed).
    #[error("no file-system monitor is running for this repository")]
    NotRunning,
    /// The daemon did not answer in time, or broke the protocol.
    #[error("the file-system monitor did not answer: {0}")]
    NoAnswer(String),
    /// inotify or the socket failed in the daemon.
    #[error("file-system monitor: {0}")]
    Io(#[from] std::io::Error),
}

/// Result alias.
pub type Result<T> = std::result::Result<T, MonitorError>;

/// sun_path holds 108 bytes including the NUL; keep a margin.
const SUN_PATH_MAX: usize = 100;

/// Where the daemon of the repository whose `.oxen` directory is `oxen_dir`
/// listens: `.oxen/fsmonitor.sock`, or when that path is too long for a
/// Unix socket address, a short path under `$XDG_RUNTIME_DIR` (or `/tmp`)
/// named by a hash of the `.oxen` path.
pub fn socket_path(oxen_dir: &Path) -> PathBuf {
    let p = oxen_dir.join("fsmonitor.sock");
    if p.as_os_str().len() <= SUN_PATH_MAX {
        return p;
    }
    use std::os::unix::ffi::OsStrExt;
    let h = xxhash_rust::xxh3::xxh3_64(oxen_dir.as_os_str().as_bytes());
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_absolute() && d.as_os_str().len() < 60)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    let uid = rustix::process::getuid().as_raw();
    base.join(format!("oxen-fsmonitor-{uid}-{h:016x}.sock"))
}

/// The daemon's pid file: its pid, then its socket path, one per line.
pub fn pid_path(oxen_dir: &Path) -> PathBuf {
    oxen_dir.join("fsmonitor.pid")
}

/// The lock file a daemon holds while it runs (one daemon per repository).
fn lock_path(oxen_dir: &Path) -> PathBuf {
    oxen_dir.join("fsmonitor.lock")
}

/// The prefix of the cookie files a daemon writes in `.oxen/` to mark a
/// point in its event queue.
const COOKIE_PREFIX: &str = "fsmonitor-cookie-";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_repository_paths_get_a_short_socket() {
        let short = Path::new("/tmp/r/.oxen");
        assert_eq!(socket_path(short), short.join("fsmonitor.sock"));
        let long = PathBuf::from(format!("/tmp/{}/.oxen", "d".repeat(150)));
        let s = socket_path(&long);
        assert!(s.as_os_str().len() <= SUN_PATH_MAX, "{}", s.display());
        assert!(s.file_name().unwrap().to_string_lossy().starts_with("oxen-fsmonitor-"));
        // Stable for one repository, distinct for another.
        assert_eq!(s, socket_path(&long));
        assert_ne!(s, socket_path(&PathBuf::from(format!("/tmp/{}/.oxen", "e".repeat(150)))));
    }
}
