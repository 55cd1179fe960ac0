//! `[edge]` and `[[edge.peers]]`: defaults, the geography and peers cross-checks, addresses,
//! and errors at their keys with lines.

use std::time::Duration;

use edge_config::{validate, ForeignTenants};

use crate::{error_at, errors, line_of, ok, BASE};

/// BASE with a second geography ("na") and its region.
fn two_geographies() -> String {
    format!(
        "{BASE}\n[[geographies]]\nname = \"na\"\n\n[[regions]]\nname = \"eastus\"\n\
         geography = \"na\"\norigins = [{{ address = \"127.0.0.1:9201\" }}]\n"
    )
}

const EDGE: &str = r#"
[edge]
geography = "eu"
trusted_peers = ["10.20.0.0/16", "192.0.2.7"]

[[edge.peers]]
geography = "na"
addresses = ["10.20.1.10:443", "[2001:db8::10]:443"]
"#;

#[test]
fn without_edge_nothing_changes() {
    assert!(ok(BASE).edge.is_none());
}

#[test]
fn edge_takes_defaults() {
    let config = ok(&format!("{}{EDGE}", two_geographies()));
    let edge = config.edge.unwrap();
    assert_eq!(edge.geography.as_str(), "eu");
    assert_eq!(edge.trusted_peers.len(), 2);
    assert!(edge.trusted_peers[1].contains("192.0.2.7".parse().unwrap()));
    assert_eq!(edge.foreign_tenants, ForeignTenants::Proxy);
    assert_eq!(edge.peers.len(), 1);
    assert_eq!(edge.peers[0].geography.as_str(), "na");
    assert_eq!(
        edge.peers[0].addresses,
        vec![
            "10.20.1.10:443".parse().unwrap(),
            "[2001:db8::10]:443".parse().unwrap()
        ]
    );
    assert_eq!(edge.peers[0].ca, None);
    assert_eq!(
        edge.peer_health.interval,
        validate::DEFAULT_PEER_PROBE_INTERVAL
    );
    assert_eq!(edge.peer_health.timeout, Duration::from_millis(500));
    assert_eq!((edge.peer_health.rise, edge.peer_health.fall), (2, 2));
}

#[test]
fn edge_keys_are_read() {
    let text = format!(
        "{}{}",
        two_geographies(),
        EDGE.replace(
            "trusted_peers",
            "foreign_tenants = \"refuse\"\npeer_health = { interval = \"250ms\", timeout = \"100ms\", rise = 1, fall = 3 }\ntrusted_peers"
        )
        .replace("addresses", "ca = \"certs/edge.pem\"\naddresses")
    );
    let edge = ok(&text).edge.unwrap();
    assert_eq!(edge.foreign_tenants, ForeignTenants::Refuse);
    assert_eq!(edge.peer_health.interval, Duration::from_millis(250));
    assert_eq!(edge.peer_health.timeout, Duration::from_millis(100));
    assert_eq!((edge.peer_health.rise, edge.peer_health.fall), (1, 3));
    assert!(edge.peers[0]
        .ca
        .as_ref()
        .unwrap()
        .ends_with("certs/edge.pem"));
}

#[test]
fn the_edge_geography_must_be_defined() {
    let text = format!("{BASE}\n[edge]\ngeography = \"apac\"\n");
    let errs = errors(&text);
    let e = error_at(&errs, "edge.geography");
    assert_eq!(
        e.message, "geography \"apac\" is not defined (defined: eu)",
        "{e:?}"
    );
    assert_eq!(e.line, Some(line_of(&text, "geography = \"apac\"")));
    let text = format!("{BASE}\n[edge]\ntrusted_peers = []\n");
    let errs = errors(&text);
    assert!(error_at(&errs, "edge")
        .message
        .starts_with("geography is required in [edge]"));
}

#[test]
fn every_other_geography_needs_peers_and_never_its_own() {
    let text = format!("{}\n[edge]\ngeography = \"eu\"\n", two_geographies());
    let errs = errors(&text);
    let e = error_at(&errs, "edge");
    assert!(
        e.message
            .starts_with("no [[edge.peers]] entry for geography \"na\""),
        "{e:?}"
    );
    let text = format!(
        "{}{EDGE}\n[[edge.peers]]\ngeography = \"eu\"\naddresses = [\"10.30.0.1:443\"]\n\n\
         [[edge.peers]]\ngeography = \"na\"\naddresses = [\"10.20.1.11:443\"]\n\n\
         [[edge.peers]]\ngeography = \"apac\"\naddresses = [\"10.40.0.1:443\"]\n",
        two_geographies()
    );
    let errs = errors(&text);
    assert!(error_at(&errs, "edge.peers[1].geography")
        .message
        .contains("is this edge's own geography"));
    assert!(error_at(&errs, "edge.peers[2].geography")
        .message
        .contains("already has an entry (edge.peers[0])"));
    assert!(error_at(&errs, "edge.peers[3].geography")
        .message
        .contains("\"apac\" is not defined"));
    assert_eq!(errs.len(), 3, "{errs:#?}");
}

#[test]
fn bad_edge_values_are_reported_at_their_keys() {
    let text = format!(
        "{}\n[edge]\ngeography = \"eu\"\nforeign_tenants = \"drop\"\n\
         trusted_peers = [\"10.0.0.0/33\"]\npeer_health = {{ interval = \"10ms\", fall = 0 }}\n\n\
         [[edge.peers]]\ngeography = \"na\"\n\
         addresses = [\"na-edge.example.com:443\", \"127.0.0.1:8443\", \"10.0.0.1:443\", \
         \"10.0.0.1:443\", \"0.0.0.0:443\"]\nca = \"missing.pem\"\n",
        two_geographies()
    );
    let errs = errors(&text);
    assert!(error_at(&errs, "edge.foreign_tenants")
        .message
        .contains("\"drop\" is not a choice"));
    error_at(&errs, "edge.trusted_peers[0]");
    assert!(error_at(&errs, "edge.peer_health.interval")
        .message
        .contains("too short"));
    assert!(error_at(&errs, "edge.peer_health.fall")
        .message
        .contains("out of range"));
    assert!(error_at(&errs, "edge.peers[0].addresses[0]")
        .message
        .contains("names are not resolved"));
    assert!(error_at(&errs, "edge.peers[0].addresses[1]")
        .message
        .contains("own HTTPS listeners"));
    assert!(error_at(&errs, "edge.peers[0].addresses[3]")
        .message
        .contains("listed twice (first at edge.peers[0].addresses[2])"));
    error_at(&errs, "edge.peers[0].addresses[4]");
    assert!(error_at(&errs, "edge.peers[0].ca")
        .message
        .contains("cannot read"));
    assert_eq!(errs.len(), 9, "{errs:#?}");
    let text = format!(
        "{}\n[edge]\ngeography = \"eu\"\n[[edge.peers]]\ngeography = \"na\"\nadresses = []\n",
        two_geographies()
    );
    let errs = errors(&text);
    assert!(error_at(&errs, "edge.peers[0].adresses")
        .message
        .contains("unknown key"));
}

/// `config/examples/two-edges/`: both edges validate (their certificates are generated by its
/// `run.sh`; the example key pair stands in for them here) and point at each other.
#[test]
fn the_two_edges_example_validates() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    let example = crate::examples_dir();
    for name in ["eu-edge", "na-edge"] {
        std::fs::copy(
            example.join("certs/edge.pem"),
            certs.join(format!("{name}.pem")),
        )
        .unwrap();
        std::fs::copy(
            example.join("certs/edge.key"),
            certs.join(format!("{name}.key")),
        )
        .unwrap();
    }
    for name in ["eu-ca", "na-ca"] {
        std::fs::copy(
            example.join("certs/edge.pem"),
            certs.join(format!("{name}.pem")),
        )
        .unwrap();
    }
    let mut seen = Vec::new();
    for (me, other) in [("eu", "na"), ("na", "eu")] {
        let path = dir.path().join(format!("{me}.toml"));
        std::fs::copy(example.join(format!("two-edges/{me}.toml")), &path).unwrap();
        let config = edge_config::load(&path).unwrap_or_else(|e| panic!("{me}.toml: {e}"));
        let edge = config.edge.unwrap();
        assert_eq!(edge.geography.as_str(), me);
        assert_eq!(edge.peers[0].geography.as_str(), other);
        seen.push((config.listeners.https[0], edge.peers[0].addresses[0]));
    }
    assert_eq!(seen[0].0, seen[1].1, "the NA edge's peer is the EU edge");
    assert_eq!(seen[1].0, seen[0].1, "the EU edge's peer is the NA edge");
}
