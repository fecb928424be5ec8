fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::update_ref::main()
}
