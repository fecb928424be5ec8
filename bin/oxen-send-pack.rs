fn main() {
    oxen_cli::plumbing::send_pack::main()
}
