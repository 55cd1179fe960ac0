//! `edge-gateway`: the binary. Everything lives in the library; this only picks the allocator
//! and hands over to the CLI.

// mimalloc measurably lowers Pingora's per-request cost (allocation is ~13-15 % of samples).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(edge_gateway::main());
}
