//! A small writer of the MaxMind DB format, for test and demo databases.
//!
//! Real GeoIP2/GeoLite2 files cannot be committed or downloaded in tests (licence, size,
//! network), and no writer crate is vendored, so this module writes the documented format
//! (<https://maxmind.github.io/MaxMind-DB/>, version 2.0) itself. It covers what location
//! records need: maps, UTF-8 strings, unsigned integers, doubles, booleans and arrays.
//!
//! Layout of the file it produces:
//! 1. the binary search tree: an IPv6 tree (`ip_version` 6) whose IPv4 networks live under
//!    `::/96` (IPv4 `a.b.c.d` is `::a.b.c.d`), as the format prescribes; each node is two
//!    records of 24, 28 or 32 bits (the smallest that fits);
//! 2. 16 zero bytes, then the data section: each distinct record once (identical records are
//!    shared), without internal pointers;
//! 3. `\xAB\xCD\xEFMaxMind.com` and the metadata map.
//!
//! Not written: the aliases real databases add for `::ffff:0:0/96` and `2002::/16`;
//! [`crate::mmdb::GeoDb`] turns IPv4-mapped addresses into IPv4 before looking them up.

use std::collections::HashMap;
use std::net::IpAddr;

use edge_config::Cidr;

/// The bytes that open the metadata section.
pub const METADATA_MARKER: &[u8] = b"\xAB\xCD\xEFMaxMind.com";

/// Zero bytes between the search tree and the data section.
const DATA_SECTION_SEPARATOR: usize = 16;

/// A value of the data section.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A map with string keys, written in the given order.
    Map(Vec<(String, Value)>),
    /// A UTF-8 string.
    String(String),
    /// An unsigned 16-bit integer.
    Uint16(u16),
    /// An unsigned 32-bit integer.
    Uint32(u32),
    /// An unsigned 64-bit integer.
    Uint64(u64),
    /// A 64-bit float.
    Double(f64),
    /// A boolean.
    Bool(bool),
    /// An array.
    Array(Vec<Value>),
}

impl Value {
    /// A map from `(key, value)` pairs.
    pub fn map<'k>(entries: impl IntoIterator<Item = (&'k str, Value)>) -> Self {
        Self::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }

    /// A string value.
    pub fn string(s: &str) -> Self {
        Self::String(s.to_owned())
    }
}

/// Why a database could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// A string, map or array is larger than the format can describe.
    #[error("a value is too large for the MaxMind DB format ({0} bytes or entries)")]
    ValueTooLarge(usize),
    /// The tree and data no longer fit in 32-bit records.
    #[error("the database is too large for 32-bit search-tree records")]
    DatabaseTooLarge,
    /// A network written as text is not one.
    #[error("{0}")]
    InvalidNetwork(String),
}

/// One half of a search-tree node while the tree is being built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Record {
    /// No data for this part of the address space.
    Empty,
    /// Index of a child node in `Writer::nodes` (not yet the final node number).
    Node(u32),
    /// Offset of a record in the data section.
    Data(u32),
}

/// Builds a MaxMind DB file in memory.
///
/// ```
/// use edge_geo::writer::{Value, Writer};
/// let mut w = Writer::new("Example-Country");
/// let de = Value::map([("country", Value::map([("iso_code", Value::string("DE"))]))]);
/// w.insert("192.0.2.0/24".parse().unwrap(), &de).unwrap();
/// let bytes = w.to_bytes().unwrap();
/// let reader = maxminddb::Reader::from_source(bytes).unwrap();
/// assert_eq!(reader.metadata().database_type, "Example-Country");
/// ```
#[derive(Debug, Clone)]
pub struct Writer {
    database_type: String,
    /// `None` writes an empty description map (optional metadata, as `mmdb-writer` does).
    description: Option<String>,
    build_epoch: u64,
    record_size: Option<u16>,
    /// Node 0 is the root. Nodes cut off by a later, wider insert stay here unreachable and
    /// are dropped when the file is written.
    nodes: Vec<[Record; 2]>,
    data: Vec<u8>,
    /// Encoded record -> its offset in `data`, so identical records are stored once.
    offsets: HashMap<Vec<u8>, u32>,
}

impl Writer {
    /// An empty database of the given `database_type` (the metadata key GeoIP2 readers use
    /// to tell Country from City files), built at Unix time 0 so output is reproducible.
    pub fn new(database_type: &str) -> Self {
        Self {
            database_type: database_type.to_owned(),
            description: Some(format!("{database_type} (written by edge-geo)")),
            build_epoch: 0,
            record_size: None,
            nodes: vec![[Record::Empty; 2]],
            data: Vec::new(),
            offsets: HashMap::new(),
        }
    }

    /// Sets the metadata's `build_epoch` (seconds since the Unix epoch).
    pub fn build_epoch(mut self, seconds: u64) -> Self {
        self.build_epoch = seconds;
        self
    }

    /// Sets the English description in the metadata.
    pub fn description(mut self, text: &str) -> Self {
        self.description = Some(text.to_owned());
        self
    }

    /// Writes an empty `description` map: the format treats it as optional, and the widely
    /// used PyPI `mmdb-writer` writes custom databases this way.
    pub fn no_description(mut self) -> Self {
        self.description = None;
        self
    }

    /// Forces the search-tree record size (24, 28 or 32 bits) instead of the smallest that
    /// fits, to exercise readers on every layout. [`Writer::to_bytes`] fails when the
    /// database does not fit it.
    pub fn record_size(mut self, bits: RecordSize) -> Self {
        self.record_size = Some(bits.bits());
        self
    }

    /// Maps every address of `network` to `value`. A later insert wins where networks
    /// overlap: a narrower one carves its part out of a wider one, a wider one replaces
    /// everything inside it.
    pub fn insert(&mut self, network: Cidr, value: &Value) -> Result<(), WriteError> {
        let mut encoded = Vec::new();
        encode(value, &mut encoded)?;
        let offset = match self.offsets.get(&encoded) {
            Some(&offset) => offset,
            None => {
                let offset =
                    u32::try_from(self.data.len()).map_err(|_| WriteError::DatabaseTooLarge)?;
                self.data.extend_from_slice(&encoded);
                self.offsets.insert(encoded, offset);
                offset
            }
        };
        // IPv4 networks live under ::/96 in the IPv6 tree.
        let (bits, prefix_len) = match network.addr {
            IpAddr::V4(v4) => (
                u128::from(u32::from(v4)),
                96 + u32::from(network.prefix_len),
            ),
            IpAddr::V6(v6) => (u128::from(v6), u32::from(network.prefix_len)),
        };
        let bit = |depth: u32| usize::from((bits >> (127 - depth)) & 1 == 1);
        if prefix_len == 0 {
            self.nodes[0] = [Record::Data(offset); 2];
            return Ok(());
        }
        let mut node = 0usize;
        for depth in 0..prefix_len - 1 {
            let side = bit(depth);
            node = match self.nodes[node][side] {
                Record::Node(child) => child as usize,
                // A wider network (or nothing) covers this address: split it so the part
                // outside `network` keeps its value.
                covering @ (Record::Empty | Record::Data(_)) => {
                    let child = self.nodes.len();
                    let index = u32::try_from(child).map_err(|_| WriteError::DatabaseTooLarge)?;
                    self.nodes.push([covering; 2]);
                    self.nodes[node][side] = Record::Node(index);
                    child
                }
            };
        }
        self.nodes[node][bit(prefix_len - 1)] = Record::Data(offset);
        Ok(())
    }

    /// The database file.
    pub fn to_bytes(&self) -> Result<Vec<u8>, WriteError> {
        // Number the reachable nodes breadth-first from the root (which must be node 0);
        // `order` lists build indices, `number` maps a build index to its node number.
        let mut number: Vec<Option<u32>> = vec![None; self.nodes.len()];
        let mut order: Vec<usize> = vec![0];
        number[0] = Some(0);
        let mut next = 0;
        while let Some(&index) = order.get(next) {
            next += 1;
            for record in self.nodes[index] {
                if let Record::Node(child) = record {
                    let child = child as usize;
                    number[child] =
                        Some(u32::try_from(order.len()).map_err(|_| WriteError::DatabaseTooLarge)?);
                    order.push(child);
                }
            }
        }
        let node_count = u32::try_from(order.len()).map_err(|_| WriteError::DatabaseTooLarge)?;
        let data_len = u64::try_from(self.data.len()).map_err(|_| WriteError::DatabaseTooLarge)?;
        // The largest record value: a pointer to the end of the data section.
        let max_record = u64::from(node_count) + DATA_SECTION_SEPARATOR as u64 + data_len;
        let record_size = match self.record_size {
            Some(bits) if max_record < 1 << bits => bits,
            Some(_) => return Err(WriteError::DatabaseTooLarge),
            None if max_record < 1 << 24 => 24,
            None if max_record < 1 << 28 => 28,
            None if max_record < 1 << 32 => 32,
            None => return Err(WriteError::DatabaseTooLarge),
        };

        let resolve = |record: Record| -> u32 {
            match record {
                Record::Empty => node_count,
                Record::Node(child) => number[child as usize].unwrap_or(node_count),
                // Data pointers count from the start of the separator (format §"Pointer").
                Record::Data(offset) => node_count + DATA_SECTION_SEPARATOR as u32 + offset,
            }
        };
        let node_bytes = usize::from(record_size) / 4;
        let mut out = Vec::with_capacity(
            order.len() * node_bytes + DATA_SECTION_SEPARATOR + self.data.len() + 256,
        );
        for &index in &order {
            let [left, right] = self.nodes[index].map(resolve);
            let (l, r) = (left.to_be_bytes(), right.to_be_bytes());
            match record_size {
                24 => out.extend_from_slice(&[l[1], l[2], l[3], r[1], r[2], r[3]]),
                // The middle byte holds the top nibble of each record: left's high, right's low.
                28 => out.extend_from_slice(&[
                    l[1],
                    l[2],
                    l[3],
                    (l[0] << 4) | (r[0] & 0x0f),
                    r[1],
                    r[2],
                    r[3],
                ]),
                _ => {
                    out.extend_from_slice(&l);
                    out.extend_from_slice(&r);
                }
            }
        }
        out.extend_from_slice(&[0; DATA_SECTION_SEPARATOR]);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(METADATA_MARKER);
        let metadata = Value::map([
            ("node_count", Value::Uint32(node_count)),
            ("record_size", Value::Uint16(record_size)),
            ("ip_version", Value::Uint16(6)),
            ("database_type", Value::string(&self.database_type)),
            ("languages", Value::Array(vec![Value::string("en")])),
            ("binary_format_major_version", Value::Uint16(2)),
            ("binary_format_minor_version", Value::Uint16(0)),
            ("build_epoch", Value::Uint64(self.build_epoch)),
            (
                "description",
                Value::map(
                    self.description
                        .as_deref()
                        .map(|d| ("en", Value::string(d))),
                ),
            ),
        ]);
        encode(&metadata, &mut out)?;
        Ok(out)
    }
}

/// A search-tree record size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordSize {
    /// 24 bits: up to 16 M nodes plus data.
    Bits24,
    /// 28 bits.
    Bits28,
    /// 32 bits.
    Bits32,
}

impl RecordSize {
    fn bits(self) -> u16 {
        match self {
            RecordSize::Bits24 => 24,
            RecordSize::Bits28 => 28,
            RecordSize::Bits32 => 32,
        }
    }
}

// Data-section type numbers (format §"Output Data Section").
const TYPE_UTF8: u8 = 2;
const TYPE_DOUBLE: u8 = 3;
const TYPE_UINT16: u8 = 5;
const TYPE_UINT32: u8 = 6;
const TYPE_MAP: u8 = 7;
const TYPE_UINT64: u8 = 9;
const TYPE_ARRAY: u8 = 11;
const TYPE_BOOL: u8 = 14;

/// Appends `value` in the data-section encoding.
fn encode(value: &Value, out: &mut Vec<u8>) -> Result<(), WriteError> {
    match value {
        Value::Map(entries) => {
            control(out, TYPE_MAP, entries.len())?;
            for (key, value) in entries {
                control(out, TYPE_UTF8, key.len())?;
                out.extend_from_slice(key.as_bytes());
                encode(value, out)?;
            }
        }
        Value::String(s) => {
            control(out, TYPE_UTF8, s.len())?;
            out.extend_from_slice(s.as_bytes());
        }
        Value::Uint16(n) => uint(out, TYPE_UINT16, &n.to_be_bytes())?,
        Value::Uint32(n) => uint(out, TYPE_UINT32, &n.to_be_bytes())?,
        Value::Uint64(n) => uint(out, TYPE_UINT64, &n.to_be_bytes())?,
        Value::Double(d) => {
            control(out, TYPE_DOUBLE, 8)?;
            out.extend_from_slice(&d.to_be_bytes());
        }
        // A boolean's value is its size; it has no payload.
        Value::Bool(b) => control(out, TYPE_BOOL, usize::from(*b))?,
        Value::Array(items) => {
            control(out, TYPE_ARRAY, items.len())?;
            for item in items {
                encode(item, out)?;
            }
        }
    }
    Ok(())
}

/// An unsigned integer: big-endian without leading zero bytes (zero has no payload).
fn uint(out: &mut Vec<u8>, type_num: u8, be: &[u8]) -> Result<(), WriteError> {
    let first = be.iter().position(|&b| b != 0).unwrap_or(be.len());
    let payload = be.get(first..).unwrap_or_default();
    control(out, type_num, payload.len())?;
    out.extend_from_slice(payload);
    Ok(())
}

/// A control byte: type in the top three bits (0 plus an extension byte for types above
/// 7), size in the low five, with 1 to 3 more size bytes for sizes of 29 and above.
fn control(out: &mut Vec<u8>, type_num: u8, size: usize) -> Result<(), WriteError> {
    let too_large = || WriteError::ValueTooLarge(size);
    let n = u32::try_from(size).map_err(|_| too_large())?;
    // (the 5 size bits, how many size bytes follow, their value)
    let (size_bits, extra_len, extra) = match n {
        0..=28 => (n as u8, 0, 0),
        29..=284 => (29, 1, n - 29),
        285..=65_820 => (30, 2, n - 285),
        65_821..=16_843_036 => (31, 3, n - 65_821),
        _ => return Err(too_large()),
    };
    if type_num <= 7 {
        out.push((type_num << 5) | size_bits);
    } else {
        out.push(size_bits);
        out.push(type_num - 7);
    }
    out.extend_from_slice(&extra.to_be_bytes()[4 - extra_len..]);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::IpAddr;

    use maxminddb::Reader;
    use proptest::prelude::*;
    use serde::Deserialize;

    use super::*;

    fn cidr(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn tag(s: &str) -> Value {
        Value::map([("tag", Value::string(s))])
    }

    /// The tag at `addr`, through the real reader.
    fn tag_at(reader: &Reader<Vec<u8>>, addr: &str) -> Option<String> {
        #[derive(Deserialize)]
        struct Tagged {
            tag: String,
        }
        reader
            .lookup(ip(addr))
            .unwrap()
            .decode::<Tagged>()
            .unwrap()
            .map(|t| t.tag)
    }

    #[test]
    fn control_bytes_follow_the_spec() {
        let enc = |t, size| {
            let mut out = Vec::new();
            control(&mut out, t, size).unwrap();
            out
        };
        assert_eq!(enc(TYPE_UTF8, 2), [0x42]);
        assert_eq!(enc(TYPE_UTF8, 28), [0x5c]);
        assert_eq!(enc(TYPE_UTF8, 29), [0x5d, 0]);
        assert_eq!(enc(TYPE_UTF8, 284), [0x5d, 255]);
        assert_eq!(enc(TYPE_UTF8, 285), [0x5e, 0, 0]);
        assert_eq!(enc(TYPE_UTF8, 65_820), [0x5e, 0xff, 0xff]);
        assert_eq!(enc(TYPE_UTF8, 65_821), [0x5f, 0, 0, 0]);
        // Extended types: type 0, then the type minus 7, then size bytes.
        assert_eq!(enc(TYPE_ARRAY, 3), [0x03, 4]);
        assert_eq!(enc(TYPE_ARRAY, 30), [0x1d, 4, 1]);
        assert_eq!(enc(TYPE_BOOL, 1), [0x01, 7]);
    }

    #[test]
    fn oversized_values_are_refused() {
        let mut out = Vec::new();
        assert_eq!(
            control(&mut out, TYPE_UTF8, 65_821 + (1 << 24)),
            Err(WriteError::ValueTooLarge(65_821 + (1 << 24)))
        );
    }

    #[test]
    fn every_value_type_round_trips_through_the_reader() {
        #[derive(Debug, Deserialize, PartialEq)]
        struct All {
            s: String,
            long: String,
            u16: u16,
            u32: u32,
            u64: u64,
            zero: u32,
            d: f64,
            yes: bool,
            no: bool,
            list: Vec<u32>,
            nested: BTreeMap<String, String>,
        }
        let long = "x".repeat(70_000);
        let value = Value::map([
            ("s", Value::string("hello")),
            ("long", Value::string(&long)),
            ("u16", Value::Uint16(65_535)),
            ("u32", Value::Uint32(70_000)),
            ("u64", Value::Uint64(u64::MAX)),
            ("zero", Value::Uint32(0)),
            ("d", Value::Double(-6.2603)),
            ("yes", Value::Bool(true)),
            ("no", Value::Bool(false)),
            ("list", Value::Array((0..40).map(Value::Uint32).collect())),
            ("nested", Value::map([("en", Value::string("Dublin"))])),
        ]);
        let mut w = Writer::new("Test");
        w.insert(cidr("10.0.0.0/8"), &value).unwrap();
        let reader = Reader::from_source(w.to_bytes().unwrap()).unwrap();
        reader.verify().unwrap();
        let all: All = reader
            .lookup(ip("10.1.2.3"))
            .unwrap()
            .decode()
            .unwrap()
            .unwrap();
        assert_eq!(all.s, "hello");
        assert_eq!(all.long, long);
        assert_eq!(
            (all.u16, all.u32, all.u64, all.zero),
            (65_535, 70_000, u64::MAX, 0)
        );
        assert_eq!(all.d, -6.2603);
        assert!(all.yes && !all.no);
        assert_eq!(all.list, (0..40).collect::<Vec<_>>());
        assert_eq!(all.nested["en"], "Dublin");
    }

    #[test]
    fn metadata_is_what_readers_expect() {
        let mut w = Writer::new("EdgeGateway-Test")
            .build_epoch(1_700_000_000)
            .description("tiny");
        w.insert(cidr("192.0.2.0/24"), &tag("a")).unwrap();
        let reader = Reader::from_source(w.to_bytes().unwrap()).unwrap();
        reader.verify().unwrap();
        let m = reader.metadata();
        assert_eq!(m.database_type, "EdgeGateway-Test");
        assert_eq!(m.build_epoch, 1_700_000_000);
        assert_eq!(m.ip_version, 6);
        assert_eq!(m.record_size, 24);
        assert_eq!(m.binary_format_major_version, 2);
        assert_eq!(m.languages, ["en"]);
        assert_eq!(m.description["en"], "tiny");
        // One node per bit of the prefix but the last, which is a record: 96 + 24 - 1,
        // plus the root.
        assert_eq!(m.node_count, 96 + 24);
    }

    #[test]
    fn every_record_size_reads_back() {
        for size in [RecordSize::Bits24, RecordSize::Bits28, RecordSize::Bits32] {
            let mut w = Writer::new("Test").record_size(size);
            w.insert(cidr("10.0.0.0/8"), &tag("ten")).unwrap();
            w.insert(cidr("2001:db8::/32"), &tag("doc")).unwrap();
            let reader = Reader::from_source(w.to_bytes().unwrap()).unwrap();
            reader.verify().unwrap();
            assert_eq!(reader.metadata().record_size, size.bits());
            assert_eq!(tag_at(&reader, "10.255.0.1").as_deref(), Some("ten"));
            assert_eq!(tag_at(&reader, "2001:db8:ffff::1").as_deref(), Some("doc"));
            assert_eq!(tag_at(&reader, "11.0.0.0"), None);
        }
    }

    #[test]
    fn large_record_values_use_the_high_nibbles() {
        // Enough data that pointers exceed 24 bits: 28-bit records must carry the top
        // nibble in the shared middle byte, for both the left and the right record.
        let mut w = Writer::new("Test");
        let big = "y".repeat(60_000);
        for i in 0..300u32 {
            let net = format!("10.{}.{}.0/24", i / 256, i % 256);
            w.insert(
                cidr(&net),
                &Value::map([("tag", Value::String(format!("{i}{big}")))]),
            )
            .unwrap();
        }
        let bytes = w.to_bytes().unwrap();
        let reader = Reader::from_source(bytes).unwrap();
        assert_eq!(reader.metadata().record_size, 28);
        reader.verify().unwrap();
        for i in [0u32, 1, 2, 254, 255, 298, 299] {
            let addr = format!("10.{}.{}.7", i / 256, i % 256);
            let got = tag_at(&reader, &addr).unwrap();
            assert!(got.starts_with(&format!("{i}y")), "{addr}");
        }
        let forced = Writer::new("Test").record_size(RecordSize::Bits24);
        let mut forced = forced;
        forced
            .insert(cidr("10.0.0.0/24"), &Value::String("z".repeat(1 << 24)))
            .unwrap();
        assert_eq!(forced.to_bytes(), Err(WriteError::DatabaseTooLarge));
    }

    #[test]
    fn overlapping_inserts_last_one_wins() {
        let mut w = Writer::new("Test");
        w.insert(cidr("10.0.0.0/8"), &tag("wide")).unwrap();
        w.insert(cidr("10.1.0.0/16"), &tag("narrow")).unwrap();
        w.insert(cidr("10.1.2.3/32"), &tag("host")).unwrap();
        w.insert(cidr("172.16.0.0/16"), &tag("gone")).unwrap();
        w.insert(cidr("172.16.0.0/12"), &tag("replaced")).unwrap();
        let reader = Reader::from_source(w.to_bytes().unwrap()).unwrap();
        reader.verify().unwrap();
        assert_eq!(tag_at(&reader, "10.0.0.1").as_deref(), Some("wide"));
        assert_eq!(tag_at(&reader, "10.2.0.1").as_deref(), Some("wide"));
        assert_eq!(tag_at(&reader, "10.1.0.1").as_deref(), Some("narrow"));
        assert_eq!(tag_at(&reader, "10.1.2.3").as_deref(), Some("host"));
        assert_eq!(tag_at(&reader, "10.1.2.4").as_deref(), Some("narrow"));
        assert_eq!(tag_at(&reader, "172.16.0.1").as_deref(), Some("replaced"));
        assert_eq!(
            tag_at(&reader, "172.31.255.255").as_deref(),
            Some("replaced")
        );
        assert_eq!(tag_at(&reader, "172.32.0.0"), None);
        // A lookup reports the inserted network, or the part of it left beside a narrower
        // one (as real databases do).
        let net = |a| reader.lookup(ip(a)).unwrap().network().unwrap().to_string();
        assert_eq!(net("172.20.0.1"), "172.16.0.0/12");
        assert_eq!(net("10.1.200.1"), "10.1.128.0/17");
    }

    #[test]
    fn whole_address_space_and_identical_records_are_shared() {
        let mut w = Writer::new("Test");
        w.insert(cidr("::/0"), &tag("all")).unwrap();
        w.insert(cidr("192.0.2.0/24"), &tag("doc")).unwrap();
        w.insert(cidr("198.51.100.0/24"), &tag("doc")).unwrap();
        assert_eq!(w.offsets.len(), 2, "the second \"doc\" record is shared");
        let reader = Reader::from_source(w.to_bytes().unwrap()).unwrap();
        reader.verify().unwrap();
        assert_eq!(tag_at(&reader, "2001:db8::1").as_deref(), Some("all"));
        assert_eq!(tag_at(&reader, "8.8.8.8").as_deref(), Some("all"));
        assert_eq!(tag_at(&reader, "198.51.100.255").as_deref(), Some("doc"));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Random disjoint-or-nested IPv4 networks read back as a brute-force model says.
        #[test]
        fn random_networks_read_back(
            nets in proptest::collection::vec((any::<u32>(), 8u8..=32), 1..40),
            probes in proptest::collection::vec(any::<u32>(), 1..40),
        ) {
            let mut w = Writer::new("Test");
            let mut model: Vec<(u32, u32, String)> = Vec::new();
            for (i, (addr, len)) in nets.iter().enumerate() {
                let mask = u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
                let net = addr & mask;
                let text = format!("{}/{len}", std::net::Ipv4Addr::from(net));
                w.insert(cidr(&text), &tag(&i.to_string())).unwrap();
                model.push((net, mask, i.to_string()));
            }
            let reader = Reader::from_source(w.to_bytes().unwrap()).unwrap();
            reader.verify().unwrap();
            let inside = nets.iter().map(|(a, _)| *a);
            for probe in probes.into_iter().chain(inside) {
                let expected = model
                    .iter()
                    .rev()
                    .find(|(net, mask, _)| probe & mask == *net)
                    .map(|(_, _, t)| t.clone());
                let addr = std::net::Ipv4Addr::from(probe).to_string();
                prop_assert_eq!(tag_at(&reader, &addr), expected, "{}", addr);
            }
        }
    }
}
