//! A short human-readable summary of a validated configuration (for `edge-gateway check`).

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::time::Duration;

use crate::model::{
    AccessLog, AccessLogFormat, ClientIp, Config, Dns, Edge, Fleet, ForeignTenants, GeoSettings,
    Geography, GeographyName, HeaderCase, Health, Limits, Listeners, LogSink, OutlierDetection,
    Quota, RateLimits, Region, Routing, SecretSource, Server, Tenancy, TenantDirectory,
    TenantSource, Tls, UnknownTenant, WhenUnreachable,
};

/// Describes the topology: listeners, tenancy, each geography with its regions (priority,
/// weight, origins, health-check overrides, location) and the countries and continents routed
/// to it, health checks, outlier detection, routing and retries, client addresses, client
/// limits, client location and rate limits.
pub fn summary(config: &Config) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason only.
    let _ = write_summary(&mut out, config);
    out
}

/// One line per section (two for routing), and under each geography one per region.
fn write_summary(out: &mut String, config: &Config) -> fmt::Result {
    listeners(out, &config.listeners)?;
    server(out, &config.server)?;
    tls(out, &config.tls)?;
    tenancy(out, &config.tenancy)?;
    let per_geography = tenants(out, &config.tenants)?;
    for g in &config.geographies {
        let count = per_geography.get(&g.name).copied().unwrap_or(0);
        geography(out, g, count)?;
        let mut regions: Vec<_> = config
            .regions
            .iter()
            .filter(|r| r.geography == g.name)
            .collect();
        regions.sort_by_key(|r| r.priority);
        for r in regions {
            region(out, r, &config.health)?;
        }
    }
    writeln!(out, "health: {}", fmt_health(&config.health))?;
    outlier_detection(out, &config.outlier_detection)?;
    routing(out, &config.routing)?;
    client_ip(out, &config.client_ip)?;
    writeln!(out, "limits: {}", fmt_limits(&config.limits))?;
    geo(out, config.geo.as_ref())?;
    rate_limits(out, config.rate_limits.as_ref())?;
    access_log(out, &config.access_log)?;
    dns(out, config.dns.as_ref())?;
    edge(out, config.edge.as_ref())?;
    fleet(out, config.fleet.as_ref())
}

fn access_log(out: &mut String, a: &AccessLog) -> fmt::Result {
    if !a.enabled {
        return writeln!(out, "access log: off");
    }
    let sink = match &a.sink {
        LogSink::Stderr => "stderr".to_string(),
        LogSink::Stdout => "stdout".to_string(),
        LogSink::File(p) => p.display().to_string(),
    };
    let format = match a.format {
        AccessLogFormat::Json => "json",
        AccessLogFormat::Text => "text",
    };
    write!(out, "access log: {format} to {sink}")?;
    if a.sample_success < 1.0 {
        write!(
            out,
            ", {}% of successful requests",
            a.sample_success * 100.0
        )?;
    }
    writeln!(
        out,
        "; flushed every {}, up to {} held per thread",
        fmt_duration(a.flush_interval),
        fmt_bytes(u64::try_from(a.buffer_bytes).unwrap_or(u64::MAX))
    )
}

/// `dns: off`, or the zone, listeners and TTL, then one line per geography with its edges.
fn dns(out: &mut String, dns: Option<&Dns>) -> fmt::Result {
    let Some(d) = dns else {
        return writeln!(out, "dns: off");
    };
    let listen: Vec<String> = d.listen.iter().map(ToString::to_string).collect();
    writeln!(
        out,
        "dns: zone {} on {} (udp+tcp), ttl {}s, up to {} addresses per answer, ns {}",
        d.zone,
        listen.join(", "),
        d.ttl,
        d.max_answers,
        d.nameservers.join(" ")
    )?;
    for g in &d.edges {
        let addresses: Vec<String> = g.addresses.iter().map(ToString::to_string).collect();
        writeln!(
            out,
            "  dns edges {}: {} (priority {}, weight {}, probe port {})",
            g.geography,
            addresses.join(", "),
            g.priority,
            g.weight,
            g.probe_port
        )?;
    }
    Ok(())
}

/// Printed only when `[edge]` is set, so summaries of single-gateway configs are unchanged.
fn edge(out: &mut String, edge: Option<&Edge>) -> fmt::Result {
    let Some(e) = edge else { return Ok(()) };
    let foreign = match e.foreign_tenants {
        ForeignTenants::Proxy => "proxied to their geography",
        ForeignTenants::Refuse => "refused with 421",
    };
    writeln!(
        out,
        "edge: stands in {}; {} trusted peer network(s); foreign tenants found after \
         decryption {foreign}; peers probed every {} (timeout {}, rise {}, fall {})",
        e.geography,
        e.trusted_peers.len(),
        fmt_duration(e.peer_health.interval),
        fmt_duration(e.peer_health.timeout),
        e.peer_health.rise,
        e.peer_health.fall
    )?;
    for p in &e.peers {
        let addrs: Vec<String> = p.addresses.iter().map(ToString::to_string).collect();
        writeln!(out, "  peers in {}: {}", p.geography, addrs.join(", "))?;
    }
    Ok(())
}

/// One line, only with `[fleet]` (without it, the summary is what it always was).
fn fleet(out: &mut String, fleet: Option<&Fleet>) -> fmt::Result {
    let Some(f) = fleet else {
        return Ok(());
    };
    let password = match &f.password {
        None => "no password".to_owned(),
        Some(SecretSource::Env(name)) => format!("password from ${name}"),
        Some(SecretSource::File(path)) => format!("password from {}", path.display()),
    };
    let unreachable = match f.when_unreachable {
        WhenUnreachable::FullQuota => "full quota per replica",
        WhenUnreachable::DivideQuota => "quota divided by the replicas last seen",
    };
    writeln!(
        out,
        "fleet: {} ({password}), keys {:?}, node {}, sync every {}, timeout {}; while \
         unreachable: {unreachable}",
        f.redis_url,
        f.key_prefix,
        f.node_id.as_deref().unwrap_or("<host>-<pid>"),
        fmt_duration(f.sync_interval),
        fmt_duration(f.timeout)
    )
}

fn listeners(out: &mut String, l: &Listeners) -> fmt::Result {
    let join = |addrs: &[std::net::SocketAddr]| {
        addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    write!(out, "listeners: https {}", join(&l.https))?;
    if !l.http.is_empty() {
        write!(out, "; http {} (redirect)", join(&l.http))?;
    }
    if let Some(admin) = l.admin {
        write!(out, "; admin {admin}")?;
    }
    writeln!(out)
}

fn server(out: &mut String, server: &Server) -> fmt::Result {
    writeln!(
        out,
        "server: {} threads, grace period {}",
        server.threads,
        fmt_duration(server.grace_period)
    )
}

fn tls(out: &mut String, tls: &Tls) -> fmt::Result {
    let hsts = if tls.hsts_max_age.is_zero() {
        "off".to_owned()
    } else {
        format!(
            "max-age {}{}",
            fmt_duration(tls.hsts_max_age),
            if tls.hsts_include_subdomains {
                ", includeSubDomains"
            } else {
                ""
            }
        )
    };
    let certs = tls
        .certificates
        .iter()
        .map(|c| c.cert.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    writeln!(
        out,
        "tls: {} certificate(s) ({certs}); HSTS {hsts}",
        tls.certificates.len()
    )
}

fn tenancy(out: &mut String, tenancy: &Tenancy) -> fmt::Result {
    let sources = tenancy
        .sources
        .iter()
        .map(|s| match s {
            TenantSource::Host { prefix, suffix } => format!("host {prefix}{{tenant}}{suffix}"),
            TenantSource::Header { name } => format!("header {name}"),
            TenantSource::Path { prefix } => format!("path {prefix}{{tenant}}"),
            TenantSource::JwtClaim { claim } => format!("jwt-claim {claim}"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let unknown = match (tenancy.unknown, &tenancy.default_geography) {
        (UnknownTenant::Reject, _) => "reject".to_owned(),
        (UnknownTenant::Nearest, Some(d)) => {
            format!("route by client location (default geography {d})")
        }
        (UnknownTenant::Nearest, None) => "route by client location".to_owned(),
    };
    writeln!(out, "tenant sources: {sources}; unknown tenants: {unknown}")
}

/// Also counts the tenants of each geography, for the geography lines: the directory can
/// hold millions, so it is walked once.
fn tenants<'c>(
    out: &mut String,
    tenants: &'c TenantDirectory,
) -> Result<HashMap<&'c GeographyName, usize>, fmt::Error> {
    let mut per_geography: HashMap<&GeographyName, usize> = HashMap::new();
    let mut restricted = 0usize;
    for tenant in tenants.by_id.values() {
        *per_geography.entry(&tenant.geography).or_default() += 1;
        restricted += usize::from(tenant.allowed_countries.is_some());
    }
    write!(out, "tenants: {}", tenants.by_id.len())?;
    if restricted > 0 {
        write!(out, " ({restricted} limited to allowed countries)")?;
    }
    writeln!(out)?;
    Ok(per_geography)
}

fn geography(out: &mut String, g: &Geography, tenants: usize) -> fmt::Result {
    write!(
        out,
        "geography {} ({}, {} tenants)",
        g.name,
        if g.fail_open {
            "fail open"
        } else {
            "fail closed"
        },
        tenants
    )?;
    let join_codes = |codes: Vec<&str>| codes.join(", ");
    if !g.countries.is_empty() {
        let list = join_codes(g.countries.iter().map(|c| c.as_str()).collect());
        write!(out, "; countries {list}")?;
    }
    if !g.continents.is_empty() {
        let list = join_codes(g.continents.iter().map(|c| c.as_str()).collect());
        write!(out, "; continents {list}")?;
    }
    writeln!(out)
}

/// Indented under its geography; the health checks only when they differ from the global
/// ones.
fn region(out: &mut String, r: &Region, global_health: &Health) -> fmt::Result {
    let origins = r
        .origins
        .iter()
        .map(|o| {
            let mut s = o.address.clone();
            if o.socket_addr.to_string() != o.address {
                let _ = write!(s, " = {}", o.socket_addr);
            }
            let mut notes = Vec::new();
            if o.weight != 100 {
                notes.push(format!("weight {}", o.weight));
            }
            if o.tls {
                notes.push(format!("tls, sni {}", o.sni));
            }
            if let Some(host) = &o.host {
                notes.push(format!("host {host}"));
            }
            if !notes.is_empty() {
                let _ = write!(s, " ({})", notes.join(", "));
            }
            s
        })
        .collect::<Vec<_>>()
        .join(", ");
    writeln!(
        out,
        "  region {} priority {} weight {}: {} origin(s): {origins}",
        r.name,
        r.priority,
        r.weight,
        r.origins.len()
    )?;
    if r.health != *global_health {
        writeln!(out, "    health: {}", fmt_health(&r.health))?;
    }
    if let Some(loc) = r.location {
        writeln!(out, "    location: lat {}, lon {}", loc.lat, loc.lon)?;
    }
    Ok(())
}

fn outlier_detection(out: &mut String, o: &OutlierDetection) -> fmt::Result {
    writeln!(
        out,
        "outlier detection: eject after {} consecutive failures{}, for {} growing to {}",
        o.consecutive_failures,
        if o.count_5xx {
            " (5xx included)"
        } else {
            " (5xx not counted)"
        },
        fmt_duration(o.base_ejection_time),
        fmt_duration(o.max_ejection_time)
    )
}

/// Two lines: attempts and timeouts, then what is retried and how much.
fn routing(out: &mut String, r: &Routing) -> fmt::Result {
    writeln!(
        out,
        "routing: max {} attempts; timeouts connect {}, read {}, write {}, idle {}; header names {}{}",
        r.max_attempts,
        fmt_duration(r.connect_timeout),
        fmt_duration(r.read_timeout),
        fmt_duration(r.write_timeout),
        fmt_duration(r.idle_timeout),
        match r.header_case {
            HeaderCase::Lowercase => "lower-case",
            HeaderCase::Preserve => "as received",
        },
        if r.debug_headers {
            "; debug headers on"
        } else {
            ""
        }
    )?;
    let b = &r.retry_budget;
    writeln!(
        out,
        "retries: {}; budget ratio {} over {}, min {} concurrent; latency sensitivity {}; slow start {}",
        if r.retry_methods.is_empty() {
            "no methods".to_owned()
        } else {
            r.retry_methods.join(", ")
        },
        b.ratio,
        fmt_duration(b.window),
        b.min_concurrent,
        fmt_duration(r.latency_sensitivity),
        if r.slow_start.is_zero() {
            "off".to_owned()
        } else {
            fmt_duration(r.slow_start)
        }
    )
}

fn client_ip(out: &mut String, client_ip: &ClientIp) -> fmt::Result {
    let proxies = &client_ip.trusted_proxies;
    if proxies.is_empty() {
        writeln!(out, "client ip: the peer address (no trusted proxies)")
    } else {
        let list = proxies
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        writeln!(
            out,
            "client ip: X-Forwarded-For from trusted proxies {list}"
        )
    }
}

fn geo(out: &mut String, geo: Option<&GeoSettings>) -> fmt::Result {
    let Some(g) = geo else {
        return writeln!(out, "geo: off");
    };
    write!(
        out,
        "geo: database {}, checked for changes every {}",
        g.database.display(),
        fmt_duration(g.reload_interval)
    )?;
    if !g.deny_countries.is_empty() {
        let list = g
            .deny_countries
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        write!(out, "; denied countries {list}")?;
    }
    writeln!(out)
}

fn rate_limits(out: &mut String, rate_limits: Option<&RateLimits>) -> fmt::Result {
    let Some(l) = rate_limits else {
        return writeln!(out, "rate limits: off");
    };
    let plans = if l.plans.is_empty() {
        "none".to_owned()
    } else {
        l.plans
            .iter()
            .map(|(name, q)| format!("{name} {}", fmt_quota(q)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    write!(out, "rate limits: plans {plans}")?;
    if let Some(d) = &l.default_plan {
        write!(out, "; default plan {d}")?;
    }
    if let Some(q) = &l.per_client {
        write!(out, "; per client {}", fmt_quota(q))?;
    }
    if !l.tenant_overrides.is_empty() {
        write!(out, "; {} tenant override(s)", l.tenant_overrides.len())?;
    }
    for route in &l.routes {
        let methods = if route.methods.is_empty() {
            String::new()
        } else {
            format!(" {}", route.methods.join("/"))
        };
        write!(
            out,
            "; route {}{methods} {}",
            route.path_prefix,
            fmt_quota(&route.quota)
        )?;
    }
    writeln!(
        out,
        "; headers {}; up to {} tracked keys, idle after {}",
        if l.send_headers {
            "always"
        } else {
            "on 429 only"
        },
        l.max_tracked_clients,
        fmt_duration(l.idle_eviction)
    )
}

/// `GET /healthz every 1s, timeout 500ms, rise 2, fall 2, expect 200-399`.
fn fmt_health(h: &Health) -> String {
    let expected = h
        .expected_statuses
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let mut s = format!(
        "GET {} every {}, timeout {}, rise {}, fall {}, expect {expected}",
        h.path,
        fmt_duration(h.interval),
        fmt_duration(h.timeout),
        h.rise,
        h.fall
    );
    if let Some(host) = &h.host {
        let _ = write!(s, ", host {host}");
    }
    s
}

/// `10000 connections; timeouts tls handshake 10s, request header 10s, idle 1m; uri 8KiB;
/// headers 100 fields, 32KiB; body 10MiB, /upload 100MiB; 100 h2 streams; 10000 requests per
/// http/1.1 connection`.
fn fmt_limits(l: &Limits) -> String {
    let mut body = fmt_bytes(l.max_body_bytes);
    for route in &l.routes {
        let _ = write!(
            body,
            ", {} {}",
            route.path_prefix,
            fmt_bytes(route.max_body_bytes)
        );
    }
    format!(
        "{} connections; timeouts tls handshake {}, request header {}, idle {}; uri {}; \
         headers {} fields, {}; body {body}; {} h2 streams, {} resets per 10 s; {} requests per \
         http/1.1 connection",
        l.max_connections,
        fmt_duration(l.tls_handshake_timeout),
        fmt_duration(l.request_header_timeout),
        fmt_duration(l.idle_timeout),
        fmt_bytes(u64::try_from(l.max_uri_bytes).unwrap_or(u64::MAX)),
        l.max_headers,
        fmt_bytes(u64::try_from(l.max_header_bytes).unwrap_or(u64::MAX)),
        l.h2_max_concurrent_streams,
        l.h2_max_reset_streams,
        l.keepalive_requests
    )
}

/// `10MiB`, `8KiB`, `1000B`: a binary unit when the size is a whole number of it, else bytes.
fn fmt_bytes(n: u64) -> String {
    for (unit, len) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if n >= len && n % len == 0 {
            return format!("{}{unit}", n / len);
        }
    }
    format!("{n}B")
}

/// `50/s burst 10`.
fn fmt_quota(q: &Quota) -> String {
    format!("{}/s burst {}", q.rps, q.burst)
}

/// `365d`, `10s`, `1m30s`, `500ms`: the units people write in the config, where humantime's
/// own formatting would turn 365 days into months and hours.
fn fmt_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".to_owned();
    }
    let mut out = String::new();
    let mut rest = d.as_secs();
    for (unit, len) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        let n = rest / len;
        rest %= len;
        if n > 0 {
            let _ = write!(out, "{n}{unit}");
        }
    }
    let ms = d.subsec_millis();
    if ms > 0 {
        let _ = write!(out, "{ms}ms");
    }
    if out.is_empty() {
        let _ = write!(out, "{}us", d.as_micros());
    }
    out
}
