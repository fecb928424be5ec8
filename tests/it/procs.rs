//! Child-process helpers for the tests, in safe code: the peak memory of
//! one particular child, a polite SIGTERM, and polling for a condition
//! instead of sleeping a guessed time.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use wait4::Wait4;

/// How a measured child ended.
#[derive(Debug)]
pub struct Measured {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its own peak resident set size, in MiB.
    pub peak_rss_mib: u64,
    /// Everything it printed on stdout.
    pub stdout: String,
}

/// Run `cmd` to completion (stdout captured, stderr shown) and report its
/// exit status and the peak RSS of that process alone. The child is reaped
/// with wait4 on its pid, so children of other tests running in this same
/// process are not counted (RUSAGE_CHILDREN would add them all up).
pub fn run_measured(mut cmd: Command) -> Measured {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("spawn");
    let mut stdout = String::new();
    child.stdout.take().expect("piped").read_to_string(&mut stdout).expect("read stdout");
    // wait4 reaps the child: `Child::wait` must not be called on it afterwards.
    let used = child.wait4().expect("wait4");
    Measured { status: used.status, peak_rss_mib: used.rusage.maxrss >> 20, stdout }
}

/// Ask a child to stop with SIGTERM (the graceful-shutdown path); an
/// already-exited child is not an error.
pub fn terminate(child: &Child) {
    let _ = rustix::process::kill_process(rustix::process::Pid::from_child(child), rustix::process::Signal::TERM);
}
/// Poll `cond` every few milliseconds until it holds (true) or `timeout`
/// passes (false).
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        // The poll interval, not a guess at how long something takes.
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The measurement is of the one child: a big child reads big, and a small
/// child measured after it reads small (RUSAGE_CHILDREN would still report
/// the big one's peak).
#[test]
fn run_measured_reports_the_child_alone() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("python3 not installed; skipping");
        return;
    }
    let mut big = Command::new("python3");
    big.args(["-c", "x = b'x' * (200 << 20); print(len(x))"]);
    let m = run_measured(big);
    assert!(m.status.success(), "{m:?}");
    assert_eq!(m.stdout.trim(), (200u64 << 20).to_string());
    assert!((200..400).contains(&m.peak_rss_mib), "a 200 MiB child measured {} MiB", m.peak_rss_mib);
    let m = run_measured(Command::new("true"));
    assert!(m.status.success(), "{m:?}");
    assert!(m.peak_rss_mib < 50, "a tiny child measured {} MiB", m.peak_rss_mib);
}
