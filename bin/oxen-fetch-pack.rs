//! `oxen-fetch-pack`: a one-line main over `oxen_cli::plumbing::fetch_pack` (see `man oxen-fetch-pack`).
fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::fetch_pack::main()
}
