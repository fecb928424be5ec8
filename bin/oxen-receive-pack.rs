//! `oxen-receive-pack`: a one-line main over `oxen_cli::plumbing::receive_pack` (see `man oxen-receive-pack`).
fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::receive_pack::main()
}
