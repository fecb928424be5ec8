//! `oxen-ls-tree`: a one-line main over `oxen_cli::plumbing::ls_tree` (see `man oxen-ls-tree`).
fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::ls_tree::main()
}
