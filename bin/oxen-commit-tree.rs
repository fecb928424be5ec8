//! `oxen-commit-tree`: a one-line main over `oxen_cli::plumbing::commit_tree` (see `man oxen-commit-tree`).
fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::commit_tree::main()
}
