//! The responder's sockets: UDP and TCP on every `dns.listen` address, and their bounds, run
//! as one Pingora background service (one thread) together with the edge prober.
//!
//! Not hickory's `ServerFuture`: as of hickory-server 0.25 it spawns a task per UDP datagram
//! and per TCP connection with no upper bound, sizes UDP answers to queries without EDNS at
//! 4096 bytes rather than RFC 1035's 512, and logs every query at `info`. The loops here are
//! short and bounded instead:
//!
//! - UDP: one loop per socket answers each datagram before reading the next (an answer takes
//!   microseconds and waits on nothing), so UDP concurrency is one query per socket; a burst
//!   waits in the kernel's receive buffer, and what overflows it is dropped by the kernel. A
//!   datagram over [`MAX_QUERY_BYTES`] is dropped.
//! - TCP (RFC 7766): at most `dns.max_tcp_connections` connections (more are closed at
//!   accept and counted); queries on one connection are answered in order; a connection that
//!   sends no complete query, or does not take its answer, within `dns.tcp_idle_timeout` is
//!   closed, as is one that announces a query over [`MAX_QUERY_BYTES`] or sends garbage.
//!
//! The sockets are bound by the launcher before the server runs (so a port in use stops the
//! start with a clear error) with `SO_REUSEPORT`, so a process started with `--upgrade` can
//! bind them while the old one still answers.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use rand::rngs::StdRng;
use rand::SeedableRng;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::answer::{answer, Outcome, Reply, Transport, MAX_QUERY_BYTES};
use super::{probe, Dns};
use crate::metrics::DnsMetrics;

/// Pending TCP connections the kernel queues before `accept`.
const TCP_BACKLOG: i32 = 1024;

/// Idle timeout of TCP connections while the live config has no `[dns]` (answers are then
/// all REFUSED).
const FALLBACK_IDLE: Duration = Duration::from_secs(10);

/// The bound sockets of every `dns.listen` address.
#[derive(Debug)]
pub struct DnsSockets {
    udp: Vec<std::net::UdpSocket>,
    tcp: Vec<std::net::TcpListener>,
}

/// Binds UDP and TCP on each address (non-blocking, `SO_REUSEPORT`); the error names the
/// address that failed.
pub fn bind(addrs: &[SocketAddr]) -> Result<DnsSockets, (SocketAddr, io::Error)> {
    let mut sockets = DnsSockets {
        udp: Vec::new(),
        tcp: Vec::new(),
    };
    for &addr in addrs {
        let open = |ty: Type, proto: Protocol| -> io::Result<Socket> {
            let s = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
            s.set_reuse_address(true)?;
            s.set_reuse_port(true)?;
            s.set_nonblocking(true)?;
            s.bind(&addr.into())?;
            Ok(s)
        };
        let udp = open(Type::DGRAM, Protocol::UDP).map_err(|e| (addr, e))?;
        let tcp = open(Type::STREAM, Protocol::TCP).map_err(|e| (addr, e))?;
        tcp.listen(TCP_BACKLOG).map_err(|e| (addr, e))?;
        sockets.udp.push(udp.into());
        sockets.tcp.push(tcp.into());
    }
    Ok(sockets)
}

/// The responder and the edge prober, as one background service.
pub struct DnsServer {
    dns: Arc<Dns>,
    sockets: Mutex<Option<DnsSockets>>,
    tcp_slots: Arc<Semaphore>,
}

impl DnsServer {
    /// Serves `dns` on `sockets`, with at most `max_tcp_connections` TCP connections open.
    pub fn new(dns: Arc<Dns>, sockets: DnsSockets, max_tcp_connections: usize) -> Self {
        DnsServer {
            dns,
            sockets: Mutex::new(Some(sockets)),
            tcp_slots: Arc::new(Semaphore::new(max_tcp_connections)),
        }
    }
}

#[async_trait]
impl BackgroundService for DnsServer {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let sockets = match self.sockets.lock() {
            Ok(mut s) => s.take(),
            Err(p) => p.into_inner().take(),
        };
        let Some(sockets) = sockets else {
            return;
        };
        if let Some(zone) = self.dns.zone() {
            probe::probe_all_once(&self.dns, &zone).await;
        }
        let mut tasks = JoinSet::new();
        for socket in sockets.udp {
            match UdpSocket::from_std(socket) {
                Ok(s) => {
                    tasks.spawn(serve_udp(s, self.dns.clone()));
                }
                Err(e) => tracing::error!(error = %e, "dns: cannot use a UDP socket"),
            }
        }
        for listener in sockets.tcp {
            match TcpListener::from_std(listener) {
                Ok(l) => {
                    tasks.spawn(accept_tcp(l, self.dns.clone(), self.tcp_slots.clone()));
                }
                Err(e) => tracing::error!(error = %e, "dns: cannot use a TCP listener"),
            }
        }
        tasks.spawn(probe::run(self.dns.clone()));
        let _ = shutdown.changed().await;
        tasks.abort_all();
    }
}

fn record(metrics: &DnsMetrics, reply: &Reply) {
    metrics
        .queries
        .with_label_values(&[reply.qtype, reply.rcode])
        .inc();
    if reply.truncated {
        metrics.truncated.inc();
    }
    if let Some(geography) = &reply.fail_static {
        metrics
            .fail_static
            .with_label_values(&[geography.as_str()])
            .inc();
    }
}

async fn serve_udp(socket: UdpSocket, dns: Arc<Dns>) {
    let mut rng = StdRng::from_entropy();
    // One byte more than accepted, to tell an oversized datagram from one that fits.
    let mut buf = vec![0u8; MAX_QUERY_BYTES + 1];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(v) => v,
            Err(e) => {
                // ICMP errors of earlier sends surface here (ECONNREFUSED); not ours to fix.
                tracing::debug!(error = %e, "dns: udp receive error");
                continue;
            }
        };
        let metrics = dns.metrics();
        if n > MAX_QUERY_BYTES {
            metrics.dropped.with_label_values(&["oversized"]).inc();
            continue;
        }
        if peer.port() == 0 {
            metrics.dropped.with_label_values(&["bad_source"]).inc();
            continue;
        }
        let zone = dns.zone();
        match answer(&buf[..n], Transport::Udp, zone.as_deref(), &mut rng) {
            Outcome::Reply(reply) => {
                record(metrics, &reply);
                if let Err(e) = socket.send_to(&reply.bytes, peer).await {
                    tracing::debug!(%peer, error = %e, "dns: udp send failed");
                }
            }
            Outcome::Drop(why) => metrics.dropped.with_label_values(&[why.label()]).inc(),
        }
    }
}

async fn accept_tcp(listener: TcpListener, dns: Arc<Dns>, slots: Arc<Semaphore>) {
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(v) => v,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "dns: tcp accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            dns.metrics()
                .dropped
                .with_label_values(&["tcp_limit"])
                .inc();
            drop(stream);
            continue;
        };
        let dns = dns.clone();
        tokio::spawn(async move {
            dns.metrics().tcp_open.inc();
            serve_tcp(stream, &dns).await;
            dns.metrics().tcp_open.dec();
            drop(permit);
        });
    }
}

/// Answers length-prefixed queries (RFC 1035 §4.2.2) until the client stops, idles, or
/// sends something unanswerable.
async fn serve_tcp(mut stream: TcpStream, dns: &Dns) {
    let mut rng = StdRng::from_entropy();
    let mut query = Vec::with_capacity(512);
    loop {
        let zone = dns.zone();
        let idle = zone
            .as_ref()
            .map_or(FALLBACK_IDLE, |z| z.settings().tcp_idle_timeout);
        let mut len = [0u8; 2];
        if !within(idle, stream.read_exact(&mut len)).await {
            return;
        }
        let n = usize::from(u16::from_be_bytes(len));
        if n == 0 || n > MAX_QUERY_BYTES {
            dns.metrics()
                .dropped
                .with_label_values(&["oversized"])
                .inc();
            return;
        }
        query.resize(n, 0);
        if !within(idle, stream.read_exact(&mut query)).await {
            return;
        }
        let reply = match answer(&query, Transport::Tcp, zone.as_deref(), &mut rng) {
            Outcome::Reply(reply) => reply,
            Outcome::Drop(why) => {
                dns.metrics()
                    .dropped
                    .with_label_values(&[why.label()])
                    .inc();
                return;
            }
        };
        record(dns.metrics(), &reply);
        let Ok(len) = u16::try_from(reply.bytes.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(reply.bytes.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&reply.bytes);
        if !within(idle, stream.write_all(&framed)).await {
            return;
        }
    }
}

/// Runs `io` for at most `limit`; true when it finished in time and succeeded.
async fn within<T>(limit: Duration, io: impl std::future::Future<Output = io::Result<T>>) -> bool {
    matches!(tokio::time::timeout(limit, io).await, Ok(Ok(_)))
}
