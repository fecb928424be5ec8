fn main() {
    oxen_cli::plumbing::hash_object::main()
}
