//! Tenant extraction from host / header / path / JWT never panics, and a found id always
//! parses back from the request.
#![no_main]

use edge_config::TenantSource;
use edge_gateway::tenancy::{identify, jwt_claim, RequestFacts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\u{1}');
    let host = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    let header = parts.next().unwrap_or_default();
    let auth = parts.next().unwrap_or_default();
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(header) {
        headers.insert("x-tenant-id", v);
    }
    if let Ok(v) = http::HeaderValue::from_str(auth) {
        headers.insert(http::header::AUTHORIZATION, v);
    }
    let sources = [
        TenantSource::Host {
            prefix: String::new(),
            suffix: ".app.example.com".into(),
        },
        TenantSource::Header {
            name: "x-tenant-id".into(),
        },
        TenantSource::Path {
            prefix: "/t/".into(),
        },
        TenantSource::JwtClaim {
            claim: "tid".into(),
        },
    ];
    let _ = identify(
        &sources,
        &RequestFacts {
            host: Some(host),
            path,
            headers: &headers,
        },
    );
    let _ = jwt_claim(auth, "tid");
});
