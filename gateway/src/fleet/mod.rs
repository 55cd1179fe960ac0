//! Fleet mode: the replicas of one deployment share their tenant and route rate limits and the
//! operators' overrides through one Redis, and see each other (`[fleet]`, `docs/fleet.md`).
//!
//! | module | runs | holds |
//! |---|---|---|
//! | `quota` | per request, and per round | `FleetQuotas`: the local allowance per key, the design and its bound |
//! | `reconcile` | per round | one round: due keys to Redis in batches, leases back |
//! | `scripts` | — | the Lua scripts (GCRA reconciliation, overrides, heartbeats) |
//! | `store` | per Redis call | the connection: redis-rs `ConnectionManager`, our timeout on every call |
//! | `overrides` | on admin writes, per poll | fleet-wide overrides: atomic writes, audit stream, polling |
//! | `members` | per heartbeat, per admin call | heartbeats, the roster, drift and staleness, `GET /api/v1/fleet` |
//! | `service` | background | the loops that run all of the above |
//! | `metrics` | — | the `edge_fleet_*` metrics |
//!
//! The request path only ever touches `quota` (atomics and a `DashMap` shard read lock);
//! everything that talks to Redis runs in the background service or on admin calls. The
//! control plane sees this plane through the traits of `control/shared.rs`, so `control`
//! never imports `fleet`.

pub(crate) mod members;
pub(crate) mod metrics;
pub(crate) mod overrides;
pub(crate) mod quota;
pub(crate) mod reconcile;
pub(crate) mod scripts;
pub(crate) mod service;
pub(crate) mod store;

#[cfg(test)]
mod test_redis;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use edge_config::SecretSource;

use crate::control::Control;
use crate::state::GatewayState;
use members::Members;
use metrics::FleetMetrics;
use overrides::FleetOverrides;
use quota::{FleetQuotas, Mode};
use service::FleetService;
use store::Store;

/// Why fleet mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The password could not be read.
    #[error("fleet.{key}: {message}")]
    Password {
        /// `password_env` or `password_file`.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The URL was refused by the Redis client.
    #[error("fleet.redis_url: {0}")]
    Url(String),
}

/// Fleet mode, set up and ready to run.
#[derive(Debug)]
pub struct Fleet {
    /// The background service (add it to the server).
    pub service: FleetService,
}

impl Fleet {
    /// Sets up fleet mode for `state` and `control`: reads the password, names the node,
    /// installs the quota table on the request path and the shared overrides and status on
    /// the control plane, then reads the fleet's overrides once (within a couple of seconds;
    /// a replica that cannot reach Redis starts with its state file's overrides).
    pub fn start(
        config: &edge_config::Fleet,
        state: &GatewayState,
        control: Arc<Control>,
    ) -> Result<Fleet, FleetError> {
        let password = read_password(config.password.as_ref())?;
        let node = config.node_id.clone().unwrap_or_else(default_node_id);
        let metrics = Arc::new(FleetMetrics::new(state.metrics.registry()));
        let store = Arc::new(
            Store::new(
                &config.redis_url,
                password.as_deref(),
                config.timeout,
                &config.key_prefix,
                Arc::clone(&metrics),
            )
            .map_err(|e| FleetError::Url(e.to_string()))?,
        );
        let cap = state
            .live()
            .snapshot
            .config
            .rate_limits
            .as_ref()
            .map_or(edge_config::validate::DEFAULT_MAX_TRACKED_CLIENTS, |r| {
                r.max_tracked_clients.get()
            });
        let quotas = Arc::new(FleetQuotas::new(config.sync_interval, cap));
        let _ = state.fleet.set(Arc::clone(&quotas));
        metrics
            .overshoot
            .set(2.0 * config.sync_interval.as_secs_f64());
        let overrides = Arc::new(FleetOverrides::new(
            Arc::clone(&store),
            &node,
            Arc::clone(&metrics),
        ));
        control.share_overrides(overrides.clone());
        let members = Arc::new(Members::new(
            Arc::clone(&store),
            &node,
            Arc::clone(&control),
            Arc::clone(&quotas),
            Arc::clone(&metrics),
        ));
        control.show_fleet(members.clone());
        initial_overrides(&overrides, &control);
        tracing::info!(node, url = %config.redis_url, "fleet mode");
        Ok(Fleet {
            service: FleetService {
                quotas,
                store,
                overrides,
                members,
                control,
                node,
                fallback: Mode::fallback(config.when_unreachable),
                metrics,
            },
        })
    }
}

/// Reads the fleet's overrides once at start and applies them, so a new replica serves with
/// the fleet's drains from its first request.
fn initial_overrides(overrides: &FleetOverrides, control: &Control) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async {
        match overrides.read_state_once().await {
            Ok((Some(version), o)) => {
                control.apply_shared(version, o, None).await;
            }
            Ok((None, _)) => {}
            Err(e) => tracing::warn!(error = %e,
                "fleet: cannot read the fleet's overrides at start; serving with the state file's until Redis answers"),
        }
    });
}

/// The password from its source; `None` without one.
fn read_password(source: Option<&SecretSource>) -> Result<Option<String>, FleetError> {
    match source {
        None => Ok(None),
        Some(SecretSource::Env(name)) => match std::env::var(name) {
            Ok(p) if !p.is_empty() => Ok(Some(p)),
            _ => Err(FleetError::Password {
                key: "password_env",
                message: format!("the environment variable {name} is not set (or empty)"),
            }),
        },
        Some(SecretSource::File(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| FleetError::Password {
                key: "password_file",
                message: format!("cannot read {}: {e}", path.display()),
            })?;
            let first = text.lines().next().unwrap_or_default().trim();
            if first.is_empty() {
                return Err(FleetError::Password {
                    key: "password_file",
                    message: format!("{} is empty", path.display()),
                });
            }
            Ok(Some(first.to_owned()))
        }
    }
}

/// The host name (`HOSTNAME`, the pod's name in Kubernetes, else the kernel's) and the
/// process id, e.g. `edge-gateway-7d9f-x2k4p-1`.
fn default_node_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .unwrap_or_else(|| "gateway".to_owned());
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
        .take(48)
        .collect();
    format!("{host}-{}", std::process::id())
}
