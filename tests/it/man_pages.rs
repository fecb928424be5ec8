//! Every binary and `oxen` subcommand has a man page in `man/`, and it is
//! what the current clap definitions render. Regenerate with
//! `cargo run -p xtask -- man`.

#[test]
fn man_pages_are_fresh() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let mut stale = Vec::new();
    for cmd in oxen_cli::all_commands() {
        let name = cmd.get_name().to_string();
        let mut want = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut want).expect("render");
        let have = std::fs::read(dir.join(format!("{name}.1"))).unwrap_or_default();
        if have != want {
            stale.push(name);
        }
    }
    assert!(stale.is_empty(), "stale or missing man pages (run `cargo run -p xtask -- man`): {stale:?}");
}

#[test]
fn every_binary_has_a_definition() {
    let names: Vec<String> = oxen_cli::all_commands().iter().map(|c| c.get_name().to_string()).collect();
    let manifest =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    for line in manifest.lines() {
        if let Some(rest) = line.strip_prefix("name = \"oxen") {
            let bin = format!("oxen{}", rest.trim_end_matches('"'));
            if bin != "oxen" && !bin.starts_with("oxen-") {
                continue;
            }
            if manifest.contains(&format!("path = \"bin/{bin}.rs\"")) || bin == "oxen" {
                assert!(names.contains(&bin), "{bin} has no clap definition in oxen-cli");
            }
        }
    }
}
