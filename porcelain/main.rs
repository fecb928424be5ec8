fn main() {
    oxen_cli::porcelain::main()
}
