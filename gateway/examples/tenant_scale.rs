//! Measures what a large tenant directory costs: load (parse + validate + index), snapshot
//! build, and resident memory, for 10k, 100k and 1M tenants.
//!
//! `cargo run --release -p edge-gateway --example tenant_scale`

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use edge_gateway::Snapshot;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/examples");
    let base = std::fs::read_to_string(examples.join("minimal.toml"))?;
    std::fs::create_dir_all(dir.path().join("certs"))?;
    for f in ["edge.pem", "edge.key"] {
        std::fs::copy(
            examples.join("certs").join(f),
            dir.path().join("certs").join(f),
        )?;
    }
    let config_text = base.replace(
        "sources = [{ kind = \"header\", name = \"x-tenant-id\" }]",
        "sources = [{ kind = \"header\", name = \"x-tenant-id\" }]\nfile = \"tenants.csv\"",
    );
    let config_path = dir.path().join("edge.toml");
    std::fs::write(&config_path, config_text)?;
    println!("| tenants | load (parse + validate + index) | snapshot build | RSS growth | bytes/tenant |");
    println!("|---:|---:|---:|---:|---:|");
    for n in [10_000usize, 100_000, 1_000_000] {
        let mut csv = String::with_capacity(n * 40 + 16);
        csv.push_str("id,geography\n");
        for i in 0..n {
            let id = uuid::Uuid::from_u128(0x7000_0000_0000_4000_8000_0000_0000_0000 + i as u128);
            let _ = writeln!(csv, "{id},eu");
        }
        std::fs::write(dir.path().join("tenants.csv"), &csv)?;
        drop(csv);
        let rss0 = rss_bytes();
        let t0 = Instant::now();
        let config = edge_config::load(&config_path).map_err(|e| e.to_string())?;
        let load = t0.elapsed();
        let t1 = Instant::now();
        let snapshot = Snapshot::build(Arc::new(config), 1);
        let build = t1.elapsed();
        let grew = rss_bytes().saturating_sub(rss0);
        println!(
            "| {n} | {:.1} ms | {:.2} ms | {:.1} MiB | {} |",
            load.as_secs_f64() * 1e3,
            build.as_secs_f64() * 1e3,
            grew as f64 / (1024.0 * 1024.0),
            grew / n as u64
        );
        drop(snapshot);
    }
    Ok(())
}
