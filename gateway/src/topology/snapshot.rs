//! The routing snapshot: what the configuration (plus operators' overrides) says, indexed for
//! requests. Built once per config and then only read; replaced whole on reload.
//!
//! Building does the work a request must not: indexing geographies, grouping origins into
//! priority tiers, and constructing each origin's `HttpPeer` (parsing addresses per request
//! measurably costs throughput). Live state (origin health, metric handles) is bound to a
//! snapshot's ids by its owners (`health::OriginStates`, `metrics::SnapshotMetrics`), not held here,
//! so this module imports no other plane.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use edge_config::{Config, GeographyName, RegionName, TenantId};
use pingora::upstreams::peer::HttpPeer;

use super::edges::EdgeUpstreams;
use super::ids::{GeoId, OriginId, RegionId};
use super::overrides::Overrides;
use super::table::{Member, RouteTable, Tier};

/// A geography and its route table.
#[derive(Debug, Clone)]
pub struct GeoEntry {
    /// The geography's name.
    pub name: GeographyName,
    /// Serve from unhealthy origins of this geography rather than answer 503.
    pub fail_open: bool,
    /// Its origins, grouped into priority tiers.
    pub table: RouteTable,
}

/// A region.
#[derive(Debug, Clone)]
pub struct RegionEntry {
    /// The region's name.
    pub name: RegionName,
    /// Its geography.
    pub geography: GeoId,
    /// Its priority (1 = primary).
    pub priority: u32,
    /// Where it is, for routing tenant-less requests to the nearest region.
    pub location: Option<edge_config::Location>,
    /// Its weight as configured.
    pub configured_weight: u32,
    /// Its weight after operator overrides (0 when drained).
    pub weight: u32,
    /// Drained by an operator.
    pub drained: bool,
    /// Health-check settings for its origins (global merged with the region's override).
    pub health: edge_config::Health,
    /// Its name as a header value (`x-edge-region`): built once, cloned per request without
    /// an allocation.
    pub header: http::HeaderValue,
}

/// An origin, ready to be connected to.
#[derive(Debug, Clone)]
pub struct OriginEntry {
    /// Its region.
    pub region: RegionId,
    /// Its geography (the region's, denormalised for the residency checks).
    pub geography: GeoId,
    /// The address as configured.
    pub address: String,
    /// The resolved address.
    pub socket_addr: std::net::SocketAddr,
    /// Whether the origin speaks TLS.
    pub tls: bool,
    /// Its weight inside the region as configured.
    pub configured_weight: u32,
    /// Its weight after operator overrides (0 when drained).
    pub weight: u32,
    /// Drained by an operator.
    pub drained: bool,
    /// `Host` header override.
    pub host: Option<String>,
    /// The prebuilt peer; cloned per request.
    pub peer: Box<HttpPeer>,
}

/// Everything a request needs, immutable once built.
#[derive(Debug)]
pub struct Snapshot {
    /// The configuration this snapshot was built from.
    pub config: Arc<Config>,
    /// Increases by one on every successful (re)load.
    pub generation: u64,
    /// The `Strict-Transport-Security` value, or `None` when disabled.
    pub hsts: Option<http::HeaderValue>,
    /// The peer edges as TLS upstreams, with `[edge]`.
    pub edge_upstreams: Option<EdgeUpstreams>,
    geographies: Vec<GeoEntry>,
    regions: Vec<RegionEntry>,
    origins: Vec<OriginEntry>,
    geo_by_name: HashMap<GeographyName, GeoId>,
    /// DNS edges an operator drained (`[dns]`): kept out of DNS answers at once.
    pub dns_drained: BTreeSet<IpAddr>,
}

impl Snapshot {
    /// Builds the snapshot for a validated config.
    ///
    /// Validation guarantees every region's geography exists; a region that somehow names an
    /// unknown geography is left out rather than routed anywhere.
    ///
    pub fn build(config: Arc<Config>, generation: u64) -> Snapshot {
        Self::build_with_overrides(config, generation, &Overrides::default())
    }

    /// Like [`Snapshot::build`], with operators' weight and drain overrides applied.
    pub fn build_with_overrides(
        config: Arc<Config>,
        generation: u64,
        overrides: &Overrides,
    ) -> Snapshot {
        let geo_by_name: HashMap<GeographyName, GeoId> = config
            .geographies
            .iter()
            .enumerate()
            .map(|(i, g)| (g.name.clone(), GeoId(i as u16)))
            .collect();
        let mut geographies: Vec<GeoEntry> = config
            .geographies
            .iter()
            .map(|g| GeoEntry {
                name: g.name.clone(),
                fail_open: g.fail_open,
                table: RouteTable::default(),
            })
            .collect();
        let mut regions = Vec::with_capacity(config.regions.len());
        let mut origins = Vec::new();
        let routing = &config.routing;
        for region in &config.regions {
            let Some(&geo) = geo_by_name.get(&region.geography) else {
                continue;
            };
            let region_id = RegionId(regions.len() as u32);
            let region_weight = overrides.region_weight(region.name.as_str(), region.weight);
            regions.push(RegionEntry {
                name: region.name.clone(),
                geography: geo,
                priority: region.priority.get(),
                location: region.location,
                configured_weight: region.weight,
                weight: region_weight,
                drained: overrides.region_drained(region.name.as_str()),
                health: region.health.clone(),
                header: http::HeaderValue::from_str(region.name.as_str())
                    .unwrap_or(http::HeaderValue::from_static("-")),
            });
            let table = &mut geographies[geo.0 as usize].table;
            let tier_pos = match table
                .tiers
                .iter()
                .position(|t| t.priority == region.priority.get())
            {
                Some(p) => p,
                None => {
                    table.tiers.push(Tier {
                        priority: region.priority.get(),
                        members: Vec::new(),
                    });
                    table.tiers.len() - 1
                }
            };
            for origin in &region.origins {
                let id = OriginId(origins.len() as u32);
                let origin_weight =
                    overrides.origin_weight(region.name.as_str(), &origin.address, origin.weight);
                let mut peer = HttpPeer::new(origin.socket_addr, origin.tls, origin.sni.clone());
                peer.options.connection_timeout = Some(routing.connect_timeout);
                peer.options.total_connection_timeout = Some(routing.connect_timeout);
                peer.options.read_timeout = Some(routing.read_timeout);
                peer.options.write_timeout = Some(routing.write_timeout);
                peer.options.idle_timeout = Some(routing.idle_timeout);
                origins.push(OriginEntry {
                    region: region_id,
                    geography: geo,
                    address: origin.address.clone(),
                    socket_addr: origin.socket_addr,
                    tls: origin.tls,
                    configured_weight: origin.weight,
                    weight: origin_weight,
                    drained: overrides.origin_drained(region.name.as_str(), &origin.address),
                    host: origin.host.clone(),
                    peer: Box::new(peer),
                });
                table.tiers[tier_pos].members.push(Member {
                    origin: id,
                    weight: u64::from(region_weight) * u64::from(origin_weight),
                });
            }
        }
        for geo in &mut geographies {
            geo.table.tiers.sort_by_key(|t| t.priority);
        }
        let hsts = hsts_value(&config.tls);
        let dns_drained = overrides.dns_drained();
        let edge_upstreams = config
            .edge
            .as_ref()
            .map(|e| EdgeUpstreams::build(e, &config.routing));
        Snapshot {
            config,
            generation,
            hsts,
            edge_upstreams,
            geographies,
            regions,
            origins,
            geo_by_name,
            dns_drained,
        }
    }

    /// The home geography of `tenant`, if the tenant is known.
    pub fn tenant_geography(&self, tenant: &TenantId) -> Option<GeoId> {
        let t = self.config.tenants.by_id.get(tenant)?;
        self.geo_by_name.get(&t.geography).copied()
    }

    /// The id of the geography called `name`.
    pub fn geography_id(&self, name: &GeographyName) -> Option<GeoId> {
        self.geo_by_name.get(name).copied()
    }

    /// The geography `id`. Ids come from this snapshot, so they are always in range.
    pub fn geography(&self, id: GeoId) -> &GeoEntry {
        &self.geographies[id.0 as usize]
    }

    /// All geographies.
    pub fn geographies(&self) -> &[GeoEntry] {
        &self.geographies
    }

    /// The region `id`.
    pub fn region(&self, id: RegionId) -> &RegionEntry {
        &self.regions[id.0 as usize]
    }

    /// All regions.
    pub fn regions(&self) -> &[RegionEntry] {
        &self.regions
    }

    /// The origin `id`.
    pub fn origin(&self, id: OriginId) -> &OriginEntry {
        &self.origins[id.0 as usize]
    }

    /// All origins.
    pub fn origins(&self) -> &[OriginEntry] {
        &self.origins
    }
}

fn hsts_value(tls: &edge_config::Tls) -> Option<http::HeaderValue> {
    let secs = tls.hsts_max_age.as_secs();
    if secs == 0 {
        return None;
    }
    let mut v = format!("max-age={secs}");
    if tls.hsts_include_subdomains {
        v.push_str("; includeSubDomains");
    }
    http::HeaderValue::from_str(&v).ok()
}
