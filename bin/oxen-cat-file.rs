fn main() {
    oxen_cli::plumbing::cat_file::main()
}
