//! Launch: assembles the Pingora server from a validated configuration (shared state, the
//! HTTPS proxy service, the redirect and admin listeners, the background services) and runs
//! it until a stop signal.

use std::sync::Arc;

use edge_config::Config;
use pingora::apps::http_app::HttpServer;
use pingora::listeners::tls::TlsSettings;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;
use pingora::services::listening::Service;

use crate::control::admin::{AdminApi, Tokens};
use crate::control::history::HistorySampler;
use crate::control::maintenance::{GeoWatcher, RateLimitMaintenance};
use crate::control::peer_prober::{probe_round, PeerProber};
use crate::control::prober::{probe_all_once, HealthChecker};
use crate::control::reload::ReloadTriggers;
use crate::control::state_file::StateFileError;
use crate::control::Control;
use crate::dns::{Dns, DnsServer};
use crate::edge::redirect::HttpsRedirect;
use crate::edge::tls::{CertResolver, CertStore, TlsError};
use crate::edge::{Admission, Guarded, Rearm, Slots};
use crate::health::HealthRegistry;
use crate::request::access_log::AccessLog;
use crate::request::proxy::EdgeProxy;
use crate::state::GatewayState;
use crate::topology::{Overrides, Snapshot};
use pingora::services::background::background_service;

/// Upper bound on upstream attempts per request that Pingora allows; the configured
/// `routing.max_attempts` (at most 10) applies inside it and can change on reload.
const PINGORA_MAX_TRIES: usize = 16;

/// Pooled idle upstream connections, for the whole process (Pingora's limit is global, not per
/// thread); sized for peak concurrency so connections are reused rather than reopened.
const UPSTREAM_POOL_SIZE: usize = 1024;

/// Read buffer of a client socket. Pingora's default is 64 KiB per connection, on top of
/// rustls' own record buffer: 124 KiB of RSS per idle TLS connection, measured. One maximum
/// TLS record (16 KiB) per `read` keeps large bodies at one syscall per record for 77 KiB
/// (no buffer at all: 58 KiB, but four `read`s per full record, since rustls reads 4 KiB).
const DOWNSTREAM_READ_BUFFER: usize = 16 * 1024;

fn downstream_listener(addr: std::net::SocketAddr) -> pingora::listeners::ListenerConfig {
    pingora::listeners::ListenerConfig::tcp(addr.to_string())
        .l4_buffer(pingora::listeners::L4BufferSettings::default().read(DOWNSTREAM_READ_BUFFER))
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Certificates could not be loaded.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// The admin listener cannot be opened safely, or its tokens are unusable.
    #[error("admin: {0}")]
    Admin(String),
    /// The state file (operator overrides) is unreadable.
    #[error(transparent)]
    StateFile(#[from] StateFileError),
    /// The location database could not be opened.
    #[error("location database: {0}")]
    Geo(String),
    /// The access log's file could not be opened.
    #[error("access log: {0}")]
    AccessLog(String),
    /// The start-up runtime could not be created.
    #[error("runtime: {0}")]
    Runtime(String),
    /// Fleet mode could not start (password, URL).
    #[error(transparent)]
    Fleet(#[from] crate::fleet::FleetError),
    /// A listener could not be configured.
    #[error("listener {addr}: {message}")]
    Listener {
        /// The address.
        addr: String,
        /// What went wrong.
        message: String,
    },
}

/// Builds the shared state (routing snapshot, certificates) for `config`, and probes every
/// origin once so the gateway starts serving with known-healthy origins instead of refusing
/// traffic for a probe interval.
pub fn build_state(config: Config, overrides: &Overrides) -> Result<Arc<GatewayState>, StartError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs = CertStore::load(&config.tls.certificates)?;
    let geo = open_geo(&config)?;
    let snapshot = Snapshot::build_with_overrides(Arc::new(config), 1, overrides);
    let mut state = GatewayState::new(
        snapshot,
        Arc::new(HealthRegistry::new()),
        Arc::new(CertResolver::new(certs)),
    );
    state.geo.store(geo.map(Arc::new));
    state.access_log = AccessLog::start(
        &state.live().snapshot.config.access_log,
        tracing::enabled!(target: "access", tracing::Level::INFO),
        state.metrics.access_log_lines.clone(),
        state.metrics.access_log_dropped.clone(),
    )
    .map_err(|e| {
        let sink = &state.live().snapshot.config.access_log.sink;
        StartError::AccessLog(format!("{sink:?}: {e}"))
    })?;
    let warmup = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StartError::Runtime(e.to_string()))?;
    let state = Arc::new(state);
    let live = state.live();
    warmup.block_on(async {
        probe_all_once(&live).await;
        if let Some(edge) = &live.snapshot.config.edge {
            probe_round(edge, &state.peers, &state.metrics).await;
        }
    });
    Ok(state)
}

/// Builds and runs the gateway until it is told to stop (SIGTERM: graceful; SIGINT: fast;
/// SIGQUIT: hand the sockets to an `--upgrade` process). With `file` (the config path and
/// its text) the gateway reloads it on change, on SIGHUP and from the admin API.
pub fn serve(
    config: edge_config::Config,
    file: Option<(&std::path::Path, &str)>,
    launch: &LaunchOptions,
    cleanup: Box<dyn Fn() + Send + Sync>,
) -> Result<(), StartError> {
    let overrides = match &config.admin.state_file {
        Some(p) => Overrides::load(p)?,
        None => Overrides::default(),
    };
    let state = build_state(config.clone(), &overrides)?;
    let control = file.map(|(path, source)| {
        Arc::new(Control::new(
            state.clone(),
            path.to_path_buf(),
            source,
            config.admin.state_file.clone(),
            overrides,
        ))
    });
    // Held lines are written out however the process stops.
    let log = state.access_log.clone();
    let cleanup: Box<dyn Fn() + Send + Sync> = Box::new(move || {
        log.close();
        cleanup();
    });
    let log = state.access_log.clone();
    // Fleet mode needs the control plane (overrides are applied through it).
    let fleet = match (&config.fleet, &control) {
        (Some(f), Some(c)) => Some(crate::fleet::Fleet::start(f, &state, Arc::clone(c))?),
        _ => None,
    };
    let mut srv = build_server(&config, state, control, launch)?;
    if let Some(fleet) = fleet {
        srv.add_service(background_service("fleet", fleet.service));
    }
    tracing::info!(
        https = ?config.listeners.https,
        http = ?config.listeners.http,
        admin = ?config.listeners.admin,
        dns = ?config.dns.as_ref().map(|d| &d.listen),
        tenants = config.tenants.by_id.len(),
        "edge-gateway starting"
    );
    srv.run(pingora::server::RunArgs {
        shutdown_signal: Box::new(StopSignals::new(cleanup)),
    });
    log.close();
    tracing::info!("edge-gateway stopped");
    Ok(())
}

/// Opens the location database `config` names, as `run` does at start (and `check` too, so
/// the two cannot disagree about a file).
pub fn open_geo(config: &Config) -> Result<Option<edge_geo::mmdb::GeoDb>, StartError> {
    config
        .geo
        .as_ref()
        .map(|g| edge_geo::mmdb::GeoDb::open(g.database.clone()))
        .transpose()
        .map_err(|e| StartError::Geo(e.to_string()))
}

/// Options that come from the command line rather than the config file.
#[derive(Debug, Clone, Default)]
pub struct LaunchOptions {
    /// Take over the listening sockets of a running instance (`--upgrade`).
    pub upgrade: bool,
    /// Where the graceful-upgrade socket lives (Pingora's default is shared by every instance
    /// on the machine, so it is worth setting per instance).
    pub upgrade_sock: Option<String>,
}

/// Builds the Pingora server: the HTTPS proxy service, the HTTP redirect service, the admin
/// API, the background services, and the DNS responder when `[dns]` is set (its sockets are
/// bound here, so a port in use refuses the start).
pub fn build_server(
    config: &Config,
    state: Arc<GatewayState>,
    control: Option<Arc<Control>>,
    launch: &LaunchOptions,
) -> Result<Server, StartError> {
    let mut conf = ServerConf {
        threads: config.server.threads.get(),
        // One single-threaded runtime per thread measured faster here (fewer cross-thread
        // wakeups), notably for TLS.
        work_stealing: false,
        upstream_keepalive_pool_size: UPSTREAM_POOL_SIZE,
        max_retries: PINGORA_MAX_TRIES,
        grace_period_seconds: Some(config.server.grace_period.as_secs()),
        graceful_shutdown_timeout_seconds: Some(config.server.grace_period.as_secs().max(1)),
        ..ServerConf::default()
    };
    if let Some(sock) = &launch.upgrade_sock {
        conf.upgrade_sock = sock.clone();
    }
    let opt = Opt {
        upgrade: launch.upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    let slots = Arc::new(Slots::new(state.metrics.open_connections.clone()));
    let limits = &config.limits;
    let mut proxy_app =
        pingora::proxy::http_proxy(&server.configuration, EdgeProxy::new(state.clone()));
    let mut options = pingora::apps::HttpServerOptions::default();
    // Pingora counts reuses, not requests: a limit of N serves N + 1 requests.
    options.keepalive_request_limit = Some(limits.keepalive_requests.get() - 1);
    options.h2_idle_timeout = Some(limits.idle_timeout);
    proxy_app.server_options = Some(options);
    let mut h2 = pingora::protocols::http::v2::server::default_h2_options();
    h2.max_concurrent_streams(limits.h2_max_concurrent_streams.get())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    proxy_app.h2_options = Some(h2);
    let mut tls = TlsSettings::with_callbacks(Box::new(HandshakeMetrics {
        metrics: state.metrics.clone(),
    }))
    .map_err(|e| StartError::Listener {
        addr: "https".to_string(),
        message: e.to_string(),
    })?;
    tls.set_cert_resolver(state.certs.clone());
    tls.enable_h2();
    let mut proxy = Service::new(
        "edge-https".to_string(),
        Guarded::new(
            proxy_app,
            state.clone(),
            slots.clone(),
            Some(tls.build()),
            Admission::Capped,
            Rearm::Explicit,
        ),
    );
    for addr in &config.listeners.https {
        // Plain TCP: `Guarded` runs the TLS handshake itself, under `limits`.
        proxy.add_listener(downstream_listener(*addr));
    }
    let proxy_handle = server.add_service(proxy);
    server.add_service(background_service(
        "health-checks",
        HealthChecker::new(state.clone()),
    ));
    server.add_service(background_service(
        "geo-watcher",
        GeoWatcher {
            state: state.clone(),
        },
    ));
    server.add_service(background_service(
        "peer-edge-prober",
        PeerProber::new(state.clone()),
    ));
    server.add_service(background_service(
        "rate-limit-maintenance",
        RateLimitMaintenance {
            state: state.clone(),
        },
    ));

    if !config.listeners.http.is_empty() {
        let https_port = config.listeners.https.first().map_or(443, |a| a.port());
        let mut redirect = Service::new(
            "edge-http-redirect".to_string(),
            Guarded::new(
                HttpServer::new_app(HttpsRedirect::new(https_port)),
                state.clone(),
                slots.clone(),
                None,
                Admission::Capped,
                Rearm::AfterResponse,
            ),
        );
        for addr in &config.listeners.http {
            redirect.add_listener(downstream_listener(*addr));
        }
        server.add_service(redirect);
    }
    let dns = match &config.dns {
        Some(settings) => {
            let sockets =
                crate::dns::bind(&settings.listen).map_err(|(addr, e)| StartError::Listener {
                    addr: addr.to_string(),
                    message: format!("dns (udp and tcp): {e}"),
                })?;
            let dns = Arc::new(Dns::new(state.clone()));
            let max_tcp = usize::try_from(settings.max_tcp_connections.get()).unwrap_or(1);
            server.add_service(background_service(
                "dns",
                DnsServer::new(dns.clone(), sockets, max_tcp),
            ));
            Some(dns)
        }
        None => None,
    };
    if let Some(control) = control {
        if let Some(addr) = config.listeners.admin {
            let tokens = admin_tokens(config, addr)?;
            let mut admin = Service::new(
                "edge-admin".to_string(),
                Guarded::new(
                    HttpServer::new_app(
                        AdminApi::new(control.clone(), tokens, config.admin.metrics_public)
                            .with_dns(dns),
                    ),
                    state.clone(),
                    slots.clone(),
                    None,
                    Admission::Uncapped,
                    Rearm::AfterResponse,
                ),
            );
            admin.add_tcp(&addr.to_string());
            server.add_service(admin);
        }
        server.add_service(background_service(
            "traffic-history",
            HistorySampler {
                history: control.history.clone(),
                metrics: state.metrics.clone(),
            },
        ));
        let triggers = server.add_service(background_service(
            "reload-triggers",
            ReloadTriggers::new(control),
        ));
        proxy_handle.add_dependency(&triggers);
    }
    Ok(server)
}

/// Loads the admin tokens; refuses a non-loopback admin listener without one.
fn admin_tokens(config: &Config, addr: std::net::SocketAddr) -> Result<Tokens, StartError> {
    let env = std::env::var(crate::control::admin::auth::TOKEN_ENV).ok();
    let tokens = Tokens::load(env.as_deref(), config.admin.token_file.as_deref())
        .map_err(StartError::Admin)?;
    if tokens.is_empty() {
        if !addr.ip().is_loopback() {
            return Err(StartError::Admin(format!(
                "refusing to open the admin listener on non-loopback address {addr} without a                  token: set {} or [admin] token_file",
                crate::control::admin::auth::TOKEN_ENV
            )));
        }
        tracing::warn!(%addr, "no admin token configured: only /healthz and /readyz (and /metrics if public) answer");
    }
    Ok(tokens)
}

/// Counts TLS handshakes by version.
struct HandshakeMetrics {
    metrics: Arc<crate::metrics::Metrics>,
}

#[async_trait::async_trait]
impl pingora::listeners::TlsAccept for HandshakeMetrics {
    async fn handshake_complete_callback(
        &self,
        tls: &pingora::protocols::tls::TlsRef,
    ) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        self.metrics
            .tls_handshakes
            .with_label_values(&[tls.version().unwrap_or("unknown")])
            .inc();
        None
    }
}

/// The process's stop signals. `SIGTERM`: graceful stop (stop accepting, finish in-flight
/// requests within the grace period). `SIGQUIT`: graceful upgrade (hand the listening sockets
/// to a process started with `--upgrade`). `SIGINT`: stop now.
///
/// `SIGINT` exits the process directly after `cleanup` instead of using Pingora's fast
/// shutdown: with single-threaded runtimes (no work stealing), Pingora 0.9's fast shutdown can
/// leave an accept loop spinning on a runtime that is shutting down, and the process never
/// exits.
pub struct StopSignals {
    cleanup: Box<dyn Fn() + Send + Sync>,
}

impl StopSignals {
    /// Stop signals running `cleanup` before a `SIGINT` exit.
    pub fn new(cleanup: Box<dyn Fn() + Send + Sync>) -> Self {
        StopSignals { cleanup }
    }
}

#[async_trait::async_trait]
impl pingora::server::ShutdownSignalWatch for StopSignals {
    async fn recv(&self) -> pingora::server::ShutdownSignal {
        use pingora::server::ShutdownSignal;
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut quit), Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::quit()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot install signal handlers; stopping");
            return ShutdownSignal::GracefulTerminate;
        };
        tokio::select! {
            _ = quit.recv() => ShutdownSignal::GracefulUpgrade,
            _ = term.recv() => ShutdownSignal::GracefulTerminate,
            _ = int.recv() => {
                tracing::info!("SIGINT received, exiting now");
                (self.cleanup)();
                std::process::exit(0)
            }
        }
    }
}
