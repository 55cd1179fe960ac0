//! The health of peer edges (the `[[edge.peers]]` addresses), as the ClientHello decision
//! reads it.
//!
//! Written by the TCP-connect probe (`control::peer_prober`) and by passthrough itself (a
//! connect that fails counts as a failed probe); read per passed-through connection. Health is
//! kept per address, so a reload that keeps an address keeps what is known of it. An address
//! no probe has answered yet (it just appeared in the config) counts as healthy: trying it
//! costs a connect timeout at worst, and a refused connection is the same outcome as no peer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use super::residency::PeerHealthView;

/// One address's probe record.
#[derive(Debug, Default)]
struct Record {
    healthy: bool,
    /// Consecutive results that disagree with `healthy`.
    streak: u32,
}

/// The health of one peer address.
#[derive(Debug)]
pub struct PeerState {
    record: Mutex<Record>,
}

impl PeerState {
    fn new() -> Self {
        PeerState {
            record: Mutex::new(Record {
                healthy: true,
                streak: 0,
            }),
        }
    }

    /// Whether the address takes connections now.
    pub fn is_healthy(&self) -> bool {
        self.record.lock().map(|r| r.healthy).unwrap_or(false)
    }

    /// Records one probe (or passthrough connect) result. `rise` passes in a row make an
    /// unhealthy address healthy, `fall` failures in a row the reverse. Returns the new state
    /// when it changed.
    pub fn record(&self, ok: bool, rise: u32, fall: u32) -> Option<bool> {
        let mut r = self.record.lock().ok()?;
        if ok == r.healthy {
            r.streak = 0;
            return None;
        }
        r.streak += 1;
        let needed = if ok { rise } else { fall };
        if r.streak >= needed.max(1) {
            r.healthy = ok;
            r.streak = 0;
            return Some(ok);
        }
        None
    }
}

/// Every peer address's health, for the whole process.
#[derive(Debug)]
pub struct PeerHealth {
    states: ArcSwap<HashMap<SocketAddr, Arc<PeerState>>>,
}

impl Default for PeerHealth {
    fn default() -> Self {
        PeerHealth {
            states: ArcSwap::from_pointee(HashMap::new()),
        }
    }
}

impl PeerHealth {
    /// The state of `addr`, created (healthy, unproven) when it is new.
    pub fn state(&self, addr: SocketAddr) -> Arc<PeerState> {
        if let Some(s) = self.states.load().get(&addr) {
            return s.clone();
        }
        let mut created = None;
        self.states.rcu(|map| {
            let mut map = HashMap::clone(map);
            let s = map
                .entry(addr)
                .or_insert_with(|| Arc::new(PeerState::new()))
                .clone();
            created = Some(s);
            map
        });
        created.unwrap_or_else(|| Arc::new(PeerState::new()))
    }

    /// Forgets every address not in `keep` (after a reload removed peers).
    pub fn retain(&self, keep: &[SocketAddr]) {
        self.states.rcu(|map| {
            map.iter()
                .filter(|(a, _)| keep.contains(a))
                .map(|(a, s)| (*a, s.clone()))
                .collect::<HashMap<_, _>>()
        });
    }
}

impl PeerHealthView for PeerHealth {
    fn is_healthy(&self, addr: SocketAddr) -> bool {
        self.states.load().get(&addr).is_none_or(|s| s.is_healthy())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rise_and_fall_count_consecutive_results() {
        let s = PeerState::new();
        assert!(s.is_healthy());
        assert_eq!(s.record(false, 2, 3), None);
        assert_eq!(s.record(false, 2, 3), None);
        assert_eq!(s.record(true, 2, 3), None, "a pass resets the failures");
        assert_eq!(s.record(false, 2, 3), None);
        assert_eq!(s.record(false, 2, 3), None);
        assert_eq!(s.record(false, 2, 3), Some(false));
        assert!(!s.is_healthy());
        assert_eq!(s.record(true, 2, 3), None);
        assert_eq!(s.record(true, 2, 3), Some(true));
    }

    #[test]
    fn unknown_addresses_count_as_healthy_and_removed_ones_are_forgotten() {
        let h = PeerHealth::default();
        let a: SocketAddr = "127.0.0.20:8443".parse().unwrap();
        assert!(h.is_healthy(a));
        h.state(a).record(false, 1, 1);
        assert!(!h.is_healthy(a));
        assert!(Arc::ptr_eq(&h.state(a), &h.state(a)));
        h.retain(&[]);
        assert!(h.is_healthy(a));
    }
}
