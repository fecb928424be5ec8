fn main() {
    oxen_cli::plumbing::fsck::main()
}
