//! One query in, one answer out: the whole DNS logic as a pure function of the packet, the
//! zone (with its edges' health) and a random source, so it is unit-tested, property-tested
//! and fuzzed without sockets.
//!
//! Decoding and encoding are hickory's (`hickory_server::authority::MessageRequest` reads the
//! query, `hickory_proto::op::Message` writes the answer, with name compression and the
//! question in the client's own case, so 0x20 case randomisation survives); deciding what to
//! answer is ours:
//!
//! | query | answer |
//! |---|---|
//! | fewer than 12 bytes, or a response (QR set) | nothing (dropped: no header to answer, or a reflection) |
//! | opcode other than QUERY | NOTIMP |
//! | QDCOUNT other than 1 (RFC 9619), counts the packet cannot hold, an unreadable question or record | FORMERR |
//! | EDNS version above 0 | BADVERS (RFC 6891) |
//! | class other than IN, a name outside the zone, or no `[dns]` in the live config | REFUSED |
//! | `{tenant}.{zone}` of a known tenant, `{geography}.{zone}` | A / AAAA: edges of that geography (`select`); ANY: both; other types: NODATA |
//! | the apex | SOA, NS; ANY: both; other types: NODATA |
//! | any other name in the zone (an unknown tenant too) | NXDOMAIN |
//!
//! NXDOMAIN and NODATA carry the SOA in the authority section with the TTL
//! `min(ttl, negative_ttl)` (RFC 2308). Answers in the zone are authoritative (AA).
//!
//! Over UDP an answer never exceeds what the query allows: 512 bytes without EDNS, else the
//! client's EDNS size capped by `dns.max_udp_payload`. A larger one is replaced by the header,
//! the question and the OPT record with TC set, and the client retries over TCP (RFC 7766);
//! no RRset is ever cut in half.

use edge_config::GeographyName;
use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncoder};
use hickory_server::authority::MessageRequest;
use rand::Rng;

use super::select::{choose, Family};
use super::zone::{Lookup, Zone};

/// The largest query accepted, in bytes, over either transport. Real queries are under 300
/// bytes (one question of at most 255 and an OPT record); this leaves room for EDNS options.
pub const MAX_QUERY_BYTES: usize = 4096;

/// UDP answers to queries without EDNS stay within this (RFC 1035 §4.2.1).
const CLASSIC_UDP_PAYLOAD: u16 = 512;

/// How the query arrived, which sets how large the answer may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A datagram: the answer fits what the query allows, or is truncated.
    Udp,
    /// A TCP stream: up to 65535 bytes.
    Tcp,
}

/// What to do with a packet.
#[derive(Debug)]
pub enum Outcome {
    /// Send these bytes back.
    Reply(Reply),
    /// Send nothing.
    Drop(Dropped),
}

/// An answer and what the metrics say about it.
#[derive(Debug)]
pub struct Reply {
    /// The DNS message (without the TCP length prefix).
    pub bytes: Vec<u8>,
    /// The question's type for `edge_dns_queries_total` (`-` when none could be read).
    pub qtype: &'static str,
    /// The response code for `edge_dns_queries_total`.
    pub rcode: &'static str,
    /// Cut to header, question and OPT with TC set.
    pub truncated: bool,
    /// Answered with this geography's edges although none was healthy.
    pub fail_static: Option<GeographyName>,
}

/// Why a packet got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Shorter than a header: there is no id to answer.
    NoHeader,
    /// A response (QR set): answering it could loop or reflect.
    Response,
}

impl Dropped {
    /// The `reason` label of `edge_dns_dropped_total`.
    pub fn label(self) -> &'static str {
        match self {
            Dropped::NoHeader => "no_header",
            Dropped::Response => "response",
        }
    }
}

/// Answers `packet`; see the module doc. `zone` is `None` when the live config has no
/// `[dns]` (everything is REFUSED). Never panics, whatever the bytes.
pub fn answer<R: Rng + ?Sized>(
    packet: &[u8],
    transport: Transport,
    zone: Option<&Zone>,
    rng: &mut R,
) -> Outcome {
    let Ok(header) = Header::read(&mut BinDecoder::new(packet)) else {
        return Outcome::Drop(Dropped::NoHeader);
    };
    if header.message_type() == MessageType::Response {
        return Outcome::Drop(Dropped::Response);
    }
    if header.op_code() != OpCode::Query {
        return Outcome::Reply(bare(&header, ResponseCode::NotImp));
    }
    // Checked before hickory reads the sections: it reserves room for every counted entry.
    if header.query_count() != 1 || !counts_fit(&header, packet.len()) {
        return Outcome::Reply(bare(&header, ResponseCode::FormErr));
    }
    let Ok(request) = MessageRequest::read(&mut BinDecoder::new(packet)) else {
        return Outcome::Reply(bare(&header, ResponseCode::FormErr));
    };
    let Some(query) = request.queries().first() else {
        return Outcome::Reply(bare(&header, ResponseCode::FormErr));
    };
    let qtype = qtype_label(query.query_type());
    let max_udp = zone.map_or(CLASSIC_UDP_PAYLOAD, |z| z.settings().max_udp_payload);
    let limit = match (transport, request.edns()) {
        (Transport::Tcp, _) => u16::MAX,
        (Transport::Udp, None) => CLASSIC_UDP_PAYLOAD,
        (Transport::Udp, Some(_)) => request.max_payload().clamp(CLASSIC_UDP_PAYLOAD, max_udp),
    };
    let edns = request.edns().map(|_| {
        let mut e = Edns::new();
        e.set_max_payload(max_udp);
        e
    });
    let mut content = Content::empty();
    if request.edns().is_some_and(|e| e.version() > 0) {
        content.rcode = ResponseCode::BADVERS;
    } else if query.query_class() != DNSClass::IN {
        content.rcode = ResponseCode::Refused;
    } else if let Some(zone) = zone {
        content = decide(
            zone,
            query.name(),
            query.original().name(),
            query.query_type(),
            rng,
        );
    } else {
        content.rcode = ResponseCode::Refused;
    }
    let mut out = respond(&request, edns.clone(), &content, false);
    if out.bytes.len() > usize::from(limit) {
        out = respond(&request, edns, &Content::empty_like(&content), true);
    }
    out.qtype = qtype;
    out.fail_static = content.fail_static;
    Outcome::Reply(out)
}

/// What the answer holds, before encoding.
struct Content {
    rcode: ResponseCode,
    authoritative: bool,
    answers: Vec<Record>,
    authority: Vec<Record>,
    fail_static: Option<GeographyName>,
}

impl Content {
    fn empty() -> Self {
        Content {
            rcode: ResponseCode::NoError,
            authoritative: false,
            answers: Vec::new(),
            authority: Vec::new(),
            fail_static: None,
        }
    }

    /// The same code and flags, no records: the truncated form.
    fn empty_like(other: &Content) -> Self {
        Content {
            rcode: other.rcode,
            authoritative: other.authoritative,
            ..Content::empty()
        }
    }
}

/// The answer for a question in the class IN.
fn decide<R: Rng + ?Sized>(
    zone: &Zone,
    name: &hickory_proto::rr::LowerName,
    owner: &Name,
    qtype: RecordType,
    rng: &mut R,
) -> Content {
    let mut c = Content::empty();
    let lookup = zone.lookup(name);
    c.authoritative = !matches!(lookup, Lookup::OutOfZone);
    match lookup {
        Lookup::OutOfZone => c.rcode = ResponseCode::Refused,
        Lookup::NoSuchName => {
            c.rcode = ResponseCode::NXDomain;
            c.authority.push(zone.negative_soa().clone());
        }
        Lookup::Apex => {
            if matches!(qtype, RecordType::SOA | RecordType::ANY) {
                c.answers.push(zone.soa().clone());
            }
            if matches!(qtype, RecordType::NS | RecordType::ANY) {
                c.answers.extend(zone.ns().iter().cloned());
            }
        }
        Lookup::Edges(geo) => {
            let ttl = zone.settings().ttl;
            let max = zone.settings().max_answers;
            let families: &[Family] = match qtype {
                RecordType::A => &[Family::V4],
                RecordType::AAAA => &[Family::V6],
                RecordType::ANY => &[Family::V4, Family::V6],
                _ => &[],
            };
            for &family in families {
                let chosen = choose(&geo.edges, family, usable, max, rng);
                if chosen.fail_static {
                    c.fail_static = Some(geo.name.clone());
                }
                c.answers
                    .extend(chosen.addrs.into_iter().map(|a| address(owner, ttl, a)));
            }
        }
    }
    if c.rcode == ResponseCode::NoError && c.answers.is_empty() {
        // NODATA: the name exists, the type does not.
        c.authority.push(zone.negative_soa().clone());
    }
    c
}

/// An edge is answered when its probes pass (an edge not probed yet is not).
fn usable(edge: &super::zone::Edge) -> bool {
    edge.health.status() == crate::health::Status::Healthy
}

fn address(owner: &Name, ttl: u32, addr: std::net::IpAddr) -> Record {
    let rdata = match addr {
        std::net::IpAddr::V4(v4) => RData::A(A(v4)),
        std::net::IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    Record::from_rdata(owner.clone(), ttl, rdata)
}

/// Encodes `content` as the answer to `request`.
///
/// With hickory-proto's `Message`, not hickory-server's `MessageResponseBuilder`: the builder
/// echoes the question's raw bytes, which hickory 0.25 then cannot point answer names at, so
/// every answer would repeat the whole name (52 more bytes per record for a tenant name:
/// eight A records no longer fit 512 bytes). The question is re-encoded from the client's
/// own `Query`, case included.
fn respond(
    request: &MessageRequest,
    edns: Option<Edns>,
    content: &Content,
    truncated: bool,
) -> Reply {
    let mut header = Header::response_from_request(request.header());
    header.set_authoritative(content.authoritative);
    header.set_response_code(content.rcode);
    header.set_truncated(truncated);
    let mut message = Message::new();
    message.set_header(header);
    for q in request.queries() {
        message.add_query(q.original().clone());
    }
    message.add_answers(content.answers.iter().cloned());
    message.add_name_servers(content.authority.iter().cloned());
    if let Some(edns) = edns {
        message.set_edns(edns);
    }
    match message.to_vec() {
        Ok(bytes) => Reply {
            bytes,
            qtype: "-",
            rcode: rcode_label(content.rcode),
            truncated,
            fail_static: None,
        },
        Err(_) => bare(request.header(), ResponseCode::ServFail),
    }
}

/// A header-only answer (no question echoed): for queries whose question cannot be trusted.
fn bare(request: &Header, rcode: ResponseCode) -> Reply {
    let mut header = Header::response_from_request(request);
    header.set_response_code(rcode);
    let mut bytes = Vec::with_capacity(12);
    let mut encoder = BinEncoder::new(&mut bytes);
    // Twelve bytes into a Vec: this cannot fail.
    let _ = hickory_proto::serialize::binary::BinEncodable::emit(&header, &mut encoder);
    Reply {
        bytes,
        qtype: "-",
        rcode: rcode_label(rcode),
        truncated: false,
        fail_static: None,
    }
}

/// Whether the header's counts fit in a packet of `len` bytes: a question takes at least 5
/// bytes (the root name, type, class) and a record at least 11.
fn counts_fit(header: &Header, len: usize) -> bool {
    let records = usize::from(header.answer_count())
        + usize::from(header.name_server_count())
        + usize::from(header.additional_count());
    usize::from(header.query_count()) * 5 + records * 11 <= len.saturating_sub(12)
}

/// The `type` label: the common types by name, the rest as `other` (bounded cardinality).
fn qtype_label(t: RecordType) -> &'static str {
    match t {
        RecordType::A => "A",
        RecordType::AAAA => "AAAA",
        RecordType::ANY => "ANY",
        RecordType::CAA => "CAA",
        RecordType::CNAME => "CNAME",
        RecordType::HTTPS => "HTTPS",
        RecordType::MX => "MX",
        RecordType::NS => "NS",
        RecordType::PTR => "PTR",
        RecordType::SOA => "SOA",
        RecordType::SRV => "SRV",
        RecordType::SVCB => "SVCB",
        RecordType::TXT => "TXT",
        _ => "other",
    }
}

/// The `rcode` label, as `dig` prints it.
fn rcode_label(r: ResponseCode) -> &'static str {
    match r {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::BADVERS => "BADVERS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::net::IpAddr;
    use std::sync::Arc;
    use std::time::Duration;

    use hickory_proto::op::{Message, Query};
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::health::HealthRegistry;
    use crate::testing::{self, EU_TENANT, NA_TENANT};

    const DNS: &str = r#"
[dns]
listen = ["127.0.0.1:5353"]
zone = "app.example.com"
nameservers = ["ns1.example.net", "ns2.example.net"]

[[dns.edges]]
geography = "eu"
addresses = ["192.0.2.10", "192.0.2.11", "2001:db8::10"]

[[dns.edges]]
geography = "eu"
addresses = ["192.0.2.12"]
priority = 2

[[dns.edges]]
geography = "na"
addresses = ["198.51.100.10", "198.51.100.11"]
"#;

    const NA_V4: [&str; 2] = ["198.51.100.10", "198.51.100.11"];

    fn config(extra: &str) -> Arc<edge_config::Config> {
        static BASE: std::sync::OnceLock<edge_config::Config> = std::sync::OnceLock::new();
        if extra == DNS {
            return Arc::new(BASE.get_or_init(|| testing::config(DNS)).clone());
        }
        Arc::new(testing::config(extra))
    }

    fn zone_with(config: Arc<edge_config::Config>, drained: &[&str], down: &[&str]) -> Zone {
        let drained: BTreeSet<IpAddr> = drained.iter().map(|a| a.parse().unwrap()).collect();
        let zone = Zone::build(config, 1, &drained, &HealthRegistry::new(), 42).unwrap();
        for geo in zone.geographies() {
            for e in &geo.edges {
                let ok = !down.contains(&e.addr.to_string().as_str());
                e.health.record_probe(ok, Duration::from_millis(1), 1, 1, 1);
            }
        }
        zone
    }

    fn zone(down: &[&str]) -> Zone {
        zone_with(config(DNS), &[], down)
    }

    fn query(name: &str, t: RecordType, edns: Option<u16>) -> Vec<u8> {
        let mut m = Message::new();
        m.set_id(0x1234);
        m.set_recursion_desired(true);
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
        if let Some(size) = edns {
            let mut e = Edns::new();
            e.set_max_payload(size);
            m.set_edns(e);
        }
        m.to_vec().unwrap()
    }

    fn ask_raw(zone: &Zone, bytes: &[u8], transport: Transport) -> Reply {
        match answer(bytes, transport, Some(zone), &mut StdRng::seed_from_u64(3)) {
            Outcome::Reply(r) => r,
            Outcome::Drop(d) => panic!("dropped: {d:?}"),
        }
    }

    fn ask(zone: &Zone, name: &str, t: RecordType) -> (Message, Reply) {
        let reply = ask_raw(zone, &query(name, t, Some(1232)), Transport::Udp);
        (Message::from_vec(&reply.bytes).unwrap(), reply)
    }

    fn addrs(m: &Message) -> Vec<String> {
        let mut v: Vec<String> = m
            .answers()
            .iter()
            .map(|r| match r.data() {
                RData::A(a) => a.0.to_string(),
                RData::AAAA(a) => a.0.to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        v.sort();
        v
    }

    fn tenant(id: &str) -> String {
        format!("{id}.app.example.com.")
    }

    #[test]
    fn tenants_resolve_to_their_own_geography() {
        let z = zone(&[]);
        let (m, r) = ask(&z, &tenant(EU_TENANT), RecordType::A);
        assert_eq!(addrs(&m), ["192.0.2.10", "192.0.2.11"]);
        assert!(m.authoritative() && m.header().message_type() == MessageType::Response);
        assert_eq!((r.qtype, r.rcode, r.fail_static), ("A", "NOERROR", None));
        assert_eq!(m.answers()[0].ttl(), 30);
        // Header 12, question 58 (the 54-byte name, type, class), two A records of 16 bytes
        // each (their names point at the question's), OPT 11.
        assert_eq!(r.bytes.len(), 12 + 58 + 2 * 16 + 11);
        let (m, _) = ask(&z, &tenant(NA_TENANT), RecordType::A);
        assert_eq!(addrs(&m), NA_V4);
        let (m, _) = ask(&z, &tenant(EU_TENANT), RecordType::AAAA);
        assert_eq!(addrs(&m), ["2001:db8::10"]);
        let (m, _) = ask(&z, &tenant(EU_TENANT), RecordType::ANY);
        assert_eq!(addrs(&m), ["192.0.2.10", "192.0.2.11", "2001:db8::10"]);
        // The simple form of the id, in capitals: the same tenant.
        let simple = EU_TENANT.replace('-', "").to_uppercase();
        let (m, _) = ask(&z, &tenant(&simple), RecordType::A);
        assert_eq!(addrs(&m), ["192.0.2.10", "192.0.2.11"]);
        // Geography names.
        let (m, _) = ask(&z, "na.app.example.com.", RecordType::A);
        assert_eq!(addrs(&m), NA_V4);
    }

    #[test]
    fn the_question_is_echoed_with_the_clients_case() {
        let z = zone(&[]);
        let name = format!("{}.ApP.ExAmPlE.CoM.", NA_TENANT.to_uppercase());
        let (m, _) = ask(&z, &name, RecordType::A);
        assert_eq!(m.queries()[0].name().to_string(), name);
        assert_eq!(m.answers()[0].name().to_string(), name);
        assert_eq!(m.id(), 0x1234);
        assert!(m.recursion_desired() && !m.recursion_available());
    }

    #[test]
    fn unknown_names_types_and_zones() {
        let z = zone(&[]);
        let (m, r) = ask(
            &z,
            &tenant("00000000-0000-4000-8000-000000000000"),
            RecordType::A,
        );
        assert_eq!(
            (m.response_code(), r.rcode),
            (ResponseCode::NXDomain, "NXDOMAIN")
        );
        assert!(m.authoritative() && m.answers().is_empty());
        let soa = &m.name_servers()[0];
        assert_eq!(soa.record_type(), RecordType::SOA);
        assert_eq!(soa.ttl(), 30);
        for name in [
            "www.app.example.com.",
            "x.eu.app.example.com.",
            &format!("a.{}", tenant(EU_TENANT)),
        ] {
            let (m, _) = ask(&z, name, RecordType::A);
            assert_eq!(m.response_code(), ResponseCode::NXDomain, "{name}");
        }
        // NODATA: the name exists, the type does not.
        for (name, t) in [
            (tenant(EU_TENANT), RecordType::MX),
            (tenant(NA_TENANT), RecordType::AAAA),
            ("app.example.com.".to_string(), RecordType::A),
        ] {
            let (m, r) = ask(&z, &name, t);
            assert_eq!(m.response_code(), ResponseCode::NoError, "{name} {t}");
            assert!(m.answers().is_empty() && m.authoritative(), "{name} {t}");
            assert_eq!(m.name_servers()[0].record_type(), RecordType::SOA);
            assert_eq!(r.rcode, "NOERROR");
        }
        let (m, r) = ask(&z, "example.org.", RecordType::A);
        assert_eq!(
            (m.response_code(), r.rcode),
            (ResponseCode::Refused, "REFUSED")
        );
        assert!(!m.authoritative() && m.name_servers().is_empty());
        let (m, _) = ask(&z, "myapp.example.com.", RecordType::A);
        assert_eq!(m.response_code(), ResponseCode::Refused);
        // Without [dns] in the live config, everything is refused.
        let bytes = query(&tenant(EU_TENANT), RecordType::A, None);
        let Outcome::Reply(r) = answer(&bytes, Transport::Udp, None, &mut StdRng::seed_from_u64(1))
        else {
            panic!("dropped")
        };
        assert_eq!(r.rcode, "REFUSED");
    }

    #[test]
    fn the_apex_has_soa_and_ns() {
        let z = zone(&[]);
        let (m, r) = ask(&z, "app.example.com.", RecordType::SOA);
        assert_eq!(r.qtype, "SOA");
        let RData::SOA(soa) = m.answers()[0].data() else {
            panic!("{m:?}")
        };
        assert_eq!(soa.mname().to_string(), "ns1.example.net.");
        assert_eq!(soa.rname().to_string(), "hostmaster.app.example.com.");
        assert_eq!((soa.serial(), soa.minimum()), (42, 30));
        let (m, _) = ask(&z, "APP.example.com.", RecordType::NS);
        let ns: Vec<String> = m.answers().iter().map(|r| r.data().to_string()).collect();
        assert_eq!(ns, ["ns1.example.net.", "ns2.example.net."]);
    }

    #[test]
    fn failover_inside_the_geography_then_fail_static() {
        let z = zone(&["192.0.2.10", "192.0.2.11"]);
        let (m, r) = ask(&z, &tenant(EU_TENANT), RecordType::A);
        assert_eq!(
            (addrs(&m), r.fail_static),
            (vec!["192.0.2.12".into()], None)
        );
        let z = zone(&NA_V4);
        let (m, r) = ask(&z, &tenant(NA_TENANT), RecordType::A);
        assert_eq!(addrs(&m), NA_V4);
        assert_eq!(r.fail_static.as_ref().map(|g| g.as_str()), Some("na"));
        // Drained edges leave the answer while another is up.
        let z = zone_with(config(DNS), &["198.51.100.10"], &[]);
        let (m, _) = ask(&z, &tenant(NA_TENANT), RecordType::A);
        assert_eq!(addrs(&m), ["198.51.100.11"]);
    }

    fn many_edges(max_udp_payload: u32) -> Zone {
        let addresses: Vec<String> = (1..=50).map(|i| format!("\"2001:db8::{i:x}\"")).collect();
        let extra = format!(
            "\n[dns]\nlisten = [\"127.0.0.1:5353\"]\nzone = \"app.example.com\"\n\
             nameservers = [\"ns1.example.net\"]\nmax_answers = 64\nmax_udp_payload = {max_udp_payload}\n\
             [[dns.edges]]\ngeography = \"eu\"\naddresses = [{}]\n\
             [[dns.edges]]\ngeography = \"na\"\naddresses = [\"198.51.100.10\"]\n",
            addresses.join(", ")
        );
        zone_with(config(&extra), &[], &[])
    }

    #[test]
    fn udp_answers_fit_what_the_query_allows() {
        let z = many_edges(1232);
        let name = tenant(EU_TENANT);
        // Without EDNS: 512 bytes, so TC and no records.
        let r = ask_raw(&z, &query(&name, RecordType::AAAA, None), Transport::Udp);
        let m = Message::from_vec(&r.bytes).unwrap();
        assert!(
            r.truncated && m.truncated() && m.answers().is_empty(),
            "{m:?}"
        );
        assert!(r.bytes.len() <= 512);
        assert_eq!(m.queries()[0].name().to_string(), name);
        // EDNS 4096, capped by max_udp_payload (1232): 50 AAAA records (about 1.5 KB) do not fit.
        let r = ask_raw(
            &z,
            &query(&name, RecordType::AAAA, Some(4096)),
            Transport::Udp,
        );
        let m = Message::from_vec(&r.bytes).unwrap();
        assert!(m.truncated() && r.bytes.len() <= 1232);
        assert_eq!(m.extensions().as_ref().map(Edns::max_payload), Some(1232));
        // Over TCP: all of them.
        let r = ask_raw(&z, &query(&name, RecordType::AAAA, None), Transport::Tcp);
        let m = Message::from_vec(&r.bytes).unwrap();
        assert!(!m.truncated());
        assert_eq!(m.answers().len(), 50);
        // With a large enough EDNS size and cap, UDP carries them too.
        let z = many_edges(4096);
        let r = ask_raw(
            &z,
            &query(&name, RecordType::AAAA, Some(4096)),
            Transport::Udp,
        );
        let m = Message::from_vec(&r.bytes).unwrap();
        assert!(
            !m.truncated() && m.answers().len() == 50,
            "{} bytes",
            r.bytes.len()
        );
    }

    fn raw(header: [u8; 12], rest: &[u8]) -> Vec<u8> {
        let mut v = header.to_vec();
        v.extend_from_slice(rest);
        v
    }

    fn outcome(bytes: &[u8]) -> Outcome {
        answer(
            bytes,
            Transport::Udp,
            Some(&zone(&[])),
            &mut StdRng::seed_from_u64(1),
        )
    }

    fn rcode(bytes: &[u8]) -> &'static str {
        match outcome(bytes) {
            Outcome::Reply(r) => {
                let m = Message::from_vec(&r.bytes).unwrap();
                assert_eq!(m.header().message_type(), MessageType::Response);
                r.rcode
            }
            Outcome::Drop(d) => d.label(),
        }
    }

    #[test]
    fn malformed_queries_get_formerr_or_nothing() {
        let good = query(&tenant(EU_TENANT), RecordType::A, None);
        assert_eq!(rcode(&good), "NOERROR");
        assert_eq!(rcode(&[]), "no_header");
        assert_eq!(rcode(&good[..11]), "no_header");
        // A response is never answered.
        let mut response = good.clone();
        response[2] |= 0x80;
        assert_eq!(rcode(&response), "response");
        // Truncated question.
        assert_eq!(rcode(&good[..good.len() - 3]), "FORMERR");
        assert_eq!(rcode(&good[..12]), "FORMERR");
        // Wrong counts: none, two, and far more than the packet holds.
        let qd = |n: u16, an: u16| {
            let mut b = good.clone();
            b[4..6].copy_from_slice(&n.to_be_bytes());
            b[6..8].copy_from_slice(&an.to_be_bytes());
            b
        };
        assert_eq!(rcode(&qd(0, 0)), "FORMERR");
        assert_eq!(rcode(&qd(2, 0)), "FORMERR");
        assert_eq!(rcode(&qd(u16::MAX, 0)), "FORMERR");
        assert_eq!(rcode(&qd(1, u16::MAX)), "FORMERR");
        assert_eq!(rcode(&qd(1, 1)), "FORMERR");
        let h = [0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        // A label longer than 63 bytes (its length byte has the pointer bits).
        assert_eq!(rcode(&raw(h, &[70, b'a', b'b', 0, 0, 1, 0, 1])), "FORMERR");
        // A compression pointer to itself, and two pointing at each other.
        assert_eq!(rcode(&raw(h, &[0xc0, 12, 0, 1, 0, 1])), "FORMERR");
        assert_eq!(
            rcode(&raw(h, &[1, b'a', 0xc0, 16, 0xc0, 12, 0, 1, 0, 1])),
            "FORMERR"
        );
        // A name longer than 255 bytes.
        let mut long = Vec::new();
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert_eq!(rcode(&raw(h, &long)), "FORMERR");
        // Other opcodes are not implemented; EDNS versions above 0 are refused as BADVERS.
        let mut update = good.clone();
        update[2] = 5 << 3;
        assert_eq!(rcode(&update), "NOTIMP");
        let mut m =
            Message::from_vec(&query(&tenant(EU_TENANT), RecordType::A, Some(1232))).unwrap();
        m.extensions_mut().as_mut().unwrap().set_version(1);
        assert_eq!(rcode(&m.to_vec().unwrap()), "BADVERS");
        // The class CH (version.bind) is not ours.
        let mut m = Message::new();
        let mut q = Query::query(Name::from_ascii("version.bind.").unwrap(), RecordType::TXT);
        q.set_query_class(DNSClass::CH);
        m.add_query(q);
        assert_eq!(rcode(&m.to_vec().unwrap()), "REFUSED");
    }

    fn replies_are_sound(bytes: &[u8], transport: Transport) -> Result<(), TestCaseError> {
        let z = zone(&[]);
        match answer(bytes, transport, Some(&z), &mut StdRng::seed_from_u64(9)) {
            Outcome::Drop(Dropped::NoHeader) => prop_assert!(bytes.len() < 12),
            Outcome::Drop(Dropped::Response) => prop_assert!(bytes[2] & 0x80 != 0),
            Outcome::Reply(r) => {
                let m =
                    Message::from_vec(&r.bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(m.header().message_type(), MessageType::Response);
                prop_assert_eq!(&r.bytes[..2], &bytes[..2]);
                if transport == Transport::Udp {
                    prop_assert!(r.bytes.len() <= 1232, "{} bytes", r.bytes.len());
                    if m.extensions().is_none() {
                        prop_assert!(r.bytes.len() <= 512);
                    }
                }
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), tcp in any::<bool>()) {
            let t = if tcp { Transport::Tcp } else { Transport::Udp };
            replies_are_sound(&bytes, t)?;
        }

        #[test]
        fn mangled_queries_never_panic(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
            cut in any::<usize>(),
            edns in any::<bool>(),
            t in prop_oneof![Just(RecordType::A), Just(RecordType::AAAA), Just(RecordType::ANY), Just(RecordType::SOA)],
        ) {
            let mut bytes = query(&tenant(EU_TENANT), t, edns.then_some(4096));
            for (at, v) in edits {
                let i = at % bytes.len();
                bytes[i] = v;
            }
            bytes.truncate(12 + cut % (bytes.len() - 11));
            replies_are_sound(&bytes, Transport::Udp)?;
        }

        /// Whatever the health and drains, a tenant's answer names only edges of its own
        /// geography, and names some whenever the geography has edges of that family.
        #[test]
        fn answers_never_leave_the_geography(
            down in proptest::collection::vec(any::<bool>(), 6),
            drained in proptest::collection::vec(any::<bool>(), 6),
            seed in any::<u64>(),
        ) {
            let all = ["192.0.2.10", "192.0.2.11", "2001:db8::10", "192.0.2.12", "198.51.100.10", "198.51.100.11"];
            let pick = |flags: &[bool]| -> Vec<&str> {
                all.iter().zip(flags).filter(|(_, f)| **f).map(|(a, _)| *a).collect()
            };
            let z = zone_with(config(DNS), &pick(&drained), &pick(&down));
            for (id, own) in [(EU_TENANT, &["192.0.2.10", "192.0.2.11", "192.0.2.12", "2001:db8::10"][..]), (NA_TENANT, &NA_V4[..])] {
                for t in [RecordType::A, RecordType::AAAA, RecordType::ANY] {
                    let bytes = query(&tenant(id), t, Some(1232));
                    let Outcome::Reply(r) = answer(&bytes, Transport::Udp, Some(&z), &mut StdRng::seed_from_u64(seed)) else {
                        return Err(TestCaseError::fail("dropped"));
                    };
                    let m = Message::from_vec(&r.bytes).unwrap();
                    for a in addrs(&m) {
                        prop_assert!(own.contains(&a.as_str()), "{} answered {} for {:?}", id, a, t);
                    }
                    let has_family = own.iter().any(|a| match t {
                        RecordType::A => !a.contains(':'),
                        RecordType::AAAA => a.contains(':'),
                        _ => true,
                    });
                    prop_assert_eq!(!m.answers().is_empty(), has_family);
                }
            }
        }
    }

    #[test]
    fn zone_labels() {
        assert!(super::super::zone::tenant_label(EU_TENANT).is_some());
        assert!(super::super::zone::tenant_label(&EU_TENANT.replace('-', "")).is_some());
        for bad in [
            "eu",
            "{3f0b1f5e-8a7c-4c57-9a53-0c1d2e3f4a5b}",
            " 3f0b1f5e8a7c4c579a530c1d2e3f4a5b",
        ] {
            assert!(super::super::zone::tenant_label(bad).is_none(), "{bad}");
        }
    }
}
