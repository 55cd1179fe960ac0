//! A test topology: simulated regions, tenants, certificates, and the config file for them.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use edge_gateway::certs::{write_pair, DemoPki};
use edge_sim::{SimOrigin, SimRegion};
use tempfile::TempDir;

use crate::free_addr;
use crate::machine::Claim;

/// An EU tenant of the standard topology.
pub const EU_TENANT: &str = "3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b";
/// A second EU tenant.
pub const EU_TENANT_2: &str = "7d4e2a10-5b3c-4f8e-9d1a-2c3b4a5d6e7f";
/// An NA tenant of the standard topology.
pub const NA_TENANT: &str = "9a1c2b3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d";
/// A well-formed id no topology knows.
pub const UNKNOWN_TENANT: &str = "00000000-0000-4000-8000-000000000000";

/// A region to start: name, geography, priority and number of origins.
#[derive(Debug, Clone)]
pub struct RegionSpec {
    /// Region name.
    pub name: &'static str,
    /// Geography.
    pub geography: &'static str,
    /// Priority (1 = primary).
    pub priority: u32,
    /// Number of simulated origins.
    pub origins: usize,
}

/// Running simulated regions plus everything needed to write a gateway config for them.
pub struct Topology {
    /// Holds the config, certificates and logs; removed on drop.
    pub dir: TempDir,
    /// The private CA the gateway's certificate chains to.
    pub pki: DemoPki,
    /// Where the gateway's HTTPS listener will be.
    pub https: SocketAddr,
    /// Where the gateway's HTTP (redirect) listener will be.
    pub http: SocketAddr,
    /// The regions, with their running origins.
    pub regions: Vec<(RegionSpec, SimRegion)>,
    /// (tenant id, geography).
    pub tenants: Vec<(String, String)>,
    /// The `[tenancy].sources` array, as TOML.
    pub sources: String,
    /// Extra TOML appended to the config (e.g. `[routing]`).
    pub extra: String,
    /// The admin listener, when the test wants one (with a state file in `dir`).
    pub admin: Option<SocketAddr>,
    /// Region priorities to use instead of the specs' (by region name).
    pub priorities: Vec<(&'static str, u32)>,
    /// This test's share of the machine (see [`crate::machine`]); dropped last.
    _claim: Claim,
}

/// The admin token tests use (passed to the gateway in `EDGE_ADMIN_TOKEN`).
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

impl Topology {
    /// eu: northeurope (1) + westeurope (2); na: eastus (1) + westus (2); one origin each;
    /// tenants EU_TENANT, EU_TENANT_2 (eu) and NA_TENANT (na); all four tenant sources.
    pub async fn standard() -> Topology {
        Self::start(&Self::standard_regions()).await
    }

    /// Like [`Topology::standard`], for a test that must not share the CPU with other tests of
    /// this process: waits until no other topology is alive, and keeps new ones waiting until
    /// this one is dropped (see [`crate::machine`]).
    pub async fn standard_alone() -> Topology {
        Self::start_claiming(&Self::standard_regions(), Claim::exclusive()).await
    }

    fn standard_regions() -> [RegionSpec; 4] {
        [
            RegionSpec {
                name: "northeurope",
                geography: "eu",
                priority: 1,
                origins: 1,
            },
            RegionSpec {
                name: "westeurope",
                geography: "eu",
                priority: 2,
                origins: 1,
            },
            RegionSpec {
                name: "eastus",
                geography: "na",
                priority: 1,
                origins: 1,
            },
            RegionSpec {
                name: "westus",
                geography: "na",
                priority: 2,
                origins: 1,
            },
        ]
    }

    /// Starts the given regions' origins on ephemeral loopback ports (waiting while a test
    /// that runs alone is under way, see [`crate::machine`]).
    pub async fn start(specs: &[RegionSpec]) -> Topology {
        Self::start_claiming(specs, Claim::shared()).await
    }

    async fn start_claiming(specs: &[RegionSpec], claim: Claim) -> Topology {
        crate::init_crypto();
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = DemoPki::generate().expect("generate CA");
        let leaf = pki
            .leaf(&["gw.test", "*.app.test", "localhost", "127.0.0.1"])
            .expect("leaf certificate");
        write_pair(dir.path(), "edge", &leaf).expect("write certificate");
        let mut regions = Vec::new();
        for spec in specs {
            let region = SimRegion::start(spec.name, spec.origins, "127.0.0.1".parse().unwrap())
                .await
                .expect("start simulated region");
            regions.push((spec.clone(), region));
        }
        Topology {
            dir,
            pki,
            https: free_addr(),
            http: free_addr(),
            regions,
            tenants: vec![
                (EU_TENANT.into(), "eu".into()),
                (EU_TENANT_2.into(), "eu".into()),
                (NA_TENANT.into(), "na".into()),
            ],
            sources: r#"[
  { kind = "host", pattern = "{tenant}.app.test" },
  { kind = "header", name = "x-tenant-id" },
  { kind = "path", prefix = "/t/{tenant}" },
  { kind = "jwt-claim", claim = "tid" },
]"#
            .into(),
            extra: String::new(),
            admin: None,
            priorities: Vec::new(),
            _claim: claim,
        }
    }

    /// The region called `name`.
    pub fn region(&self, name: &str) -> &SimRegion {
        &self
            .regions
            .iter()
            .find(|(s, _)| s.name == name)
            .unwrap_or_else(|| panic!("no region {name}"))
            .1
    }

    /// Every origin of every region in `geography`.
    pub fn origins_in(&self, geography: &str) -> Vec<SimOrigin> {
        self.regions
            .iter()
            .filter(|(s, _)| s.geography == geography)
            .flat_map(|(_, r)| r.origins.iter().cloned())
            .collect()
    }

    /// Requests (health probes excluded) that reached any origin.
    pub fn total_requests(&self) -> u64 {
        self.regions.iter().map(|(_, r)| r.requests()).sum()
    }

    /// Writes `edge.toml` into the topology's directory: [`Self::config_toml`] with
    /// northeurope's first origin replaced by `origin` (a raw or recording origin), plus
    /// `extra`; returns its path.
    pub fn config_with_primary(&self, origin: SocketAddr, extra: &str) -> std::path::PathBuf {
        let ne = self.region("northeurope").addrs()[0].to_string();
        let text = self.config_toml().replace(&ne, &origin.to_string()) + extra;
        let path = self.dir.path().join("edge.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The config file text for this topology.
    pub fn config_toml(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "[server]\nthreads = 2\ngrace_period = \"1s\"\n\n\
             [listeners]\nhttps = [\"{}\"]\nhttp = [\"{}\"]\n{}\n\
             [tls]\nhsts_max_age = \"365d\"\n[[tls.certificates]]\ncert = \"edge.pem\"\nkey = \"edge.key\"\n\n\
             [tenancy]\nsources = {}\nunknown = \"reject\"\n\n",
            self.https,
            self.http,
            self.admin
                .map(|a| format!("admin = \"{a}\"\n\n[admin]\nstate_file = \"overrides.json\"\n"))
                .unwrap_or_default(),
            self.sources
        );
        for (id, geo) in &self.tenants {
            let _ = write!(s, "[[tenants]]\nid = \"{id}\"\ngeography = \"{geo}\"\n\n");
        }
        let mut geos: Vec<&str> = self.regions.iter().map(|(s, _)| s.geography).collect();
        geos.sort_unstable();
        geos.dedup();
        for g in geos {
            let _ = write!(s, "[[geographies]]\nname = \"{g}\"\n\n");
        }
        for (spec, region) in &self.regions {
            let origins: Vec<String> = region
                .addrs()
                .iter()
                .map(|a| format!("{{ address = \"{a}\" }}"))
                .collect();
            let _ = write!(
                s,
                "[[regions]]\nname = \"{}\"\ngeography = \"{}\"\npriority = {}\nweight = 100\norigins = [{}]\n\n",
                spec.name,
                spec.geography,
                self.priorities
                    .iter()
                    .find(|(n, _)| *n == spec.name)
                    .map_or(spec.priority, |(_, p)| *p),
                origins.join(", ")
            );
        }
        s.push_str(&self.extra);
        s
    }

    /// Writes the config file and returns its path.
    pub fn write_config(&self) -> PathBuf {
        let path = self.dir.path().join("edge.toml");
        std::fs::write(&path, self.config_toml()).expect("write config");
        path
    }

    /// The base URL clients use (`gw.test` resolves to the gateway in [`crate::https_client`]).
    pub fn base_url(&self) -> String {
        format!("https://gw.test:{}", self.https.port())
    }
}
