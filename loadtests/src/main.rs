//! `edge-loadtest`: see the library's documentation and `edge-loadtest --help`.

fn main() {
    std::process::exit(edge_loadtest::cli::main());
}
