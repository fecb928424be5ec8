//! `oxen-write-tree`: a one-line main over `oxen_cli::plumbing::write_tree` (see `man oxen-write-tree`).
fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::write_tree::main()
}
