//! The ops console: a web page over the admin API, served by the admin listener at
//! `/console/`. Its HTML, CSS and JavaScript are embedded in the binary (no build step, no
//! request to anything outside the gateway) and hold no data: every number on the page comes
//! from the authenticated API, called with the bearer token the operator pastes (kept in the
//! tab's `sessionStorage`, sent only as an `Authorization` header).
//!
//! Every asset is sent with a strict Content-Security-Policy (`default-src 'self'`, no inline
//! script or style, no framing, no form submission), `X-Frame-Options: DENY`,
//! `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`.

use http::{Response, StatusCode};

/// The policy every console asset is served with: only the gateway's own scripts, styles and
/// API; no inline code, no plugins, no framing, no form posts, no `<base>` tricks.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The assets: (name under `/console/`, content type, bytes). `""` is the page itself.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "",
        "text/html; charset=utf-8",
        include_bytes!("assets/index.html"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/console.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/console.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("assets/favicon.svg"),
    ),
];

fn secured(b: http::response::Builder) -> http::response::Builder {
    b.header("content-security-policy", CONTENT_SECURITY_POLICY)
        .header("x-frame-options", "DENY")
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
        .header("cross-origin-opener-policy", "same-origin")
        .header("cross-origin-resource-policy", "same-origin")
}

/// The answer for `GET <path>` when `path` is the console's (`/console` or under
/// `/console/`), else `None`. `/console` redirects to `/console/`; an unknown asset is a
/// `404`. Assets need no token: they hold no data.
pub fn serve(path: &str) -> Option<Response<Vec<u8>>> {
    if path == "/console" {
        return secured(Response::builder())
            .status(StatusCode::PERMANENT_REDIRECT)
            .header(http::header::LOCATION, "/console/")
            .header(http::header::CONTENT_LENGTH, 0)
            .body(Vec::new())
            .ok();
    }
    let name = path.strip_prefix("/console/")?;
    let reply = match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, bytes)) => secured(Response::builder())
            .status(StatusCode::OK)
            .header(http::header::CONTENT_TYPE, *content_type)
            .header(http::header::CONTENT_LENGTH, bytes.len())
            // Revalidated on every load, so a new gateway's console is picked up at once.
            .header(http::header::CACHE_CONTROL, "no-cache")
            .body(bytes.to_vec()),
        None => secured(Response::builder())
            .status(StatusCode::NOT_FOUND)
            .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .header(http::header::CONTENT_LENGTH, 10)
            .body(b"not found\n".to_vec()),
    };
    reply.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_served_with_the_security_headers() {
        for (name, content_type, _) in ASSETS {
            let r = serve(&format!("/console/{name}")).unwrap();
            assert_eq!(r.status(), 200, "{name}");
            assert_eq!(r.headers()["content-type"], *content_type);
            assert_eq!(
                r.headers()["content-security-policy"],
                CONTENT_SECURITY_POLICY
            );
            assert_eq!(r.headers()["x-frame-options"], "DENY");
            assert_eq!(r.headers()["x-content-type-options"], "nosniff");
            assert_eq!(r.headers()["referrer-policy"], "no-referrer");
        }
        assert_eq!(serve("/console").unwrap().status(), 308);
        assert_eq!(serve("/console/nope.js").unwrap().status(), 404);
        assert!(serve("/api/v1/regions").is_none());
    }

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        let page = std::str::from_utf8(ASSETS[0].2).unwrap();
        assert!(!page.contains("style="), "inline style attribute");
        assert!(!page.contains("<style"), "inline style element");
        for (i, _) in page.match_indices("<script") {
            let tag = &page[i..page[i..].find('>').map_or(page.len(), |e| i + e)];
            assert!(tag.contains("src="), "inline script: {tag}");
        }
        assert!(!page.contains("http://") && !page.contains("https://"));
    }
}
