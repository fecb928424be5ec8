//! `oxen-hash-object`: a one-line main over `oxen_cli::plumbing::hash_object` (see `man oxen-hash-object`).
fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::hash_object::main()
}
