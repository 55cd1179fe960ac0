//! `edge-gateway demo`: the whole product on one machine with no files to prepare.
//!
//! Starts simulated origins for two geographies (eu: northeurope, westeurope; na: eastus,
//! westus) on loopback, generates a private CA and a server certificate, writes a real config
//! file into a temporary directory (so the demo goes through the same loading and validation
//! as production), and runs the gateway on it.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use edge_sim::SimHost;

use crate::app::certs::{write_pair, DemoPki};
use crate::app::launch::LaunchOptions;

/// A demo tenant: id, geography, label.
pub const DEMO_TENANTS: &[(&str, &str, &str)] = &[
    ("3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b", "eu", "contoso-eu"),
    ("7d4e2a10-5b3c-4f8e-9d1a-2c3b4a5d6e7f", "eu", "fabrikam-eu"),
    ("9a1c2b3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d", "na", "contoso-na"),
    ("c0ffee00-1234-4abc-8def-0123456789ab", "na", "tailspin-na"),
];

/// Demo regions: (geography, region, priority, origins).
const DEMO_REGIONS: &[(&str, &str, u32, usize)] = &[
    ("eu", "northeurope", 1, 2),
    ("eu", "westeurope", 2, 1),
    ("na", "eastus", 1, 2),
    ("na", "westus", 2, 1),
];

/// Runs the demo until Ctrl-C; returns the exit code.
pub fn run(bind: IpAddr, https_port: u16, http_port: u16, admin_port: u16) -> i32 {
    match run_inner(bind, https_port, http_port, admin_port) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("demo failed: {e}");
            1
        }
    }
}

/// `demo --origins-only`: one simulated origin per demo region on 127.0.0.1, from
/// `base_port` on, in [`DEMO_REGIONS`] order, until Ctrl-C; returns the exit code.
pub fn run_origins(base_port: u16) -> i32 {
    let mut host = match SimHost::new() {
        Ok(host) => host,
        Err(e) => {
            eprintln!("cannot start the simulated origins: {e}");
            return 1;
        }
    };
    for (i, &(geo, region, _, _)) in DEMO_REGIONS.iter().enumerate() {
        let Some(port) = u16::try_from(i).ok().and_then(|i| base_port.checked_add(i)) else {
            eprintln!("--origins-base-port {base_port} leaves no room for the origins");
            return 1;
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if let Err(e) = host.spawn_origin(region, format!("{region}-1"), addr) {
            eprintln!("cannot start origin {region} on {addr}: {e}");
            return 1;
        }
        println!("origin {region} ({geo}) on {addr}");
    }
    println!("simulated origins running (Ctrl-C to stop)");
    let waited = host
        .handle()
        .block_on(async { tokio::signal::ctrl_c().await });
    match waited {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("cannot wait for Ctrl-C: {e}");
            1
        }
    }
}

fn run_inner(bind: IpAddr, https_port: u16, http_port: u16, admin_port: u16) -> Result<(), String> {
    let dir = tempfile::Builder::new()
        .prefix("edge-gateway-demo-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let specs: Vec<(String, String)> = DEMO_REGIONS
        .iter()
        .flat_map(|&(_, region, _, n)| {
            (1..=n).map(move |i| (region.to_string(), format!("{region}-{i}")))
        })
        .collect();
    let spec_refs: Vec<(&str, &str)> = specs
        .iter()
        .map(|(r, n)| (r.as_str(), n.as_str()))
        .collect();
    let origins =
        SimHost::start(&spec_refs).map_err(|e| format!("cannot start simulated origins: {e}"))?;
    let addrs: Vec<(String, SocketAddr)> = origins
        .addrs()
        .into_iter()
        .map(|(region, _, addr)| (region, addr))
        .collect();

    let pki = DemoPki::generate().map_err(|e| format!("cannot generate a CA: {e}"))?;
    let leaf = pki
        .leaf(&["localhost", "*.app.localhost", "127.0.0.1"])
        .map_err(|e| format!("cannot generate a certificate: {e}"))?;
    write_pair(dir.path(), "edge", &leaf).map_err(|e| format!("cannot write certificate: {e}"))?;
    let ca_path = dir.path().join("demo-ca.pem");
    std::fs::write(&ca_path, pki.ca_pem()).map_err(|e| format!("cannot write CA: {e}"))?;

    let https = SocketAddr::new(bind, https_port);
    let http = SocketAddr::new(bind, http_port);
    let admin = SocketAddr::new(IpAddr::from([127, 0, 0, 1]), admin_port);
    // A fresh random admin token for this run, in a file only the owner can read.
    let token = format!("demo-{}", uuid::Uuid::new_v4().simple());
    let token_path = dir.path().join("admin.token");
    crate::app::certs::write_private(&token_path, format!("demo:{token}\n").as_bytes())
        .map_err(|e| format!("cannot write the admin token: {e}"))?;
    let config_text = demo_config(https, http, admin, &addrs);
    let db = edge_geo::testdata::demo_db()
        .map_err(|e| format!("cannot generate the demo location database: {e}"))?;
    std::fs::write(dir.path().join("geo.mmdb"), db)
        .map_err(|e| format!("cannot write the location database: {e}"))?;
    let config_path = dir.path().join("edge.toml");
    std::fs::write(&config_path, &config_text).map_err(|e| format!("cannot write config: {e}"))?;
    let config = edge_config::load(&config_path)
        .map_err(|e| format!("demo config is invalid (a bug):\n{e}"))?;

    print_banner(&config_path, &ca_path, &token_path, https, http, admin);
    let dir_path = dir.path().to_path_buf();
    let cleanup = Box::new(move || {
        let _ = std::fs::remove_dir_all(&dir_path);
        println!("edge-gateway demo stopped");
    });
    crate::app::launch::serve(
        config,
        Some((&config_path, &config_text)),
        &LaunchOptions::default(),
        cleanup,
    )
    .map_err(|e| e.to_string())?;
    drop(origins);
    drop(dir);
    Ok(())
}

/// The demo's configuration file: a real TOML config, like an operator would write.
/// `origins` are (region, address) pairs.
pub fn demo_config(
    https: SocketAddr,
    http: SocketAddr,
    admin: SocketAddr,
    origins: &[(String, SocketAddr)],
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Generated by `edge-gateway demo`.\n\
         [server]\nthreads = 1\ngrace_period = \"1s\"\n\n\
         [listeners]\nhttps = [\"{https}\"]\nhttp = [\"{http}\"]\nadmin = \"{admin}\"\n\n\
         [admin]\ntoken_file = \"admin.token\"\nstate_file = \"overrides.json\"\n\n\
         [tls]\nhsts_max_age = \"365d\"\n\
         [[tls.certificates]]\ncert = \"edge.pem\"\nkey = \"edge.key\"\n\n\
         [tenancy]\nsources = [\n  {{ kind = \"host\", pattern = \"{{tenant}}.app.localhost\" }},\n  \
         {{ kind = \"header\", name = \"x-tenant-id\" }},\n  \
         {{ kind = \"path\", prefix = \"/t/{{tenant}}\" }},\n  \
         {{ kind = \"jwt-claim\", claim = \"tid\" }},\n]\n\
         # No tenant: route by where the client is (geo.mmdb maps 127.0.1.x to DE, 127.0.3.x to US).\n\
         unknown = \"nearest\"\ndefault_geography = \"eu\"\n\n\
         [geo]\ndatabase = \"geo.mmdb\"\n"
    );
    for (id, geo, _) in DEMO_TENANTS {
        let _ = writeln!(s, "[[tenants]]\nid = \"{id}\"\ngeography = \"{geo}\"\n");
    }
    let _ = writeln!(
        s,
        "[[geographies]]\nname = \"eu\"\ncountries = [\"DE\", \"FR\"]\ncontinents = [\"EU\"]\n\n\
         [[geographies]]\nname = \"na\"\ncountries = [\"US\", \"CA\"]\ncontinents = [\"NA\"]\n"
    );
    for &(geo, region, priority, _) in DEMO_REGIONS {
        let list: Vec<String> = origins
            .iter()
            .filter(|(r, _)| r == region)
            .map(|(_, a)| format!("{{ address = \"{a}\" }}"))
            .collect();
        let _ = writeln!(
            s,
            "[[regions]]\nname = \"{region}\"\ngeography = \"{geo}\"\npriority = {priority}\n\
             weight = 100\norigins = [{}]\n",
            list.join(", ")
        );
    }
    let _ = writeln!(
        s,
        "[health]\npath = \"/healthz\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n"
    );
    s
}

fn print_banner(
    config: &Path,
    ca: &Path,
    token: &Path,
    https: SocketAddr,
    http: SocketAddr,
    admin: SocketAddr,
) {
    let ca = ca.display();
    let token = token.display();
    let config = config.display();
    let port = https.port();
    let (eu, _, eu_name) = DEMO_TENANTS[0];
    let (na, _, na_name) = DEMO_TENANTS[2];
    // The binary that is running, so the lines work as printed whether or not `edge-gateway`
    // is on PATH (under `cargo xtask demo` it is in target/debug).
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "edge-gateway".to_string());
    println!(
        "\nedge-gateway demo is running (Ctrl-C to stop)\n\
         \n  HTTPS  https://localhost:{port}   (TLS 1.2/1.3, h2 + http/1.1)\
         \n  HTTP   http://{http}   (redirects to HTTPS)\
         \n  config {config}\
         \n\nGeographies: eu = northeurope (primary), westeurope (secondary);\
         \n             na = eastus (primary), westus (secondary)\
         \n\nTry (each answer says which region served it, in x-edge-region and the JSON body):\n\
         \n  # {eu_name}: an EU tenant by header -> northeurope\
         \n  curl -s --cacert {ca} -H 'x-tenant-id: {eu}' https://localhost:{port}/hello -i\
         \n\n  # {na_name}: an NA tenant by host name (*.localhost resolves to loopback) -> eastus\
         \n  curl -s --cacert {ca} https://{na}.app.localhost:{port}/hello -i\
         \n\n  # the same NA tenant by path prefix, over HTTP/2\
         \n  curl -s --http2 --cacert {ca} https://localhost:{port}/t/{na}/orders -i\
         \n\n  # an unknown tenant: 404 problem+json, no origin contacted\
         \n  curl -s --cacert {ca} -H 'x-tenant-id: 00000000-0000-4000-8000-000000000000' https://localhost:{port}/ -i\
         \n\n  # no tenant at all: routed by the client's location (source address 127.0.3.5 = \"US\")\
         \n  curl -s --cacert {ca} --interface 127.0.3.5 https://localhost:{port}/signin -i\
         \n\n  # plaintext is redirected (308) to HTTPS\
         \n  curl -s -i http://{http}/hello\
         \n\nOperate it (admin API on http://{admin}, token in {token}):\
         \n  {exe} ctl --admin http://{admin} --token-file {token} regions\
         \n  {exe} ctl --admin http://{admin} --token-file {token} drain northeurope\
         \n  {exe} ctl --admin http://{admin} --token-file {token} route {eu}\
         \n  curl -s http://{admin}/readyz\
         \n\nOps console: http://{admin}/console/ (paste the token after `demo:` in {token})\n"
    );
}
