//! Crash points for testing crash consistency.
//!
//! Every write that changes a repository or a work tree (an LMDB commit, a
//! versions-store file or segment record, an atomic small-file write, each
//! work-tree create, rename, removal and directory) first calls
//! [`write_point`]. With `OXEN_TEST_ABORT_AT_WRITE=N` in the environment the
//! process aborts (as `kill -9` would stop it: no destructors, no flushing)
//! when it reaches the N-th write point, before doing that write; the crash
//! tests use it to stop a command at every stage of its work.
//! `OXEN_TEST_ABORT_AT_WRITE=count` never aborts, and the CLI prints how many
//! write points the command passed (`oxen: write points: N` on stderr), so a
//! test knows the range to draw N from. Unset, a write point costs one
//! relaxed atomic load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The environment variable that selects the write point to abort at.
pub const ABORT_AT_WRITE_ENV: &str = "OXEN_TEST_ABORT_AT_WRITE";

/// What the environment asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Off,
    Count,
    AbortAt(u64),
}

fn mode() -> Mode {
    static MODE: OnceLock<Mode> = OnceLock::new();
    *MODE.get_or_init(|| match std::env::var(ABORT_AT_WRITE_ENV) {
        Ok(v) if v == "count" => Mode::Count,
        Ok(v) => v.trim().parse().map(Mode::AbortAt).unwrap_or(Mode::Off),
        Err(_) => Mode::Off,
    })
}

static PASSED: AtomicU64 = AtomicU64::new(0);

/// Mark the start of one durable write; aborts the process here when the
/// environment asks for a crash at this point (see the module doc).
pub fn write_point() {
    match mode() {
        Mode::Off => {}
        Mode::Count => {
            PASSED.fetch_add(1, Ordering::Relaxed);
        }
        Mode::AbortAt(n) => {
            if PASSED.fetch_add(1, Ordering::Relaxed) + 1 == n {
                // A crash test makes thousands of these: no core files
                // (they would land in the work tree the test compares).
                let none = rustix::process::Rlimit { current: Some(0), maximum: Some(0) };
                let _ = rustix::process::setrlimit(rustix::process::Resource::Core, none);
                std::process::abort();
            }
        }
    }
}

/// How many write points were passed, when counting was asked for
/// (`OXEN_TEST_ABORT_AT_WRITE=count`); `None` otherwise.
pub fn counted_writes() -> Option<u64> {
    (mode() == Mode::Count).then(|| PASSED.load(Ordering::Relaxed))
}
