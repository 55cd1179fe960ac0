//! Operators' overrides (weights, drains) as a value: they win over the config file when a
//! snapshot is built. Persisting them (the state file) and changing them is the control
//! plane's job (`control::state_file`, `control::Control`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Highest weight an operator may set (the config's own limit).
pub const MAX_WEIGHT: u32 = 1000;

/// Override of one region or origin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// Weight replacing the configured one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Drained: weight 0 whatever the weight says, without forgetting it.
    #[serde(default)]
    pub drained: bool,
}

impl Override {
    /// The effective weight given the configured one.
    pub fn apply(&self, configured: u32) -> u32 {
        if self.drained {
            0
        } else {
            self.weight.unwrap_or(configured)
        }
    }

    fn is_empty(&self) -> bool {
        self.weight.is_none() && !self.drained
    }
}

/// Every override, by region name and by `region/address` for origins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// By region name.
    #[serde(default)]
    pub regions: BTreeMap<String, Override>,
    /// By `region/address`.
    #[serde(default)]
    pub origins: BTreeMap<String, Override>,
    /// DNS edges (`[[dns.edges]]`) by address, as `IpAddr` writes it; only `drained` is
    /// used. Left out of the state file while empty, so files stay readable by older builds.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dns_edges: BTreeMap<String, Override>,
}

/// The key of an origin in [`Overrides::origins`].
pub fn origin_key(region: &str, address: &str) -> String {
    format!("{region}/{address}")
}

impl Overrides {
    /// The effective weight of `region`.
    pub fn region_weight(&self, region: &str, configured: u32) -> u32 {
        self.regions
            .get(region)
            .map_or(configured, |o| o.apply(configured))
    }

    /// Whether `region` is drained.
    pub fn region_drained(&self, region: &str) -> bool {
        self.regions.get(region).is_some_and(|o| o.drained)
    }

    /// The effective weight of an origin.
    pub fn origin_weight(&self, region: &str, address: &str, configured: u32) -> u32 {
        self.origins
            .get(&origin_key(region, address))
            .map_or(configured, |o| o.apply(configured))
    }

    /// Whether an origin is drained.
    pub fn origin_drained(&self, region: &str, address: &str) -> bool {
        self.origins
            .get(&origin_key(region, address))
            .is_some_and(|o| o.drained)
    }

    /// The DNS edges that are drained (keys that are not addresses are ignored).
    pub fn dns_drained(&self) -> BTreeSet<IpAddr> {
        self.dns_edges
            .iter()
            .filter(|(_, o)| o.drained)
            .filter_map(|(k, _)| k.parse().ok())
            .collect()
    }

    /// Drops entries that no longer override anything.
    pub fn compact(&mut self) {
        self.regions.retain(|_, o| !o.is_empty());
        self.origins.retain(|_, o| !o.is_empty());
        self.dns_edges.retain(|_, o| !o.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_wins_over_weight_and_keeps_it() {
        let o = Override {
            weight: Some(300),
            drained: true,
        };
        assert_eq!(o.apply(100), 0);
        let o = Override {
            drained: false,
            ..o
        };
        assert_eq!(o.apply(100), 300);
        assert_eq!(Override::default().apply(100), 100);
    }

    #[test]
    fn dns_drains_are_addresses_and_stay_out_of_files_without_them() {
        let empty = Overrides::default();
        assert_eq!(
            serde_json::to_string(&empty).unwrap(),
            r#"{"regions":{},"origins":{}}"#
        );
        // A state file written before DNS drains existed still loads.
        let old: Overrides = serde_json::from_str(r#"{"regions":{},"origins":{}}"#).unwrap();
        assert_eq!(old, empty);
        let mut o = Overrides::default();
        let drained = Override {
            weight: None,
            drained: true,
        };
        o.dns_edges.insert("192.0.2.10".into(), drained.clone());
        o.dns_edges.insert("2001:db8::1".into(), drained.clone());
        o.dns_edges.insert("not-an-address".into(), drained);
        o.dns_edges.insert("192.0.2.11".into(), Override::default());
        let ips: Vec<String> = o.dns_drained().iter().map(ToString::to_string).collect();
        assert_eq!(ips, ["192.0.2.10", "2001:db8::1"]);
        o.compact();
        assert!(!o.dns_edges.contains_key("192.0.2.11"));
        let back: Overrides = serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
        assert_eq!(back, o);
    }
}
