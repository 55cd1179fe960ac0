//! The zone as an RFC 1035 master file (`edge-gateway dns export`), for teams that serve the
//! names from their own DNS (BIND, PowerDNS, Azure DNS) instead of this responder.
//!
//! What a static zone cannot do, and so does not: health (no fail over inside a geography;
//! every edge of the best priority is published, as if all were healthy), weights (all
//! published addresses are equal) and drains (an operator's drain is not in the config). Edges
//! of a lower priority are written as comments. Residency holds all the same: a tenant's name
//! only ever leads to its own geography's edges.
//!
//! Tenants: one name per tenant, so a million tenants make a million names. The default is
//! the compact form, `{tenant} CNAME {geography}`: one record per tenant whatever the number
//! of edges, and an edge change touches only the geography's records. It costs a resolver one
//! more lookup in the same zone (answered together by the authoritative server). A wildcard
//! (`*.{zone}`) would be smaller still but cannot tell tenants apart: it would answer unknown
//! tenants (no NXDOMAIN) and send every tenant to one geography. `--tenants address` writes
//! each tenant's A/AAAA records instead (no CNAME to follow, a zone several times larger).

use std::io::{self, Write};
use std::net::IpAddr;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::select::{choose, Family};
use super::zone::{GeoEdges, Zone};

/// How tenant names are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TenantRecords {
    /// `{tenant} CNAME {geography}`: one record per tenant.
    Cname,
    /// `{tenant} A ...` and `AAAA ...`: the geography's addresses under every tenant name.
    Address,
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportSummary {
    /// Tenant names.
    pub tenants: usize,
    /// Resource records (SOA and NS included).
    pub records: usize,
}

/// Writes `zone` as a master file to `out`. Tenants are sorted by id, so the same config
/// gives the same file (but for the serial, when the config sets none).
pub fn write_zone(
    zone: &Zone,
    tenants: TenantRecords,
    out: &mut impl Write,
) -> io::Result<ExportSummary> {
    let dns = zone.settings();
    let origin = zone.origin().to_string();
    let mut records = 0usize;
    writeln!(out, "; {origin} written by edge-gateway dns export")?;
    writeln!(
        out,
        "; A static zone has no health, weights or drains: every edge of each geography's best"
    )?;
    writeln!(
        out,
        "; priority is published. Tenant names lead to their own geography's edges only."
    )?;
    writeln!(out, "$ORIGIN {origin}")?;
    writeln!(out, "$TTL {}", dns.ttl)?;
    writeln!(out, "@\tIN\tSOA\t{}", zone.soa().data())?;
    records += 1;
    for ns in zone.ns() {
        writeln!(out, "@\tIN\tNS\t{}", ns.data())?;
        records += 1;
    }
    let published: Vec<(&GeoEdges, Vec<IpAddr>)> = zone
        .geographies()
        .iter()
        .map(|g| (g, published(g)))
        .collect();
    for (geo, addrs) in &published {
        writeln!(out, "; geography {}", geo.name)?;
        for addr in addrs {
            writeln!(out, "{}\tIN\t{}\t{addr}", geo.name, kind(*addr))?;
            records += 1;
        }
        let standby: Vec<String> = geo
            .edges
            .iter()
            .filter(|e| !addrs.contains(&e.addr))
            .map(|e| format!("{} (priority {}, weight {})", e.addr, e.priority, e.weight))
            .collect();
        if !standby.is_empty() {
            writeln!(out, "; not published: {}", standby.join(", "))?;
        }
    }
    let mut ids: Vec<_> = zone.config().tenants.by_id.values().collect();
    ids.sort_unstable_by_key(|t| t.id);
    writeln!(out, "; {} tenants", ids.len())?;
    for tenant in &ids {
        let Some((geo, addrs)) = published.iter().find(|(g, _)| g.name == tenant.geography) else {
            continue;
        };
        match tenants {
            TenantRecords::Cname => {
                writeln!(out, "{}\tIN\tCNAME\t{}", tenant.id, geo.name)?;
                records += 1;
            }
            TenantRecords::Address => {
                for addr in addrs {
                    writeln!(out, "{}\tIN\t{}\t{addr}", tenant.id, kind(*addr))?;
                    records += 1;
                }
            }
        }
    }
    Ok(ExportSummary {
        tenants: ids.len(),
        records,
    })
}

/// The addresses a static zone publishes for `geo`: what the responder answers when every
/// edge is healthy (all of them, not `max_answers`), sorted.
fn published(geo: &GeoEdges) -> Vec<IpAddr> {
    // The order is thrown away, so the seed does not matter.
    let mut rng = StdRng::seed_from_u64(0);
    let mut addrs: Vec<IpAddr> = [Family::V4, Family::V6]
        .into_iter()
        .flat_map(|f| choose(&geo.edges, f, |_| true, usize::MAX, &mut rng).addrs)
        .collect();
    addrs.sort();
    addrs
}

fn kind(addr: IpAddr) -> &'static str {
    match addr {
        IpAddr::V4(_) => "A",
        IpAddr::V6(_) => "AAAA",
    }
}
