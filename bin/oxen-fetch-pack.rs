fn main() {
    oxen_cli::plumbing::fetch_pack::main()
}
