//! The DNS responder's answering function never panics on arbitrary packets, answers every
//! packet that has a header and is not a response (and only those), echoes the id, sets QR,
//! and keeps UDP answers within what any query may allow (`dns.max_udp_payload`, 1232 here).
#![no_main]

use std::path::Path;
use std::sync::{Arc, OnceLock};

use edge_gateway::{dns_answer, DnsOutcome, DnsTransport, DnsZone};
use libfuzzer_sys::fuzz_target;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Two geographies, a few tenants, IPv4 and IPv6 edges over two priorities.
const CONFIG: &str = r#"
[listeners]
https = ["127.0.0.1:8443"]

[[tls.certificates]]
cert = "certs/edge.pem"
key = "certs/edge.key"

[tenancy]
sources = [{ kind = "host", pattern = "{tenant}.app.example.com" }]

[[tenants]]
id = "3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b"
geography = "eu"

[[tenants]]
id = "fbaf7fa7-3354-4078-ae7d-61299da1536f"
geography = "na"

[[geographies]]
name = "eu"

[[geographies]]
name = "na"

[[regions]]
name = "northeurope"
geography = "eu"
origins = [{ address = "127.0.0.1:9101" }]

[[regions]]
name = "eastus"
geography = "na"
origins = [{ address = "127.0.0.1:9103" }]

[dns]
listen = ["127.0.0.1:5353"]
zone = "app.example.com"
nameservers = ["ns1.example.net", "ns2.example.net"]
max_answers = 64

[[dns.edges]]
geography = "eu"
addresses = ["192.0.2.10", "192.0.2.11", "2001:db8::10", "2001:db8::11"]

[[dns.edges]]
geography = "eu"
addresses = ["192.0.2.12"]
priority = 2

[[dns.edges]]
geography = "na"
addresses = ["198.51.100.10", "2001:db8:1::10"]
"#;

fn zone() -> &'static DnsZone {
    static ZONE: OnceLock<DnsZone> = OnceLock::new();
    ZONE.get_or_init(|| {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/examples");
        let config = edge_config::parse(CONFIG, "fuzz.toml", &examples).expect("valid config");
        DnsZone::for_config(Arc::new(config)).expect("a zone")
    })
}

fuzz_target!(|data: &[u8]| {
    for transport in [DnsTransport::Udp, DnsTransport::Tcp] {
        let mut rng = StdRng::seed_from_u64(0);
        match dns_answer(data, transport, Some(zone()), &mut rng) {
            DnsOutcome::Reply(reply) => {
                let b = &reply.bytes;
                assert!(data.len() >= 12 && data[2] & 0x80 == 0, "answered a non-query");
                assert!(b.len() >= 12);
                assert_eq!(&b[..2], &data[..2], "id not echoed");
                assert!(b[2] & 0x80 != 0, "QR not set");
                if transport == DnsTransport::Udp {
                    assert!(b.len() <= 1232, "UDP answer of {} bytes", b.len());
                }
            }
            DnsOutcome::Drop(_) => {
                assert!(data.len() < 12 || data[2] & 0x80 != 0, "dropped a query");
            }
        }
    }
});
