//! PROXY protocol v2 (HAProxy's `proxy-protocol.txt`, section 2.2): the binary header a peer
//! edge puts in front of a connection it passes through, carrying the client's address.
//!
//! Parsing and building are the `ppp` crate's; this module decides what a header may be here:
//! version 2 only (a version 1 text header is refused), at most [`MAX_HEADER_BYTES`], and only
//! from a trusted peer (the caller checks that before asking).

use std::net::SocketAddr;

use ppp::v2;

/// Largest PROXY v2 header accepted, TLVs included. The addresses take at most 36 bytes
/// (IPv6); peers of this gateway send no TLVs, others' (HAProxy's `send-proxy-v2-ssl`) stay
/// far below this.
pub const MAX_HEADER_BYTES: usize = 16 + 512;

/// The 12-byte signature that starts every v2 header.
pub const SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// What a complete header said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyHeader {
    /// The client's address (`PROXY` command over TCP); `None` for `LOCAL` (a peer's own
    /// connection, e.g. a health probe) or an unspecified address family.
    pub source: Option<SocketAddr>,
    /// How many bytes of the input the header took.
    pub len: usize,
}

/// What the first bytes of a connection are, as far as PROXY headers go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Not a PROXY header (a TLS record, or anything else).
    NotProxy,
    /// A prefix of a header: read more.
    Incomplete,
    /// A complete v2 header.
    Header(ProxyHeader),
    /// A PROXY header this gateway does not take: version 1, malformed, or too large.
    Refused(String),
}

/// Reads a PROXY header at the start of `input` (which may be incomplete).
pub fn parse(input: &[u8]) -> Parsed {
    const V1: &[u8] = b"PROXY ";
    let n = input.len().min(SIGNATURE.len());
    if input[..n] != SIGNATURE[..n] {
        let m = input.len().min(V1.len());
        return if m > 0 && input[..m] == V1[..m] {
            if m == V1.len() {
                Parsed::Refused("PROXY protocol version 1 (text) is not accepted; send v2".into())
            } else {
                Parsed::Incomplete
            }
        } else {
            Parsed::NotProxy
        };
    }
    match v2::Header::try_from(input) {
        Ok(header) => {
            let len = header.len();
            if len > MAX_HEADER_BYTES {
                return Parsed::Refused(format!(
                    "PROXY header of {len} bytes, more than {MAX_HEADER_BYTES}"
                ));
            }
            let source = match (header.command, header.addresses) {
                (v2::Command::Local, _) => None,
                (v2::Command::Proxy, v2::Addresses::IPv4(a)) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                // A v4 client written in a v6 header (mixed families) is a v4 client.
                (v2::Command::Proxy, v2::Addresses::IPv6(a)) => Some(SocketAddr::new(
                    std::net::IpAddr::V6(a.source_address).to_canonical(),
                    a.source_port,
                )),
                (v2::Command::Proxy, _) => None,
            };
            Parsed::Header(ProxyHeader { source, len })
        }
        Err(v2::ParseError::Incomplete(_)) => Parsed::Incomplete,
        Err(v2::ParseError::Partial(_, wanted)) if 16 + wanted > MAX_HEADER_BYTES => {
            Parsed::Refused(format!(
                "PROXY header of {} bytes, more than {MAX_HEADER_BYTES}",
                16 + wanted
            ))
        }
        Err(v2::ParseError::Partial(..)) => Parsed::Incomplete,
        Err(e) => Parsed::Refused(format!("malformed PROXY v2 header: {e}")),
    }
}

/// The v2 header announcing a TCP connection from `client` to `local` (`PROXY` command).
/// Mixed address families (an IPv4 client on an IPv6 socket) are written as IPv6, mapping
/// the IPv4 address, since the header has one family for both.
pub fn header(client: SocketAddr, local: SocketAddr) -> Vec<u8> {
    let (client, local) = match (client, local) {
        (SocketAddr::V4(_), SocketAddr::V4(_)) | (SocketAddr::V6(_), SocketAddr::V6(_)) => {
            (client, local)
        }
        _ => (as_v6(client), as_v6(local)),
    };
    let builder = v2::Builder::with_addresses(
        v2::Version::Two | v2::Command::Proxy,
        v2::Protocol::Stream,
        (client, local),
    );
    // Building writes into a Vec: it cannot fail for a header without TLVs.
    builder.build().unwrap_or_default()
}

/// The `LOCAL` header a peer probe sends: "this connection is the peer's own, not a client's".
pub fn local_header() -> Vec<u8> {
    v2::Builder::new(
        v2::Version::Two | v2::Command::Local,
        v2::AddressFamily::Unspecified | v2::Protocol::Unspecified,
    )
    .build()
    .unwrap_or_default()
}

fn as_v6(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(a) => SocketAddr::from((a.ip().to_ipv6_mapped(), a.port())),
        v6 @ SocketAddr::V6(_) => v6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_written_header_reads_back() {
        let client: SocketAddr = "203.0.113.9:51234".parse().unwrap();
        let local: SocketAddr = "127.0.0.10:8443".parse().unwrap();
        let mut bytes = header(client, local);
        assert!(bytes.starts_with(SIGNATURE));
        let len = bytes.len();
        bytes.extend_from_slice(b"\x16\x03\x01");
        assert_eq!(
            parse(&bytes),
            Parsed::Header(ProxyHeader {
                source: Some(client),
                len
            })
        );
        // Every prefix is incomplete, never refused or mistaken for something else.
        for cut in 1..len {
            assert_eq!(parse(&bytes[..cut]), Parsed::Incomplete, "cut at {cut}");
        }
        let v6: SocketAddr = "[2001:db8::9]:443".parse().unwrap();
        let Parsed::Header(h) = parse(&header(v6, local)) else {
            panic!("mixed families must parse")
        };
        assert_eq!(h.source, Some(v6));
        let v6_local: SocketAddr = "[::1]:8443".parse().unwrap();
        let Parsed::Header(h) = parse(&header(client, v6_local)) else {
            panic!("mixed families must parse")
        };
        assert_eq!(
            h.source,
            Some(client),
            "a mapped v4 client reads back as v4"
        );
    }

    #[test]
    fn local_headers_carry_no_client() {
        let bytes = local_header();
        assert_eq!(
            parse(&bytes),
            Parsed::Header(ProxyHeader {
                source: None,
                len: 16
            })
        );
    }

    #[test]
    fn other_first_bytes_are_not_proxy_headers() {
        assert_eq!(parse(b"\x16\x03\x01\x02\x00"), Parsed::NotProxy);
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Parsed::NotProxy);
        assert_eq!(parse(b"PRO"), Parsed::Incomplete);
        assert!(matches!(
            parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"),
            Parsed::Refused(_)
        ));
        // Version 3, and a length beyond the bound.
        let mut bad = SIGNATURE.to_vec();
        bad.extend_from_slice(&[0x31, 0x11, 0, 12]);
        assert!(matches!(parse(&bad), Parsed::Refused(_)));
        let mut long = SIGNATURE.to_vec();
        long.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert!(matches!(parse(&long), Parsed::Refused(_)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]
        /// Any input after the signature: an answer, never a panic, never a header longer
        /// than the input or the bound.
        #[test]
        fn parse_is_total(tail in proptest::collection::vec(any::<u8>(), 0..700)) {
            let mut input = SIGNATURE.to_vec();
            input.extend_from_slice(&tail);
            if let Parsed::Header(h) = parse(&input) {
                prop_assert!(h.len <= input.len() && h.len <= MAX_HEADER_BYTES);
            }
            let _ = parse(&tail);
        }
    }
}
