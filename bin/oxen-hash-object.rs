fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::hash_object::main()
}
