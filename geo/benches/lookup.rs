//! Lookup cost: one address in the demo database, in a generated database of 100,000
//! random `/24` networks (a GeoLite2-Country file holds about 400,000 networks in a tree of
//! the same depth) and in a City-like one whose records are too many to predecode, through
//! [`GeoDb::lookup`] as the gateway calls it per request; and the cost of opening (checking)
//! a database.
//!
//! Run with `cargo bench -p edge-geo`; the target is well under 1 µs per lookup.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use criterion::{criterion_main, Criterion};
use edge_config::Cidr;
use edge_config::{ContinentCode, CountryCode, Geography, GeographyName};
use edge_geo::locate::nearest_geography;
use edge_geo::mmdb::{Database, GeoDb};
use edge_geo::testdata::{demo_db, generated_db, location_record, TEST_DATABASE_TYPE};
use edge_geo::writer::Writer;

/// Writes `bytes` to a temporary file and opens it the way the gateway does.
fn open(bytes: &[u8]) -> (tempfile::TempDir, GeoDb) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.mmdb");
    std::fs::write(&path, bytes).unwrap();
    let db = GeoDb::open(&path).unwrap();
    (dir, db)
}

fn lookups(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    let (_demo_dir, demo) = open(&demo_db().unwrap());
    let hit: IpAddr = "127.0.3.9".parse().unwrap();
    let miss: IpAddr = "10.9.8.7".parse().unwrap();
    let v6: IpAddr = "2001:db8:1::42".parse().unwrap();
    assert!(demo.lookup(hit).unwrap().is_some());
    group.bench_function("demo/ipv4", |b| b.iter(|| demo.lookup(black_box(hit))));
    group.bench_function("demo/ipv6", |b| b.iter(|| demo.lookup(black_box(v6))));
    group.bench_function("demo/unmapped", |b| b.iter(|| demo.lookup(black_box(miss))));

    let (bytes, addresses) = generated_db(100_000, 42).unwrap();
    let (_big_dir, big) = open(&bytes);
    let addresses: Vec<IpAddr> = addresses.into_iter().map(IpAddr::V4).collect();
    assert!(big.lookup(addresses[0]).unwrap().is_some());
    // A different address each iteration, so the cost includes cache misses in the tree
    // rather than one hot path.
    let mut i = 0;
    group.bench_function("generated_100k/ipv4_random", |b| {
        b.iter(|| {
            i = (i + 7919) % addresses.len();
            big.lookup(black_box(addresses[i]))
        })
    });
    group.bench_function("generated_100k/unmapped", |b| {
        b.iter(|| big.lookup(black_box(miss)))
    });
    // The same random walk through the tree with the reader alone, without decoding the
    // record: what the tree costs (memory latency) against what decoding costs.
    let reader = maxminddb::Reader::from_source(bytes.clone()).unwrap();
    let mut j = 0;
    group.bench_function("generated_100k/tree_only_random", |b| {
        b.iter(|| {
            j = (j + 7919) % addresses.len();
            reader.lookup(black_box(addresses[j])).unwrap().has_data()
        })
    });
    // City-like: a distinct record per network, more than are predecoded, so every lookup
    // decodes its record.
    let mut writer = Writer::new(TEST_DATABASE_TYPE);
    let cities: Vec<IpAddr> = addresses.iter().take(70_000).copied().collect();
    for (n, addr) in cities.iter().enumerate() {
        let IpAddr::V4(v4) = addr else { continue };
        let network =
            Cidr::parse(&format!("{}/24", Ipv4Addr::from(u32::from(*v4) & !0xff))).unwrap();
        let lat = (n % 180) as f64 - 89.5;
        writer
            .insert(
                network,
                &location_record("DE", "EU", lat, n as f64 / 1_000.0),
            )
            .unwrap();
    }
    let (_city_dir, city) = open(&writer.to_bytes().unwrap());
    assert!(!city.current().is_predecoded());
    let mut k = 0;
    group.bench_function("city_like_70k/ipv4_random_decoded", |b| {
        b.iter(|| {
            k = (k + 7919) % cities.len();
            city.lookup(black_box(cities[k]))
        })
    });
    group.finish();

    // Opening checks the whole file (reader.verify()): the cost of a start or reload.
    let mut open_group = c.benchmark_group("open");
    open_group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    open_group.bench_function("generated_100k/from_bytes_and_verify", |b| {
        b.iter(|| Database::from_bytes(black_box(bytes.clone()), "bench").unwrap())
    });
    open_group.finish();

    let geographies = [
        Geography {
            name: GeographyName::new("eu"),
            fail_open: false,
            countries: ["GB", "IE", "CH", "NO"]
                .iter()
                .map(|c| CountryCode::parse(c).unwrap())
                .collect(),
            continents: vec![ContinentCode::EU, ContinentCode::AF],
        },
        Geography {
            name: GeographyName::new("na"),
            fail_open: false,
            countries: vec![CountryCode::parse("MX").unwrap()],
            continents: vec![ContinentCode::NA, ContinentCode::SA],
        },
    ];
    let default = GeographyName::new("eu");
    let jp = CountryCode::parse("JP").unwrap();
    c.bench_function("nearest_geography/default", |b| {
        b.iter(|| {
            nearest_geography(
                black_box(Some(jp)),
                black_box(Some(ContinentCode::AS)),
                &geographies,
                &default,
            )
        })
    });
}

// The macro defines an undocumented `pub fn benches`; it is documented here instead.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::lookups);
}
use group::benches;
criterion_main!(benches);
