//! Bookkeeping shared by every task that owns a client connection.

use std::sync::Arc;

use tokio::sync::watch;

use crate::record::Stats;

/// Broadcasts "drop every connection now" to all connection tasks of an origin.
///
/// A generation counter on a watch channel instead of a table of abort handles: a task
/// subscribes while the listener lock is held, so a kill can never slip between accepting
/// a connection and registering it.
#[derive(Debug)]
pub(crate) struct KillSwitch {
    generation: watch::Sender<u64>,
}

impl Default for KillSwitch {
    fn default() -> Self {
        Self {
            generation: watch::Sender::new(0),
        }
    }
}

impl KillSwitch {
    /// Trips every receiver handed out so far.
    pub(crate) fn trip(&self) {
        self.generation.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// A receiver that fires on the next [`KillSwitch::trip`].
    pub(crate) fn subscribe(&self) -> Killed {
        Killed {
            rx: self.generation.subscribe(),
        }
    }
}

/// The receiving end of a [`KillSwitch`]; clones fire on the same trip.
#[derive(Debug, Clone)]
pub(crate) struct Killed {
    rx: watch::Receiver<u64>,
}

impl Killed {
    /// Resolves when the origin is killed.
    pub(crate) async fn wait(&mut self) {
        // A closed channel means the origin itself is gone, which is a kill as well.
        let _ = self.rx.changed().await;
    }
}

/// Counts a connection as open for as long as it lives; dropping it, including by
/// cancellation, counts it closed.
#[derive(Debug)]
pub(crate) struct ConnGuard {
    stats: Arc<Stats>,
}

impl ConnGuard {
    pub(crate) fn new(stats: Arc<Stats>) -> Self {
        stats.connection_opened();
        Self { stats }
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.stats.connection_closed();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn trip_wakes_existing_subscribers_only() {
        let switch = KillSwitch::default();
        let mut before = switch.subscribe();
        let mut clone = before.clone();
        switch.trip();
        let mut after = switch.subscribe();
        tokio::time::timeout(Duration::from_secs(5), before.wait())
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), clone.wait())
            .await
            .unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(20), after.wait())
                .await
                .is_err()
        );
    }

    #[test]
    fn guard_counts_open_connections() {
        let stats = Arc::new(Stats::default());
        let a = ConnGuard::new(stats.clone());
        let b = ConnGuard::new(stats.clone());
        assert_eq!(stats.open_connections(), 2);
        drop(a);
        drop(b);
        assert_eq!(stats.open_connections(), 0);
    }
}
