//! `oxen-rev-parse`: a one-line main over `oxen_cli::plumbing::rev_parse` (see `man oxen-rev-parse`).
fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::rev_parse::main()
}
