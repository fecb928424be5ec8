fn main() {
    oxen_cli::plumbing::server::main()
}
