//! `oxen-ls-files`: a one-line main over `oxen_cli::plumbing::ls_files` (see `man oxen-ls-files`).
fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::ls_files::main()
}
