fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::rev_parse::main()
}
