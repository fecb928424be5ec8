//! The client side: ask the daemon, start it, stop it.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{socket_path, MonitorError, Result};

/// The daemon's answer to a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The token to ask with next time.
    pub token: String,
    /// The paths changed since the token asked with (repository paths,
    /// files or directories; a directory means "anything below it"), or
    /// `None` when the daemon cannot tell and everything must be scanned.
    pub changed: Option<Vec<Vec<u8>>>,
}

/// What `oxen fsmonitor status` shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DaemonStatus {
    /// The daemon's `key value` lines, in order.
    pub fields: Vec<(String, String)>,
}

impl DaemonStatus {
    /// One field's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

fn request(oxen_dir: &Path, line: &str, timeout: Duration) -> Result<Vec<u8>> {
    let mut s = UnixStream::connect(socket_path(oxen_dir)).map_err(|_| MonitorError::NotRunning)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(format!("{line}\n").as_bytes()).map_err(|e| MonitorError::NoAnswer(e.to_string()))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| MonitorError::NoAnswer(e.to_string()))?;
    Ok(out)
}

/// Ask which paths changed since `token` (`None`: only get a token). A
/// daemon that does not answer within `timeout` is an error: the caller
/// scans everything.
pub fn query(oxen_dir: &Path, token: Option<&str>, timeout: Duration) -> Result<Answer> {
    let out = request(oxen_dir, &format!("query {}", token.unwrap_or("")), timeout)?;
    let bad = || MonitorError::NoAnswer("malformed answer".into());
    let nl = out.iter().position(|c| *c == b'\n').ok_or_else(bad)?;
    let first = std::str::from_utf8(&out[..nl]).map_err(|_| bad())?;
    let token = first.strip_prefix("token ").ok_or_else(bad)?.to_string();
    let rest = &out[nl + 1..];
    if rest == b"full\n" {
        return Ok(Answer { token, changed: None });
    }
    let paths = rest.strip_prefix(b"changes\n").ok_or_else(bad)?;
    if !paths.is_empty() && paths.last() != Some(&0) {
        return Err(bad());
    }
    let changed = paths.split(|c| *c == 0).filter(|p| !p.is_empty()).map(<[u8]>::to_vec).collect();
    Ok(Answer { token, changed: Some(changed) })
}

/// The running daemon's state.
pub fn status(oxen_dir: &Path) -> Result<DaemonStatus> {
    let out = request(oxen_dir, "status", Duration::from_secs(2))?;
    let text = String::from_utf8_lossy(&out);
    let fields =
        text.lines().filter_map(|l| l.split_once(' ')).map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    if fields.is_empty() {
        return Err(MonitorError::NoAnswer("empty status".into()));
    }
    Ok(DaemonStatus { fields })
}

/// Ask the daemon to exit; it removes its socket and pid file.
pub fn request_stop(oxen_dir: &Path) -> Result<()> {
    request(oxen_dir, "stop", Duration::from_secs(2)).map(|_| ())
}

/// Start `exe args...` detached, in `dir`, with no standard streams: the
/// daemon's own main calls [`crate::run`]. Returns without waiting.
pub fn spawn_daemon(exe: &Path, args: &[&str], dir: &Path) -> Result<()> {
    // The child is not waited for: it outlives this process, which exits
    // soon, and is then reparented (and reaped) by init.
    Command::new(exe)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(())
}

/// Whether a daemon listens for the repository (a connect, no request).
pub fn is_running(oxen_dir: &Path) -> bool {
    UnixStream::connect(socket_path(oxen_dir)).is_ok()
}
