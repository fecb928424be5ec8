fn main() {
    oxen_cli::plumbing::update_index::main()
}
