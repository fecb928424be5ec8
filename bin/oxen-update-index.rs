//! `oxen-update-index`: a one-line main over `oxen_cli::plumbing::update_index` (see `man oxen-update-index`).
fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::update_index::main()
}
