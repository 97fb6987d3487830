//! The `scfs` binary: see `scfs --help`.

fn main() {
    std::process::exit(scfs::cli::main());
}
