fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::receive_pack::main()
}
