//! `oxen-server`: a one-line main over `oxen_cli::plumbing::server` (see `man oxen-server`).
fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::server::main()
}
