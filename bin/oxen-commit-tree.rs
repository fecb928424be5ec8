fn main() {
    oxen_cli::plumbing::commit_tree::main()
}
