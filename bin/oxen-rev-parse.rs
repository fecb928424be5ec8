fn main() {
    oxen_cli::plumbing::rev_parse::main()
}
