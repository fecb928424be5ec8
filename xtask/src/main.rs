//! Developer tasks. `cargo run -p xtask -- man` regenerates `man/*.1` from
//! the clap definitions (the `man_pages` test fails when they are stale).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

fn render(cmd: clap::Command) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut buf)?;
    Ok(buf)
}

fn main() -> ExitCode {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr();
    let task = std::env::args().nth(1).unwrap_or_default();
    if task != "man" {
        let _ = writeln!(err, "usage: cargo run -p xtask -- man");
        return ExitCode::from(2);
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("man");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        let _ = writeln!(err, "error: {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for cmd in oxen_cli::all_commands() {
        let name = cmd.get_name().to_string();
        let path = dir.join(format!("{name}.1"));
        match render(cmd).and_then(|b| std::fs::write(&path, b)) {
            Ok(()) => {
                let _ = writeln!(out, "wrote {}", path.display());
            }
            Err(e) => {
                let _ = writeln!(err, "error: {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
