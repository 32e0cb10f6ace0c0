fn main() {
    std::process::exit(jitsi_conformance::cli::main());
}
