//! `oxen-upload-pack`: a one-line main over `oxen_cli::plumbing::upload_pack` (see `man oxen-upload-pack`).
fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::upload_pack::main()
}
