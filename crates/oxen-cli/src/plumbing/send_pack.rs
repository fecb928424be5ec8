//! `oxen-send-pack`: push refs to a remote, sending only missing objects.

use std::io::IsTerminal;
use std::sync::Mutex;

use clap::Parser;
use oxen_remote::{PushOutcome, PushReport, Remote};

use crate::CliResult;

/// Push refs to a remote: learn the remote's tips, walk the local history
/// down to them (skipping subtrees the remote already has by id), ask the
/// remote which of the remaining objects it lacks, stream exactly those as
/// one pack, then update the remote refs with compare-and-swap. REMOTE is a
/// configured remote name, an http://host:port/<RepoName> URL or the path
/// of another repository. Prints one line per ref: `<old>..<new> <ref>`,
/// `new <id> <ref>` or `up-to-date <ref>`.
#[derive(Parser, Debug)]
#[command(name = "oxen-send-pack", version)]
pub struct Args {
    /// Overwrite remote refs even when that loses commits.
    #[arg(short, long)]
    pub force: bool,
    /// Remote name, URL or repository path.
    pub remote: String,
    /// Refs to push: branch names, heads/<b> or tags/<t>.
    #[arg(required = true)]
    pub refs: Vec<String>,
}

/// Entry point.
pub fn main() -> ! {
    crate::exit_with(run(Args::parse()))
}

/// Run with parsed arguments.
pub fn run(args: Args) -> CliResult {
    let repo = super::repo()?;
    let (name, url) = oxen_remote::resolve_remote(&repo, &args.remote)?;
    let remote = Remote::open(&url)?;
    let bar = PackBar::new("Sending");
    let report = oxen_remote::push(&repo, &remote, name.as_deref(), &args.refs, args.force, &bar)?;
    bar.finish();
    print_push(&report);
    Ok(())
}

/// Print a push report, one line per ref.
pub(crate) fn print_push(report: &PushReport) {
    for c in &report.changes {
        let new = c.new.map(|i| i.to_hex()).unwrap_or_default();
        let short_new = c.new.map(|i| i.short()).unwrap_or_default();
        match (c.outcome, c.old) {
            (PushOutcome::UpToDate, _) => println!("up-to-date {}", c.name),
            (PushOutcome::Created, _) | (_, None) => println!("new {new} {}", c.name),
            (PushOutcome::Forced, Some(o)) => {
                println!("{}...{} {} (forced)", o.short(), short_new, c.name)
            }
            (_, Some(o)) => println!("{}..{} {}", o.short(), short_new, c.name),
        }
    }
    if report.objects > 0 {
        eprintln!("sent {} objects, {}", report.objects, human_bytes(report.bytes));
    }
}

/// `1.5 MiB`
pub(crate) fn human_bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

/// Object/byte progress for packs, drawn only when stderr is a terminal
/// (and `OXEN_NO_PROGRESS` is unset), so scripts and logs stay clean.
pub(crate) struct PackBar {
    label: &'static str,
    enabled: bool,
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl PackBar {
    /// A bar that appears when a pack starts.
    pub(crate) fn new(label: &'static str) -> PackBar {
        let enabled = std::io::stderr().is_terminal() && std::env::var_os("OXEN_NO_PROGRESS").is_none();
        PackBar { label, enabled, bar: Mutex::new(None) }
    }

    /// Remove the bar.
    pub(crate) fn finish(&self) {
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
