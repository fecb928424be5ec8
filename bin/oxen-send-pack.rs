//! `oxen-send-pack`: a one-line main over `oxen_cli::plumbing::send_pack` (see `man oxen-send-pack`).
fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::send_pack::main()
}
