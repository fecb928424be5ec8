//! `oxen-fsck`: a one-line main over `oxen_cli::plumbing::fsck` (see `man oxen-fsck`).
fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::fsck::main()
}
