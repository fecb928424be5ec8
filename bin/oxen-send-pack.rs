fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::send_pack::main()
}
