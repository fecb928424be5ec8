fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::fsck::main()
}
