fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::write_tree::main()
}
