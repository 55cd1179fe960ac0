//! The control plane: everything that writes state. [`Control`] is its one writer of the
//! routing generation (hot reload and operator overrides); [`reload`] turns file changes and
//! signals into reloads, [`prober`] runs the health probes, [`state_file`] persists overrides,
//! [`audit`] and [`history`] keep the last changes and 15 minutes of traffic in memory, and
//! [`admin`] is the authenticated HTTP API (and the [`console`]) in front of all of it.
//!
//! Every change — a reload (file watch, SIGHUP, admin API) or an override (weight, drain) —
//! builds a complete new snapshot off the request path, warms it (probes origins it has not
//! seen), then swaps it in with one `ArcSwap::store`. Requests in flight finish on the snapshot
//! they started with. Health state of unchanged origins carries over through the health
//! registry. A config that fails validation changes nothing.

pub(crate) mod admin;
pub(crate) mod audit;
pub(crate) mod console;
pub(crate) mod guard;
pub(crate) mod history;
pub(crate) mod maintenance;
pub(crate) mod peer_prober;
pub(crate) mod prober;
pub(crate) mod reload;
pub(crate) mod shared;
pub(crate) mod state_file;

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use edge_config::{Config, ConfigErrors};
use serde::Serialize;

use crate::control::audit::{AuditLog, Outcome};
use crate::control::history::History;
use crate::control::prober::probe_all_once;
use crate::control::shared::{FleetStatus, OverrideWrite, SharedOverrides};
use crate::control::state_file::StateFileError;
use crate::edge::tls::{CertStore, TlsError};
use crate::state::{GatewayState, Live};
use crate::topology::{Overrides, Snapshot, MAX_WEIGHT};

/// Why a reload was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The config file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The config is invalid (every error, with key path and line).
    #[error("configuration is invalid:\n{0}")]
    Invalid(ConfigErrors),
    /// Certificates could not be loaded.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// The location database could not be opened.
    #[error("location database: {0}")]
    Geo(String),
    /// A blocking task failed.
    #[error("internal: {0}")]
    Internal(String),
}

/// Why an override was refused.
#[derive(Debug, thiserror::Error)]
pub enum OverrideError {
    /// No such region or origin in the active config.
    #[error("{0}")]
    NotFound(String),
    /// The value is out of range.
    #[error("{0}")]
    Invalid(String),
    /// The state file could not be written; nothing was changed.
    #[error(transparent)]
    StateFile(#[from] StateFileError),
    /// The change would leave a geography without a usable origin (every request of it would
    /// get `503`), and was not forced; nothing was changed.
    #[error("{0}")]
    WouldStrand(String),
    /// `If-Match` named another version than the current one; nothing was changed.
    #[error("the overrides are at version {current}, not the version given in If-Match")]
    VersionMismatch {
        /// The current version.
        current: u64,
    },
    /// The fleet's shared store cannot be reached; nothing was changed.
    #[error("the fleet's Redis cannot be reached ({0}); nothing was changed")]
    Unavailable(String),
    /// Fleet mode: another replica changed the overrides between this change's check against
    /// stranding a geography and its write, so the check no longer holds; nothing was changed.
    #[error(
        "another replica changed the overrides (now version {current}) while this change was \
         checked; nothing was changed: send it again"
    )]
    Concurrent {
        /// The version another replica wrote.
        current: u64,
    },
}

/// What a successful reload did.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadReport {
    /// The new generation.
    pub generation: u64,
    /// Hash of the config text (hex).
    pub hash: String,
    /// Known tenants.
    pub tenants: usize,
    /// Changes that were NOT applied because they need a restart.
    pub restart_required: Vec<String>,
    /// Time from trigger to swap, in milliseconds.
    pub took_ms: f64,
    /// Of which: reading and validating the files.
    pub load_ms: f64,
    /// Of which: building the snapshot and probing new origins.
    pub build_ms: f64,
}

/// The active config's identity, for the API.
#[derive(Debug, Clone, Serialize)]
pub struct ActiveConfig {
    /// Path of the config file.
    pub path: String,
    /// Generation (1 at start, +1 per reload or override change).
    pub generation: u64,
    /// Hash of the config text (hex).
    pub hash: String,
    /// The config text as loaded.
    pub source: String,
    /// The last refused reload's error, if the last attempt failed.
    pub last_error: Option<String>,
    /// Changes from the last reload that need a restart.
    pub restart_required: Vec<String>,
    /// When the active config was loaded (start or last successful reload), in milliseconds
    /// since the Unix epoch.
    pub loaded_at_ms: u64,
    /// When the last refused reload was refused (with `last_error`), in milliseconds since
    /// the Unix epoch.
    pub last_error_at_ms: Option<u64>,
}

#[derive(Debug)]
struct Status {
    hash: String,
    source: String,
    last_error: Option<String>,
    restart_required: Vec<String>,
    loaded_at_ms: u64,
    last_error_at_ms: Option<u64>,
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Whether an override change is checked for geographies it would leave without a usable
/// origin (see [`guard`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strand {
    /// Refuse such a change with [`OverrideError::WouldStrand`].
    Refuse,
    /// Apply it anyway (the operator forced it; audited as forced).
    Force,
}

/// Owns reloads and overrides for one gateway process.
#[derive(Debug)]
pub struct Control {
    /// The shared state it updates.
    pub state: Arc<GatewayState>,
    config_path: PathBuf,
    state_file: Option<PathBuf>,
    overrides: Mutex<Overrides>,
    /// Version of `overrides`: the fleet's in fleet mode, else counted from 0 at start.
    overrides_version: AtomicU64,
    /// The fleet's shared overrides, in fleet mode.
    shared: OnceLock<Arc<dyn SharedOverrides>>,
    /// The fleet's membership view, in fleet mode.
    fleet: OnceLock<Arc<dyn FleetStatus>>,
    status: Mutex<Status>,
    /// One change at a time; readers never wait on it.
    writer: tokio::sync::Mutex<()>,
    /// The last changes and refused attempts, newest last.
    pub audit: AuditLog,
    /// Traffic per region over the last 15 minutes (sampled by `history::HistorySampler`).
    pub history: Arc<History>,
}

fn hash_text(text: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    format!("{:016x}", h.finish())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Settings that only take effect at start.
pub fn restart_required(old: &Config, new: &Config) -> Vec<String> {
    let mut v = Vec::new();
    if old.listeners.https != new.listeners.https {
        v.push("listeners.https".to_string());
    }
    if old.listeners.http != new.listeners.http {
        v.push("listeners.http".to_string());
    }
    if old.listeners.admin != new.listeners.admin {
        v.push("listeners.admin".to_string());
    }
    if old.server.threads != new.server.threads {
        v.push("server.threads".to_string());
    }
    if old.server.grace_period != new.server.grace_period {
        v.push("server.grace_period".to_string());
    }
    if old.fleet != new.fleet {
        v.push("fleet".to_string());
    }
    // Pingora reads these from the proxy service once; the other limits apply to new
    // connections (and requests) as soon as a reload is swapped in.
    let (o, n) = (&old.limits, &new.limits);
    if o.h2_max_concurrent_streams != n.h2_max_concurrent_streams {
        v.push("limits.h2_max_concurrent_streams".to_string());
    }
    if o.keepalive_requests != n.keepalive_requests {
        v.push("limits.keepalive_requests".to_string());
    }
    if o.max_header_bytes != n.max_header_bytes {
        v.push("limits.max_header_bytes (HTTP/2 only)".to_string());
    }
    if o.idle_timeout != n.idle_timeout {
        v.push("limits.idle_timeout (HTTP/2 only)".to_string());
    }
    if old.access_log != new.access_log {
        v.push("access_log".to_string());
    }
    // The DNS sockets and the TCP connection cap are set up once; everything else of [dns]
    // (zone, records, edges, timeouts, sizes) applies from the next query on.
    match (&old.dns, &new.dns) {
        (None, Some(_)) => v.push("dns (added: the responder starts with the process)".into()),
        (Some(_), None) => {
            v.push("dns (removed: the responder answers REFUSED until a restart)".into());
        }
        (Some(o), Some(n)) => {
            if o.listen != n.listen {
                v.push("dns.listen".to_string());
            }
            if o.max_tcp_connections != n.max_tcp_connections {
                v.push("dns.max_tcp_connections".to_string());
            }
        }
        (None, None) => {}
    }
    v
}

impl Control {
    /// A control plane for `state`, loaded from `config_path` whose text was `source`.
    pub fn new(
        state: Arc<GatewayState>,
        config_path: PathBuf,
        source: &str,
        state_file: Option<PathBuf>,
        overrides: Overrides,
    ) -> Self {
        Control {
            state,
            config_path,
            state_file,
            overrides: Mutex::new(overrides),
            overrides_version: AtomicU64::new(0),
            shared: OnceLock::new(),
            fleet: OnceLock::new(),
            status: Mutex::new(Status {
                hash: hash_text(source),
                source: source.to_string(),
                last_error: None,
                restart_required: Vec::new(),
                loaded_at_ms: unix_ms(),
                last_error_at_ms: None,
            }),
            writer: tokio::sync::Mutex::new(()),
            audit: AuditLog::default(),
            history: Arc::new(History::default()),
        }
    }

    /// The config file being watched.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The active config's identity and source.
    pub fn active(&self) -> ActiveConfig {
        let s = lock(&self.status);
        ActiveConfig {
            path: self.config_path.display().to_string(),
            generation: self.state.live().snapshot.generation,
            hash: s.hash.clone(),
            source: s.source.clone(),
            last_error: s.last_error.clone(),
            restart_required: s.restart_required.clone(),
            loaded_at_ms: s.loaded_at_ms,
            last_error_at_ms: s.last_error_at_ms,
        }
    }

    /// The current overrides.
    pub fn overrides(&self) -> Overrides {
        lock(&self.overrides).clone()
    }

    /// The version of the current overrides (the fleet's in fleet mode; else changes since
    /// start).
    pub fn overrides_version(&self) -> u64 {
        self.overrides_version.load(Ordering::Relaxed)
    }

    /// Fleet mode: overrides are written to `shared` and applied from it. Set once, at start.
    pub fn share_overrides(&self, shared: Arc<dyn SharedOverrides>) {
        let _ = self.shared.set(shared);
    }

    /// Fleet mode: what `GET /api/v1/fleet` shows. Set once, at start.
    pub fn show_fleet(&self, status: Arc<dyn FleetStatus>) {
        let _ = self.fleet.set(status);
    }

    /// The fleet's membership view, in fleet mode.
    pub fn fleet(&self) -> Option<&Arc<dyn FleetStatus>> {
        self.fleet.get()
    }

    /// The fleet's shared overrides, in fleet mode.
    pub fn shared_overrides(&self) -> Option<&Arc<dyn SharedOverrides>> {
        self.shared.get()
    }

    /// Applies overrides another replica wrote (fleet mode): persists them as the
    /// last-known-good copy and swaps in a snapshot that uses them. Returns false when
    /// `version` and `overrides` are what is applied already, or when `if_local` is given and
    /// this replica's version is no longer it: a change written through this replica after
    /// the caller read Redis is newer than what it read, and the next poll sees it.
    pub async fn apply_shared(
        &self,
        version: u64,
        overrides: Overrides,
        if_local: Option<u64>,
    ) -> bool {
        let _one_at_a_time = self.writer.lock().await;
        if if_local.is_some_and(|v| v != self.overrides_version()) {
            return false;
        }
        if version == self.overrides_version() && overrides == self.overrides() {
            return false;
        }
        if let Some(path) = &self.state_file {
            // The state file is the copy a replica starts from while Redis is down; failing to
            // write it must not keep this replica on stale overrides.
            if let Err(e) = overrides.save(path) {
                tracing::error!(error = %e, "cannot save the fleet's overrides to the state file");
            }
        }
        *lock(&self.overrides) = overrides.clone();
        self.overrides_version.store(version, Ordering::Relaxed);
        let old = self.state.live();
        let live = self
            .build_and_warm(
                old.snapshot.config.clone(),
                old.snapshot.generation + 1,
                &overrides,
            )
            .await;
        self.state.store(live);
        tracing::info!(
            version,
            overrides = %serde_json::to_string(&overrides).unwrap_or_default(),
            "fleet overrides applied"
        );
        true
    }

    /// Re-reads, validates, builds, warms and swaps in the config file. `trigger` names what
    /// asked for it (for the log and the audit: a token's name, `SIGHUP`, `file change`).
    pub async fn reload(&self, trigger: &str) -> Result<ReloadReport, ReloadError> {
        let result = self.reload_inner(trigger).await;
        match &result {
            Ok(r) => self.audit.record(
                trigger,
                "reload",
                Outcome::Applied,
                format!("generation {}, hash {}", r.generation, r.hash),
            ),
            Err(e) => self
                .audit
                .record(trigger, "reload", Outcome::Refused, e.to_string()),
        }
        result
    }

    async fn reload_inner(&self, trigger: &str) -> Result<ReloadReport, ReloadError> {
        let _one_at_a_time = self.writer.lock().await;
        let start = Instant::now();
        let path = self.config_path.clone();
        let loaded = tokio::task::spawn_blocking(move || load(&path))
            .await
            .map_err(|e| ReloadError::Internal(e.to_string()))
            .and_then(|r| r);
        let (config, source, certs) = match loaded {
            Ok(v) => v,
            Err(e) => {
                let result = match e {
                    ReloadError::Invalid(_) => "invalid",
                    _ => "failed",
                };
                self.state
                    .metrics
                    .reloads
                    .with_label_values(&[result])
                    .inc();
                tracing::error!(trigger, error = %e, "configuration reload refused; the previous configuration keeps serving");
                self.refused(&e);
                return Err(e);
            }
        };
        let geo = match self.geo_for(&config).await {
            Ok(g) => g,
            Err(e) => {
                self.state
                    .metrics
                    .reloads
                    .with_label_values(&["failed"])
                    .inc();
                tracing::error!(trigger, error = %e, "configuration reload refused; the previous configuration keeps serving");
                self.refused(&e);
                return Err(e);
            }
        };
        let load_ms = start.elapsed().as_secs_f64() * 1000.0;
        let old = self.state.live();
        let old = &old.snapshot;
        let restart = restart_required(&old.config, &config);
        let tenants = config.tenants.by_id.len();
        let overrides = self.overrides();
        let generation = old.generation + 1;
        let build_start = Instant::now();
        let live = self
            .build_and_warm(Arc::new(config), generation, &overrides)
            .await;
        let build_ms = build_start.elapsed().as_secs_f64() * 1000.0;
        self.state.certs.replace(certs);
        if let Some(geo) = geo {
            self.state.geo.store(geo);
        }
        self.state.store(live);
        self.state.metrics.reloads.with_label_values(&["ok"]).inc();
        let hash = hash_text(&source);
        {
            let mut s = lock(&self.status);
            s.hash = hash.clone();
            s.source = source;
            s.last_error = None;
            s.last_error_at_ms = None;
            s.restart_required = restart.clone();
            s.loaded_at_ms = unix_ms();
        }
        let took_ms = start.elapsed().as_secs_f64() * 1000.0;
        if restart.is_empty() {
            tracing::info!(
                trigger,
                generation,
                tenants,
                took_ms,
                "configuration reloaded"
            );
        } else {
            tracing::warn!(trigger, generation, tenants, took_ms, restart_required = ?restart,
                "configuration reloaded; some changes need a restart to take effect");
        }
        Ok(ReloadReport {
            generation,
            hash,
            tenants,
            restart_required: restart,
            took_ms,
            load_ms,
            build_ms,
        })
    }

    fn refused(&self, e: &ReloadError) {
        let mut s = lock(&self.status);
        s.last_error = Some(e.to_string());
        s.last_error_at_ms = Some(unix_ms());
    }

    /// The location database the new config wants: `None` to keep the current one, else the
    /// replacement (opened and checked here, so a bad file refuses the reload).
    async fn geo_for(
        &self,
        config: &Config,
    ) -> Result<Option<Option<Arc<edge_geo::mmdb::GeoDb>>>, ReloadError> {
        let current = self.state.geo.load_full();
        match (config.geo.as_ref(), current) {
            (None, None) => Ok(None),
            (None, Some(_)) => Ok(Some(None)),
            (Some(g), Some(db)) if db.path() == g.database => Ok(None),
            (Some(g), _) => {
                let path = g.database.clone();
                let opened = tokio::task::spawn_blocking(move || edge_geo::mmdb::GeoDb::open(path))
                    .await
                    .map_err(|e| ReloadError::Internal(e.to_string()))?
                    .map_err(|e| ReloadError::Geo(e.to_string()))?;
                Ok(Some(Some(Arc::new(opened))))
            }
        }
    }

    async fn build_and_warm(
        &self,
        config: Arc<Config>,
        generation: u64,
        overrides: &Overrides,
    ) -> Live {
        let live = self.state.bind(Snapshot::build_with_overrides(
            config, generation, overrides,
        ));
        // Origins new to this snapshot are probed before it takes traffic.
        probe_all_once(&live).await;
        live
    }

    /// Applies `change` to the overrides, persists them, and swaps in a snapshot that uses
    /// them. Nothing changes if the state file cannot be written (outside fleet mode). Not
    /// checked for stranded geographies (see [`Control::update_overrides_guarded`]).
    ///
    /// With `if_match`, nothing changes unless the overrides are at that version
    /// ([`OverrideError::VersionMismatch`]). In fleet mode the change is computed from the
    /// fleet's current overrides and written to the fleet first. Returns the overrides and
    /// their new version.
    pub async fn update_overrides_if<F>(
        &self,
        who: &str,
        what: &str,
        if_match: Option<u64>,
        change: F,
    ) -> Result<(Overrides, u64), OverrideError>
    where
        F: FnOnce(&Config, &mut Overrides) -> Result<(), OverrideError>,
    {
        self.apply_overrides(who, what, None, if_match, change)
            .await
    }

    /// Like [`Control::update_overrides_if`], and with [`Strand::Refuse`] nothing changes when
    /// the change would leave a geography that it touches without an origin that is in
    /// rotation and usable now ([`OverrideError::WouldStrand`]). In fleet mode the check is
    /// made against the fleet's overrides as read just before the write; a change another
    /// replica makes between that read and the write is not checked with this one.
    pub async fn update_overrides_guarded<F>(
        &self,
        who: &str,
        what: &str,
        strand: Strand,
        if_match: Option<u64>,
        change: F,
    ) -> Result<(Overrides, u64), OverrideError>
    where
        F: FnOnce(&Config, &mut Overrides) -> Result<(), OverrideError>,
    {
        self.apply_overrides(who, what, Some(strand), if_match, change)
            .await
    }

    async fn apply_overrides<F>(
        &self,
        who: &str,
        what: &str,
        strand: Option<Strand>,
        if_match: Option<u64>,
        change: F,
    ) -> Result<(Overrides, u64), OverrideError>
    where
        F: FnOnce(&Config, &mut Overrides) -> Result<(), OverrideError>,
    {
        let what = match strand {
            Some(Strand::Force) => format!("{what} (forced)"),
            _ => what.to_string(),
        };
        let result = self
            .apply_overrides_inner(who, &what, strand, if_match, change)
            .await;
        match &result {
            Ok(_) => self.audit.record(
                who,
                &what,
                Outcome::Applied,
                format!("generation {}", self.state.live().snapshot.generation),
            ),
            Err(e) => self
                .audit
                .record(who, &what, Outcome::Refused, e.to_string()),
        }
        result
    }

    async fn apply_overrides_inner<F>(
        &self,
        who: &str,
        what: &str,
        strand: Option<Strand>,
        if_match: Option<u64>,
        change: F,
    ) -> Result<(Overrides, u64), OverrideError>
    where
        F: FnOnce(&Config, &mut Overrides) -> Result<(), OverrideError>,
    {
        let _one_at_a_time = self.writer.lock().await;
        let old_live = self.state.live();
        let old = &old_live.snapshot;
        let shared = self.shared.get();
        let (base, before) = match shared {
            Some(s) => s.read().await?,
            None => (self.overrides_version(), self.overrides()),
        };
        if if_match.is_some_and(|v| v != base) {
            return Err(OverrideError::VersionMismatch { current: base });
        }
        let mut after = before.clone();
        change(&old.config, &mut after)?;
        after.compact();
        let mut live = self.state.bind(Snapshot::build_with_overrides(
            old.config.clone(),
            old.generation + 1,
            &after,
        ));
        if strand == Some(Strand::Refuse) {
            let stranded = guard::stranded(&old_live, &live);
            if !stranded.is_empty() {
                return Err(OverrideError::WouldStrand(guard::explain(what, &stranded)));
            }
        }
        let (version, stored) = match shared {
            Some(s) => {
                // A change that takes origins out was checked against the version read above;
                // it is written only on top of that version, so two replicas cannot each drain
                // half of a geography at once (each check passing on its own).
                let guarded = strand == Some(Strand::Refuse) && guard::takes_out(&old_live, &live);
                let expected = if guarded { Some(base) } else { if_match };
                s.write(&OverrideWrite {
                    who,
                    what,
                    if_match: expected,
                    before: &before,
                    after: &after,
                })
                .await
                .map_err(|e| match e {
                    OverrideError::VersionMismatch { current } if if_match.is_none() => {
                        OverrideError::Concurrent { current }
                    }
                    e => e,
                })?
            }
            None => (base + 1, after.clone()),
        };
        if stored != after {
            // Another replica changed other overrides since the read: the fleet's state is
            // the union of both changes.
            live = self.state.bind(Snapshot::build_with_overrides(
                old.config.clone(),
                old.generation + 1,
                &stored,
            ));
        }
        let after = stored;
        if let Some(path) = &self.state_file {
            // In fleet mode the change is already the fleet's: a full disk must not keep this
            // replica on the old overrides.
            match after.save(path) {
                Err(e) if shared.is_none() => return Err(e.into()),
                Err(e) => {
                    tracing::error!(error = %e, "cannot save the overrides to the state file")
                }
                Ok(()) => {}
            }
        }
        *lock(&self.overrides) = after.clone();
        self.overrides_version.store(version, Ordering::Relaxed);
        // Origins new to this snapshot are probed before it takes traffic.
        probe_all_once(&live).await;
        self.state.store(live);
        tracing::info!(
            target: "audit",
            who,
            what,
            before = %serde_json::to_string(&before).unwrap_or_default(),
            after = %serde_json::to_string(&after).unwrap_or_default(),
            version,
            "operator override"
        );
        Ok((after, version))
    }
}

/// Checks that `region` exists in `config`.
pub fn require_region(config: &Config, region: &str) -> Result<(), OverrideError> {
    if config.regions.iter().any(|r| r.name.as_str() == region) {
        Ok(())
    } else {
        Err(OverrideError::NotFound(format!(
            "no region named {region:?}"
        )))
    }
}

/// Checks that the origin `address` exists in `region`.
pub fn require_origin(config: &Config, region: &str, address: &str) -> Result<(), OverrideError> {
    let found = config
        .regions
        .iter()
        .filter(|r| r.name.as_str() == region)
        .any(|r| r.origins.iter().any(|o| o.address == address));
    if found {
        Ok(())
    } else {
        Err(OverrideError::NotFound(format!(
            "no origin {address:?} in region {region:?}"
        )))
    }
}

/// Checks that `address` is an edge of `config`'s `[dns]`; returns it as the override key
/// (the address as `IpAddr` writes it, so `2001:DB8::1` and `2001:db8::1` are one edge).
pub fn require_dns_edge(config: &Config, address: &str) -> Result<String, OverrideError> {
    let ip: std::net::IpAddr = address.parse().map_err(|_| {
        OverrideError::Invalid(format!(
            "{address:?} is not an IP address; name a DNS edge by its address, e.g. 192.0.2.10"
        ))
    })?;
    let dns = config.dns.as_ref().ok_or_else(|| {
        OverrideError::NotFound("the active configuration has no [dns] section".to_string())
    })?;
    if dns.edges.iter().any(|g| g.addresses.contains(&ip)) {
        Ok(ip.to_string())
    } else {
        Err(OverrideError::NotFound(format!(
            "{ip} is not an edge of [[dns.edges]]"
        )))
    }
}

/// Checks an operator weight.
pub fn check_weight(weight: u32) -> Result<(), OverrideError> {
    if weight > MAX_WEIGHT {
        Err(OverrideError::Invalid(format!(
            "weight {weight} is out of range (0..={MAX_WEIGHT})"
        )))
    } else {
        Ok(())
    }
}

/// Reads and validates the config file and its certificates (blocking).
fn load(path: &Path) -> Result<(Config, String, CertStore), ReloadError> {
    let source = std::fs::read_to_string(path).map_err(|source| ReloadError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let config = edge_config::parse(&source, &path.display().to_string(), base)
        .map_err(ReloadError::Invalid)?;
    let certs = CertStore::load(&config.tls.certificates)?;
    Ok((config, source, certs))
}

/// How long file-change events are collected before one reload (editors write in bursts).
pub const WATCH_DEBOUNCE: Duration = Duration::from_millis(200);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    const DNS: &str = r#"
[dns]
listen = ["127.0.0.1:5353"]
zone = "app.example.com"
nameservers = ["ns1.example.net"]
[[dns.edges]]
geography = "eu"
addresses = ["192.0.2.10"]
[[dns.edges]]
geography = "na"
addresses = ["198.51.100.10"]
"#;

    #[test]
    fn dns_sockets_need_a_restart_and_the_rest_of_dns_does_not() {
        let without = testing::config("");
        let with = testing::config(DNS);
        assert_eq!(
            restart_required(&without, &with),
            ["dns (added: the responder starts with the process)"]
        );
        assert_eq!(
            restart_required(&with, &without),
            ["dns (removed: the responder answers REFUSED until a restart)"]
        );
        let moved = testing::config(&DNS.replace(
            "listen = [\"127.0.0.1:5353\"]",
            "listen = [\"127.0.0.1:5354\"]\nmax_tcp_connections = 5\nttl = \"5s\"",
        ));
        assert_eq!(
            restart_required(&with, &moved),
            ["dns.listen", "dns.max_tcp_connections"]
        );
        let live = testing::config(&DNS.replace("zone = ", "ttl = \"1m\"\nzone = "));
        assert!(restart_required(&with, &live).is_empty());
    }

    #[test]
    fn dns_edges_are_named_by_address() {
        let config = testing::config(DNS);
        assert_eq!(
            require_dns_edge(&config, "192.0.2.10").unwrap(),
            "192.0.2.10"
        );
        assert!(matches!(
            require_dns_edge(&config, "192.0.2.99"),
            Err(OverrideError::NotFound(_))
        ));
        assert!(matches!(
            require_dns_edge(&config, "eu"),
            Err(OverrideError::Invalid(_))
        ));
        assert!(matches!(
            require_dns_edge(&testing::config(""), "192.0.2.10"),
            Err(OverrideError::NotFound(_))
        ));
    }
}
