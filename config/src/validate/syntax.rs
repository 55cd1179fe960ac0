//! Pure parsers for the small syntaxes inside config values: host patterns and path
//! prefixes of tenant sources, HTTP header names (and methods, which are the same tokens),
//! and origin `host:port` addresses.
//!
//! They take text and return a value or a message, with no key path or validator, so they
//! are public (as `edge_config::validate::*`) and tested on their own.

use std::net::Ipv6Addr;

const TENANT: &str = "{tenant}";

/// Splits a host pattern around its single `{tenant}`, lower-casing both sides.
pub fn parse_host_pattern(pattern: &str) -> Result<(String, String), String> {
    let count = pattern.matches(TENANT).count();
    let Some((prefix, suffix)) = pattern.split_once(TENANT).filter(|_| count == 1) else {
        return Err(format!(
            "host pattern {pattern:?} must contain {TENANT} exactly once (found {count}), e.g. \
             \"{TENANT}.app.example.com\""
        ));
    };
    let host_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    if !prefix.chars().chain(suffix.chars()).all(host_char) {
        return Err(format!(
            "host pattern {pattern:?} may hold only host-name characters (letters, digits, '-', \
             '.') around {TENANT}: no scheme, port or path"
        ));
    }
    Ok((prefix.to_ascii_lowercase(), suffix.to_ascii_lowercase()))
}

/// Checks a path source prefix (`/t/{tenant}`) and returns the text before `{tenant}`.
pub fn parse_path_prefix(prefix: &str) -> Result<String, String> {
    if !prefix.starts_with('/') {
        return Err(format!(
            "path prefix {prefix:?} must start with '/', e.g. \"/t/{TENANT}\""
        ));
    }
    let Some(before) = prefix
        .strip_suffix(TENANT)
        .filter(|before| !before.contains(TENANT))
    else {
        return Err(format!(
            "path prefix {prefix:?} must end with {TENANT} and contain it once, e.g. \
             \"/t/{TENANT}\""
        ));
    };
    if !before
        .bytes()
        .all(|c| c.is_ascii_graphic() && c != b'?' && c != b'#')
    {
        return Err(format!(
            "path prefix {prefix:?} may not contain spaces, '?' or '#' before {TENANT}"
        ));
    }
    Ok(before.to_owned())
}

/// Whether `name` is an HTTP header field name (an RFC 9110 token).
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

/// Splits an origin address `host:port` / `[ipv6]:port` into host (without brackets) and
/// port.
pub fn split_host_port(address: &str) -> Result<(&str, u16), String> {
    let usage = || {
        format!(
            "{address:?} is not host:port; write e.g. \"10.0.0.1:443\", \"[2001:db8::1]:443\" or \
             \"origin.example.com:443\""
        )
    };
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(usage)?;
        let port = after.strip_prefix(':').ok_or_else(usage)?;
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(format!(
                "{address:?}: {host:?} inside brackets is not an IPv6 address"
            ));
        }
        (host, port)
    } else {
        let (host, port) = address.rsplit_once(':').ok_or_else(usage)?;
        if host.contains(':') {
            return Err(format!(
                "{address:?}: an IPv6 address needs brackets, e.g. \"[2001:db8::1]:443\""
            ));
        }
        (host, port)
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(usage());
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok((host, p)),
        _ => Err(format!(
            "{address:?}: the port must be a number from 1 to 65535"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns() {
        assert_eq!(
            parse_host_pattern("{tenant}.App.Example.com").unwrap(),
            (String::new(), ".app.example.com".to_owned())
        );
        assert_eq!(
            parse_host_pattern("T-{tenant}.example.com").unwrap(),
            ("t-".to_owned(), ".example.com".to_owned())
        );
        assert_eq!(
            parse_host_pattern("{tenant}").unwrap(),
            (String::new(), String::new())
        );
        assert!(parse_host_pattern("example.com")
            .unwrap_err()
            .contains("found 0"));
        assert!(parse_host_pattern("{tenant}{tenant}")
            .unwrap_err()
            .contains("found 2"));
        for bad in [
            "{tenant}.example.com:8443",
            "{tenant}.example.com/x",
            "*.{tenant}.com",
            "{Tenant}.example.com",
        ] {
            assert!(parse_host_pattern(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn path_prefixes() {
        assert_eq!(parse_path_prefix("/t/{tenant}").unwrap(), "/t/");
        assert_eq!(parse_path_prefix("/{tenant}").unwrap(), "/");
        assert_eq!(parse_path_prefix("/api/v1/{tenant}").unwrap(), "/api/v1/");
        assert!(parse_path_prefix("t/{tenant}")
            .unwrap_err()
            .contains("start with '/'"));
        assert!(parse_path_prefix("/t/{tenant}/x")
            .unwrap_err()
            .contains("end with {tenant}"));
        assert!(parse_path_prefix("/{tenant}/{tenant}")
            .unwrap_err()
            .contains("end with {tenant}"));
        assert!(parse_path_prefix("/t").is_err());
        assert!(parse_path_prefix("/a?b/{tenant}").is_err());
        assert!(parse_path_prefix("/a b/{tenant}").is_err());
    }

    #[test]
    fn header_names() {
        assert!(is_header_name("x-tenant-id"));
        assert!(is_header_name("X_Tenant.Id"));
        for bad in ["", "x tenant", "x:tenant", "x-ténant", "x\n"] {
            assert!(!is_header_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn host_port() {
        assert_eq!(
            split_host_port("127.0.0.1:9101").unwrap(),
            ("127.0.0.1", 9101)
        );
        assert_eq!(split_host_port("[::1]:443").unwrap(), ("::1", 443));
        assert_eq!(
            split_host_port("origin.example.com:8443").unwrap(),
            ("origin.example.com", 8443)
        );
        for bad in [
            "127.0.0.1",
            "::1:80",
            "[::1]",
            "[::1]80",
            "[nope]:80",
            ":80",
            "host:0",
            "host:65536",
            "host:http",
            "a b:80",
            "http://host:80",
        ] {
            assert!(split_host_port(bad).is_err(), "{bad:?}");
        }
    }
}
