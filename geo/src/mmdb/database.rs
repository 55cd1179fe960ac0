//! One database file and the current one: [`Database`] reads and checks a file and answers
//! lookups, [`GeoDb`] swaps in a new one on reload, and [`TEST_DATABASE_TYPE`] is the one
//! type besides MaxMind's that they accept.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use edge_config::{ContinentCode, CountryCode, Location};
use maxminddb::{MaxMindDbError, Reader, WithinOptions};
use serde::Deserialize;

/// The `database_type` of the databases made for tests, benchmarks and the demo (by
/// `testdata`). The reader accepts it besides GeoIP2/GeoLite2 Country and City types, so it
/// is defined here, with the check, rather than next to the databases.
pub const TEST_DATABASE_TYPE: &str = "EdgeGateway-Test";

/// Where a client is, as far as the database knows. At least one field is set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClientLocation {
    /// The country (`country.iso_code`).
    pub country: Option<CountryCode>,
    /// The continent (`continent.code`).
    pub continent: Option<ContinentCode>,
    /// Approximate coordinates (`location.latitude`/`longitude`; City databases, and
    /// Country ones that carry them).
    pub coordinates: Option<Location>,
}

/// A lookup failed: the database is damaged where this address leads.
#[derive(Debug, thiserror::Error)]
#[error("looking up {ip} in the location database failed: {source}")]
pub struct LookupError {
    /// The address looked up.
    pub ip: IpAddr,
    /// What the reader reported.
    #[source]
    pub source: MaxMindDbError,
}

/// Why a database file was refused.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The file could not be read.
    #[error("cannot read location database {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file changed while it was being read (it is being written or replaced).
    #[error(
        "location database {path} changed while it was being read; try again once it is complete"
    )]
    Changing {
        /// The file.
        path: String,
    },
    /// The file is not a valid MaxMind DB file.
    #[error("{path} is not a valid MaxMind DB file: {source}")]
    Invalid {
        /// The file.
        path: String,
        /// What the reader reported.
        #[source]
        source: MaxMindDbError,
    },
    /// A MaxMind database, but not one with locations (e.g. ASN or Anonymous IP).
    #[error(
        "{path} is a {database_type:?} database; expected a GeoIP2 or GeoLite2 Country or City \
         database"
    )]
    WrongType {
        /// The file.
        path: String,
        /// Its metadata's `database_type`.
        database_type: String,
    },
    /// The database has IPv4 networks only, so IPv6 clients could not be located.
    #[error("{path} is an IPv4-only database; use one that covers IPv6 too (GeoLite2 files do)")]
    Ipv4Only {
        /// The file.
        path: String,
    },
    /// A lookup of a probe address failed: the file is damaged or its records are not
    /// shaped like GeoIP2 ones.
    #[error(
        "{path}: looking up {ip} failed ({source}); the file is damaged or not a location database"
    )]
    Lookup {
        /// The file.
        path: String,
        /// The probe address.
        ip: IpAddr,
        /// What the reader reported.
        #[source]
        source: MaxMindDbError,
    },
}

/// What identifies one version of a file for [`watch`](fn@super::watch): modification time, length and (on
/// Unix) inode, so a replacement by rename is noticed even when it keeps time and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    /// Last modification time, where the file system records one.
    pub modified: Option<SystemTime>,
    /// Length in bytes.
    pub len: u64,
    /// Inode number on Unix; 0 elsewhere.
    pub inode: u64,
}

impl FileStamp {
    /// The stamp of the file at `path` now (following symbolic links, as reading does).
    pub fn of(path: &Path) -> io::Result<Self> {
        let meta = fs::metadata(path)?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Ok(Self {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode,
        })
    }
}

/// Facts about a loaded database, for logs and the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseInfo {
    /// The metadata's `database_type`, e.g. `GeoLite2-Country`.
    pub database_type: String,
    /// When the database was built (seconds since the Unix epoch).
    pub build_epoch: u64,
    /// Nodes in its search tree.
    pub node_count: u32,
    /// Size of the file in bytes.
    pub size: usize,
    /// The file's stamp when it was read; `None` for a database made from bytes.
    pub stamp: Option<FileStamp>,
}

/// Addresses looked up when a database is opened: a lookup must not fail for any of them.
/// Both families, since a database that fails for one would fail live traffic.
const PROBES: [IpAddr; 4] = [
    IpAddr::V4(std::net::Ipv4Addr::new(8, 8, 8, 8)),
    IpAddr::V4(std::net::Ipv4Addr::new(81, 2, 69, 160)),
    IpAddr::V6(std::net::Ipv6Addr::new(
        0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8888,
    )),
    IpAddr::V6(std::net::Ipv6Addr::new(0x2a02, 0xc7f, 0x48, 0, 0, 0, 0, 1)),
];

/// Databases with at most this many distinct records have them all decoded when opened.
/// Country databases hold a few thousand (one per country and registration combination);
/// City databases hold one per city, hundreds of thousands, and are decoded per lookup
/// rather than kept twice in memory.
pub const MAX_PREDECODED_RECORDS: usize = 65_536;

/// One opened and checked database.
pub struct Database {
    reader: Reader<Vec<u8>>,
    /// Every record decoded once, by its offset in the data section, when there are at most
    /// [`MAX_PREDECODED_RECORDS`]: a lookup is then a walk down the tree and a hash probe.
    /// Decoding a record costs more than the walk (the names in several languages around
    /// the few fields used here must be skipped), and many addresses share one record.
    predecoded: Option<HashMap<usize, Option<ClientLocation>>>,
    info: DatabaseInfo,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("info", &self.info)
            .finish()
    }
}

impl Database {
    /// Reads and checks the database file at `path`.
    ///
    /// Besides parsing, the whole file's structure is checked (every tree node and every
    /// record is walked and decoded, which takes a moment on a City database but runs at start
    /// and in the background only; optional metadata such as an empty `description` is not
    /// required, unlike `maxminddb`'s `verify`), its type
    /// must be a Country or City one (or [`TEST_DATABASE_TYPE`]), it must cover IPv6, and
    /// lookups of a few probe addresses must succeed.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let shown = path.display().to_string();
        let read_error = |source| OpenError::Read {
            path: shown.clone(),
            source,
        };
        let before = FileStamp::of(path).map_err(read_error)?;
        let bytes = fs::read(path).map_err(read_error)?;
        let after = FileStamp::of(path).map_err(read_error)?;
        // A file still being written (or swapped) between the two looks would be read torn.
        if before != after || u64::try_from(bytes.len()).ok() != Some(after.len) {
            return Err(OpenError::Changing { path: shown });
        }
        let mut db = Self::from_bytes(bytes, &shown)?;
        db.info.stamp = Some(after);
        Ok(db)
    }

    /// Checks a database held in memory (as [`Database::open`] does); `name` stands for the
    /// file in errors.
    pub fn from_bytes(bytes: Vec<u8>, name: &str) -> Result<Self, OpenError> {
        let size = bytes.len();
        let path = || name.to_owned();
        let reader = Reader::from_source(bytes).map_err(|source| OpenError::Invalid {
            path: path(),
            source,
        })?;
        let meta = reader.metadata();
        let database_type = meta.database_type.clone();
        let known_type = database_type.contains("Country")
            || database_type.contains("City")
            || database_type == TEST_DATABASE_TYPE;
        if !known_type {
            return Err(OpenError::WrongType {
                path: path(),
                database_type,
            });
        }
        if meta.ip_version != 6 {
            return Err(OpenError::Ipv4Only { path: path() });
        }
        let info = DatabaseInfo {
            database_type,
            build_epoch: meta.build_epoch,
            node_count: meta.node_count,
            size,
            stamp: None,
        };
        let mut db = Self {
            reader,
            predecoded: None,
            info,
        };
        db.predecoded = db.scan().map_err(|source| OpenError::Invalid {
            path: path(),
            source,
        })?;
        for ip in PROBES {
            db.lookup(ip).map_err(|e| OpenError::Lookup {
                path: path(),
                ip,
                source: e.source,
            })?;
        }
        Ok(db)
    }

    /// Walks the whole search tree (networks without data too) and decodes every distinct
    /// record: a broken tree or a record that fails to decode fails the whole database (it
    /// would fail lookups later). Returns the decoded records when there are at most
    /// [`MAX_PREDECODED_RECORDS`] of them, else `None` (lookups then decode on the way).
    ///
    /// This is the structural part of `maxminddb`'s `Reader::verify`, without its demands on
    /// optional metadata; a tree with a cycle is stopped after `3 × node_count` networks, the
    /// bound `verify` uses (a valid tree has at most `2 × node_count` leaves).
    fn scan(&self) -> Result<Option<HashMap<usize, Option<ClientLocation>>>, MaxMindDbError> {
        let opts = WithinOptions::default().include_networks_without_data();
        let limit = self.info.node_count.saturating_mul(3) as usize;
        let mut records = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        for (walked, network) in self.reader.networks(opts)?.enumerate() {
            if walked > limit {
                return Err(MaxMindDbError::invalid_database(
                    "the search tree has a cycle or an invalid structure",
                ));
            }
            let network = network?;
            let Some(offset) = network.offset() else {
                continue;
            };
            if !seen.insert(offset) {
                continue;
            }
            let location = network
                .decode::<Record<'_>>()?
                .and_then(Record::into_location);
            if records.len() < MAX_PREDECODED_RECORDS {
                records.insert(offset, location);
            }
        }
        Ok((seen.len() <= MAX_PREDECODED_RECORDS).then_some(records))
    }

    /// Whether every record was decoded when the database was opened (see
    /// [`MAX_PREDECODED_RECORDS`]).
    pub fn is_predecoded(&self) -> bool {
        self.predecoded.is_some()
    }

    /// Facts about this database.
    pub fn info(&self) -> &DatabaseInfo {
        &self.info
    }

    /// Where `ip` is; `None` when the database has nothing for it. IPv4-mapped IPv6
    /// addresses (`::ffff:192.0.2.1`, as dual-stack sockets report IPv4 peers) are looked up
    /// as IPv4.
    pub fn lookup(&self, ip: IpAddr) -> Result<Option<ClientLocation>, LookupError> {
        let ip = ip.to_canonical();
        let found = self
            .reader
            .lookup(ip)
            .map_err(|source| LookupError { ip, source })?;
        let Some(offset) = found.offset() else {
            return Ok(None);
        };
        if let Some(location) = self.predecoded.as_ref().and_then(|r| r.get(&offset)) {
            return Ok(*location);
        }
        let record = found
            .decode::<Record<'_>>()
            .map_err(|source| LookupError { ip, source })?;
        Ok(record.and_then(Record::into_location))
    }
}

/// The parts of a GeoIP2 Country/City record used here; serde skips the rest (names in
/// many languages, subdivisions, ...) without decoding it.
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    country: Option<Coded<'a>>,
    #[serde(borrow, default)]
    continent: Option<Coded<'a>>,
    #[serde(default)]
    location: Option<Coordinates>,
}

/// `country` (`iso_code`) or `continent` (`code`).
#[derive(Deserialize)]
struct Coded<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
    #[serde(borrow, default)]
    code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Coordinates {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
}

impl Record<'_> {
    fn into_location(self) -> Option<ClientLocation> {
        let country = self
            .country
            .and_then(|c| c.iso_code)
            .and_then(CountryCode::from_alpha2);
        let continent = self
            .continent
            .and_then(|c| c.code)
            .and_then(ContinentCode::from_code);
        let coordinates = self.location.and_then(|l| match (l.latitude, l.longitude) {
            (Some(lat), Some(lon))
                if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) =>
            {
                Some(Location { lat, lon })
            }
            _ => None,
        });
        let location = ClientLocation {
            country,
            continent,
            coordinates,
        };
        (country.is_some() || continent.is_some() || coordinates.is_some()).then_some(location)
    }
}

/// The location database in use, replaceable while lookups run.
#[derive(Debug)]
pub struct GeoDb {
    path: PathBuf,
    current: ArcSwap<Database>,
    /// Serialises reloads, so two at once (watcher and admin API) cannot store the older
    /// file last.
    reloading: Mutex<()>,
}

impl GeoDb {
    /// Opens and checks the database at `path` (see [`Database::open`]).
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, OpenError> {
        let path = path.into();
        let db = Database::open(&path)?;
        Ok(Self {
            path,
            current: ArcSwap::from_pointee(db),
            reloading: Mutex::new(()),
        })
    }

    /// The file this database is read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where `ip` is, according to the current database (see [`Database::lookup`]).
    pub fn lookup(&self, ip: IpAddr) -> Result<Option<ClientLocation>, LookupError> {
        self.current.load().lookup(ip)
    }

    /// The current database; it stays usable (and consistent) even if a reload replaces it.
    pub fn current(&self) -> Arc<Database> {
        self.current.load_full()
    }

    /// Reads the file again and, if it is a valid location database, makes it current.
    /// On error the current database stays. Blocks while reading and verifying (up to
    /// about a second for a City database): call it off the async executor.
    pub fn reload(&self) -> Result<DatabaseInfo, OpenError> {
        let _one_at_a_time = self
            .reloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let db = Database::open(&self.path)?;
        let info = db.info.clone();
        self.current.store(Arc::new(db));
        Ok(info)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use edge_config::Cidr;

    use super::*;
    use crate::testdata::{demo_db, location_record, DEMO_NETWORKS};
    use crate::writer::{Value, Writer};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn demo() -> Database {
        Database::from_bytes(demo_db().unwrap(), "demo").unwrap()
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn demo_lookups_return_country_continent_and_coordinates() {
        let db = demo();
        for n in DEMO_NETWORKS {
            let first = Cidr::parse(n.network).unwrap().addr;
            let loc = db.lookup(first).unwrap().unwrap();
            assert_eq!(loc.country.unwrap().as_str(), n.country, "{}", n.network);
            assert_eq!(loc.continent.unwrap().as_str(), n.continent);
            assert_eq!(
                loc.coordinates,
                Some(Location {
                    lat: n.latitude,
                    lon: n.longitude
                })
            );
        }
        assert_eq!(db.lookup(ip("127.0.0.1")).unwrap(), None);
        assert_eq!(db.lookup(ip("::1")).unwrap(), None);
        assert_eq!(db.info().database_type, TEST_DATABASE_TYPE);
    }

    #[test]
    fn small_databases_are_predecoded_and_large_ones_decode_per_lookup() {
        let db = demo();
        assert!(db.is_predecoded());
        // More distinct records than are kept: lookups decode, with the same answers.
        let mut w = Writer::new(TEST_DATABASE_TYPE);
        let count = u32::try_from(MAX_PREDECODED_RECORDS).unwrap() + 1;
        for i in 0..count {
            let net = format!("{}.{}.{}.0/24", 10 + (i >> 16), (i >> 8) & 0xff, i & 0xff);
            let lat = f64::from(i) / 1_000.0;
            w.insert(
                Cidr::parse(&net).unwrap(),
                &location_record("DE", "EU", lat, 9.0),
            )
            .unwrap();
        }
        let big = Database::from_bytes(w.to_bytes().unwrap(), "big").unwrap();
        assert!(!big.is_predecoded());
        let loc = big.lookup(ip("10.1.2.3")).unwrap().unwrap();
        assert_eq!(loc.coordinates.unwrap().lat, f64::from(0x0102) / 1_000.0);
        assert!(
            big.lookup(ip("11.0.0.1")).unwrap().is_some(),
            "record 65536"
        );
        assert_eq!(big.lookup(ip("11.0.1.1")).unwrap(), None);
    }

    #[test]
    fn ipv4_mapped_addresses_are_looked_up_as_ipv4() {
        let db = demo();
        let loc = db.lookup(ip("::ffff:127.0.3.9")).unwrap().unwrap();
        assert_eq!(loc.country.unwrap().as_str(), "US");
    }

    #[test]
    fn partial_records_keep_what_they_have() {
        let mut w = Writer::new(TEST_DATABASE_TYPE);
        let continent_only =
            Value::map([("continent", Value::map([("code", Value::string("EU"))]))]);
        w.insert(Cidr::parse("10.0.0.0/8").unwrap(), &continent_only)
            .unwrap();
        let bad_coordinates = Value::map([
            ("country", Value::map([("iso_code", Value::string("DE"))])),
            (
                "location",
                Value::map([
                    ("latitude", Value::Double(91.0)),
                    ("longitude", Value::Double(0.0)),
                ]),
            ),
        ]);
        w.insert(Cidr::parse("11.0.0.0/8").unwrap(), &bad_coordinates)
            .unwrap();
        let nothing_known =
            Value::map([("traits", Value::map([("is_anycast", Value::Bool(true))]))]);
        w.insert(Cidr::parse("12.0.0.0/8").unwrap(), &nothing_known)
            .unwrap();
        let db = Database::from_bytes(w.to_bytes().unwrap(), "t").unwrap();
        let loc = db.lookup(ip("10.1.1.1")).unwrap().unwrap();
        assert_eq!(
            (loc.country, loc.continent),
            (None, Some(ContinentCode::EU))
        );
        let loc = db.lookup(ip("11.1.1.1")).unwrap().unwrap();
        assert_eq!(loc.country.unwrap().as_str(), "DE");
        assert_eq!(loc.coordinates, None, "latitude 91 is not a place");
        assert_eq!(db.lookup(ip("12.1.1.1")).unwrap(), None);
    }

    #[test]
    fn wrong_databases_are_refused_with_a_reason() {
        let e = Database::from_bytes(b"not a database".to_vec(), "x.mmdb").unwrap_err();
        assert!(matches!(e, OpenError::Invalid { .. }), "{e}");
        assert!(
            e.to_string()
                .starts_with("x.mmdb is not a valid MaxMind DB file"),
            "{e}"
        );

        let mut asn = Writer::new("GeoLite2-ASN");
        asn.insert(
            Cidr::parse("10.0.0.0/8").unwrap(),
            &Value::map([("autonomous_system_number", Value::Uint32(64_500))]),
        )
        .unwrap();
        let e = Database::from_bytes(asn.to_bytes().unwrap(), "asn.mmdb").unwrap_err();
        assert!(
            e.to_string().contains(
                "is a \"GeoLite2-ASN\" database; expected a GeoIP2 or GeoLite2 Country or City"
            ),
            "{e}"
        );

        // Real type names are accepted.
        for ty in ["GeoLite2-Country", "GeoIP2-City", "DBIP-Country-Lite"] {
            let mut w = Writer::new(ty);
            w.insert(
                Cidr::parse("10.0.0.0/8").unwrap(),
                &location_record("DE", "EU", 51.0, 9.0),
            )
            .unwrap();
            Database::from_bytes(w.to_bytes().unwrap(), ty).unwrap();
        }

        // A record that is not a map would make lookups fail: refused at open.
        let mut odd = Writer::new(TEST_DATABASE_TYPE);
        odd.insert(Cidr::parse("8.0.0.0/8").unwrap(), &Value::string("DE"))
            .unwrap();
        let e = Database::from_bytes(odd.to_bytes().unwrap(), "odd.mmdb").unwrap_err();
        assert!(matches!(e, OpenError::Invalid { .. }), "{e}");
        assert!(e.to_string().contains("expected map"), "{e}");

        // A database whose optional description is empty (as PyPI's mmdb-writer writes
        // them) is accepted.
        let mut plain = Writer::new(TEST_DATABASE_TYPE).no_description();
        plain
            .insert(
                Cidr::parse("127.0.1.0/24").unwrap(),
                &location_record("DE", "EU", 51.0, 9.0),
            )
            .unwrap();
        let db = Database::from_bytes(plain.to_bytes().unwrap(), "plain.mmdb").unwrap();
        assert!(db.reader.metadata().description.is_empty());
        assert!(db.lookup(ip("127.0.1.1")).unwrap().is_some());

        // Truncation loses the metadata; corruption inside the tree is found by the scan.
        let good = demo_db().unwrap();
        let e = Database::from_bytes(good[..good.len() - 40].to_vec(), "cut").unwrap_err();
        assert!(matches!(e, OpenError::Invalid { .. }), "{e}");
        let mut bad = good.clone();
        bad[100..106].copy_from_slice(&[0xff; 6]);
        let e = Database::from_bytes(bad, "bad").unwrap_err();
        assert!(matches!(e, OpenError::Invalid { .. }), "{e}");
    }

    #[test]
    fn reload_swaps_in_a_good_file_and_keeps_the_old_one_on_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "geo.mmdb", &demo_db().unwrap());
        let geo = GeoDb::open(&path).unwrap();
        assert_eq!(geo.path(), path);
        let first = geo.current();
        let stamp = first.info().stamp.unwrap();
        assert_eq!(stamp, FileStamp::of(&path).unwrap());
        let country = |geo: &GeoDb, a: &str| {
            geo.lookup(ip(a))
                .unwrap()
                .and_then(|l| l.country)
                .map(|c| c.to_string())
        };
        assert_eq!(country(&geo, "127.0.1.1").as_deref(), Some("DE"));

        // Replace by rename, as geoipupdate does: 127.0.1.0/24 moves to Ireland.
        let mut w = Writer::new(TEST_DATABASE_TYPE);
        w.insert(
            Cidr::parse("127.0.1.0/24").unwrap(),
            &location_record("IE", "EU", 53.0, -8.0),
        )
        .unwrap();
        let next = write(dir.path(), "next.mmdb", &w.to_bytes().unwrap());
        fs::rename(&next, &path).unwrap();
        let info = geo.reload().unwrap();
        assert_eq!(info.stamp, Some(FileStamp::of(&path).unwrap()));
        assert_eq!(country(&geo, "127.0.1.1").as_deref(), Some("IE"));
        // A database handed out before the reload still answers from the old file.
        assert_eq!(
            first
                .lookup(ip("127.0.1.1"))
                .unwrap()
                .unwrap()
                .country
                .unwrap()
                .as_str(),
            "DE"
        );

        // A broken file is refused; lookups keep using the last good one.
        fs::write(&path, b"garbage").unwrap();
        let e = geo.reload().unwrap_err();
        assert!(
            e.to_string().contains("is not a valid MaxMind DB file"),
            "{e}"
        );
        assert_eq!(country(&geo, "127.0.1.1").as_deref(), Some("IE"));

        fs::remove_file(&path).unwrap();
        let e = geo.reload().unwrap_err();
        assert!(matches!(e, OpenError::Read { .. }), "{e}");
        assert!(
            e.to_string().starts_with("cannot read location database"),
            "{e}"
        );
        assert_eq!(country(&geo, "127.0.1.1").as_deref(), Some("IE"));
    }

    #[test]
    fn open_reports_a_missing_file() {
        let e = GeoDb::open("/nonexistent/GeoLite2-Country.mmdb").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read location database /nonexistent/GeoLite2-Country.mmdb"),
            "{e}"
        );
    }
}
