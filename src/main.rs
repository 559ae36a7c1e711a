fn main() {
    std::process::exit(smv::cli::main());
}
