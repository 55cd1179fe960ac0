//! The load generator: streams of GET or POST requests at a fixed rate (open loop, so a slow
//! origin does not slow the offered load down) or from a fixed number of workers (closed loop),
//! over HTTP/1.1 keep-alive, h2, or a new TLS connection per request; every answer checked and
//! recorded.
//!
//! Each POST carries a unique id in its body (`{"id":"order-N"}`, see [`order_id`]), which the
//! simulated origins count executions by (`edge_sim::Executions`): the report can then tell
//! whether any POST was executed twice. Each also asks the origin to take [`POST_WORK`]
//! before answering, as an endpoint that writes would, so that a fault finds some in flight.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::distributions::{Distribution, WeightedIndex};
use rustls::pki_types::CertificateDer;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::topology::Topology;

/// Requests allowed in flight at once across all streams; beyond it a request is not sent
/// and is counted as [`Kind::Backlog`] (the system under test is not keeping up).
pub const MAX_IN_FLIGHT: usize = 2048;

/// Per-request timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The dispatcher's tick: requests due are sent in small batches this often.
const TICK: Duration = Duration::from_millis(2);

/// `served` value when no region header came back.
pub const NO_REGION: u8 = u8::MAX;
/// `served` value for a region name the topology does not know.
pub const UNKNOWN_REGION: u8 = u8::MAX - 1;

/// How a stream talks to the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Proto {
    /// HTTP/1.1 over TLS, pooled keep-alive connections.
    H1,
    /// h2 over TLS (ALPN), requests multiplexed on one connection.
    H2,
    /// HTTP/1.1 over a new TLS connection (full handshake, no resumption) per request.
    Churn,
}

impl Proto {
    /// A short label.
    pub fn label(self) -> &'static str {
        match self {
            Proto::H1 => "HTTP/1.1 keep-alive",
            Proto::H2 => "h2",
            Proto::Churn => "new TLS connection per request",
        }
    }
}

/// What a stream's requests are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// `GET`, safe and idempotent: the gateway may send it again after a failure.
    Get,
    /// `POST` with a unique id in its JSON body and no `Idempotency-Key`: not idempotent, so
    /// the gateway must not send it again once an origin may have processed it (RFC 9112
    /// §9.3.1).
    Post,
}

/// How long each POST asks the origin to take after reading it (`x-sim-delay-ms`): at 200
/// POSTs a second, a kill of the region serving half of them cuts about 10 that the origin
/// has already executed.
pub const POST_WORK: Duration = Duration::from_millis(100);

/// The id the `n`-th POST of a run carries in its body, `order-N`.
pub fn order_id(n: u32) -> String {
    format!("order-{n}")
}

/// How fast a stream sends.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rate {
    /// This many requests per second, whatever the latency (open loop).
    Open(f64),
    /// This many workers, each sending its next request when the last one is answered.
    Closed(usize),
}

/// One stream of requests.
#[derive(Debug, Clone, Serialize)]
pub struct StreamSpec {
    /// Name in reports, e.g. `h1` or `flood`.
    pub name: String,
    /// Protocol.
    pub proto: Proto,
    /// GET or POST.
    pub method: Method,
    /// Rate.
    pub rate: Rate,
    /// Active from this offset of the run...
    pub from: Duration,
    /// ...until this one.
    pub until: Duration,
    /// `(tenant index, weight)`: who the requests are for.
    pub tenants: Vec<(usize, f64)>,
    /// 429 answers are expected on this stream (a tenant over its limit) and not failures.
    pub expect_429: bool,
    /// 502 answers are expected on this stream and not failures: POSTs cut by a fault after
    /// an origin may have processed them, which the gateway must not send again.
    pub expect_502: bool,
}

impl StreamSpec {
    /// Whether an outcome of `kind` is expected on this stream, i.e. not a failure.
    pub fn expects(&self, kind: Kind) -> bool {
        match kind {
            Kind::Ok => true,
            Kind::RateLimited => self.expect_429,
            Kind::BadGateway => self.expect_502,
            _ => false,
        }
    }
}

/// What became of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// 2xx.
    Ok,
    /// 429 from the gateway.
    RateLimited,
    /// Another 4xx.
    ClientError,
    /// 503 `no-origin-available` from the gateway.
    NoOrigin,
    /// 502 from the gateway.
    BadGateway,
    /// 504 from the gateway.
    GatewayTimeout,
    /// A 5xx an origin sent (it carries the origin's region header).
    Origin5xx,
    /// Any other 5xx.
    Other5xx,
    /// Other statuses (1xx/3xx).
    OtherStatus,
    /// The connection to the gateway could not be opened.
    Connect,
    /// No answer within the request timeout.
    Timeout,
    /// The connection failed mid-request (reset, protocol error, truncated body).
    Transport,
    /// Not sent: too many requests already in flight.
    Backlog,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 13] = [
        Kind::Ok,
        Kind::RateLimited,
        Kind::ClientError,
        Kind::NoOrigin,
        Kind::BadGateway,
        Kind::GatewayTimeout,
        Kind::Origin5xx,
        Kind::Other5xx,
        Kind::OtherStatus,
        Kind::Connect,
        Kind::Timeout,
        Kind::Transport,
        Kind::Backlog,
    ];

    /// The kebab-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ok => "ok",
            Kind::RateLimited => "rate-limited",
            Kind::ClientError => "client-error",
            Kind::NoOrigin => "no-origin",
            Kind::BadGateway => "bad-gateway",
            Kind::GatewayTimeout => "gateway-timeout",
            Kind::Origin5xx => "origin-5xx",
            Kind::Other5xx => "other-5xx",
            Kind::OtherStatus => "other-status",
            Kind::Connect => "connect",
            Kind::Timeout => "timeout",
            Kind::Transport => "transport",
            Kind::Backlog => "backlog",
        }
    }
}

/// One request, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rec {
    /// When it was sent, from the start of the run (µs).
    pub start_us: u64,
    /// How long the answer took (µs).
    pub latency_us: u32,
    /// Index of its stream.
    pub stream: u8,
    /// Index of its tenant in the topology.
    pub tenant: u16,
    /// HTTP status, 0 without an answer.
    pub status: u16,
    /// Index of the region that served it (`x-sim-region`), or [`NO_REGION`] /
    /// [`UNKNOWN_REGION`].
    pub served: u8,
    /// Outcome.
    pub kind: Kind,
    /// Answered over h2.
    pub http2: bool,
    /// A 429 carried `Retry-After`.
    pub retry_after: bool,
    /// The gateway's `x-edge-region` differed from the origin's own `x-sim-region`.
    pub mismatch: bool,
    /// Served by a region outside the tenant's home geography.
    pub violation: bool,
    /// A POST's number in the run (its body's id is [`order_id`] of it); `None` for a GET or
    /// a POST never sent.
    pub order: Option<u32>,
}

impl Rec {
    /// When the answer arrived, from the start of the run (µs).
    pub fn end_us(&self) -> u64 {
        self.start_us + u64::from(self.latency_us)
    }

    /// Whether this outcome is a failure on `stream` (which may expect 429s or 502s); on no
    /// known stream, anything but 2xx is.
    pub fn failed(&self, stream: Option<&StreamSpec>) -> bool {
        match stream {
            Some(s) => !s.expects(self.kind),
            None => self.kind != Kind::Ok,
        }
    }
}

/// Counters read by the progress line while the run goes on.
#[derive(Debug, Default)]
pub struct Live {
    /// Requests sent (or given up as backlog).
    pub sent: AtomicU64,
    /// Answers (any status) and transport failures.
    pub done: AtomicU64,
    /// Outcomes other than 2xx (429s included).
    pub not_ok: AtomicU64,
    /// Residency violations.
    pub violations: AtomicU64,
    /// Set to stop every stream early.
    pub stop: AtomicBool,
}

/// Where the load goes and how to trust it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The gateway's HTTPS listener (loopback).
    pub addr: SocketAddr,
    /// The CA its certificate chains to.
    pub ca: CertificateDer<'static>,
    /// The host name to ask for (resolved to `addr` by the client, used for SNI).
    pub server_name: String,
    /// The request path.
    pub path: String,
}

impl Target {
    fn url(&self) -> String {
        format!(
            "https://{}:{}{}",
            self.server_name,
            self.addr.port(),
            self.path
        )
    }
}

/// A reqwest client for `proto` that trusts only `target.ca` and resolves the server name to
/// `target.addr`; never uses a proxy.
pub fn client(target: &Target, proto: Proto) -> Result<reqwest::Client, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(target.ca.clone())
        .map_err(|e| format!("the CA certificate is unusable: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS client config: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = match proto {
        Proto::H2 => vec![b"h2".to_vec()],
        Proto::H1 | Proto::Churn => vec![b"http/1.1".to_vec()],
    };
    if proto == Proto::Churn {
        tls.resumption = rustls::client::Resumption::disabled();
    }
    let mut b = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .resolve(&target.server_name, target.addr)
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none());
    b = match proto {
        Proto::H1 => b.http1_only().pool_max_idle_per_host(MAX_IN_FLIGHT),
        Proto::H2 => b.http2_prior_knowledge(),
        Proto::Churn => b.http1_only().pool_max_idle_per_host(0),
    };
    b.build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Everything a request task needs, shared.
struct Shared {
    topology: Arc<Topology>,
    url: String,
    start: Instant,
    records: Mutex<Vec<Rec>>,
    in_flight: Arc<Semaphore>,
    live: Arc<Live>,
    budget: AtomicU64,
    /// The next POST's number.
    next_order: AtomicU32,
}

impl Shared {
    fn push(&self, rec: Rec) {
        self.live.done.fetch_add(1, Ordering::Relaxed);
        if rec.kind != Kind::Ok {
            self.live.not_ok.fetch_add(1, Ordering::Relaxed);
        }
        if rec.violation {
            self.live.violations.fetch_add(1, Ordering::Relaxed);
        }
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(rec);
    }

    /// Takes one request from the run's budget; false when it is spent.
    fn take_budget(&self) -> bool {
        self.budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
            .is_ok()
    }

    fn region_index(&self, name: &str) -> u8 {
        if name.is_empty() {
            return NO_REGION;
        }
        self.topology
            .regions
            .iter()
            .position(|r| r.name == name)
            .and_then(|i| u8::try_from(i).ok())
            .filter(|&i| i < UNKNOWN_REGION)
            .unwrap_or(UNKNOWN_REGION)
    }
}

/// Runs `streams` against `target` until each stream's `until` (or `live.stop`), at most
/// `max_requests` requests in all; returns every request's record, in no particular order.
///
/// `start` is the run's time origin (the scenario's actions use the same one).
pub async fn run(
    target: &Target,
    topology: Arc<Topology>,
    streams: &[StreamSpec],
    max_requests: u64,
    live: Arc<Live>,
    start: Instant,
) -> Result<Vec<Rec>, String> {
    let shared = Arc::new(Shared {
        topology,
        url: target.url(),
        start,
        records: Mutex::new(Vec::new()),
        in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        live,
        budget: AtomicU64::new(max_requests),
        next_order: AtomicU32::new(0),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for (i, spec) in streams.iter().enumerate() {
        let stream = u8::try_from(i).map_err(|_| "too many streams".to_owned())?;
        let client = client(target, spec.proto)?;
        let weights: Vec<f64> = spec.tenants.iter().map(|(_, w)| *w).collect();
        let picker = WeightedIndex::new(&weights)
            .map_err(|e| format!("stream {}: bad tenant weights: {e}", spec.name))?;
        let ids: Vec<(u16, String)> = spec
            .tenants
            .iter()
            .map(|(t, _)| {
                let id = shared
                    .topology
                    .tenants
                    .get(*t)
                    .map(|x| x.id.clone())
                    .unwrap_or_default();
                (u16::try_from(*t).unwrap_or(u16::MAX), id)
            })
            .collect();
        let source = Source {
            sender: Sender {
                stream,
                method: spec.method,
                client,
            },
            picker,
            tenants: Arc::new(ids),
        };
        match spec.rate {
            Rate::Open(rps) => {
                tasks.spawn(open_loop(shared.clone(), spec.clone(), rps, source));
            }
            Rate::Closed(workers) => {
                for w in 0..workers.max(1) {
                    tasks.spawn(closed_loop(shared.clone(), spec.clone(), source.clone(), w));
                }
            }
        }
    }
    while tasks.join_next().await.is_some() {}
    // Wait for the requests still in flight; each is bounded by the request timeout.
    let all = u32::try_from(MAX_IN_FLIGHT).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(
        REQUEST_TIMEOUT + Duration::from_secs(2),
        shared.in_flight.acquire_many(all),
    )
    .await;
    let records = std::mem::take(
        &mut *shared
            .records
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    Ok(records)
}

/// How a stream sends its requests; cheap to clone.
#[derive(Clone)]
struct Sender {
    stream: u8,
    method: Method,
    client: reqwest::Client,
}

/// How a stream picks and sends its requests.
#[derive(Clone)]
struct Source {
    sender: Sender,
    picker: WeightedIndex<f64>,
    tenants: Arc<Vec<(u16, String)>>,
}

impl Source {
    fn pick(&self) -> (u16, String) {
        let i = self.picker.sample(&mut rand::thread_rng());
        self.tenants
            .get(i)
            .cloned()
            .unwrap_or((u16::MAX, String::new()))
    }
}

async fn open_loop(shared: Arc<Shared>, spec: StreamSpec, rps: f64, source: Source) {
    let mut sent: u64 = 0;
    let rps = rps.max(0.0);
    loop {
        let now = shared.start.elapsed();
        if now >= spec.until || shared.live.stop.load(Ordering::Relaxed) {
            return;
        }
        if now >= spec.from {
            let due = ((now - spec.from).as_secs_f64() * rps) as u64;
            while sent < due {
                if !shared.take_budget() {
                    return;
                }
                sent += 1;
                let (tenant, id) = source.pick();
                shared.live.sent.fetch_add(1, Ordering::Relaxed);
                let start_us = micros(shared.start.elapsed());
                match shared.in_flight.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let shared = shared.clone();
                        let sender = source.sender.clone();
                        tokio::spawn(async move {
                            let rec = send(&shared, &sender, tenant, &id, start_us).await;
                            shared.push(rec);
                            drop(permit);
                        });
                    }
                    Err(_) => shared.push(backlog(source.sender.stream, tenant, start_us)),
                }
            }
        }
        tokio::time::sleep(TICK).await;
    }
}

async fn closed_loop(shared: Arc<Shared>, spec: StreamSpec, source: Source, worker: usize) {
    // Stagger the workers' first requests a little so they do not all handshake at once.
    let stagger = Duration::from_micros(200 * worker as u64);
    tokio::time::sleep(spec.from.saturating_sub(shared.start.elapsed()) + stagger).await;
    loop {
        let now = shared.start.elapsed();
        if now >= spec.until || shared.live.stop.load(Ordering::Relaxed) {
            return;
        }
        if !shared.take_budget() {
            return;
        }
        let Ok(permit) = shared.in_flight.clone().acquire_owned().await else {
            return;
        };
        let (tenant, id) = source.pick();
        shared.live.sent.fetch_add(1, Ordering::Relaxed);
        let start_us = micros(shared.start.elapsed());
        let rec = send(&shared, &source.sender, tenant, &id, start_us).await;
        shared.push(rec);
        drop(permit);
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn backlog(stream: u8, tenant: u16, start_us: u64) -> Rec {
    Rec {
        start_us,
        latency_us: 0,
        stream,
        tenant,
        status: 0,
        served: NO_REGION,
        kind: Kind::Backlog,
        http2: false,
        retry_after: false,
        mismatch: false,
        violation: false,
        order: None,
    }
}

/// The request `sender` sends; a POST gets the run's next order id in its body.
fn build(
    shared: &Shared,
    sender: &Sender,
    tenant_id: &str,
    rec: &mut Rec,
) -> reqwest::RequestBuilder {
    let req = match sender.method {
        Method::Get => sender.client.get(&shared.url),
        Method::Post => {
            let n = shared.next_order.fetch_add(1, Ordering::Relaxed);
            rec.order = Some(n);
            // No Idempotency-Key: the point is a request the gateway may not send twice.
            sender
                .client
                .post(&shared.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(edge_sim::HEADER_DELAY, POST_WORK.as_millis().to_string())
                .body(serde_json::json!({ "id": order_id(n) }).to_string())
        }
    };
    req.header("x-tenant-id", tenant_id)
}

/// Sends one request and checks its answer.
async fn send(
    shared: &Shared,
    sender: &Sender,
    tenant: u16,
    tenant_id: &str,
    start_us: u64,
) -> Rec {
    let began = Instant::now();
    let mut rec = backlog(sender.stream, tenant, start_us);
    let req = build(shared, sender, tenant_id, &mut rec);
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            rec.status = status;
            rec.http2 = resp.version() == reqwest::Version::HTTP_2;
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            let sim_region = header(edge_sim::HEADER_REGION);
            let edge_region = header("x-edge-region");
            rec.retry_after = resp.headers().contains_key(reqwest::header::RETRY_AFTER);
            rec.served = shared.region_index(&sim_region);
            rec.mismatch = !sim_region.is_empty() && sim_region != edge_region;
            let problem = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
            let body = resp.bytes().await;
            rec.kind = match body {
                Err(e) => transport_kind(&e),
                Ok(body) => classify(status, !sim_region.is_empty(), problem, &body),
            };
            if let Some(region) = shared.topology.regions.get(usize::from(rec.served)) {
                let home = shared
                    .topology
                    .tenants
                    .get(usize::from(tenant))
                    .map(|t| t.geography.as_str());
                rec.violation = home != Some(region.geography.as_str());
            }
        }
        Err(e) => rec.kind = transport_kind(&e),
    }
    rec.latency_us = u32::try_from(began.elapsed().as_micros()).unwrap_or(u32::MAX);
    rec
}

fn transport_kind(e: &reqwest::Error) -> Kind {
    if e.is_timeout() {
        Kind::Timeout
    } else if e.is_connect() {
        Kind::Connect
    } else {
        Kind::Transport
    }
}

/// The outcome of an answer with `status`; `from_origin` when it carries the origin's region
/// header, `problem` when it is the gateway's problem document.
pub fn classify(status: u16, from_origin: bool, problem: bool, body: &[u8]) -> Kind {
    match status {
        200..=299 => Kind::Ok,
        429 => Kind::RateLimited,
        400..=499 => Kind::ClientError,
        500..=599 if from_origin => Kind::Origin5xx,
        503 if problem && contains(body, b"no-origin-available") => Kind::NoOrigin,
        502 => Kind::BadGateway,
        504 => Kind::GatewayTimeout,
        500..=599 => Kind::Other5xx,
        _ => Kind::OtherStatus,
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn statuses_classify() {
        assert_eq!(classify(200, true, false, b""), Kind::Ok);
        assert_eq!(classify(429, false, true, b""), Kind::RateLimited);
        assert_eq!(classify(404, false, true, b""), Kind::ClientError);
        assert_eq!(classify(503, true, false, b""), Kind::Origin5xx);
        assert_eq!(
            classify(
                503,
                false,
                true,
                b"{\"type\":\"urn:edge-gateway:problem:no-origin-available\"}"
            ),
            Kind::NoOrigin
        );
        assert_eq!(classify(502, false, true, b""), Kind::BadGateway);
        assert_eq!(classify(504, false, true, b""), Kind::GatewayTimeout);
        assert_eq!(classify(500, false, false, b""), Kind::Other5xx);
        assert_eq!(classify(302, false, false, b""), Kind::OtherStatus);
    }

    fn spec(expect_429: bool, expect_502: bool) -> StreamSpec {
        StreamSpec {
            name: "s".into(),
            proto: Proto::H1,
            method: Method::Post,
            rate: Rate::Open(1.0),
            from: Duration::ZERO,
            until: Duration::from_secs(1),
            tenants: vec![(0, 1.0)],
            expect_429,
            expect_502,
        }
    }

    #[test]
    fn failure_depends_on_expectation() {
        let (plain, limited, posts) = (spec(false, false), spec(true, false), spec(false, true));
        let mut r = backlog(0, 0, 0);
        r.kind = Kind::RateLimited;
        assert!(r.failed(Some(&plain)));
        assert!(!r.failed(Some(&limited)));
        assert!(r.failed(Some(&posts)));
        r.kind = Kind::BadGateway;
        assert!(r.failed(Some(&plain)));
        assert!(r.failed(Some(&limited)));
        assert!(!r.failed(Some(&posts)));
        assert!(r.failed(None));
        r.kind = Kind::Transport;
        assert!(r.failed(Some(&posts)));
        r.kind = Kind::Ok;
        assert!(!r.failed(Some(&plain)));
        assert!(!r.failed(None));
    }

    #[test]
    fn order_ids_follow_the_sims_convention() {
        assert_eq!(order_id(17), "order-17");
        let body = serde_json::json!({ "id": order_id(17) }).to_string();
        assert_eq!(body, r#"{"id":"order-17"}"#);
    }
}
