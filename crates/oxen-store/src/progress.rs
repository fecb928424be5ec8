//! Progress reporting for long operations (staging, checkout, packing),
//! passed per call as `&dyn Progress`: the library counts, the caller
//! decides whether and how to show it (the CLI draws bars on a terminal
//! only). It lives in this low crate so that every layer above can take
//! the same trait.

/// Receives counts while an operation runs. Implementations must be cheap
/// and thread-safe: staging and checkout report from worker threads.
pub trait Progress: Sync {
    /// The amount of work (files or objects), once known.
    fn start(&self, _total: u64) {}
    /// Units done so far, and bytes moved so far (0 when bytes are not counted).
    fn update(&self, _done: u64, _bytes: u64) {}
}

/// A [`Progress`] that ignores everything, for callers with nothing to show.
pub struct NoProgress;

impl Progress for NoProgress {}
