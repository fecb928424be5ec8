fn main() {
    oxen_cli::plumbing::ls_files::main()
}
