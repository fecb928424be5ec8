//! Progress bars for long work, shown only on a terminal: piped output and
//! scripts see nothing.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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

/// `1.5 MiB`
pub fn human_bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

/// Object/byte progress for packs, drawn only when stderr is a terminal
/// (and `OXEN_NO_PROGRESS` is unset), so scripts and logs stay clean.
pub struct PackBar {
    label: &'static str,
    enabled: bool,
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl PackBar {
    /// A bar that appears when a pack starts.
    pub fn new(label: &'static str) -> PackBar {
        let enabled = std::io::stderr().is_terminal() && std::env::var_os("OXEN_NO_PROGRESS").is_none();
        PackBar { label, enabled, bar: Mutex::new(None) }
    }

    /// Remove the bar.
    pub fn finish(&self) {
        if let Ok(mut b) = self.bar.lock() {
            if let Some(b) = b.take() {
                b.finish_and_clear();
            }
        }
    }
}

impl oxen_pack::Progress for PackBar {
    fn start(&self, objects: u64) {
        if !self.enabled {
            return;
        }
        let b = indicatif::ProgressBar::new(objects);
        b.set_style(
            indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} objects, {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b.set_prefix(self.label);
        if let Ok(mut slot) = self.bar.lock() {
            *slot = Some(b);
        }
    }

    fn update(&self, objects: u64, bytes: u64) {
        if let Ok(slot) = self.bar.lock() {
            if let Some(b) = slot.as_ref() {
                b.set_position(objects);
                b.set_message(human_bytes(bytes));
            }
        }
    }
}
