fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::cat_file::main()
}
