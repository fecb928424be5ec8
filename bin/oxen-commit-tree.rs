fn main() -> std::process::ExitCode {
    oxen_cli::plumbing::commit_tree::main()
}
