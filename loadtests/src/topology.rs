//! The simulated world a scenario runs against: geographies, regions of simulated origins
//! (edge-sim), tenants with a traffic mix, and the gateway config that describes them.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use edge_sim::{SimHost, SimRegion};

/// A region: name, geography, priority (1 = primary) and number of simulated origins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionDef {
    /// Region name, e.g. `northeurope`.
    pub name: String,
    /// The geography it belongs to, e.g. `eu`.
    pub geography: String,
    /// 1 = primary, 2 = secondary.
    pub priority: u32,
    /// How many simulated origins serve it.
    pub origins: usize,
}

/// A tenant and its share of the generated traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantDef {
    /// The tenant id (a UUID).
    pub id: String,
    /// Its home geography.
    pub geography: String,
    /// A short label for reports, e.g. `eu-1`.
    pub label: String,
}

/// Geographies, regions and tenants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// Every region, in config order.
    pub regions: Vec<RegionDef>,
    /// Every tenant.
    pub tenants: Vec<TenantDef>,
}

/// The EU primary region that the fault scenarios break.
pub const EU_PRIMARY: &str = "northeurope";
/// The EU secondary region.
pub const EU_SECONDARY: &str = "westeurope";

/// Traffic share of each geography in the standard mix (per cent).
const GEO_MIX: &[(&str, u32)] = &[("eu", 50), ("na", 35), ("apac", 15)];

impl Topology {
    /// Three geographies with a primary (two origins) and a secondary (one origin) region
    /// each, and 16 tenants: 8 in `eu`, 5 in `na`, 3 in `apac`.
    pub fn standard() -> Topology {
        let region = |name: &str, geography: &str, priority: u32, origins: usize| RegionDef {
            name: name.to_owned(),
            geography: geography.to_owned(),
            priority,
            origins,
        };
        let regions = vec![
            region(EU_PRIMARY, "eu", 1, 2),
            region(EU_SECONDARY, "eu", 2, 1),
            region("eastus", "na", 1, 2),
            region("westus", "na", 2, 1),
            region("southeastasia", "apac", 1, 2),
            region("australiaeast", "apac", 2, 1),
        ];
        let mut tenants = Vec::new();
        for (geo, count, prefix) in [("eu", 8, "e0"), ("na", 5, "a0"), ("apac", 3, "c0")] {
            for i in 1..=count {
                tenants.push(TenantDef {
                    id: format!("{prefix}000000-0000-4000-8000-{i:012}"),
                    geography: geo.to_owned(),
                    label: format!("{geo}-{i}"),
                });
            }
        }
        Topology { regions, tenants }
    }

    /// The topology `edge-gateway demo` serves (its tenants and regions), for runs against an
    /// already running demo gateway.
    pub fn demo() -> Topology {
        let region = |name: &str, geography: &str, priority: u32| RegionDef {
            name: name.to_owned(),
            geography: geography.to_owned(),
            priority,
            origins: 0,
        };
        let tenant = |id: &str, geo: &str, label: &str| TenantDef {
            id: id.to_owned(),
            geography: geo.to_owned(),
            label: label.to_owned(),
        };
        Topology {
            regions: vec![
                region(EU_PRIMARY, "eu", 1),
                region(EU_SECONDARY, "eu", 2),
                region("eastus", "na", 1),
                region("westus", "na", 2),
            ],
            tenants: vec![
                tenant("3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b", "eu", "contoso-eu"),
                tenant("7d4e2a10-5b3c-4f8e-9d1a-2c3b4a5d6e7f", "eu", "fabrikam-eu"),
                tenant("9a1c2b3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d", "na", "contoso-na"),
                tenant("c0ffee00-1234-4abc-8def-0123456789ab", "na", "tailspin-na"),
            ],
        }
    }

    /// The geographies, in first-seen order.
    pub fn geographies(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.regions {
            if !out.contains(&r.geography) {
                out.push(r.geography.clone());
            }
        }
        out
    }

    /// The geography of region `name`.
    pub fn geography_of(&self, region: &str) -> Option<&str> {
        self.regions
            .iter()
            .find(|r| r.name == region)
            .map(|r| r.geography.as_str())
    }

    /// Traffic weight of every tenant for the standard mix: each geography's share split
    /// evenly between its tenants (geographies not in the mix share what is left evenly).
    pub fn tenant_weights(&self) -> Vec<(usize, f64)> {
        let geos = self.geographies();
        let mixed: u32 = GEO_MIX
            .iter()
            .filter(|(g, _)| geos.iter().any(|x| x == g))
            .map(|(_, w)| *w)
            .sum();
        let unmixed = geos
            .iter()
            .filter(|g| !GEO_MIX.iter().any(|(m, _)| m == g))
            .count();
        let leftover = if unmixed > 0 {
            (100u32.saturating_sub(mixed)).max(10) as f64 / unmixed as f64
        } else {
            0.0
        };
        let mut out = Vec::new();
        for geo in &geos {
            let share = GEO_MIX
                .iter()
                .find(|(g, _)| g == geo)
                .map_or(leftover, |(_, w)| f64::from(*w));
            let members: Vec<usize> = self
                .tenants
                .iter()
                .enumerate()
                .filter(|(_, t)| &t.geography == geo)
                .map(|(i, _)| i)
                .collect();
            for &i in &members {
                out.push((i, share / members.len() as f64));
            }
        }
        out
    }
}

/// Health-check and failover settings written to the generated config.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuning {
    /// `[health] interval`.
    pub interval: Duration,
    /// `[health] timeout`.
    pub timeout: Duration,
    /// `[health] rise`.
    pub rise: u32,
    /// `[health] fall`.
    pub fall: u32,
    /// `[outlier_detection] base_ejection_time`.
    pub base_ejection: Duration,
    /// `[routing] slow_start`.
    pub slow_start: Duration,
    /// `[routing] connect_timeout`.
    pub connect_timeout: Duration,
}

impl Tuning {
    /// The gateway's documented defaults, written out.
    pub fn defaults() -> Tuning {
        Tuning {
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            rise: 2,
            fall: 2,
            base_ejection: Duration::from_secs(5),
            slow_start: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(1),
        }
    }

    /// Fast checks for the short CI form: 200 ms probes, 2 s slow start.
    pub fn fast() -> Tuning {
        Tuning {
            interval: Duration::from_millis(200),
            timeout: Duration::from_millis(150),
            rise: 2,
            fall: 2,
            base_ejection: Duration::from_secs(1),
            slow_start: Duration::from_secs(2),
            connect_timeout: Duration::from_millis(500),
        }
    }
}

/// `"NNNms"`: the config's duration syntax.
fn dur(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// Everything needed to write a gateway config for a topology.
#[derive(Debug, Clone)]
pub struct ConfigSpec<'a> {
    /// The topology.
    pub topology: &'a Topology,
    /// Origin addresses per region name.
    pub origins: &'a [(String, Vec<SocketAddr>)],
    /// HTTPS listener.
    pub https: SocketAddr,
    /// Admin listener.
    pub admin: SocketAddr,
    /// `server.threads`.
    pub threads: usize,
    /// Health and failover settings.
    pub tuning: &'a Tuning,
    /// Extra TOML appended verbatim (e.g. `[rate_limits]`).
    pub extra: &'a str,
    /// Per-region weight overrides (default 100).
    pub weights: &'a [(String, u32)],
}

impl ConfigSpec<'_> {
    /// The config file's text.
    pub fn render(&self) -> String {
        let t = self.tuning;
        let mut s = String::new();
        let _ = write!(
            s,
            "# Generated by edge-loadtest.\n\
             [server]\nthreads = {threads}\ngrace_period = \"1s\"\n\n\
             [listeners]\nhttps = [\"{https}\"]\nadmin = \"{admin}\"\n\n\
             [admin]\nstate_file = \"overrides.json\"\n\n\
             [[tls.certificates]]\ncert = \"server.pem\"\nkey = \"server.key\"\n\n\
             [tenancy]\nsources = [\n  {{ kind = \"header\", name = \"x-tenant-id\" }},\n  \
             {{ kind = \"host\", pattern = \"{{tenant}}.app.test\" }},\n]\n\n\
             [health]\ninterval = \"{interval}\"\ntimeout = \"{timeout}\"\nrise = {rise}\nfall = {fall}\n\n\
             [outlier_detection]\nbase_ejection_time = \"{eject}\"\n\n\
             [routing]\nslow_start = \"{slow}\"\nconnect_timeout = \"{connect}\"\n\n",
            threads = self.threads,
            https = self.https,
            admin = self.admin,
            interval = dur(t.interval),
            timeout = dur(t.timeout),
            rise = t.rise,
            fall = t.fall,
            eject = dur(t.base_ejection),
            slow = dur(t.slow_start),
            connect = dur(t.connect_timeout),
        );
        for tenant in &self.topology.tenants {
            let _ = write!(
                s,
                "[[tenants]]\nid = \"{}\"\ngeography = \"{}\"\n\n",
                tenant.id, tenant.geography
            );
        }
        for geo in self.topology.geographies() {
            let _ = write!(s, "[[geographies]]\nname = \"{geo}\"\n\n");
        }
        for region in &self.topology.regions {
            let addrs = self
                .origins
                .iter()
                .find(|(n, _)| *n == region.name)
                .map(|(_, a)| a.as_slice())
                .unwrap_or_default();
            let origins: Vec<String> = addrs
                .iter()
                .map(|a| format!("{{ address = \"{a}\" }}"))
                .collect();
            let weight = self
                .weights
                .iter()
                .find(|(n, _)| *n == region.name)
                .map_or(100, |(_, w)| *w);
            let _ = write!(
                s,
                "[[regions]]\nname = \"{}\"\ngeography = \"{}\"\npriority = {}\nweight = {weight}\norigins = [{}]\n\n",
                region.name,
                region.geography,
                region.priority,
                origins.join(", ")
            );
        }
        s.push_str(self.extra);
        s
    }
}

/// The simulated origins of a topology, on a runtime of their own (so that the load
/// generator and the origins do not share worker threads).
#[derive(Debug)]
pub struct SimWorld {
    host: SimHost,
    regions: Vec<SimRegion>,
}

impl SimWorld {
    /// Starts every origin of `topology` on a free port of 127.0.0.1.
    pub fn start(topology: &Topology) -> std::io::Result<SimWorld> {
        let mut host = SimHost::new()?;
        for region in &topology.regions {
            for i in 1..=region.origins {
                host.spawn_origin(
                    region.name.clone(),
                    format!("{}-{i}", region.name),
                    SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0),
                )?;
            }
        }
        let regions = topology
            .regions
            .iter()
            .map(|r| host.region(&r.name))
            .collect();
        Ok(SimWorld { host, regions })
    }

    /// The region called `name`.
    pub fn region(&self, name: &str) -> Option<&SimRegion> {
        self.regions.iter().find(|r| r.name == name)
    }

    /// Origin addresses per region.
    pub fn addresses(&self) -> Vec<(String, Vec<SocketAddr>)> {
        self.regions
            .iter()
            .map(|r| (r.name.clone(), r.addrs()))
            .collect()
    }

    /// The POSTs (and other non-idempotent requests) every origin executed, summed per id.
    pub fn executions(&self) -> edge_sim::Executions {
        self.host.executions()
    }

    /// The runtime the origins run on.
    pub fn handle(&self) -> tokio::runtime::Handle {
        self.host.handle()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn weights_follow_the_geography_mix() {
        let topo = Topology::standard();
        let w = topo.tenant_weights();
        assert_eq!(w.len(), topo.tenants.len());
        let eu: f64 = w
            .iter()
            .filter(|(i, _)| topo.tenants[*i].geography == "eu")
            .map(|(_, w)| w)
            .sum();
        assert!((eu - 50.0).abs() < 1e-9);
        let total: f64 = w.iter().map(|(_, w)| w).sum();
        assert!((total - 100.0).abs() < 1e-9);
    }

    #[test]
    fn tenant_ids_are_uuids() {
        for t in Topology::standard().tenants {
            assert_eq!(t.id.len(), 36, "{}", t.id);
            assert!(uuid::Uuid::parse_str(&t.id).is_ok(), "{}", t.id);
        }
    }

    #[test]
    fn config_lists_every_region_and_tenant() {
        let topo = Topology::standard();
        let origins = vec![(
            EU_PRIMARY.to_owned(),
            vec![
                "127.0.0.1:1".parse().unwrap(),
                "127.0.0.1:2".parse().unwrap(),
            ],
        )];
        let tuning = Tuning::defaults();
        let text = ConfigSpec {
            topology: &topo,
            origins: &origins,
            https: "127.0.0.1:8443".parse().unwrap(),
            admin: "127.0.0.1:9901".parse().unwrap(),
            threads: 2,
            tuning: &tuning,
            extra: "",
            weights: &[("westus".to_owned(), 90)],
        }
        .render();
        assert_eq!(text.matches("[[regions]]").count(), 6);
        assert_eq!(text.matches("[[tenants]]").count(), 16);
        assert!(text.contains("{ address = \"127.0.0.1:1\" }, { address = \"127.0.0.1:2\" }"));
        assert!(text.contains("name = \"westus\"\ngeography = \"na\"\npriority = 2\nweight = 90"));
        assert!(text.contains("interval = \"1000ms\""));
    }
}
