//! Progress bars for long work, shown only on a terminal: piped output and
//! scripts see nothing.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Below this many items a bar would only flicker.
const MIN_ITEMS: u64 = 2000;

/// A background thread that mirrors a counter into a progress bar.
pub struct Progress {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Progress {
    /// Watch `done` out of `total` (which may become known later) with a
    /// label. Does nothing unless stderr is a terminal and `OXEN_NO_PROGRESS`
    /// is unset.
    pub fn start(label: &'static str, done: Arc<AtomicU64>, total: Arc<AtomicU64>) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let enabled = std::io::stderr().is_terminal() && std::env::var_os("OXEN_NO_PROGRESS").is_none();
        let handle = if enabled {
            let stop2 = stop.clone();
            Some(std::thread::spawn(move || {
                let mut bar: Option<indicatif::ProgressBar> = None;
                while !stop2.load(Ordering::Relaxed) {
                    let t = total.load(Ordering::Relaxed);
                    if bar.is_none() && t >= MIN_ITEMS {
                        let b = indicatif::ProgressBar::new(t);
                        b.set_style(
                            indicatif::ProgressStyle::with_template(
                                "{msg} [{bar:40}] {pos}/{len} files ({per_sec}, {eta})",
                            )
                            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                            .progress_chars("=> "),
                        );
                        b.set_message(label);
                        bar = Some(b);
                    }
                    if let Some(b) = &bar {
                        b.set_length(t.max(1));
                        b.set_position(done.load(Ordering::Relaxed));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                if let Some(b) = bar {
                    b.set_position(done.load(Ordering::Relaxed));
                    b.finish_and_clear();
                }
            }))
        } else {
            None
        };
        Progress { stop, handle }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
