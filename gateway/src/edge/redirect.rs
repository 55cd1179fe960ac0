//! The plaintext listener: it serves nothing but a permanent redirect to HTTPS.
//!
//! 308 rather than 301 so that clients keep the method and body of non-GET requests.

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::request::problem::{EdgeError, ErrorKind, PROBLEM_CONTENT_TYPE};
use crate::request::tenancy::strip_port;

/// Redirects every request to the same host, path and query over HTTPS.
///
/// No `Strict-Transport-Security` here: browsers ignore it over plaintext (RFC 6797 §8.1).
#[derive(Debug, Clone)]
pub struct HttpsRedirect {
    /// The HTTPS port to send clients to (omitted from the URL when 443).
    pub https_port: u16,
}

impl HttpsRedirect {
    /// A redirector to `https_port`.
    pub fn new(https_port: u16) -> Self {
        HttpsRedirect { https_port }
    }
}

/// The `Location` for a request to `host` (as sent, possibly with a port) and
/// `path_and_query`, or `None` when the host is not a plain host name or IP literal (it would
/// otherwise let a client make us emit an arbitrary URL).
pub fn https_location(host: &str, path_and_query: &str, https_port: u16) -> Option<String> {
    let name = strip_port(host.trim());
    let plain = !name.is_empty()
        && name.len() <= 253
        && if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
            inner.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        };
    if !plain {
        return None;
    }
    let path = if path_and_query.starts_with('/') {
        path_and_query
    } else {
        "/"
    };
    Some(if https_port == 443 {
        format!("https://{name}{path}")
    } else {
        format!("https://{name}:{https_port}{path}")
    })
}

#[async_trait]
impl ServeHttp for HttpsRedirect {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        let host = req
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri.authority().map(|a| a.as_str()));
        let pq = req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        match host.and_then(|h| https_location(h, pq, self.https_port)) {
            Some(location) => Response::builder()
                .status(308)
                .header(http::header::LOCATION, location)
                .header(http::header::CONTENT_LENGTH, 0)
                .body(Vec::new())
                .unwrap_or_default(),
            None => {
                let p = EdgeError::new(
                    ErrorKind::BadRequest,
                    "a plain host name is required to redirect to HTTPS",
                )
                .to_problem("-");
                Response::builder()
                    .status(p.status)
                    .header(http::header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE)
                    .header(http::header::CONTENT_LENGTH, p.body.len())
                    .body(p.body)
                    .unwrap_or_default()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_host_path_and_query() {
        assert_eq!(
            https_location("app.example.com:8080", "/a/b?c=d", 8443).as_deref(),
            Some("https://app.example.com:8443/a/b?c=d")
        );
        assert_eq!(
            https_location("app.example.com", "/", 443).as_deref(),
            Some("https://app.example.com/")
        );
        assert_eq!(
            https_location("[::1]:80", "/x", 443).as_deref(),
            Some("https://[::1]/x")
        );
    }

    #[test]
    fn refuses_hosts_that_are_not_plain() {
        assert_eq!(https_location("evil.com/path", "/", 443), None);
        assert_eq!(https_location("a@b", "/", 443), None);
        assert_eq!(https_location("", "/", 443), None);
        assert_eq!(https_location("[not-ip]", "/", 443), None);
    }
}
