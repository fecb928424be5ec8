//! Developer tasks. `cargo run -p xtask -- man` regenerates `man/*.1` from
//! the clap definitions (the `man_pages` test fails when they are stale).

use std::path::PathBuf;

fn render(cmd: clap::Command) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut buf)?;
    Ok(buf)
}

fn main() {
    let task = std::env::args().nth(1).unwrap_or_default();
    if task != "man" {
        eprintln!("usage: cargo run -p xtask -- man");
        std::process::exit(2);
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("man");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("error: {}: {e}", dir.display());
        std::process::exit(1);
    }
    for cmd in oxen_cli::all_commands() {
        let name = cmd.get_name().to_string();
        let path = dir.join(format!("{name}.1"));
        match render(cmd).and_then(|b| std::fs::write(&path, b)) {
            Ok(()) => println!("wrote {}", path.display()),
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                std::process::exit(1);
            }
        }
    }
}
