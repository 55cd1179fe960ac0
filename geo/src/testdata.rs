//! Location databases made on the spot, for tests, benchmarks and the demo: nothing is
//! downloaded and no MaxMind file is committed.
//!
//! Records have the GeoIP2 Country/City shape
//! (`{"country":{"iso_code"},"continent":{"code"},"location":{"latitude","longitude"}}`), so
//! the lookup code that reads them is the code that reads real GeoLite2 files.

use std::net::Ipv4Addr;

use edge_config::Cidr;

use crate::writer::{Value, WriteError, Writer};

/// The `database_type` of the databases made here, which [`crate::mmdb::GeoDb`] accepts
/// besides GeoIP2/GeoLite2 Country and City types.
pub use crate::mmdb::TEST_DATABASE_TYPE;

/// One network of [`demo_db`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DemoNetwork {
    /// The network, e.g. `"127.0.1.0/24"`.
    pub network: &'static str,
    /// Its country's ISO 3166-1 alpha-2 code.
    pub country: &'static str,
    /// Its continent code.
    pub continent: &'static str,
    /// Approximate latitude of the country.
    pub latitude: f64,
    /// Approximate longitude of the country.
    pub longitude: f64,
}

const fn net(
    network: &'static str,
    country: &'static str,
    continent: &'static str,
    latitude: f64,
    longitude: f64,
) -> DemoNetwork {
    DemoNetwork {
        network,
        country,
        continent,
        latitude,
        longitude,
    }
}

/// The networks of [`demo_db`].
///
/// The loopback blocks let one machine play clients from several countries: Linux routes all
/// of 127.0.0.0/8 to the loopback interface, so a client that binds its socket to, say,
/// 127.0.3.10 appears to the gateway to come from the United States. The documentation
/// ranges (RFC 5737, RFC 3849) serve tests that set `X-Forwarded-For` through a trusted
/// proxy. Everything else, including 127.0.0.1 itself, is unmapped.
pub const DEMO_NETWORKS: [DemoNetwork; 10] = [
    net("127.0.1.0/24", "DE", "EU", 51.0, 9.0),
    net("127.0.2.0/24", "FR", "EU", 46.0, 2.0),
    net("127.0.3.0/24", "US", "NA", 37.751, -97.822),
    net("127.0.4.0/24", "CA", "NA", 43.6319, -79.3716),
    net("127.0.5.0/24", "JP", "AS", 35.69, 139.69),
    net("192.0.2.0/24", "DE", "EU", 51.0, 9.0),
    net("198.51.100.0/24", "US", "NA", 37.751, -97.822),
    net("203.0.113.0/24", "JP", "AS", 35.69, 139.69),
    net("2001:db8:1::/48", "DE", "EU", 51.0, 9.0),
    net("2001:db8:2::/48", "US", "NA", 37.751, -97.822),
];

/// A GeoIP2-shaped record: country, continent and coordinates.
pub fn location_record(country: &str, continent: &str, latitude: f64, longitude: f64) -> Value {
    Value::map([
        (
            "continent",
            Value::map([
                ("code", Value::string(continent)),
                ("names", Value::map([("en", Value::string(continent))])),
            ]),
        ),
        (
            "country",
            Value::map([
                ("iso_code", Value::string(country)),
                ("names", Value::map([("en", Value::string(country))])),
            ]),
        ),
        (
            "location",
            Value::map([
                ("accuracy_radius", Value::Uint16(1000)),
                ("latitude", Value::Double(latitude)),
                ("longitude", Value::Double(longitude)),
            ]),
        ),
    ])
}

/// The demo database: [`DEMO_NETWORKS`], byte-for-byte the same on every call (its build
/// time is fixed).
///
/// Fails only if the writer does, which it cannot for this fixed input (tested); it returns
/// a `Result` rather than hide that path.
pub fn demo_db() -> Result<Vec<u8>, WriteError> {
    let mut writer = Writer::new(TEST_DATABASE_TYPE)
        .description("edge-gateway demo: loopback and documentation networks by country");
    for n in DEMO_NETWORKS {
        let network = Cidr::parse(n.network).map_err(|e| WriteError::InvalidNetwork(e.0))?;
        writer.insert(
            network,
            &location_record(n.country, n.continent, n.latitude, n.longitude),
        )?;
    }
    writer.to_bytes()
}

/// The countries [`generated_db`] draws from, with their continents and coordinates.
const GENERATED_COUNTRIES: [(&str, &str, f64, f64); 8] = [
    ("DE", "EU", 51.0, 9.0),
    ("FR", "EU", 46.0, 2.0),
    ("IE", "EU", 53.0, -8.0),
    ("US", "NA", 37.751, -97.822),
    ("CA", "NA", 43.6319, -79.3716),
    ("JP", "AS", 35.69, 139.69),
    ("AU", "OC", -33.494, 143.2104),
    ("BR", "SA", -22.8305, -43.2192),
];

/// A database of `networks` distinct random IPv4 `/24` networks (fewer if `networks`
/// exceeds the 2^24 there are), each mapped to one of a few countries, and one address inside
/// each network. The same `seed` gives the same database.
pub fn generated_db(networks: usize, seed: u64) -> Result<(Vec<u8>, Vec<Ipv4Addr>), WriteError> {
    let records: Vec<Value> = GENERATED_COUNTRIES
        .iter()
        .map(|&(country, continent, lat, lon)| location_record(country, continent, lat, lon))
        .collect();
    let mut writer = Writer::new(TEST_DATABASE_TYPE).description("edge-gateway generated");
    let mut rng = SplitMix64(seed);
    let wanted = networks.min(1 << 24);
    let mut seen = std::collections::HashSet::with_capacity(wanted);
    let mut addresses = Vec::with_capacity(wanted);
    while addresses.len() < wanted {
        let r = rng.next();
        // The top 24 bits of a random word pick the /24; the low byte a host in it.
        let block = (r >> 40) as u32;
        if !seen.insert(block) {
            continue;
        }
        let network = Ipv4Addr::from(block << 8);
        let record = &records[(r as usize >> 8) % records.len()];
        writer.insert(
            Cidr {
                addr: network.into(),
                prefix_len: 24,
            },
            record,
        )?;
        addresses.push(Ipv4Addr::from((block << 8) | (r as u32 & 0xff)));
    }
    Ok((writer.to_bytes()?, addresses))
}

/// A small, fast, seedable generator (SplitMix64): deterministic test data without a
/// dependency on `rand` in library code.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::net::IpAddr;

    use maxminddb::Reader;
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Record<'a> {
        #[serde(borrow)]
        country: Named<'a>,
        #[serde(borrow)]
        continent: Coded<'a>,
        location: Coordinates,
    }
    #[derive(Debug, Deserialize)]
    struct Named<'a> {
        iso_code: &'a str,
    }
    #[derive(Debug, Deserialize)]
    struct Coded<'a> {
        code: &'a str,
    }
    #[derive(Debug, Deserialize)]
    struct Coordinates {
        latitude: f64,
        longitude: f64,
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// (country, continent) at `addr` through the real reader.
    fn at(reader: &Reader<Vec<u8>>, addr: IpAddr) -> Option<(String, String)> {
        let result = reader.lookup(addr).unwrap();
        result
            .decode::<Record>()
            .unwrap()
            .map(|r| (r.country.iso_code.to_owned(), r.continent.code.to_owned()))
    }

    /// The first and last address of a network, and the addresses just outside it.
    fn bounds(network: &str) -> (IpAddr, IpAddr, Option<IpAddr>, Option<IpAddr>) {
        let c = Cidr::parse(network).unwrap();
        match c.addr {
            IpAddr::V4(a) => {
                let first = u32::from(a);
                let last = first | (u32::MAX >> c.prefix_len);
                (
                    IpAddr::from(Ipv4Addr::from(first)),
                    IpAddr::from(Ipv4Addr::from(last)),
                    first.checked_sub(1).map(|p| Ipv4Addr::from(p).into()),
                    last.checked_add(1).map(|n| Ipv4Addr::from(n).into()),
                )
            }
            IpAddr::V6(a) => {
                let first = u128::from(a);
                let last = first | (u128::MAX >> c.prefix_len);
                (
                    IpAddr::from(std::net::Ipv6Addr::from(first)),
                    IpAddr::from(std::net::Ipv6Addr::from(last)),
                    first
                        .checked_sub(1)
                        .map(|p| std::net::Ipv6Addr::from(p).into()),
                    last.checked_add(1)
                        .map(|n| std::net::Ipv6Addr::from(n).into()),
                )
            }
        }
    }

    #[test]
    fn demo_db_maps_every_range_to_its_country_up_to_the_boundaries() {
        let reader = Reader::from_source(demo_db().unwrap()).unwrap();
        reader.verify().unwrap();
        assert_eq!(reader.metadata().database_type, TEST_DATABASE_TYPE);
        for n in DEMO_NETWORKS {
            let expected = Some((n.country.to_owned(), n.continent.to_owned()));
            let (first, last, before, after) = bounds(n.network);
            assert_eq!(at(&reader, first), expected, "{}", n.network);
            assert_eq!(at(&reader, last), expected, "{}", n.network);
            // Just outside: whatever the table says there (a neighbouring block or nothing).
            for outside in [before, after].into_iter().flatten() {
                let neighbour = DEMO_NETWORKS
                    .iter()
                    .find(|m| Cidr::parse(m.network).unwrap().contains(outside))
                    .map(|m| (m.country.to_owned(), m.continent.to_owned()));
                assert_ne!(
                    reader
                        .lookup(outside)
                        .unwrap()
                        .network()
                        .unwrap()
                        .to_string(),
                    n.network
                );
                assert_eq!(
                    at(&reader, outside),
                    neighbour,
                    "{outside} next to {}",
                    n.network
                );
            }
            let record = reader
                .lookup(first)
                .unwrap()
                .decode::<Record>()
                .unwrap()
                .unwrap();
            assert_eq!(
                (record.location.latitude, record.location.longitude),
                (n.latitude, n.longitude)
            );
            assert_eq!(
                reader.lookup(last).unwrap().network().unwrap().to_string(),
                n.network
            );
        }
        for unmapped in [
            "127.0.0.1",
            "127.0.6.1",
            "10.0.0.1",
            "8.8.8.8",
            "::1",
            "2001:db8:3::1",
        ] {
            assert_eq!(at(&reader, ip(unmapped)), None, "{unmapped}");
        }
    }

    #[test]
    fn demo_db_is_reproducible() {
        assert_eq!(demo_db().unwrap(), demo_db().unwrap());
    }

    /// The config examples ship the demo database, so that `edge.toml` can show `[geo]`;
    /// it must stay what [`demo_db`] writes. `UPDATE_DEMO_DB=1 cargo test -p edge-geo`
    /// rewrites it.
    #[test]
    fn the_example_database_is_the_demo_db() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../config/examples/geo-demo.mmdb");
        let demo = demo_db().unwrap();
        if std::env::var_os("UPDATE_DEMO_DB").is_some() {
            std::fs::write(&path, &demo).unwrap();
        }
        let shipped = std::fs::read(&path).unwrap();
        assert!(
            shipped == demo,
            "{} differs from demo_db(); run UPDATE_DEMO_DB=1 cargo test -p edge-geo",
            path.display()
        );
    }

    #[test]
    fn generated_db_maps_each_address() {
        let (bytes, addresses) = generated_db(2_000, 7).unwrap();
        assert_eq!(addresses.len(), 2_000);
        let reader = Reader::from_source(bytes).unwrap();
        reader.verify().unwrap();
        for a in &addresses {
            let (country, _) = at(&reader, IpAddr::V4(*a)).unwrap();
            assert!(
                GENERATED_COUNTRIES.iter().any(|c| c.0 == country),
                "{a}: {country}"
            );
        }
        assert_eq!(generated_db(2_000, 7).unwrap().1, addresses, "seeded");
    }
}
