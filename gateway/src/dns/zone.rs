//! The zone as queries see it: built once per routing generation from the config's `[dns]`,
//! the tenant directory and the drained edges, then only read.
//!
//! Tenants are not copied: a `{tenant}` label is looked up in the generation's own tenant
//! directory (`config.tenants.by_id`, one hash lookup), so a million tenants cost the zone
//! nothing. What is built is small: the SOA and NS records, and each geography's edges with
//! their health state (shared with the prober through [`HealthRegistry`], so a rebuild keeps
//! what probes learned).

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use edge_config::{Config, Dns, GeographyName, TenantId};
use hickory_proto::rr::rdata::{NS, SOA};
use hickory_proto::rr::{LowerName, Name, RData, Record};

use crate::health::{HealthRegistry, OriginHealth, OriginKey};

/// One edge address of a geography, as DNS answers it.
#[derive(Debug, Clone)]
pub struct Edge {
    /// The address answered (A for IPv4, AAAA for IPv6).
    pub addr: IpAddr,
    /// 1 = answered first.
    pub priority: u32,
    /// Share among the healthy edges of its priority; 0 is answered only when failing static.
    pub weight: u32,
    /// Drained by an operator: answered only when failing static.
    pub drained: bool,
    /// Where its TCP probe connects.
    pub probe: SocketAddr,
    /// Its probe verdicts (status, latency), shared with the prober.
    pub health: Arc<OriginHealth>,
}

/// A geography and its edges, in configuration order.
#[derive(Debug, Clone)]
pub struct GeoEdges {
    /// The geography.
    pub name: GeographyName,
    /// Its edges, both address families.
    pub edges: Vec<Edge>,
}

/// What a name in the zone is.
#[derive(Debug, Clone, Copy)]
pub enum Lookup<'z> {
    /// The zone's apex: SOA and NS.
    Apex,
    /// `{geography}.{zone}`, or `{tenant}.{zone}` of a tenant whose home is this geography.
    Edges(&'z GeoEdges),
    /// A name in the zone that does not exist (NXDOMAIN).
    NoSuchName,
    /// A name outside the zone (REFUSED: this responder is authoritative for one zone only).
    OutOfZone,
}

/// The zone of one routing generation.
#[derive(Debug)]
pub struct Zone {
    /// The routing generation it was built from.
    pub generation: u64,
    /// The configuration it was built from (the tenant directory).
    config: Arc<Config>,
    /// Its `[dns]`.
    settings: Dns,
    origin: LowerName,
    origin_labels: u8,
    soa: Record,
    /// The SOA as negative answers carry it: TTL `min(ttl, minimum)` (RFC 2308 §3).
    negative_soa: Record,
    ns: Vec<Record>,
    geographies: Vec<GeoEdges>,
    by_name: HashMap<GeographyName, usize>,
}

impl Zone {
    /// The zone of `config`'s `[dns]`, or `None` without one. `drained` edges are answered
    /// only when failing static; edge health comes from `registry` (new edges start unknown,
    /// which is not healthy). `serial_now` is the SOA serial when the config sets none.
    pub fn build(
        config: Arc<Config>,
        generation: u64,
        drained: &BTreeSet<IpAddr>,
        registry: &HealthRegistry,
        serial_now: u32,
    ) -> Option<Zone> {
        let settings = config.dns.clone()?;
        let dns = &settings;
        let origin = fqdn(&dns.zone)?;
        let soa = soa_record(dns, &origin, serial_now)?;
        let mut negative_soa = soa.clone();
        negative_soa.set_ttl(dns.ttl.min(dns.negative_ttl));
        let ns = dns
            .nameservers
            .iter()
            .map(|n| {
                Some(Record::from_rdata(
                    origin.clone(),
                    dns.ttl,
                    RData::NS(NS(fqdn(n)?)),
                ))
            })
            .collect::<Option<Vec<_>>>()?;
        let mut geographies: Vec<GeoEdges> = Vec::new();
        let mut by_name = HashMap::new();
        for group in &dns.edges {
            let index = *by_name.entry(group.geography.clone()).or_insert_with(|| {
                geographies.push(GeoEdges {
                    name: group.geography.clone(),
                    edges: Vec::new(),
                });
                geographies.len() - 1
            });
            for &addr in &group.addresses {
                let probe = SocketAddr::new(addr, group.probe_port);
                let health = registry.get_or_create(OriginKey {
                    region: format!("dns:{}", group.geography),
                    address: probe.to_string(),
                });
                geographies[index].edges.push(Edge {
                    addr,
                    priority: group.priority.get(),
                    weight: group.weight,
                    drained: drained.contains(&addr),
                    probe,
                    health,
                });
            }
        }
        Some(Zone {
            generation,
            origin_labels: origin.num_labels(),
            origin: LowerName::from(origin),
            soa,
            negative_soa,
            ns,
            geographies,
            by_name,
            settings,
            config,
        })
    }

    /// The `[dns]` settings this zone was built from.
    pub fn settings(&self) -> &Dns {
        &self.settings
    }

    /// The zone's name (lower-case, fully qualified).
    pub fn origin(&self) -> &LowerName {
        &self.origin
    }

    /// The SOA record.
    pub fn soa(&self) -> &Record {
        &self.soa
    }

    /// The SOA record for the authority section of NXDOMAIN and NODATA answers.
    pub fn negative_soa(&self) -> &Record {
        &self.negative_soa
    }

    /// The NS records of the apex.
    pub fn ns(&self) -> &[Record] {
        &self.ns
    }

    /// Every geography with its edges.
    pub fn geographies(&self) -> &[GeoEdges] {
        &self.geographies
    }

    /// The configuration the zone was built from (the tenant directory, for the export).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The edges of `geography`.
    pub fn edges_of(&self, geography: &GeographyName) -> Option<&GeoEdges> {
        self.by_name
            .get(geography)
            .and_then(|&i| self.geographies.get(i))
    }

    /// What `name` is in this zone. A label is a geography name, or a tenant id (hyphenated
    /// or 32 hex digits, any case) of the tenant directory; nothing deeper exists.
    pub fn lookup(&self, name: &LowerName) -> Lookup<'_> {
        if !self.origin.zone_of(name) {
            return Lookup::OutOfZone;
        }
        match name.num_labels().saturating_sub(self.origin_labels) {
            0 => Lookup::Apex,
            1 => name
                .iter()
                .next()
                .and_then(|label| self.label(label))
                .map_or(Lookup::NoSuchName, Lookup::Edges),
            _ => Lookup::NoSuchName,
        }
    }

    fn label(&self, label: &[u8]) -> Option<&GeoEdges> {
        let text = std::str::from_utf8(label).ok()?;
        if let Some(&i) = self.by_name.get(text) {
            return self.geographies.get(i);
        }
        let id = tenant_label(text)?;
        let tenant = self.config.tenants.by_id.get(&id)?;
        self.edges_of(&tenant.geography)
    }
}

/// A tenant id written as a DNS label: the hyphenated form (36 characters) or the simple one
/// (32 hex digits), in any case. Other forms `TenantId::parse` accepts (braces, `urn:uuid:`,
/// surrounding spaces) are not names.
pub fn tenant_label(label: &str) -> Option<TenantId> {
    let shaped =
        matches!(label.len(), 32 | 36) && label.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-');
    if shaped {
        TenantId::parse(label).ok()
    } else {
        None
    }
}

/// `name` (validated as a host name by the config) as a fully qualified `Name`.
fn fqdn(name: &str) -> Option<Name> {
    Name::from_ascii(format!("{name}.")).ok()
}

fn soa_record(dns: &Dns, origin: &Name, serial_now: u32) -> Option<Record> {
    let timer = |s: u32| i32::try_from(s).unwrap_or(i32::MAX);
    let soa = SOA::new(
        fqdn(dns.nameservers.first()?)?,
        fqdn(&dns.hostmaster)?,
        dns.serial.unwrap_or(serial_now),
        timer(dns.refresh),
        timer(dns.retry),
        timer(dns.expire),
        dns.negative_ttl,
    );
    Some(Record::from_rdata(origin.clone(), dns.ttl, RData::SOA(soa)))
}
