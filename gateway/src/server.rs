//! Assembles the Pingora server from a validated configuration.

use std::sync::Arc;

use edge_config::Config;
use pingora::apps::http_app::HttpServer;
use pingora::listeners::tls::TlsSettings;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;
use pingora::services::listening::Service;

use crate::health::{probe_all_once, HealthChecker, HealthRegistry};
use crate::proxy::EdgeProxy;
use crate::redirect::HttpsRedirect;
use crate::snapshot::Snapshot;
use crate::state::GatewayState;
use crate::tls::{CertResolver, CertStore, TlsError};
use pingora::services::background::background_service;

/// Upper bound on upstream attempts per request that Pingora allows; the configured
/// `routing.max_attempts` (at most 10) applies inside it and can change on reload.
const PINGORA_MAX_TRIES: usize = 16;

/// Pooled idle upstream connections, for the whole process (Pingora's limit is global, not per
/// thread); sized for peak concurrency so connections are reused rather than reopened.
const UPSTREAM_POOL_SIZE: usize = 1024;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Certificates could not be loaded.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// The start-up runtime could not be created.
    #[error("runtime: {0}")]
    Runtime(String),
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
pub fn build_state(config: Config) -> Result<Arc<GatewayState>, StartError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs = CertStore::load(&config.tls.certificates)?;
    let registry = Arc::new(HealthRegistry::new());
    let snapshot = Snapshot::build(Arc::new(config), 1, registry.clone());
    let warmup = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StartError::Runtime(e.to_string()))?;
    warmup.block_on(probe_all_once(&registry, &snapshot));
    Ok(Arc::new(GatewayState::new(
        snapshot,
        Arc::new(CertResolver::new(certs)),
    )))
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

/// Builds the Pingora server: the HTTPS proxy service and the HTTP redirect service.
pub fn build_server(
    config: &Config,
    state: Arc<GatewayState>,
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

    let mut proxy = pingora::proxy::http_proxy_service_with_name(
        &server.configuration,
        EdgeProxy::new(state.clone()),
        "edge-https",
    );
    for addr in &config.listeners.https {
        let mut tls = TlsSettings::intermediate("", "").map_err(|e| StartError::Listener {
            addr: addr.to_string(),
            message: e.to_string(),
        })?;
        tls.set_cert_resolver(state.certs.clone());
        tls.enable_h2();
        proxy.add_tls_with_settings(&addr.to_string(), None, tls);
    }
    server.add_service(proxy);
    server.add_service(background_service(
        "health-checks",
        HealthChecker::new(state.clone()),
    ));

    if !config.listeners.http.is_empty() {
        let https_port = config.listeners.https.first().map_or(443, |a| a.port());
        let mut redirect = Service::new(
            "edge-http-redirect".to_string(),
            HttpServer::new_app(HttpsRedirect::new(https_port)),
        );
        for addr in &config.listeners.http {
            redirect.add_tcp(&addr.to_string());
        }
        server.add_service(redirect);
    }
    Ok(server)
}
