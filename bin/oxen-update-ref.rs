//! `oxen-update-ref`: a one-line main over `oxen_cli::plumbing::update_ref` (see `man oxen-update-ref`).
fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::update_ref::main()
}
