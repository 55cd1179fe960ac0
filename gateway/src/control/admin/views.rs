//! JSON views of the live state for the admin API (and `edge-gateway ctl`).

use http::{Response, StatusCode};
use serde_json::{json, Value};

use crate::dns::Zone;
use crate::request::routing;
use crate::request::tenancy::{SourceKind, TenantMatch};
use crate::state::Live;
use crate::topology::OriginId;

fn ms(d: Option<std::time::Duration>) -> Value {
    d.map_or(Value::Null, |d| {
        json!((d.as_secs_f64() * 1e6).round() / 1e3)
    })
}

/// One entry per origin: region, address, health, latency, weights, drain, ejections.
pub fn origins(l: &Live) -> Value {
    let s = &l.snapshot;
    let now = l.health.now_ms();
    let list: Vec<Value> = s
        .origins()
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let h = l.origin_health(OriginId(i as u32));
            let region = s.region(o.region);
            json!({
                "region": region.name.as_str(),
                "geography": s.geography(region.geography).name.as_str(),
                "address": o.address,
                "status": h.status().label(),
                "usable": h.is_usable(now),
                "latency_ms": ms(h.latency()),
                "weight": {"configured": o.configured_weight, "effective": o.weight},
                "drained": o.drained,
                "ejections": h.ejections(),
                "ejected_for_ms": h.ejected_until_ms().saturating_sub(now),
            })
        })
        .collect();
    json!({"generation": s.generation, "origins": list})
}

/// One entry per region: geography, priority, weights, drain, and its origins' health.
pub fn regions(l: &Live) -> Value {
    let s = &l.snapshot;
    let now = l.health.now_ms();
    let list: Vec<Value> = s
        .regions()
        .iter()
        .enumerate()
        .map(|(ri, r)| {
            let members: Vec<usize> = s
                .origins()
                .iter()
                .enumerate()
                .filter(|(_, o)| o.region.0 as usize == ri)
                .map(|(i, _)| i)
                .collect();
            let healthy = members
                .iter()
                .filter(|&&i| l.origin_health(OriginId(i as u32)).is_usable(now))
                .count();
            let latency = members
                .iter()
                .filter_map(|&i| l.origin_health(OriginId(i as u32)).latency())
                .min();
            json!({
                "name": r.name.as_str(),
                "geography": s.geography(r.geography).name.as_str(),
                "fail_open": s.geography(r.geography).fail_open,
                "priority": r.priority,
                "weight": {"configured": r.configured_weight, "effective": r.weight},
                "drained": r.drained,
                "origins": members.len(),
                "healthy_origins": healthy,
                "latency_ms": ms(latency),
            })
        })
        .collect();
    json!({"generation": s.generation, "regions": list})
}

/// What `/readyz` answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadinessScope {
    /// `/readyz`: ready when every geography has a usable origin (for monitoring and for load
    /// balancers that should skip a gateway whose origins are all gone).
    Geographies,
    /// `/readyz?scope=pod`: ready when this process serves its config, whatever the origins'
    /// state. What a Kubernetes readiness probe needs: a geography-wide origin outage must not
    /// take every replica out of the Service (the gateway answers `503` for that geography's
    /// tenants itself, and serves the others).
    Pod,
}

/// `/readyz`: the config is loaded and, for [`ReadinessScope::Geographies`], every geography
/// has a usable origin. The body lists the geographies without one in both scopes.
pub fn readiness(l: &Live, scope: ReadinessScope) -> Response<Vec<u8>> {
    let s = &l.snapshot;
    let now = l.health.now_ms();
    let mut missing = Vec::new();
    for (gi, g) in s.geographies().iter().enumerate() {
        let any = s.origins().iter().enumerate().any(|(i, o)| {
            o.geography.0 as usize == gi && l.origin_health(OriginId(i as u32)).is_usable(now)
        });
        if !any {
            missing.push(g.name.as_str());
        }
    }
    let ready = scope == ReadinessScope::Pod || missing.is_empty();
    let body = serde_json::to_vec(&json!({
        "ready": ready,
        "scope": match scope {
            ReadinessScope::Geographies => "geographies",
            ReadinessScope::Pod => "pod",
        },
        "generation": s.generation,
        "geographies_without_healthy_origin": missing,
    }))
    .unwrap_or_default();
    Response::builder()
        .status(if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        })
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CONTENT_LENGTH, body.len())
        .body(body)
        .unwrap_or_default()
}

/// `GET /api/v1/tenants/{id}/route`: where the tenant goes now and why, computed by the same
/// function the proxy uses.
pub fn tenant_route(l: &Live, id: &str) -> Response<Vec<u8>> {
    let s = &l.snapshot;
    let found = match edge_config::TenantId::parse(id) {
        Ok(id) => TenantMatch::Found {
            id,
            source: SourceKind::Header,
        },
        Err(_) => TenantMatch::Malformed {
            source: SourceKind::Header,
        },
    };
    let health = l.health_view();
    let (status, body) = match routing::route(s, &found, &health, 0) {
        Ok(route) => {
            let geo = s.geography(route.geography);
            let now = l.health.now_ms();
            let candidates: Vec<Value> = route
                .candidates
                .iter()
                .map(|c| {
                    let o = s.origin(*c);
                    let r = s.region(o.region);
                    json!({
                        "region": r.name.as_str(),
                        "address": o.address,
                        "priority": r.priority,
                        "latency_ms": ms(l.origin_health(*c).latency()),
                    })
                })
                .collect();
            let table: Vec<Value> = geo
                .table
                .tiers
                .iter()
                .flat_map(|t| t.members.iter().map(move |m| (t.priority, m)))
                .map(|(priority, m)| {
                    let o = s.origin(m.origin);
                    let h = l.origin_health(m.origin);
                    let why = if m.weight == 0 {
                        "drained (weight 0)"
                    } else if !h.is_usable(now) {
                        "not usable (unhealthy, unknown or ejected)"
                    } else {
                        "eligible"
                    };
                    json!({
                        "region": s.region(o.region).name.as_str(),
                        "address": o.address,
                        "priority": priority,
                        "effective_weight": m.weight,
                        "status": h.status().label(),
                        "latency_ms": ms(h.latency()),
                        "decision": why,
                    })
                })
                .collect();
            (
                StatusCode::OK,
                json!({
                    "tenant": route.tenant.map(|t| t.to_string()),
                    "geography": geo.name.as_str(),
                    "candidates": candidates,
                    "origins": table,
                    "note": "candidates after the first are the failover order; \
                             the first is drawn by weight among the fastest of the best priority",
                }),
            )
        }
        Err(e) => (
            StatusCode::from_u16(e.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            json!({"error": e.kind.label(), "detail": e.detail}),
        ),
    };
    let body = serde_json::to_vec_pretty(&body).unwrap_or_default();
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CONTENT_LENGTH, body.len())
        .body(body)
        .unwrap_or_default()
}

/// One entry per DNS edge: geography, address, priority, weight, drain, probe verdict.
pub fn dns_edges(zone: &Zone) -> Value {
    let list: Vec<Value> = zone
        .geographies()
        .iter()
        .flat_map(|g| {
            g.edges.iter().map(move |e| {
                json!({
                    "geography": g.name.as_str(),
                    "address": e.addr.to_string(),
                    "priority": e.priority,
                    "weight": e.weight,
                    "drained": e.drained,
                    "status": e.health.status().label(),
                    "latency_ms": ms(e.health.latency()),
                    "probe": e.probe.to_string(),
                })
            })
        })
        .collect();
    json!({
        "generation": zone.generation,
        "zone": zone.origin().to_string(),
        "edges": list,
    })
}
