//! `[dns]` and its `[[dns.edges]]`: the authoritative responder for tenant host names, the
//! SOA and NS data of its zone, its bounds, and the edges it answers with for each geography.
//!
//! Names (the zone, the name servers, the mailbox) are checked as host names here, so the
//! responder and the zone export never meet one they cannot write.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::listeners::listeners_overlap;
use super::schema::{Elements, Piece};
use super::spans::KeyPath;
use super::validator::Validator;
use super::values::MinDuration;
use crate::defaults::{
    DEFAULT_DNS_EXPIRE, DEFAULT_DNS_MAX_ANSWERS, DEFAULT_DNS_MAX_TCP_CONNECTIONS,
    DEFAULT_DNS_MAX_UDP_PAYLOAD, DEFAULT_DNS_NEGATIVE_TTL, DEFAULT_DNS_PRIORITY,
    DEFAULT_DNS_PROBE_INTERVAL, DEFAULT_DNS_PROBE_PORT, DEFAULT_DNS_PROBE_TIMEOUT,
    DEFAULT_DNS_REFRESH, DEFAULT_DNS_RETRY, DEFAULT_DNS_TCP_IDLE_TIMEOUT, DEFAULT_DNS_TTL,
    DEFAULT_RISE_FALL, DEFAULT_WEIGHT, MAX_DNS_ANSWERS, MAX_DNS_RISE_FALL, MAX_DNS_TCP_CONNECTIONS,
    MAX_DNS_TTL, MAX_DNS_UDP_PAYLOAD, MAX_WEIGHT, MIN_DNS_UDP_PAYLOAD, MIN_HEALTH_INTERVAL,
};
use crate::file::{DnsEdgesFile, DnsFile, DnsHealthFile};
use crate::model::{Dns, DnsEdges, DnsHealth, Geography, GeographyName, Listeners, TenantId};

/// The longest zone name: a tenant label (36 characters) and its dot must still fit in a
/// 253-character name.
pub const MAX_ZONE_NAME: usize = 253 - 37;

/// Upper bound of `dns.edges[].priority`.
const MAX_DNS_PRIORITY: u32 = 100;

/// The longest SOA timer: RFC 2181 §8 limits TTL-like values to 31 bits.
const MAX_SOA_TIMER: Duration = Duration::from_secs(i32::MAX as u64);

const ZONE_EXAMPLE: &str = "zone = \"app.example.com\"";

impl<'a> Validator<'a> {
    /// `[dns]`: `None` when absent or unusable (after reporting why).
    pub(super) fn dns(
        &mut self,
        piece: &Piece<DnsFile>,
        groups: &Elements<DnsEdgesFile>,
        listeners: &Listeners,
        geographies: &[Geography],
        geographies_complete: bool,
    ) -> Option<Dns> {
        let file = piece.parsed()?;
        let path = KeyPath::default().key("dns");
        let listen = self.dns_listen(&path.key("listen"), &file.listen, listeners);
        let zone = match &file.zone {
            None => {
                self.error(
                    &path,
                    format!("[dns] needs the zone it answers for, e.g. {ZONE_EXAMPLE}"),
                );
                None
            }
            Some(text) => self.zone_name(&path.key("zone"), text),
        };
        let ttl = self.seconds(
            &path.key("ttl"),
            file.ttl,
            DEFAULT_DNS_TTL,
            MinDuration::Any,
            MAX_DNS_TTL,
        );
        let nameservers =
            self.nameservers(&path.key("nameservers"), &file.nameservers, zone.as_ref());
        let hostmaster = match (&file.hostmaster, &zone) {
            (Some(text), _) => self.mailbox(&path.key("hostmaster"), text),
            (None, Some(zone)) => Some(format!("hostmaster.{zone}")),
            (None, None) => None,
        };
        let serial = file.serial.and_then(|s| match u32::try_from(s) {
            Ok(s) => Some(s),
            Err(_) => {
                self.error(
                    &path.key("serial"),
                    format!("{s} is out of range: expected 0 to {}", u32::MAX),
                );
                None
            }
        });
        let timer = |v: &mut Self, key: &str, value, default| {
            v.seconds(
                &path.key(key),
                value,
                default,
                MinDuration::Positive,
                MAX_SOA_TIMER,
            )
        };
        let refresh = timer(self, "refresh", file.refresh, DEFAULT_DNS_REFRESH);
        let retry = timer(self, "retry", file.retry, DEFAULT_DNS_RETRY);
        let expire = timer(self, "expire", file.expire, DEFAULT_DNS_EXPIRE);
        let negative_ttl = self.seconds(
            &path.key("negative_ttl"),
            file.negative_ttl,
            DEFAULT_DNS_NEGATIVE_TTL,
            MinDuration::Any,
            MAX_DNS_TTL,
        );
        let max_answers = self.int(
            &path.key("max_answers"),
            file.max_answers,
            DEFAULT_DNS_MAX_ANSWERS,
            1,
            MAX_DNS_ANSWERS,
        );
        let max_udp_payload = self.int(
            &path.key("max_udp_payload"),
            file.max_udp_payload,
            DEFAULT_DNS_MAX_UDP_PAYLOAD,
            MIN_DNS_UDP_PAYLOAD,
            MAX_DNS_UDP_PAYLOAD,
        );
        let max_tcp_connections = self.non_zero(
            &path.key("max_tcp_connections"),
            file.max_tcp_connections,
            DEFAULT_DNS_MAX_TCP_CONNECTIONS,
            MAX_DNS_TCP_CONNECTIONS,
        );
        let tcp_idle_timeout = self.duration(
            &path.key("tcp_idle_timeout"),
            file.tcp_idle_timeout,
            DEFAULT_DNS_TCP_IDLE_TIMEOUT,
            MinDuration::Positive,
        );
        let health = self.dns_health(&path.key("health"), file.health.as_ref());
        let edges = self.dns_edges(
            &path.key("edges"),
            groups,
            health.port,
            geographies,
            geographies_complete,
        );
        let (zone, nameservers, hostmaster) = (zone?, nameservers?, hostmaster?);
        Some(Dns {
            listen,
            zone,
            ttl,
            nameservers,
            hostmaster,
            serial,
            refresh,
            retry,
            expire,
            negative_ttl,
            max_answers: usize::try_from(max_answers).unwrap_or(1),
            max_udp_payload: u16::try_from(max_udp_payload).unwrap_or(512),
            max_tcp_connections,
            tcp_idle_timeout,
            health,
            edges,
        })
    }

    fn dns_listen(
        &mut self,
        path: &KeyPath,
        list: &[String],
        listeners: &Listeners,
    ) -> Vec<SocketAddr> {
        if list.is_empty() {
            self.error(
                path,
                "at least one address to answer on is required, e.g. listen = [\"0.0.0.0:53\"] \
                 (each is served over UDP and TCP)",
            );
        }
        let tcp: Vec<(&str, SocketAddr)> = listeners
            .https
            .iter()
            .map(|a| ("listeners.https", *a))
            .chain(listeners.http.iter().map(|a| ("listeners.http", *a)))
            .chain(listeners.admin.iter().map(|a| ("listeners.admin", *a)))
            .collect();
        let mut out: Vec<SocketAddr> = Vec::new();
        for (i, text) in list.iter().enumerate() {
            let p = path.index(i);
            let Some(addr) = self.listen_addr(&p, text) else {
                continue;
            };
            if addr.port() == 0 {
                self.error(
                    &p,
                    format!(
                        "{addr}: port 0 would give UDP and TCP different ports; write the port \
                         resolvers are told about, e.g. 53"
                    ),
                );
                continue;
            }
            if let Some(j) = out.iter().position(|b| listeners_overlap(*b, addr)) {
                self.error(
                    &p,
                    format!("{addr} overlaps {path}[{j}] ({}); list it once", out[j]),
                );
                continue;
            }
            if let Some((key, other)) = tcp.iter().find(|(_, b)| listeners_overlap(*b, addr)) {
                self.error(
                    &p,
                    format!(
                        "{addr} overlaps {key} ({other}): DNS also listens on TCP port {}; use \
                         another port",
                        addr.port()
                    ),
                );
                continue;
            }
            out.push(addr);
        }
        out
    }

    fn zone_name(&mut self, path: &KeyPath, text: &str) -> Option<String> {
        match parse_dns_name(text) {
            Ok(zone) if zone.len() > MAX_ZONE_NAME => {
                self.error(
                    path,
                    format!(
                        "{text:?} is {} characters long; a zone name may have at most \
                         {MAX_ZONE_NAME}, so that a tenant name (36 characters and a dot) \
                         under it stays within 253",
                        zone.len()
                    ),
                );
                None
            }
            Ok(zone) => Some(zone),
            Err(why) => {
                self.error(path, format!("{why}, e.g. {ZONE_EXAMPLE}"));
                None
            }
        }
    }

    fn nameservers(
        &mut self,
        path: &KeyPath,
        list: &[String],
        zone: Option<&String>,
    ) -> Option<Vec<String>> {
        if list.is_empty() {
            self.error(
                path,
                "at least one name server is required: the NS records of the zone, e.g. \
                 nameservers = [\"ns1.example.net\", \"ns2.example.net\"]",
            );
            return None;
        }
        let mut out: Vec<String> = Vec::with_capacity(list.len());
        let mut ok = true;
        for (i, text) in list.iter().enumerate() {
            let p = path.index(i);
            let name = match parse_dns_name(text) {
                Ok(name) => name,
                Err(why) => {
                    self.error(&p, why);
                    ok = false;
                    continue;
                }
            };
            if let Some(zone) = zone.filter(|z| is_at_or_under(&name, z)) {
                self.error(
                    &p,
                    format!(
                        "{name} is inside the zone {zone}: its address would have to be served \
                         as glue, which this responder does not do; name a server outside the \
                         zone"
                    ),
                );
                ok = false;
                continue;
            }
            if let Some(j) = out.iter().position(|n| *n == name) {
                self.error(&p, format!("{name} is listed twice (first at {path}[{j}])"));
                ok = false;
                continue;
            }
            out.push(name);
        }
        ok.then_some(out)
    }

    fn mailbox(&mut self, path: &KeyPath, text: &str) -> Option<String> {
        let result = match text.split_once('@') {
            None => parse_dns_name(text),
            Some((local, domain)) => {
                let local_ok = !local.is_empty()
                    && local.len() <= 63
                    && local
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
                if local_ok {
                    parse_dns_name(domain).map(|d| format!("{}.{d}", local.to_ascii_lowercase()))
                } else {
                    Err(format!(
                        "{local:?} cannot be the mailbox's local part here: use letters, digits, \
                         '-' and '_' (a '.' would need escaping in the SOA)"
                    ))
                }
            }
        };
        match result {
            Ok(name) => Some(name),
            Err(why) => {
                self.error(
                    path,
                    format!("{why}; write e.g. hostmaster = \"hostmaster@example.com\""),
                );
                None
            }
        }
    }

    /// A duration in whole seconds, at most `max` (which fits in `u32`).
    fn seconds(
        &mut self,
        path: &KeyPath,
        value: Option<crate::file::HumanDuration>,
        default: Duration,
        min: MinDuration,
        max: Duration,
    ) -> u32 {
        let fallback = u32::try_from(default.as_secs()).unwrap_or(u32::MAX);
        let d = self.duration(path, value, default, min);
        if d.subsec_nanos() != 0 {
            self.error(
                path,
                format!(
                    "{} is not a whole number of seconds: DNS counts in seconds",
                    humantime::format_duration(d)
                ),
            );
            return fallback;
        }
        if d > max {
            self.error(
                path,
                format!(
                    "{} is too long: at most {}",
                    humantime::format_duration(d),
                    humantime::format_duration(max)
                ),
            );
            return fallback;
        }
        u32::try_from(d.as_secs()).unwrap_or(fallback)
    }

    fn port(&mut self, path: &KeyPath, value: Option<i64>, default: u32) -> u16 {
        let n = self.int(path, value, default, 1, u32::from(u16::MAX));
        u16::try_from(n).unwrap_or(443)
    }

    fn dns_health(&mut self, path: &KeyPath, file: Option<&DnsHealthFile>) -> DnsHealth {
        let file = file.cloned().unwrap_or_default();
        let rise_fall = |v: &mut Self, key: &str, value| {
            v.non_zero(&path.key(key), value, DEFAULT_RISE_FALL, MAX_DNS_RISE_FALL)
        };
        DnsHealth {
            port: self.port(&path.key("port"), file.port, DEFAULT_DNS_PROBE_PORT),
            interval: self.duration(
                &path.key("interval"),
                file.interval,
                DEFAULT_DNS_PROBE_INTERVAL,
                MinDuration::AtLeast(MIN_HEALTH_INTERVAL),
            ),
            timeout: self.duration(
                &path.key("timeout"),
                file.timeout,
                DEFAULT_DNS_PROBE_TIMEOUT,
                MinDuration::Positive,
            ),
            rise: rise_fall(self, "rise", file.rise),
            fall: rise_fall(self, "fall", file.fall),
        }
    }

    fn dns_edges(
        &mut self,
        path: &KeyPath,
        groups: &Elements<DnsEdgesFile>,
        default_port: u16,
        geographies: &[Geography],
        geographies_complete: bool,
    ) -> Vec<DnsEdges> {
        if groups.is_empty() {
            self.error(
                path,
                "at least one [[dns.edges]] is required: each geography's edge addresses, e.g. \
                 [[dns.edges]] with geography = \"eu\" and addresses = [\"192.0.2.10\"]",
            );
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut seen: HashMap<IpAddr, (KeyPath, String)> = HashMap::new();
        for (i, g) in groups.parsed() {
            let p = path.index(i);
            let geography = self.dns_edge_geography(
                &p.key("geography"),
                &g.geography,
                geographies,
                geographies_complete,
            );
            let addresses = self.edge_addresses(&p.key("addresses"), g, &mut seen);
            let priority = self.non_zero(
                &p.key("priority"),
                g.priority,
                DEFAULT_DNS_PRIORITY,
                MAX_DNS_PRIORITY,
            );
            let weight = self.int(&p.key("weight"), g.weight, DEFAULT_WEIGHT, 0, MAX_WEIGHT);
            let probe_port = self.port(&p.key("probe_port"), g.probe_port, u32::from(default_port));
            if let Some(geography) = geography {
                out.push(DnsEdges {
                    geography,
                    addresses,
                    priority,
                    weight,
                    probe_port,
                });
            }
        }
        if geographies_complete && groups.complete() {
            for g in geographies {
                if !out.iter().any(|e| e.geography == g.name) {
                    self.error(
                        path,
                        format!(
                            "geography {:?} has no [[dns.edges]]: with [dns], every geography \
                             needs its edges, or its tenants' names would have no answer (never \
                             another geography's)",
                            g.name.as_str()
                        ),
                    );
                }
            }
        }
        out
    }

    fn dns_edge_geography(
        &mut self,
        path: &KeyPath,
        name: &str,
        geographies: &[Geography],
        geographies_complete: bool,
    ) -> Option<GeographyName> {
        if !self.name(path, name, "geography") {
            return None;
        }
        if TenantId::parse(name).is_ok() {
            self.error(
                path,
                format!(
                    "{name:?} is shaped like a tenant id, so {name}.<zone> would name both a \
                     geography and a tenant; rename the geography"
                ),
            );
            return None;
        }
        match geographies.iter().find(|g| g.name.as_str() == name) {
            Some(g) => Some(g.name.clone()),
            // An unknown name is only reported when the geographies all parsed.
            None if !geographies_complete => None,
            None => {
                let known: Vec<&str> = geographies.iter().map(|g| g.name.as_str()).collect();
                self.error(
                    path,
                    format!("no geography named {name:?}; defined: {}", known.join(", ")),
                );
                None
            }
        }
    }

    fn edge_addresses(
        &mut self,
        path: &KeyPath,
        group: &DnsEdgesFile,
        seen: &mut HashMap<IpAddr, (KeyPath, String)>,
    ) -> Vec<IpAddr> {
        if group.addresses.is_empty() {
            self.error(
                path,
                "at least one address is required, e.g. addresses = [\"192.0.2.10\"]",
            );
        }
        let mut out = Vec::new();
        for (i, text) in group.addresses.iter().enumerate() {
            let p = path.index(i);
            let addr = match text.parse::<IpAddr>() {
                Ok(a) => a,
                Err(_) if text.parse::<SocketAddr>().is_ok() => {
                    self.error(
                        &p,
                        format!(
                            "{text:?}: write the address alone; DNS answers carry no port (the \
                             port probed is dns.health.port or probe_port)"
                        ),
                    );
                    continue;
                }
                Err(_) => {
                    self.error(
                        &p,
                        format!(
                            "{text:?} is not an IP address: write an IPv4 or IPv6 address such \
                             as \"192.0.2.10\" or \"2001:db8::10\""
                        ),
                    );
                    continue;
                }
            };
            if let Some(why) = not_an_edge_address(addr) {
                self.error(&p, format!("{addr} {why}"));
                continue;
            }
            if let Some((first, geography)) = seen.get(&addr) {
                self.error(
                    &p,
                    format!(
                        "{addr} is listed twice (first at {first}, geography {geography:?}); an \
                         edge is listed once and belongs to one geography"
                    ),
                );
                continue;
            }
            seen.insert(addr, (p, group.geography.clone()));
            out.push(addr);
        }
        out
    }
}

/// Why `addr` cannot be answered as an edge, if it cannot.
fn not_an_edge_address(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(a) if a.is_unspecified() => Some("is the unspecified address"),
        IpAddr::V4(a) if a.is_broadcast() => Some("is the broadcast address"),
        IpAddr::V4(a) if a.is_multicast() => Some("is a multicast address"),
        IpAddr::V6(a) if a.is_unspecified() => Some("is the unspecified address"),
        IpAddr::V6(a) if a.is_multicast() => Some("is a multicast address"),
        IpAddr::V6(a) if a.to_ipv4_mapped().is_some() => {
            Some("is an IPv4-mapped IPv6 address: write the IPv4 address")
        }
        _ => None,
    }
}

/// Whether `name` is `zone` or a name under it (both lower-case, without trailing dots).
fn is_at_or_under(name: &str, zone: &str) -> bool {
    name == zone
        || name
            .strip_suffix(zone)
            .is_some_and(|head| head.ends_with('.'))
}

/// `text` as a host name: lower-case, without the trailing dot; labels of 1 to 63 letters,
/// digits and '-' (not first or last), at most 253 characters in all (RFC 1035 §2.3.4,
/// RFC 1123 §2.1). The error says what is wrong.
pub(super) fn parse_dns_name(text: &str) -> Result<String, String> {
    let name = text.strip_suffix('.').unwrap_or(text);
    if name.is_empty() {
        return Err(format!("{text:?} is not a domain name"));
    }
    if name.len() > 253 {
        return Err(format!(
            "{text:?} is {} characters long; a domain name has at most 253",
            name.len()
        ));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(format!("{text:?} has an empty label (two dots in a row?)"));
        }
        if label.len() > 63 {
            return Err(format!(
                "{text:?}: the label {label:?} is {} characters long; a label has at most 63",
                label.len()
            ));
        }
        let ldh = label
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-');
        if !ldh || label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "{text:?}: the label {label:?} is not a host name label: use letters, digits \
                 and '-', not first or last"
            ));
        }
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        assert_eq!(
            parse_dns_name("App.Example.COM.").unwrap(),
            "app.example.com"
        );
        assert_eq!(parse_dns_name("localhost").unwrap(), "localhost");
        assert_eq!(parse_dns_name("a-1.b2").unwrap(), "a-1.b2");
        for bad in [
            "",
            ".",
            "a..b",
            "-a.b",
            "a-.b",
            "a_b.c",
            "a b.c",
            "é.com",
            &format!("{}.com", "a".repeat(64)),
            &["a"; 128].join("."),
        ] {
            assert!(parse_dns_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_at_or_under_a_zone() {
        assert!(is_at_or_under("app.example.com", "app.example.com"));
        assert!(is_at_or_under("ns1.app.example.com", "app.example.com"));
        assert!(!is_at_or_under("myapp.example.com", "app.example.com"));
        assert!(!is_at_or_under("example.com", "app.example.com"));
    }

    #[test]
    fn edge_addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        for ok in ["192.0.2.10", "127.0.0.1", "2001:db8::1", "::1"] {
            assert_eq!(not_an_edge_address(ip(ok)), None, "{ok}");
        }
        for bad in [
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::",
            "ff02::1",
            "::ffff:192.0.2.1",
        ] {
            assert!(not_an_edge_address(ip(bad)).is_some(), "{bad}");
        }
    }
}
