fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::ls_files::main()
}
