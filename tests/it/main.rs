//! The integration tests, as one test binary so that `cargo test` links
//! the test harness once (each file under `tests/` would otherwise be its
//! own binary). The tests drive the real `oxen` and plumbing binaries in
//! temp directories; the sync tests add a real `oxen-server` on a loopback
//! port.
//!
//! Run one area with a filter, e.g. `cargo test --test it sync::`. The
//! 1 GiB push/clone test is `#[ignore]`d: `cargo test --test it sync_large
//! -- --ignored`.

#![forbid(unsafe_code)]
// Measurements (peak RSS, timings) are reported on stderr on purpose.
#![allow(clippy::print_stderr)]

mod common;
mod procs;
mod sync_support;

mod access;
mod crash;
mod crash_sync;
mod damaged_repo;
mod diff_stream;
mod edge;
mod fsmonitor;
mod gc;
mod history;
mod large_file;
mod man_pages;
mod memory;
mod merging;
mod migrate;
mod partial;
mod paths;
mod plumbing;
mod porcelain;
mod postgres_meta;
mod receive_props;
mod reflog_expire;
mod restore_stream;
mod s3_storage;
mod scaleout;
mod server_attack;
mod server_fuzz;
mod shallow;
mod stat_cache;
mod status_vs_git;
mod store_edges;
mod sync;
mod sync_chunks;
mod sync_large;
mod tables;
mod tags_prune;
mod verified_reads;
mod worktree_safety;
