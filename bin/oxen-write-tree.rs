fn main() {
    oxen_cli::plumbing::write_tree::main()
}
