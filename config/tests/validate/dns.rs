//! `[dns]` and `[[dns.edges]]`: defaults, normalised names, and every error at its key and
//! line.

use std::net::IpAddr;
use std::time::Duration;

use edge_config::validate;

use crate::{error_at, errors, line_of, ok, BASE};

/// BASE with a second geography (so a missing `[[dns.edges]]` can be shown).
fn two_geographies() -> String {
    format!(
        "{BASE}\n[[geographies]]\nname = \"na\"\n\n[[regions]]\nname = \"eastus\"\n\
         geography = \"na\"\norigins = [{{ address = \"127.0.0.1:9201\" }}]\n"
    )
}

const DNS: &str = r#"
[dns]
listen = ["127.0.0.1:5353"]
zone = "App.Example.com."
nameservers = ["ns1.example.net", "NS2.example.net."]

[[dns.edges]]
geography = "eu"
addresses = ["192.0.2.10", "2001:db8::10"]

[[dns.edges]]
geography = "na"
addresses = ["198.51.100.10"]
priority = 2
weight = 0
probe_port = 8443
"#;

#[test]
fn absent_dns_is_off() {
    assert!(ok(BASE).dns.is_none());
}

#[test]
fn dns_takes_defaults_and_normalises_names() {
    let config = ok(&format!("{}{DNS}", two_geographies()));
    let dns = config.dns.unwrap();
    assert_eq!(dns.listen, ["127.0.0.1:5353".parse().unwrap()]);
    assert_eq!(dns.zone, "app.example.com");
    assert_eq!(dns.nameservers, ["ns1.example.net", "ns2.example.net"]);
    assert_eq!(dns.hostmaster, "hostmaster.app.example.com");
    assert_eq!(dns.ttl, 30);
    assert_eq!(dns.serial, None);
    assert_eq!(
        (dns.refresh, dns.retry, dns.expire, dns.negative_ttl),
        (3600, 600, 7 * 86400, 30)
    );
    assert_eq!(dns.max_answers, 8);
    assert_eq!(dns.max_udp_payload, 1232);
    assert_eq!(dns.max_tcp_connections.get(), 1000);
    assert_eq!(dns.tcp_idle_timeout, Duration::from_secs(10));
    assert_eq!(dns.health.port, 443);
    assert_eq!(dns.health.interval, validate::DEFAULT_DNS_PROBE_INTERVAL);
    assert_eq!(dns.health.timeout, Duration::from_secs(1));
    assert_eq!((dns.health.rise.get(), dns.health.fall.get()), (2, 2));
    let eu = &dns.edges[0];
    assert_eq!(eu.geography.as_str(), "eu");
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(eu.addresses, [ip("192.0.2.10"), ip("2001:db8::10")]);
    assert_eq!((eu.priority.get(), eu.weight, eu.probe_port), (1, 100, 443));
    let na = &dns.edges[1];
    assert_eq!((na.priority.get(), na.weight, na.probe_port), (2, 0, 8443));
}

#[test]
fn every_dns_key_can_be_set() {
    let text = format!(
        "{}{}",
        two_geographies(),
        DNS.replace(
            "nameservers =",
            "ttl = \"5m\"\nhostmaster = \"DNS-Admin@Example.org\"\nserial = 2026120101\n\
             refresh = \"2h\"\nretry = \"15m\"\nexpire = \"14d\"\nnegative_ttl = \"1m\"\n\
             max_answers = 2\nmax_udp_payload = 512\nmax_tcp_connections = 10\n\
             tcp_idle_timeout = \"3s\"\nnameservers ="
        ) + "\n[dns.health]\nport = 8443\ninterval = \"250ms\"\ntimeout = \"100ms\"\nrise = 3\nfall = 1\n"
    );
    let dns = ok(&text).dns.unwrap();
    assert_eq!(dns.ttl, 300);
    assert_eq!(dns.hostmaster, "dns-admin.example.org");
    assert_eq!(dns.serial, Some(2_026_120_101));
    assert_eq!(
        (dns.refresh, dns.retry, dns.expire, dns.negative_ttl),
        (7200, 900, 14 * 86400, 60)
    );
    assert_eq!((dns.max_answers, dns.max_udp_payload), (2, 512));
    assert_eq!(dns.max_tcp_connections.get(), 10);
    assert_eq!(dns.tcp_idle_timeout, Duration::from_secs(3));
    assert_eq!(dns.health.port, 8443);
    assert_eq!(dns.health.interval, Duration::from_millis(250));
    assert_eq!(dns.health.timeout, Duration::from_millis(100));
    assert_eq!((dns.health.rise.get(), dns.health.fall.get()), (3, 1));
    // A group's probe port wins; the others take the section's.
    assert_eq!(
        (dns.edges[0].probe_port, dns.edges[1].probe_port),
        (8443, 8443)
    );
}

#[test]
fn every_geography_needs_dns_edges() {
    let text = format!(
        "{}\n[dns]\nlisten = [\"127.0.0.1:5353\"]\nzone = \"app.example.com\"\n\
         nameservers = [\"ns1.example.net\"]\n[[dns.edges]]\ngeography = \"eu\"\n\
         addresses = [\"192.0.2.10\"]\n",
        two_geographies()
    );
    let errs = errors(&text);
    let e = error_at(&errs, "dns.edges");
    assert!(
        e.message
            .starts_with("geography \"na\" has no [[dns.edges]]"),
        "{e:?}"
    );
    assert_eq!(errs.len(), 1, "{errs:#?}");
}

#[test]
fn a_dns_section_without_its_musts_says_what_is_missing() {
    let text = format!("{BASE}\n[dns]\nttl = \"30s\"\n");
    let errs = errors(&text);
    let e = error_at(&errs, "dns");
    assert!(e.message.contains("zone = \"app.example.com\""), "{e:?}");
    assert_eq!(e.line, Some(line_of(&text, "[dns]")));
    assert!(error_at(&errs, "dns.listen")
        .message
        .contains("listen = [\"0.0.0.0:53\"]"));
    assert!(error_at(&errs, "dns.nameservers")
        .message
        .contains("at least one name server is required"));
    assert!(error_at(&errs, "dns.edges")
        .message
        .contains("at least one [[dns.edges]] is required"));
    assert_eq!(errs.len(), 4, "{errs:#?}");
}

#[test]
fn bad_dns_values_are_reported_at_their_keys_and_lines() {
    let text = format!(
        "{}{}",
        BASE.replace("https = [\"127.0.0.1:8443\"]", "https = [\"0.0.0.0:8443\"]"),
        r#"
[dns]
listen = ["127.0.0.1:8443", "127.0.0.1:0", "dns:53", "[::1]:53", "[::1]:53"]
zone = "app_example.com"
ttl = "1500ms"
nameservers = ["ns1.app_example.com", "ns1.example.net", "ns1.example.net."]
hostmaster = "first.last@example.com"
serial = -1
negative_ttl = "2d"
max_answers = 0
max_udp_payload = 100
max_tcp_connections = 0
tcp_idle_timeout = "0s"
colour = "blue"

[dns.health]
port = 0
interval = "10ms"

[[dns.edges]]
geography = "mars"
addresses = ["192.0.2.10:443", "192.0.2.11", "0.0.0.0", "example.com"]

[[dns.edges]]
geography = "eu"
addresses = ["192.0.2.11"]
weight = 1001
priority = 0

[[dns.edges]]
geography = "3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b"
addresses = []
"#
    );
    let errs = errors(&text);
    let at = |key: &str| error_at(&errs, key).message.clone();
    assert!(at("dns.listen[0]").contains("overlaps listeners.https (0.0.0.0:8443)"));
    assert!(at("dns.listen[1]").contains("port 0"));
    assert!(at("dns.listen[2]").contains("is not a listen address"));
    assert_eq!(
        at("dns.listen[4]"),
        "[::1]:53 overlaps dns.listen[0] ([::1]:53); list it once"
    );
    assert!(at("dns.zone").contains("not a host name label"));
    assert_eq!(
        error_at(&errs, "dns.zone").line,
        Some(line_of(&text, "zone = \"app_example"))
    );
    assert!(at("dns.ttl").contains("not a whole number of seconds"));
    assert!(at("dns.nameservers[0]").contains("not a host name label"));
    assert_eq!(
        at("dns.nameservers[2]"),
        "ns1.example.net is listed twice (first at dns.nameservers[0])"
    );
    assert!(at("dns.hostmaster").contains("a '.' would need escaping"));
    assert!(at("dns.serial").contains("-1 is out of range"));
    assert!(at("dns.negative_ttl").contains("2days is too long: at most 1day"));
    assert!(at("dns.max_answers").contains("expected 1 to 64"));
    assert!(at("dns.max_udp_payload").contains("expected 512 to 4096"));
    assert!(at("dns.max_tcp_connections").contains("expected 1 to 100000"));
    assert!(at("dns.tcp_idle_timeout").contains("greater than 0"));
    assert!(at("dns.colour").contains("unknown key `colour`"));
    assert!(at("dns.health.port").contains("expected 1 to 65535"));
    assert!(at("dns.health.interval").contains("at least 100ms"));
    assert!(at("dns.edges[0].geography").contains("no geography named \"mars\"; defined: eu"));
    assert!(at("dns.edges[0].addresses[0]").contains("write the address alone"));
    assert!(at("dns.edges[0].addresses[2]").contains("unspecified"));
    assert!(at("dns.edges[0].addresses[3]").contains("is not an IP address"));
    assert!(at("dns.edges[1].addresses[0]").contains(
        "192.0.2.11 is listed twice (first at dns.edges[0].addresses[1], geography \"mars\")"
    ));
    assert!(at("dns.edges[1].weight").contains("expected 0 to 1000"));
    assert!(at("dns.edges[1].priority").contains("expected 1 to 100"));
    assert!(at("dns.edges[2].geography").contains("shaped like a tenant id"));
    assert!(at("dns.edges[2].addresses").contains("at least one address is required"));
    assert_eq!(
        error_at(&errs, "dns.edges[2].addresses").line,
        Some(line_of(&text, "addresses = []"))
    );
    assert_eq!(errs.len(), 27, "{errs:#?}");
}

#[test]
fn name_servers_inside_the_zone_are_refused() {
    let text = format!(
        "{BASE}\n[dns]\nlisten = [\"127.0.0.1:53\"]\nzone = \"app.example.com\"\n\
         nameservers = [\"ns1.app.example.com\"]\n[[dns.edges]]\ngeography = \"eu\"\n\
         addresses = [\"192.0.2.10\"]\n"
    );
    let errs = errors(&text);
    assert!(error_at(&errs, "dns.nameservers[0]")
        .message
        .contains("is inside the zone app.example.com"));
    assert_eq!(errs.len(), 1, "{errs:#?}");
}

#[test]
fn a_zone_leaves_room_for_tenant_labels() {
    let long = [
        "a".repeat(60),
        "b".repeat(60),
        "c".repeat(60),
        "d".repeat(40),
    ]
    .join(".");
    let text = format!(
        "{BASE}\n[dns]\nlisten = [\"127.0.0.1:53\"]\nzone = \"{long}\"\n\
         nameservers = [\"ns1.example.net\"]\n[[dns.edges]]\ngeography = \"eu\"\n\
         addresses = [\"192.0.2.10\"]\n"
    );
    let errs = errors(&text);
    assert!(error_at(&errs, "dns.zone").message.contains(&format!(
        "a zone name may have at most {}",
        validate::MAX_ZONE_NAME
    )));
}
