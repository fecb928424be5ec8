//! `oxen`: a one-line main over `oxen_cli::porcelain` (see `man oxen`).
fn main() -> std::process::ExitCode {
    oxen_cli::porcelain::main()
}
