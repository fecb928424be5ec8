fn main() {
    oxen_cli::plumbing::receive_pack::main()
}
