//! The client's address behind trusted proxies.
//!
//! The socket peer is the client unless it is one of the configured trusted proxies. Only then
//! are forwarding headers read, from the right, the way nginx's `realip` module does with
//! `real_ip_recursive on` and Envoy does with trusted hops: each proxy appends the address it
//! received the request from, so the right-most entries were written by proxies we trust and
//! everything left of the first untrusted entry may have been written by the client itself.
//!
//! `X-Forwarded-For` is read when present; `Forwarded` (RFC 7239) only when it is absent, so a
//! client cannot pick whichever of the two suits it when the proxies in front write just one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use edge_config::Cidr;
use http::header::{HeaderMap, HeaderName, FORWARDED};

/// The most forwarding hops looked at, counted from the right. Beyond it the walk stops at the
/// last trusted hop: no real proxy chain is this long, and a request must not be able to make
/// the gateway parse an arbitrarily long list.
pub const MAX_HOPS: usize = 32;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The address of the client that sent a request which reached the gateway from `peer`.
///
/// - `peer` not in `trusted_proxies`: `peer`, whatever the headers say (anyone can send them).
/// - Otherwise the `X-Forwarded-For` entries (every header line, in order, comma-separated)
///   are walked from the right, skipping addresses that are themselves trusted proxies; the
///   first untrusted address is the client. When every entry is trusted, the left-most one.
/// - Without `X-Forwarded-For`, the `for=` parameters of `Forwarded` are walked the same way.
/// - A malformed entry (not an address, `unknown`, an obfuscated identifier, a line that is not
///   visible ASCII, an empty list element) stops the walk: the answer is the last trusted hop
///   before it, never a guess from a garbled list.
/// - At most [`MAX_HOPS`] entries are looked at.
///
/// `X-Forwarded-For` entries may carry a port (`192.0.2.1:4711`, `[2001:db8::1]:4711`), as some
/// load balancers write them; the port is ignored. IPv4-mapped IPv6 addresses are returned as
/// they are written (the gateway's consumers normalise them where it matters).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    if headers.contains_key(X_FORWARDED_FOR) {
        walk_from_right(peer, x_forwarded_for_hops(headers), is_trusted)
    } else {
        let elements = LastElements::of_forwarded(headers);
        walk_from_right(peer, elements.rev().map(forwarded_for), is_trusted)
    }
}

/// Walks hops (right-most first; `None` = malformed) behind the trusted `peer` and returns the
/// first untrusted one, or the last trusted one when the list ends, breaks or gets too long.
fn walk_from_right(
    peer: IpAddr,
    hops: impl Iterator<Item = Option<IpAddr>>,
    is_trusted: impl Fn(IpAddr) -> bool,
) -> IpAddr {
    let mut last_trusted = peer;
    for hop in hops.take(MAX_HOPS) {
        match hop {
            None => return last_trusted,
            Some(ip) if is_trusted(ip) => last_trusted = ip,
            Some(ip) => return ip,
        }
    }
    last_trusted
}

/// The `X-Forwarded-For` entries, right-most first, parsed lazily so that only the hops the
/// walk needs are looked at.
fn x_forwarded_for_hops(headers: &HeaderMap) -> impl Iterator<Item = Option<IpAddr>> + '_ {
    headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .rev()
        // A line that is not visible ASCII reads as one empty entry, which is malformed and so
        // stops the walk exactly where the garbage is.
        .flat_map(|line| line.to_str().unwrap_or("").rsplit(','))
        .map(parse_forwarded_for_entry)
}

/// One `X-Forwarded-For` entry: an address, optionally with a port.
fn parse_forwarded_for_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry.parse::<IpAddr>().ok().or_else(|| parse_node(entry))
}

/// The right-most [`MAX_HOPS`] elements of every `Forwarded` line, kept in a fixed ring so a
/// long header costs one scan and no allocation. (Unlike `X-Forwarded-For`, elements can only
/// be split left to right: a quoted string may hold a comma.)
struct LastElements<'a> {
    ring: [&'a str; MAX_HOPS],
    /// Elements seen in total; the ring holds the last `min(seen, MAX_HOPS)` of them.
    seen: usize,
}

impl<'a> LastElements<'a> {
    fn of_forwarded(headers: &'a HeaderMap) -> Self {
        let mut last = LastElements {
            ring: [""; MAX_HOPS],
            seen: 0,
        };
        for line in headers.get_all(FORWARDED) {
            // As for X-Forwarded-For: a non-ASCII line is one malformed (empty) element.
            for element in split_unquoted(line.to_str().unwrap_or(""), b',') {
                last.ring[last.seen % MAX_HOPS] = element;
                last.seen += 1;
            }
        }
        last
    }

    /// The kept elements, right-most first.
    fn rev(&self) -> impl Iterator<Item = &'a str> + '_ {
        let kept = self.seen.min(MAX_HOPS);
        (1..=kept).map(move |back| self.ring[(self.seen - back) % MAX_HOPS])
    }
}

/// Splits `text` on `delim` where it is not inside a quoted string (RFC 9110 quoted-string,
/// with backslash escapes). An unterminated quote runs to the end of the text.
fn split_unquoted(text: &str, delim: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        let (item, after) = match unquoted_position(current, delim) {
            // `delim` is ASCII, so both slices start and end on character boundaries.
            Some(at) => (&current[..at], Some(&current[at + 1..])),
            None => (current, None),
        };
        rest = after;
        Some(item)
    })
}

/// The byte offset of the first `delim` outside a quoted string, if any.
fn unquoted_position(text: &str, delim: u8) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (at, byte) in text.bytes().enumerate() {
        if escaped {
            escaped = false;
        } else if in_quotes && byte == b'\\' {
            escaped = true;
        } else if byte == b'"' {
            in_quotes = !in_quotes;
        } else if byte == delim && !in_quotes {
            return Some(at);
        }
    }
    None
}

/// The address in the `for=` parameter of one `Forwarded` element; `None` when the element
/// has none, has two, or names no address.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let mut value = None;
    for pair in split_unquoted(element, b';') {
        let pair = pair.trim();
        if pair.is_empty() {
            continue; // RFC 7239 allows empty pairs: `for=192.0.2.1;;proto=https`.
        }
        let (name, v) = pair.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("for") {
            if value.is_some() {
                return None; // A parameter must not repeat; which one would be true?
            }
            value = Some(v.trim());
        }
    }
    parse_node(unquote(value?)?)
}

/// The text of a token or quoted string. Escapes are refused: no address contains one, so an
/// escaped value is never an address and is malformed.
fn unquote(value: &str) -> Option<&str> {
    match value.strip_prefix('"') {
        Some(inner) => {
            let inner = inner.strip_suffix('"')?;
            (!inner.contains(['"', '\\'])).then_some(inner)
        }
        None => (!value.contains('"')).then_some(value),
    }
}

/// An RFC 7239 node: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711`.
/// `unknown` and obfuscated identifiers (`_hidden`) name no address and give `None`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Some(bracketed) = node.strip_prefix('[') {
        let (v6, after) = bracketed.split_once(']')?;
        let ip: Ipv6Addr = v6.parse().ok()?;
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_node_port);
        return port_ok.then_some(IpAddr::V6(ip));
    }
    let (v4, port) = match node.split_once(':') {
        Some((v4, port)) => (v4, Some(port)),
        None => (node, None),
    };
    let ip: Ipv4Addr = v4.parse().ok()?;
    port.is_none_or(is_node_port).then_some(IpAddr::V4(ip))
}

/// `1*5DIGIT` or an obfuscated port (`_` and token characters), per RFC 7239 section 6.
fn is_node_port(port: &str) -> bool {
    let digits = (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit());
    let obfuscated = port.strip_prefix('_').is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    });
    digits || obfuscated
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|s| Cidr::parse(s).unwrap()).collect()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    /// Proxies at 10.0.0.0/8 and fd00::/8 are trusted.
    fn resolve(peer: &str, pairs: &[(&'static str, &str)]) -> IpAddr {
        client_ip(
            ip(peer),
            &headers(pairs),
            &nets(&["10.0.0.0/8", "fd00::/8"]),
        )
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_sends() {
        let spoofed = [("x-forwarded-for", "1.1.1.1"), ("forwarded", "for=2.2.2.2")];
        assert_eq!(resolve("203.0.113.7", &spoofed), ip("203.0.113.7"));
        assert_eq!(
            client_ip(ip("10.0.0.1"), &headers(&spoofed), &[]),
            ip("10.0.0.1"),
            "no trusted proxies: the peer is always the client"
        );
    }

    #[test]
    fn a_trusted_peer_without_headers_is_the_client() {
        assert_eq!(resolve("10.0.0.1", &[]), ip("10.0.0.1"));
    }

    #[test]
    fn the_right_most_untrusted_entry_is_the_client() {
        // The client claimed 1.1.1.1; our proxies wrote 198.51.100.9 and 10.0.0.2.
        let h = [("x-forwarded-for", "1.1.1.1, 198.51.100.9, 10.0.0.2")];
        assert_eq!(resolve("10.0.0.1", &h), ip("198.51.100.9"));
        let h = [("x-forwarded-for", "198.51.100.9")];
        assert_eq!(resolve("10.0.0.1", &h), ip("198.51.100.9"));
    }

    #[test]
    fn every_header_line_counts_in_order() {
        let h = [
            ("x-forwarded-for", "1.1.1.1, 198.51.100.9"),
            ("x-forwarded-for", "10.0.0.3,10.0.0.2"),
        ];
        assert_eq!(resolve("10.0.0.1", &h), ip("198.51.100.9"));
    }

    #[test]
    fn all_trusted_gives_the_left_most() {
        let h = [
            ("x-forwarded-for", "10.0.0.9, 10.0.0.8"),
            ("x-forwarded-for", "10.0.0.7"),
        ];
        assert_eq!(resolve("10.0.0.1", &h), ip("10.0.0.9"));
    }

    #[test]
    fn a_malformed_entry_stops_at_the_last_trusted_hop() {
        for garbage in [
            "unknown",
            "",
            "1.2.3",
            "_hidden",
            "1.2.3.4:123456",
            "fe80::1%eth0",
        ] {
            let xff = format!("203.0.113.5, {garbage}, 10.0.0.2");
            let h = [("x-forwarded-for", xff.as_str())];
            assert_eq!(resolve("10.0.0.1", &h), ip("10.0.0.2"), "{garbage:?}");
            let xff = format!("203.0.113.5, {garbage}");
            let h = [("x-forwarded-for", xff.as_str())];
            assert_eq!(resolve("10.0.0.1", &h), ip("10.0.0.1"), "{garbage:?}");
        }
        // Garbage left of the client does not matter: the walk never reaches it.
        let h = [("x-forwarded-for", "garbage, 203.0.113.5, 10.0.0.2")];
        assert_eq!(resolve("10.0.0.1", &h), ip("203.0.113.5"));
    }

    #[test]
    fn a_non_ascii_line_is_malformed() {
        let mut h = headers(&[("x-forwarded-for", "203.0.113.5")]);
        h.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"10.0.0.2, \xff").unwrap(),
        );
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("10.0.0.1"));
    }

    #[test]
    fn ports_and_brackets_in_x_forwarded_for_are_accepted() {
        let h = [("x-forwarded-for", "203.0.113.5:4711")];
        assert_eq!(resolve("10.0.0.1", &h), ip("203.0.113.5"));
        let h = [("x-forwarded-for", "[2001:db8::1]:4711")];
        assert_eq!(resolve("10.0.0.1", &h), ip("2001:db8::1"));
        let h = [("x-forwarded-for", "[2001:db8::1]")];
        assert_eq!(resolve("10.0.0.1", &h), ip("2001:db8::1"));
        let h = [("x-forwarded-for", " 2001:db8::1 , fd00::2")];
        assert_eq!(resolve("fd00::1", &h), ip("2001:db8::1"));
    }

    #[test]
    fn trusted_proxies_match_ipv4_mapped_peers() {
        let h = [("x-forwarded-for", "203.0.113.5")];
        assert_eq!(resolve("::ffff:10.0.0.1", &h), ip("203.0.113.5"));
    }

    #[test]
    fn at_most_max_hops_are_looked_at() {
        let chain: Vec<String> = (0..40).map(|i| format!("10.0.1.{i}")).collect();
        let xff = format!("203.0.113.5, {}", chain.join(", "));
        let h = [("x-forwarded-for", xff.as_str())];
        // The 32nd entry from the right is 10.0.1.8 (40 - 32).
        assert_eq!(resolve("10.0.0.1", &h), ip("10.0.1.8"));
        let exactly = chain[40 - MAX_HOPS + 1..].join(", ");
        let xff = format!("203.0.113.5, {exactly}");
        let h = [("x-forwarded-for", xff.as_str())];
        assert_eq!(resolve("10.0.0.1", &h), ip("203.0.113.5"));
    }

    #[test]
    fn forwarded_is_read_when_x_forwarded_for_is_absent() {
        let h = [(
            "forwarded",
            "for=1.1.1.1, for=198.51.100.9;proto=https;by=10.0.0.2, For=\"10.0.0.2:8443\"",
        )];
        assert_eq!(resolve("10.0.0.1", &h), ip("198.51.100.9"));
        let h = [("forwarded", "for=\"[2001:db8:cafe::17]:4711\"")];
        assert_eq!(resolve("10.0.0.1", &h), ip("2001:db8:cafe::17"));
        let h = [(
            "forwarded",
            "proto=https;for=\"[2001:db8::1]\";;host=a.example",
        )];
        assert_eq!(resolve("10.0.0.1", &h), ip("2001:db8::1"));
        let h = [
            ("forwarded", "for=198.51.100.9"),
            ("forwarded", "for=10.0.0.2"),
        ];
        assert_eq!(resolve("10.0.0.1", &h), ip("198.51.100.9"));
    }

    #[test]
    fn forwarded_is_ignored_when_x_forwarded_for_is_present() {
        let h = [
            ("x-forwarded-for", "203.0.113.5"),
            ("forwarded", "for=198.51.100.9"),
        ];
        assert_eq!(resolve("10.0.0.1", &h), ip("203.0.113.5"));
    }

    #[test]
    fn malformed_forwarded_elements_stop_the_walk() {
        for element in [
            "for=unknown",
            "for=_hidden",
            "for=\"_hidden\"",
            "for=\"[2001:db8::1]:_port\"x",
            "for=2001:db8::1",
            "for=\"[2001:db8::1\"",
            "for=1.2.3.4;for=5.6.7.8",
            "proto=https",
            "for",
            "for=\"1.2.\\3.4\"",
        ] {
            let value = format!("for=203.0.113.5, {element}, for=10.0.0.2");
            let h = [("forwarded", value.as_str())];
            assert_eq!(resolve("10.0.0.1", &h), ip("10.0.0.2"), "{element:?}");
        }
        // An unterminated quote swallows the rest of the header: nothing after it is usable.
        let h = [("forwarded", "for=203.0.113.5, for=\"1.2.3.4, for=10.0.0.2")];
        assert_eq!(resolve("10.0.0.1", &h), ip("10.0.0.1"));
        // An obfuscated port leaves the address usable.
        let h = [("forwarded", "for=\"203.0.113.5:_abc\"")];
        assert_eq!(resolve("10.0.0.1", &h), ip("203.0.113.5"));
    }

    #[test]
    fn a_quoted_comma_does_not_split_forwarded_elements() {
        // Split naively, `x,for=203.0.113.66"` would look like an element naming 203.0.113.66.
        let h = [(
            "forwarded",
            "for=203.0.113.5;ext=\"x,for=203.0.113.66\", for=10.0.0.2",
        )];
        assert_eq!(resolve("10.0.0.1", &h), ip("203.0.113.5"));
    }

    #[test]
    fn long_forwarded_headers_keep_only_the_last_hops() {
        let chain: Vec<String> = (0..40).map(|i| format!("for=10.0.1.{i}")).collect();
        let value = format!("for=203.0.113.5, {}", chain.join(", "));
        let h = [("forwarded", value.as_str())];
        assert_eq!(resolve("10.0.0.1", &h), ip("10.0.1.8"));
    }

    /// A straightforward model of the X-Forwarded-For walk, for the property test.
    fn model(peer: IpAddr, entries: &[Option<IpAddr>], trusted: &[Cidr]) -> IpAddr {
        let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
        if !is_trusted(peer) {
            return peer;
        }
        let mut client = peer;
        for entry in entries.iter().rev().take(MAX_HOPS) {
            match entry {
                Some(ip) if is_trusted(*ip) => client = *ip,
                Some(ip) => return *ip,
                None => return client,
            }
        }
        client
    }

    /// The network of `len` (modulo the family's width) leading bits of `addr`.
    fn network(addr: IpAddr, len: u8) -> Cidr {
        let (addr, prefix_len) = match addr {
            IpAddr::V4(a) => {
                let len = len % 33;
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                (IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask)), len)
            }
            IpAddr::V6(a) => {
                let len = len % 129;
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                (IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask)), len)
            }
        };
        Cidr::parse(&format!("{addr}/{prefix_len}")).unwrap()
    }

    fn entry_strategy() -> impl Strategy<Value = (String, Option<IpAddr>)> {
        prop_oneof![
            (0u8..4).prop_map(|i| (format!("10.0.0.{i}"), Some(ip(&format!("10.0.0.{i}"))))),
            (0u8..4).prop_map(|i| (
                format!("203.0.113.{i}"),
                Some(ip(&format!("203.0.113.{i}")))
            )),
            Just(("[2001:db8::7]:80".to_owned(), Some(ip("2001:db8::7")))),
            Just(("unknown".to_owned(), None)),
            Just((String::new(), None)),
        ]
    }

    proptest! {
        #[test]
        fn an_untrusted_peer_always_gets_itself_back(
            peer in any::<IpAddr>(),
            xff in proptest::collection::vec(any::<Vec<u8>>(), 0..3),
            fwd in proptest::collection::vec(any::<Vec<u8>>(), 0..3),
            prefixes in proptest::collection::vec((any::<IpAddr>(), any::<u8>()), 0..4),
        ) {
            let trusted: Vec<Cidr> = prefixes
                .into_iter()
                .map(|(addr, len)| network(addr, len))
                .filter(|net| !net.contains(peer))
                .collect();
            let mut map = HeaderMap::new();
            for (name, values) in [("x-forwarded-for", xff), ("forwarded", fwd)] {
                for value in values {
                    if let Ok(v) = HeaderValue::from_bytes(&value) {
                        map.append(name, v);
                    }
                }
            }
            prop_assert_eq!(client_ip(peer, &map, &trusted), peer);
        }

        #[test]
        fn the_walk_agrees_with_the_model(
            entries in proptest::collection::vec(entry_strategy(), 0..40),
            split in any::<prop::sample::Index>(),
            peer_trusted in any::<bool>(),
        ) {
            let trusted = nets(&["10.0.0.0/8"]);
            let peer = if peer_trusted { ip("10.9.9.9") } else { ip("198.51.100.1") };
            let texts: Vec<&str> = entries.iter().map(|(t, _)| t.as_str()).collect();
            let parsed: Vec<Option<IpAddr>> = entries.iter().map(|(_, p)| *p).collect();
            let mut map = HeaderMap::new();
            if !texts.is_empty() {
                // Spread the list over two header lines at a random point.
                let at = split.index(texts.len() + 1);
                for part in [&texts[..at], &texts[at..]] {
                    if !part.is_empty() {
                        map.append("x-forwarded-for", HeaderValue::from_str(&part.join(", ")).unwrap());
                    }
                }
            }
            prop_assert_eq!(client_ip(peer, &map, &trusted), model(peer, &parsed, &trusted));
        }
    }
}
