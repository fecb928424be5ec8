//! Child-process helpers for the tests, in safe code: the peak memory of
//! one particular child, a polite SIGTERM, and polling for a condition
//! instead of sleeping a guessed time.

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How a measured child ended.
#[derive(Debug)]
pub struct Measured {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its own peak resident set size, in KiB.
    pub peak_rss_kib: u64,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

impl Measured {
    /// Its peak resident set size, in whole MiB.
    pub fn peak_rss_mib(&self) -> u64 {
        self.peak_rss_kib >> 10
    }
}

/// Run `cmd` to completion (stdout and stderr captured) and report its
/// exit status and the peak RSS of that process alone: its `ru_maxrss`
/// from `wait4`, exact however short it ran (polling its VmHWM missed the
/// peak of a command that ended between two polls).
///
/// The child is started by GNU time, which forks it and reaps it with
/// `wait4`, not directly by this test process: a child spawned straight
/// from here starts life sharing (vfork) or copying (fork) this process's
/// memory, and Linux carries that memory's high-water mark into the
/// child's peak RSS across `exec`. The tests in this binary run in
/// parallel in one process that can grow to hundreds of MiB, so a direct
/// measurement of even `true` could read large. GNU time is small (it
/// passes on about 1 MiB: `true` measures 1,024 KiB), so small commands
/// are measured to the KiB; a Python launcher passed on ten times that.
pub fn run_measured(cmd: Command) -> Measured {
    let gnu_time = std::path::Path::new("/usr/bin/time");
    assert!(gnu_time.exists(), "measuring peak memory needs GNU time: apt-get install time");
    let rss_file = tempfile::NamedTempFile::new().expect("temp file for GNU time's report");
    let mut timed = Command::new(gnu_time);
    timed.arg("-f").arg("%M").arg("-o").arg(rss_file.path()).arg(cmd.get_program()).args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        timed.current_dir(dir);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    let out = timed.stdin(Stdio::null()).output().expect("spawn GNU time");
    // A failed child's report starts with a line saying so; the figure is last.
    let report = std::fs::read_to_string(rss_file.path()).expect("GNU time reports the peak RSS");
    let kib = report.lines().last().and_then(|l| l.trim().parse().ok());
    Measured {
        status: out.status,
        peak_rss_kib: kib.unwrap_or_else(|| panic!("GNU time said {report:?}")),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
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
/// the big one's peak), even while this test process itself is big.
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
    assert!((200..400).contains(&m.peak_rss_mib()), "a 200 MiB child measured {} MiB", m.peak_rss_mib());
    // Make this process big, as the parallel tests in this binary can.
    let ballast = vec![1u8; 300 << 20];
    let m = run_measured(Command::new("true"));
    assert_eq!(ballast.iter().map(|&b| b as u64).sum::<u64>(), 300 << 20);
    assert!(m.status.success(), "{m:?}");
    assert!(m.peak_rss_mib() < 50, "a tiny child measured {} MiB", m.peak_rss_mib());
}

/// A child stopped with SIGSTOP until this is dropped (SIGCONT then), so
/// a failing assertion never leaves it frozen for whoever waits for it.
pub struct Frozen(rustix::process::Pid);

impl Frozen {
    /// Stop `child`.
    pub fn new(child: &Child) -> Frozen {
        let pid = rustix::process::Pid::from_child(child);
        rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = rustix::process::kill_process(self.0, rustix::process::Signal::CONT);
    }
}
