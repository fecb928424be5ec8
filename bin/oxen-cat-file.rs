//! `oxen-cat-file`: a one-line main over `oxen_cli::plumbing::cat_file` (see `man oxen-cat-file`).
fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::cat_file::main()
}
