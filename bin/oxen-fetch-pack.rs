fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::fetch_pack::main()
}
