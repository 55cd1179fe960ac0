//! The connection to Redis: redis-rs's `ConnectionManager` (one multiplexed connection that
//! reconnects after I/O errors), every call bounded by `fleet.timeout` with
//! `tokio::time::timeout`, and connecting done by a task of its own so that no call ever
//! waits for a connection to be made.
//!
//! Nothing here blocks in Redis (no `BLPOP`, no `XREAD BLOCK`): the fleet polls, so one
//! connection serves every call. A call that fails or times out marks Redis down
//! (`edge_fleet_redis_up 0`); the next one that succeeds marks it up. After
//! [`REBUILD_AFTER`] failures in a row the connection is dropped and made anew, which also
//! recovers from states the manager does not leave by itself (a connection to a paused
//! server, a rejected `AUTH` after a password rotation).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, IntoConnectionInfo, ScriptInvocation};

use super::metrics::FleetMetrics;
use super::scripts::Scripts;

/// Bound on establishing a connection (TCP, TLS, `AUTH`, `HELLO`); it runs in a task of its
/// own, never in a caller's time.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Failed calls in a row after which the connection is made anew.
pub const REBUILD_AFTER: u32 = 5;

/// Why a Redis call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No connection yet (one is being made).
    #[error("not connected to Redis (yet)")]
    NotConnected,
    /// The call took longer than `fleet.timeout`.
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Redis or the connection reported an error.
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// The fleet's Redis.
pub struct Store {
    client: redis::Client,
    manager: Arc<ArcSwapOption<ConnectionManager>>,
    connecting: Arc<AtomicBool>,
    failures: AtomicU32,
    timeout: Duration,
    prefix: String,
    /// The scripts, by SHA.
    pub scripts: Scripts,
    metrics: Arc<FleetMetrics>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("timeout", &self.timeout)
            .field("connected", &self.manager.load().is_some())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// A store for `url` (checked by the config crate) with `password`, calls bounded by
    /// `timeout`, keys under `prefix`. Connects on first use.
    pub fn new(
        url: &str,
        password: Option<&str>,
        timeout: Duration,
        prefix: &str,
        metrics: Arc<FleetMetrics>,
    ) -> Result<Store, redis::RedisError> {
        let mut info = url.into_connection_info()?;
        if let Some(p) = password {
            let settings = info.redis_settings().clone().set_password(p);
            info = info.set_redis_settings(settings);
        }
        Ok(Store {
            client: redis::Client::open(info)?,
            manager: Arc::new(ArcSwapOption::empty()),
            connecting: Arc::new(AtomicBool::new(false)),
            failures: AtomicU32::new(0),
            timeout,
            prefix: prefix.to_owned(),
            scripts: Scripts::default(),
            metrics,
        })
    }

    /// The prefix of every key.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The key `name` under the prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Whether the last call succeeded.
    pub fn is_up(&self) -> bool {
        self.metrics.redis_up.get() == 1
    }

    /// The connection, or `NotConnected` after starting (at most one) task that makes it.
    fn connection(&self) -> Result<ConnectionManager, StoreError> {
        if let Some(m) = self.manager.load_full() {
            return Ok((*m).clone());
        }
        if !self.connecting.swap(true, Ordering::AcqRel) {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_response_timeout(Some(self.timeout))
                .set_number_of_retries(0);
            let client = self.client.clone();
            let connecting = Arc::clone(&self.connecting);
            let slot = Arc::clone(&self.manager);
            tokio::spawn(async move {
                let made = tokio::time::timeout(
                    CONNECT_TIMEOUT,
                    ConnectionManager::new_with_config(client, config),
                )
                .await;
                match made {
                    Ok(Ok(m)) => slot.store(Some(Arc::new(m))),
                    Ok(Err(e)) => tracing::debug!(error = %e, "cannot connect to Redis"),
                    Err(_) => tracing::debug!("connecting to Redis timed out"),
                }
                connecting.store(false, Ordering::Release);
            });
        }
        Err(StoreError::NotConnected)
    }

    /// Runs a script invocation, bounded by the timeout.
    pub async fn run<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut con = self.connection().inspect_err(|_| self.failed())?;
        let result = tokio::time::timeout(self.timeout, invocation.invoke_async(&mut con)).await;
        self.settle(result)
    }

    /// Runs one command, bounded by the timeout.
    pub async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let mut con = self.connection().inspect_err(|_| self.failed())?;
        let result = tokio::time::timeout(self.timeout, cmd.query_async(&mut con)).await;
        self.settle(result)
    }

    /// Runs a script invocation on a connection of its own, made and used within
    /// [`CONNECT_TIMEOUT`] plus the timeout: for start-up, before the process's runtimes run.
    pub async fn run_once<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(self.timeout));
        let work = async {
            let mut con = self
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            invocation.invoke_async(&mut con).await
        };
        let result = tokio::time::timeout(CONNECT_TIMEOUT + self.timeout, work).await;
        self.settle(result)
    }

    fn settle<T>(
        &self,
        result: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, StoreError> {
        match result {
            Ok(Ok(v)) => {
                self.failures.store(0, Ordering::Relaxed);
                self.metrics.redis_up.set(1);
                Ok(v)
            }
            Ok(Err(e)) => {
                self.failed();
                Err(StoreError::Redis(e))
            }
            Err(_) => {
                self.failed();
                Err(StoreError::Timeout(self.timeout))
            }
        }
    }

    fn failed(&self) {
        self.metrics.redis_up.set(0);
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n % REBUILD_AFTER == 0 && self.manager.load().is_some() {
            tracing::debug!(failures = n, "making the Redis connection anew");
            self.manager.store(None);
        }
    }
}
