fn main() {
    oxen_cli::plumbing::ls_tree::main()
}
