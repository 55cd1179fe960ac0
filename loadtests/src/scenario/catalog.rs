//! The scenarios by name: what each does, its default length and load, and the fault
//! settings its description promises.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

/// The flooding tenant's limit in the rate-limit scenario (requests per second = burst).
pub const FLOOD_LIMIT_RPS: u32 = 100;

/// Latency added to the EU primary during the brownout.
pub const BROWNOUT_LATENCY: Duration = Duration::from_millis(150);
/// Jitter on top of it.
pub const BROWNOUT_JITTER: Duration = Duration::from_millis(20);
/// Share of requests the EU primary answers with a 503 during the brownout.
pub const BROWNOUT_ERROR_RATE: f64 = 0.2;

/// Time between reloads in the reload storm.
pub const RELOAD_EVERY: Duration = Duration::from_millis(500);

/// A scenario's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// HTTP/1.1 keep-alive and h2 over TLS, a tenant mix across geographies.
    Steady,
    /// The EU primary is killed mid-run and revived later.
    RegionOutage,
    /// The EU primary answers 150 ms slower and with 20 % 503s for a while.
    Brownout,
    /// The admin API drains the EU primary mid-run, then restores it.
    WeightShift,
    /// The configuration is changed and reloaded every 500 ms under load.
    ReloadStorm,
    /// One tenant floods; the others must not suffer.
    RateLimit,
    /// A new TLS connection (full handshake) per request.
    Churn,
    /// Two edges (`[edge]`); half the clients connect to the wrong one, which must pass their
    /// connections through still encrypted.
    WrongEdge,
    /// Three replicas on one Redis: a flood, a drain through one replica, Redis killed and
    /// restarted.
    Fleet,
}

impl Scenario {
    /// Every scenario, in the order `run all` runs them.
    pub const ALL: [Scenario; 9] = [
        Scenario::Steady,
        Scenario::RegionOutage,
        Scenario::Brownout,
        Scenario::WeightShift,
        Scenario::ReloadStorm,
        Scenario::RateLimit,
        Scenario::Churn,
        Scenario::WrongEdge,
        Scenario::Fleet,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Steady => "steady",
            Scenario::RegionOutage => "region-outage",
            Scenario::Brownout => "brownout",
            Scenario::WeightShift => "weight-shift",
            Scenario::ReloadStorm => "reload-storm",
            Scenario::RateLimit => "rate-limit",
            Scenario::Churn => "churn",
            Scenario::WrongEdge => "wrong-edge",
            Scenario::Fleet => "fleet",
        }
    }

    /// One line on what it does.
    pub fn describe(self) -> &'static str {
        match self {
            Scenario::Steady => "HTTP/1.1 keep-alive and h2 over TLS, tenants across eu/na/apac",
            Scenario::RegionOutage => {
                "kill the EU primary (northeurope) at 20 % of the run, revive it at 35 %; \
                 20 % of the load is POSTs, each with a unique id"
            }
            Scenario::Brownout => {
                "EU primary +150 ms (±20 ms) and 20 % 503s from 25 % to 75 % of the run"
            }
            Scenario::WeightShift => {
                "drain the EU primary through the admin API at 30 %, undrain it at 65 %"
            }
            Scenario::ReloadStorm => "change and reload the config every 500 ms from 15 % to 85 %",
            Scenario::RateLimit => {
                "one tenant floods from 30 % to 80 % of the run; the others must not suffer"
            }
            Scenario::Churn => "a new TLS connection with a full handshake per request",
            Scenario::WrongEdge => {
                "two edges (eu, na); half the clients reach the wrong edge, which passes them \
                 through encrypted: 0 foreign terminations, and what passthrough costs"
            }
            Scenario::Fleet => {
                "3 replicas on one Redis: a tenant floods, a drain through one replica at 25 %, \
                 Redis killed at 50 % and restarted at 70 %"
            }
        }
    }

    /// The default run length.
    pub fn default_duration(self, short: bool) -> Duration {
        let secs = if short {
            match self {
                Scenario::RegionOutage => 8,
                Scenario::Fleet => 12,
                _ => 6,
            }
        } else {
            match self {
                Scenario::RegionOutage => 27,
                Scenario::Brownout => 30,
                Scenario::Churn => 15,
                Scenario::Fleet => 30,
                _ => 20,
            }
        };
        Duration::from_secs(secs)
    }

    /// The default offered rate (requests per second, all streams together).
    pub fn default_rps(self, short: bool) -> f64 {
        let rps = match self {
            Scenario::Steady => 1500.0,
            Scenario::RegionOutage | Scenario::WeightShift | Scenario::ReloadStorm => 1000.0,
            Scenario::Brownout => 800.0,
            Scenario::RateLimit => 300.0,
            Scenario::Churn => 200.0,
            Scenario::WrongEdge => 400.0,
            // Closed loops: as fast as three replicas answer.
            Scenario::Fleet => 0.0,
        };
        if short {
            rps * 0.4
        } else {
            rps
        }
    }

    /// Whether the scenario breaks origins, which only works with origins it started.
    pub fn needs_own_origins(self) -> bool {
        matches!(
            self,
            Scenario::RegionOutage
                | Scenario::Brownout
                | Scenario::RateLimit
                | Scenario::WrongEdge
                | Scenario::Fleet
        )
    }

    /// Whether the scenario drives the admin API.
    pub fn needs_admin(self) -> bool {
        matches!(self, Scenario::WeightShift | Scenario::ReloadStorm)
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
                format!("unknown scenario {s:?}; one of: {}", names.join(", "))
            })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn names_roundtrip() {
        for s in Scenario::ALL {
            assert_eq!(s.name().parse::<Scenario>().unwrap(), s);
        }
        assert!("nope".parse::<Scenario>().is_err());
    }
}
