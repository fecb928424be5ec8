fn main() {
    oxen_cli::plumbing::upload_pack::main()
}
