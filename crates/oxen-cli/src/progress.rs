//! Progress bars for long work, shown only on a terminal: piped output and
//! scripts see nothing. [`Bar`] implements the library's
//! [`oxen_store::Progress`], which staging, checkout and packing report to.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
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
/// when the operation announces its total, or, for files when no total is
/// announced (a streamed checkout of a whole tree does not count its files
/// first), as a counter once the work passes [`MIN_FILES`]; it is cleared
/// on drop.
pub struct Bar {
    label: &'static str,
    unit: Unit,
    enabled: bool,
    /// A total was announced: its bar (or its choice of none) stands.
    announced: AtomicBool,
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

/// What to draw for `done` units when no bar is drawn yet: a counter, for
/// file work with no announced total, once it is big enough to be worth
/// it.
fn wants_counter(unit: Unit, announced: bool, done: u64) -> bool {
    unit == Unit::Files && !announced && done >= MIN_FILES
}

fn terminal() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("OXEN_NO_PROGRESS").is_none()
}

impl Bar {
    /// A bar counting files (`Adding`, `Checking out`).
    pub fn files(label: &'static str) -> Bar {
        Bar { label, unit: Unit::Files, enabled: terminal(), announced: AtomicBool::new(false), bar: Mutex::new(None) }
    }

    /// A bar counting pack objects and bytes (`Sending`, `Receiving`).
    pub fn objects(label: &'static str) -> Bar {
        Bar {
            label,
            unit: Unit::Objects,
            enabled: terminal(),
            announced: AtomicBool::new(false),
            bar: Mutex::new(None),
        }
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
        self.announced.store(true, Ordering::Relaxed);
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
        if let Ok(mut slot) = self.bar.lock() {
            if slot.is_none() && self.enabled && wants_counter(self.unit, self.announced.load(Ordering::Relaxed), done)
            {
                let b = indicatif::ProgressBar::new_spinner();
                b.set_position(done);
                b.set_style(
                    indicatif::ProgressStyle::with_template("{msg} {pos} files ({per_sec})")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                );
                b.set_message(self.label);
                *slot = Some(b);
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_stands_in_for_a_bar_only_for_big_file_work_with_no_total() {
        // A streamed checkout of a whole tree announces no total.
        assert!(wants_counter(Unit::Files, false, MIN_FILES));
        assert!(!wants_counter(Unit::Files, false, MIN_FILES - 1));
        // An announced total decided already (a bar, or none when small).
        assert!(!wants_counter(Unit::Files, true, 10 * MIN_FILES));
        // Packs always announce their object count.
        assert!(!wants_counter(Unit::Objects, false, 10 * MIN_FILES));
    }
}
