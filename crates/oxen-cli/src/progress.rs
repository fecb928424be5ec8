//! Progress bars for long work, shown only on a terminal: piped output and
//! scripts see nothing. [`Bar`] implements the library's
//! [`oxen_store::Progress`], which staging, checkout and packing report to.

use std::io::IsTerminal;
use std::sync::Mutex;

use oxen_store::Progress;

/// Below this many files a bar would only flicker.
const MIN_FILES: u64 = 2000;

/// What a bar counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    /// Work-tree files (add, checkout): shown only for big jobs.
    Files,
    /// Pack objects, with bytes moved (push, fetch, clone).
    Objects,
}

/// A progress bar on stderr, drawn only when stderr is a terminal and
/// `OXEN_NO_PROGRESS` is unset, so scripts and logs stay clean. It appears
/// when the operation announces its total and is cleared on drop.
pub struct Bar {
    label: &'static str,
    unit: Unit,
    enabled: bool,
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

fn terminal() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("OXEN_NO_PROGRESS").is_none()
}

impl Bar {
    /// A bar counting files (`Adding`, `Checking out`).
    pub fn files(label: &'static str) -> Bar {
        Bar { label, unit: Unit::Files, enabled: terminal(), bar: Mutex::new(None) }
    }

    /// A bar counting pack objects and bytes (`Sending`, `Receiving`).
    pub fn objects(label: &'static str) -> Bar {
        Bar { label, unit: Unit::Objects, enabled: terminal(), bar: Mutex::new(None) }
    }

    /// Remove the bar (before printing a summary below it).
    pub fn finish(&self) {
        if let Ok(mut b) = self.bar.lock() {
            if let Some(b) = b.take() {
                b.finish_and_clear();
            }
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        if !self.enabled || (self.unit == Unit::Files && total < MIN_FILES) {
            return;
        }
        let template = match self.unit {
            Unit::Files => "{msg} [{bar:40}] {pos}/{len} files ({per_sec}, {eta})",
            Unit::Objects => "{prefix} [{bar:30}] {pos}/{len} objects, {msg}",
        };
        let b = indicatif::ProgressBar::new(total.max(1));
        b.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        match self.unit {
            Unit::Files => b.set_message(self.label),
            Unit::Objects => b.set_prefix(self.label),
        }
        if let Ok(mut slot) = self.bar.lock() {
            if let Some(old) = slot.replace(b) {
                old.finish_and_clear();
            }
        }
    }

    fn update(&self, done: u64, bytes: u64) {
        if let Ok(slot) = self.bar.lock() {
            if let Some(b) = slot.as_ref() {
                b.set_position(done);
                if self.unit == Unit::Objects {
                    b.set_message(human_bytes(bytes));
                }
            }
        }
    }
}

/// `1.5 MiB`
pub fn human_bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}
