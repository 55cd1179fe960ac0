//! A bare Pingora pass-through: every request goes to one fixed upstream, with nothing else
//! on the request path. It is the baseline `edge-loadtest compare` measures the gateway
//! against: same build profile (fat LTO, mimalloc), same server settings (`work_stealing =
//! false`, a 1,024-connection upstream pool, prebuilt peer, same peer timeouts).
//!
//! ```sh
//! cargo build --release -p edge-gateway --example bare_passthrough
//! target/release/examples/bare_passthrough --upstream 127.0.0.1:9000 --listen 127.0.0.1:8080 \
//!     --tls-listen 127.0.0.1:8443 --cert server.pem --key server.key --threads 1
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use clap::Parser;
use pingora::listeners::tls::TlsSettings;
use pingora::prelude::*;
use pingora::server::configuration::{Opt, ServerConf};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The gateway's pool size (gateway/src/server.rs).
const UPSTREAM_POOL_SIZE: usize = 1024;

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "A bare Pingora pass-through to one upstream (benchmark baseline)")]
struct Args {
    /// The upstream, `ip:port` (plain HTTP).
    #[arg(long)]
    upstream: SocketAddr,
    /// Plain HTTP listener.
    #[arg(long)]
    listen: Option<String>,
    /// TLS listener (needs --cert and --key); offers h2 and HTTP/1.1.
    #[arg(long)]
    tls_listen: Option<String>,
    /// PEM certificate chain for the TLS listener.
    #[arg(long)]
    cert: Option<String>,
    /// PEM private key for the TLS listener.
    #[arg(long)]
    key: Option<String>,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// The proxy: one prebuilt peer, cloned per request.
struct Bare {
    peer: HttpPeer,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) -> Self::CTX {}

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut Self::CTX,
    ) -> Result<Box<HttpPeer>> {
        Ok(Box::new(self.peer.clone()))
    }
}

fn main() {
    std::process::exit(match run(Args::parse()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("bare_passthrough: {e}");
            1
        }
    });
}

fn run(args: Args) -> std::result::Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if args.listen.is_none() && args.tls_listen.is_none() {
        return Err("give --listen and/or --tls-listen".to_owned());
    }
    let conf = ServerConf {
        threads: args.threads.max(1),
        work_stealing: false,
        upstream_keepalive_pool_size: UPSTREAM_POOL_SIZE,
        // As the benchmarked gateway (`grace_period = "1s"`): SIGTERM stops within seconds,
        // not Pingora's default 5 minutes, so a run under valgrind ends and writes its
        // profile (`edge-loadtest profile`).
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(Opt::default(), conf);
    server.bootstrap();

    // The gateway's defaults for routing.connect_timeout / read / write / idle timeouts.
    let mut peer = HttpPeer::new(args.upstream, false, String::new());
    peer.options.connection_timeout = Some(Duration::from_secs(1));
    peer.options.total_connection_timeout = Some(Duration::from_secs(1));
    peer.options.read_timeout = Some(Duration::from_secs(30));
    peer.options.write_timeout = Some(Duration::from_secs(30));
    peer.options.idle_timeout = Some(Duration::from_secs(55));

    let mut proxy = pingora::proxy::http_proxy_service_with_name(
        &server.configuration,
        Bare { peer },
        "bare-passthrough",
    );
    if let Some(addr) = &args.listen {
        proxy.add_tcp(addr);
    }
    if let Some(addr) = &args.tls_listen {
        let (Some(cert), Some(key)) = (&args.cert, &args.key) else {
            return Err("--tls-listen needs --cert and --key".to_owned());
        };
        let mut tls =
            TlsSettings::intermediate(cert, key).map_err(|e| format!("TLS settings: {e}"))?;
        tls.enable_h2();
        proxy.add_tls_with_settings(addr, None, tls);
    }
    server.add_service(proxy);
    server.run_forever()
}
