fn main() {
    oxen_cli::plumbing::update_ref::main()
}
