fn main() -> std::process::ExitCode {
    oxen_cli::porcelain::main()
}
