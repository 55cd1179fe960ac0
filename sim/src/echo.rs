//! The JSON echo every normal response carries, and response builders around it.

use std::collections::BTreeMap;
use std::convert::Infallible;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use serde::{Deserialize, Serialize};

use crate::wire::{HEADER_ORIGIN, HEADER_REGION};

/// Body type of every response an origin sends.
pub(crate) type RespBody = UnsyncBoxBody<Bytes, Infallible>;

/// The JSON body of a normal response: what the origin saw of the request.
///
/// Public so that tests in other crates can deserialize responses that went through the
/// gateway and check what reached the origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EchoBody {
    /// Region of the origin that answered.
    pub region: String,
    /// Name of the origin that answered.
    pub origin: String,
    /// Request method.
    pub method: String,
    /// Request path including the query string.
    pub path: String,
    /// Size of the request body in bytes.
    pub body_bytes: u64,
    /// Request headers, lower-case names; repeated headers joined with `", "`.
    pub headers: BTreeMap<String, String>,
    /// Set when the answer was an injected fault (e.g. `"error_rate"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
}

impl EchoBody {
    /// Builds the echo of a request as received.
    pub(crate) fn new(
        region: &str,
        origin: &str,
        method: &http::Method,
        path: &str,
        headers: &HeaderMap,
        body_bytes: u64,
    ) -> Self {
        Self {
            region: region.to_owned(),
            origin: origin.to_owned(),
            method: method.as_str().to_owned(),
            path: path.to_owned(),
            body_bytes,
            headers: join_headers(headers),
            fault: None,
        }
    }
}

/// Flattens a header map to one string per name, as the JSON shape requires.
fn join_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .keys()
        .map(|name| {
            let joined = headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect::<Vec<_>>()
                .join(", ");
            (name.as_str().to_owned(), joined)
        })
        .collect()
}

/// Identity of the answering origin, stamped on every response.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) region: String,
    pub(crate) name: String,
    region_value: HeaderValue,
    name_value: HeaderValue,
}

impl Identity {
    /// Fails when a name cannot travel in a header, so a bad name is caught at start-up
    /// instead of producing untagged responses.
    pub(crate) fn new(region: String, name: String) -> std::io::Result<Self> {
        let invalid = |what: &str| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{what} is not a valid header value"),
            )
        };
        let region_value = HeaderValue::from_str(&region).map_err(|_| invalid("region"))?;
        let name_value = HeaderValue::from_str(&name).map_err(|_| invalid("origin name"))?;
        Ok(Self {
            region,
            name,
            region_value,
            name_value,
        })
    }

    /// Starts a response with the identity headers set.
    pub(crate) fn response(&self, status: StatusCode) -> http::response::Builder {
        Response::builder()
            .status(status)
            .header(HEADER_REGION, self.region_value.clone())
            .header(HEADER_ORIGIN, self.name_value.clone())
    }

    /// A complete JSON response.
    pub(crate) fn json(&self, status: StatusCode, echo: &EchoBody) -> Response<RespBody> {
        // Serializing plain strings and maps cannot fail; the fallback keeps the type honest.
        let body = serde_json::to_vec(echo).unwrap_or_else(|_| b"{}".to_vec());
        self.finish(
            self.response(status)
                .header(CONTENT_TYPE, "application/json"),
            full(body),
        )
    }

    /// A complete plain-text response.
    pub(crate) fn text(&self, status: StatusCode, text: &'static str) -> Response<RespBody> {
        self.finish(
            self.response(status)
                .header(CONTENT_TYPE, "text/plain; charset=utf-8"),
            full(text),
        )
    }

    /// Attaches `body`; builder errors cannot occur with the static headers used here, but
    /// if one did the client still gets a tagged 500 rather than a dropped connection.
    pub(crate) fn finish(
        &self,
        builder: http::response::Builder,
        body: RespBody,
    ) -> Response<RespBody> {
        builder.body(body).unwrap_or_else(|_| {
            let mut resp = Response::new(empty());
            *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            resp.headers_mut()
                .insert(HEADER_REGION, self.region_value.clone());
            resp.headers_mut()
                .insert(HEADER_ORIGIN, self.name_value.clone());
            resp
        })
    }
}

/// A body holding `data` in one frame.
pub(crate) fn full(data: impl Into<Bytes>) -> RespBody {
    Full::new(data.into()).boxed_unsync()
}

/// A body with no data.
pub(crate) fn empty() -> RespBody {
    Empty::new().boxed_unsync()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn repeated_headers_are_joined() {
        let mut h = HeaderMap::new();
        h.append("x-multi", HeaderValue::from_static("a"));
        h.append("x-multi", HeaderValue::from_static("b"));
        h.append("host", HeaderValue::from_static("example"));
        let echo = EchoBody::new("r", "o", &http::Method::GET, "/p?q=1", &h, 3);
        assert_eq!(echo.headers["x-multi"], "a, b");
        assert_eq!(echo.headers["host"], "example");
        let json: serde_json::Value = serde_json::to_value(&echo).unwrap();
        assert_eq!(json["path"], "/p?q=1");
        assert_eq!(json["body_bytes"], 3);
        assert!(json.get("fault").is_none());
    }

    #[test]
    fn identity_rejects_unsendable_names() {
        assert!(Identity::new("ok".into(), "bad\nname".into()).is_err());
        let id = Identity::new("eastus".into(), "eastus-1".into()).unwrap();
        let resp = id.text(StatusCode::OK, "ok");
        assert_eq!(resp.headers()[HEADER_REGION], "eastus");
        assert_eq!(resp.headers()[HEADER_ORIGIN], "eastus-1");
    }
}
