//! The background service that probes every peer edge address of the *current* `[edge]`
//! section (the state it feeds is `edge::peers`).
//!
//! A probe is a TCP connect to the peer's TLS listener within `edge.peer_health.timeout`,
//! followed by a PROXY v2 `LOCAL` header and a close, so that the peer counts it as its own
//! peer's connection and not as a failed handshake. It says that the peer process is up and
//! accepting; it does not say that the peer's origins are healthy (the peer answers 503 for
//! that itself, inside its geography). Every round re-reads the configuration, so a reload
//! adds and drops peers without a restart.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use edge_config::Edge;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::edge::peers::PeerHealth;
use crate::edge::proxy_protocol;
use crate::metrics::Metrics;
use crate::state::GatewayState;

/// How long the service sleeps when `[edge]` is absent before looking again (a reload may add
/// it).
const IDLE: Duration = Duration::from_secs(1);

/// The peer edge prober.
pub struct PeerProber {
    state: Arc<GatewayState>,
}

impl PeerProber {
    /// A prober for the `[edge]` sections of `state`'s generations.
    pub fn new(state: Arc<GatewayState>) -> Self {
        PeerProber { state }
    }
}

/// One probe: connect within `timeout`, say `LOCAL`, close.
async fn probe(addr: SocketAddr, timeout: Duration) -> bool {
    let attempt = async {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(&proxy_protocol::local_header()).await?;
        s.shutdown().await
    };
    matches!(tokio::time::timeout(timeout, attempt).await, Ok(Ok(())))
}

/// Probes every peer address of `edge` once, concurrently, and records the results.
pub async fn probe_round(edge: &Edge, peers: &Arc<PeerHealth>, metrics: &Metrics) {
    let h = edge.peer_health;
    let mut tasks = JoinSet::new();
    for group in &edge.peers {
        for &addr in &group.addresses {
            tasks.spawn(async move { (addr, probe(addr, h.timeout).await) });
        }
    }
    let all: Vec<SocketAddr> = edge
        .peers
        .iter()
        .flat_map(|p| p.addresses.iter().copied())
        .collect();
    peers.retain(&all);
    let mut results = Vec::with_capacity(all.len());
    while let Some(Ok((addr, ok))) = tasks.join_next().await {
        let geography = edge
            .peers
            .iter()
            .find(|p| p.addresses.contains(&addr))
            .map_or("-", |p| p.geography.as_str());
        let state = peers.state(addr);
        if let Some(up) = state.record(ok, h.rise, h.fall) {
            if up {
                tracing::info!(peer = %addr, geography, "peer edge is healthy");
            } else {
                tracing::warn!(peer = %addr, geography, "peer edge is unhealthy");
            }
        }
        results.push((geography, addr.to_string(), state.is_healthy()));
    }
    // Set as a whole, so that addresses a reload removed leave the gauge.
    metrics.peer_healthy.reset();
    for (geography, addr, healthy) in results {
        metrics
            .peer_healthy
            .with_label_values(&[geography, &addr])
            .set(i64::from(healthy));
    }
}

#[async_trait]
impl BackgroundService for PeerProber {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            let edge = self.state.live().snapshot.config.edge.clone();
            let pause = match &edge {
                Some(edge) => {
                    probe_round(edge, &self.state.peers, &self.state.metrics).await;
                    edge.peer_health.interval
                }
                None => IDLE,
            };
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }
}
