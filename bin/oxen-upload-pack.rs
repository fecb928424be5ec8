fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::upload_pack::main()
}
