//! Background writers besides reload and probes: forgetting idle rate-limit keys, and
//! reloading the location database when its file changes.

use std::sync::Arc;

use crate::state::GatewayState;

/// Forgets idle rate-limit keys on a schedule, so memory stays bounded under a flood of
/// distinct clients.
pub struct RateLimitMaintenance {
    /// The state whose rate limiter is maintained.
    pub state: Arc<GatewayState>,
}

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for RateLimitMaintenance {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        loop {
            let every = self.state.ratelimiter.maintenance_interval();
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(every) => self.state.ratelimiter.maintain(),
            }
        }
    }
}

/// Reloads the location database when its file changes (and follows a config reload that
/// points at another file).
pub struct GeoWatcher {
    /// The state whose location database is watched.
    pub state: Arc<GatewayState>,
}

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for GeoWatcher {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        loop {
            let db = self.state.geo.load_full();
            let interval = self
                .state
                .live()
                .snapshot
                .config
                .geo
                .as_ref()
                .map_or(std::time::Duration::from_secs(5), |g| g.reload_interval);
            let watching = async {
                match db.clone() {
                    Some(db) => edge_geo::mmdb::watch(db, interval).await,
                    None => std::future::pending().await,
                }
            };
            // Restart the watch when a reload swapped the database for another file.
            let swapped = async {
                loop {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    let now = self.state.geo.load_full();
                    let same = match (&now, &db) {
                        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                        (None, None) => true,
                        _ => false,
                    };
                    if !same {
                        return;
                    }
                }
            };
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = watching => {}
                _ = swapped => {}
            }
        }
    }
}
