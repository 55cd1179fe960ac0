//! The admin API: JSON over HTTP on its own listener, versioned under `/api/v1`.
//!
//! `/healthz` and `/readyz` are open (orchestrators probe them); `/metrics` is open only when
//! `admin.metrics_public = true`; the console's static assets (`/console/`, no data in them)
//! are open; everything else needs `Authorization: Bearer <token>`. A `viewer` token may only
//! `GET` (and `HEAD`); changes need an `operator` token (`403` otherwise, audited as denied).

pub(crate) mod auth;
mod console_api;
mod views;

use std::sync::Arc;

use async_trait::async_trait;
use http::{Method, Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde::Deserialize;
use serde_json::json;

use crate::control::audit::Outcome;
use crate::control::{
    check_weight, require_dns_edge, require_origin, require_region, Control, OverrideError, Strand,
};
use crate::dns::Dns;
use crate::topology::{origin_key, Overrides};

pub use auth::{Role, Tokens};

/// Largest request body the admin API reads.
const MAX_BODY: usize = 64 * 1024;

/// The admin API service.
#[derive(Debug)]
pub struct AdminApi {
    control: Arc<Control>,
    tokens: Tokens,
    metrics_public: bool,
    /// The DNS responder, when `[dns]` is configured (for its edges' view).
    dns: Option<Arc<Dns>>,
}

impl AdminApi {
    /// An admin API over `control`, guarded by `tokens`.
    pub fn new(control: Arc<Control>, tokens: Tokens, metrics_public: bool) -> Self {
        AdminApi {
            control,
            tokens,
            metrics_public,
            dns: None,
        }
    }

    /// Serves `GET /api/v1/dns/edges` from `dns` too.
    pub fn with_dns(mut self, dns: Option<Arc<Dns>>) -> Self {
        self.dns = dns;
        self
    }
}

/// A response under construction.
type Reply = Response<Vec<u8>>;

/// Who called, and the overrides version they expect (`If-Match`).
struct Call<'a> {
    who: &'a str,
    if_match: Option<u64>,
    /// Whether a change that would strand a geography is refused (the default) or forced.
    strand: Strand,
}

fn json_reply(status: StatusCode, value: &serde_json::Value) -> Reply {
    let body = serde_json::to_vec_pretty(value).unwrap_or_default();
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CONTENT_LENGTH, body.len())
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(body)
        .unwrap_or_default()
}

fn problem(status: StatusCode, title: &str, detail: &str) -> Reply {
    let body = serde_json::to_vec(&json!({
        "type": format!("urn:edge-gateway:problem:admin-{}", status.as_u16()),
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
    }))
    .unwrap_or_default();
    let mut b = Response::builder()
        .status(status)
        .header(
            http::header::CONTENT_TYPE,
            crate::request::problem::PROBLEM_CONTENT_TYPE,
        )
        .header(http::header::CONTENT_LENGTH, body.len());
    if status == StatusCode::UNAUTHORIZED {
        b = b.header(
            http::header::WWW_AUTHENTICATE,
            "Bearer realm=\"edge-gateway\"",
        );
    }
    b.body(body).unwrap_or_default()
}

fn override_error(e: OverrideError) -> Reply {
    match e {
        OverrideError::NotFound(m) => problem(StatusCode::NOT_FOUND, "Not found", &m),
        OverrideError::Invalid(m) => problem(StatusCode::BAD_REQUEST, "Invalid value", &m),
        OverrideError::StateFile(e) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "State file not writable; nothing changed",
            &e.to_string(),
        ),
        OverrideError::WouldStrand(m) => problem(
            StatusCode::CONFLICT,
            "Would leave a geography without a usable origin",
            &m,
        ),
        e @ OverrideError::Concurrent { current } => with_etag(
            problem(
                StatusCode::CONFLICT,
                "Overrides changed by another replica; nothing changed",
                &e.to_string(),
            ),
            current,
        ),
        OverrideError::VersionMismatch { current } => with_etag(
            problem(
                StatusCode::PRECONDITION_FAILED,
                "Overrides changed",
                &format!(
                    "the overrides are at version {current}, not the one in If-Match; read them \
                     again (GET /api/v1/overrides, its ETag) and retry; nothing changed"
                ),
            ),
            current,
        ),
        OverrideError::Unavailable(m) => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "Fleet store unreachable; nothing changed",
            &m,
        ),
    }
}

/// `reply` with `ETag: "<version>"` (the overrides version).
fn with_etag(mut reply: Reply, version: u64) -> Reply {
    if let Ok(v) = http::HeaderValue::from_str(&format!("\"{version}\"")) {
        reply.headers_mut().insert(http::header::ETAG, v);
    }
    reply
}

/// The overrides version an `If-Match` header names: `None` without one or for `*`; `Err`
/// when it is not a version (`"7"`, or `7`).
fn if_match(value: Option<&http::HeaderValue>) -> Result<Option<u64>, Box<Reply>> {
    let Some(v) = value else { return Ok(None) };
    let text = v.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_matches('"').parse().map(Some).map_err(|_| {
        Box::new(problem(
            StatusCode::PRECONDITION_FAILED,
            "Invalid If-Match",
            "If-Match names an overrides version as its ETag gives it, e.g. \"7\"; nothing \
             changed",
        ))
    })
}

async fn read_body(session: &mut ServerSession) -> Result<Vec<u8>, Box<Reply>> {
    let mut body = Vec::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(Box::new(problem(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "Body too large",
                        "admin requests are limited to 64 KiB",
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(Box::new(problem(
                    StatusCode::BAD_REQUEST,
                    "Unreadable body",
                    &e.to_string(),
                )))
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WeightBody {
    weight: u32,
}

fn parse_weight(body: &[u8]) -> Result<u32, Box<Reply>> {
    let w: WeightBody = serde_json::from_slice(body).map_err(|e| {
        Box::new(problem(
            StatusCode::BAD_REQUEST,
            "Invalid body",
            &format!("expected {{\"weight\": 0..1000}}: {e}"),
        ))
    })?;
    Ok(w.weight)
}

/// The answer of the fleet endpoints without `[fleet]`.
fn fleet_off() -> Reply {
    problem(
        StatusCode::NOT_FOUND,
        "Fleet mode is off",
        "this gateway has no [fleet] section: it shares nothing with other replicas (see \
         docs/fleet.md)",
    )
}

#[async_trait]
impl ServeHttp for AdminApi {
    async fn response(&self, session: &mut ServerSession) -> Reply {
        let method = session.req_header().method.clone();
        let path = session.req_header().uri.path().to_string();
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        // Open endpoints first.
        match (&method, segments.as_slice()) {
            (&Method::GET, ["healthz"]) => {
                return json_reply(StatusCode::OK, &json!({"status": "alive"}))
            }
            (&Method::GET, ["readyz"]) => {
                let scope = match session.req_header().uri.query() {
                    Some("scope=pod") => views::ReadinessScope::Pod,
                    _ => views::ReadinessScope::Geographies,
                };
                return views::readiness(&self.control.state.live(), scope);
            }
            (&Method::GET, ["metrics"]) if self.metrics_public => return self.metrics(),
            (&Method::GET, ["console", ..]) => {
                if let Some(reply) = crate::control::console::serve(&path) {
                    return reply;
                }
            }
            _ => {}
        }
        let query = session.req_header().uri.query().unwrap_or("").to_string();
        let auth = session
            .req_header()
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let Some(caller) = self.tokens.identify(auth) else {
            return problem(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "a valid `Authorization: Bearer <token>` is required",
            );
        };
        let who = caller.name.to_owned();
        if caller.role != Role::Operator && !matches!(method, Method::GET | Method::HEAD) {
            let what = format!("{method} {path}");
            self.control
                .audit
                .record(&who, &what, Outcome::Denied, "viewer token");
            tracing::warn!(target: "audit", who, what, "refused: the token's role is viewer");
            return problem(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "this token's role is viewer: it may read (GET) but not change anything; \
                 changes need an operator token",
            );
        }
        if let Some(reply) = console_api::answer(&self.control, &method, &segments, &query, caller)
        {
            return reply;
        }
        let strand = match console_api::query_param(&query, "force") {
            Some("true" | "1") => Strand::Force,
            _ => Strand::Refuse,
        };
        let body = match method {
            Method::PUT | Method::POST => match read_body(session).await {
                Ok(b) => b,
                Err(reply) => return *reply,
            },
            _ => Vec::new(),
        };
        let expected = match if_match(session.req_header().headers.get(http::header::IF_MATCH)) {
            Ok(v) => v,
            Err(reply) => return *reply,
        };
        let call = Call {
            who: &who,
            if_match: expected,
            strand,
        };
        self.route(&method, &segments, &body, &call).await
    }
}

impl AdminApi {
    fn metrics(&self) -> Reply {
        let live = self.control.state.live();
        let text = self
            .control
            .state
            .metrics
            .render(&live.snapshot, &live.health);
        Response::builder()
            .status(StatusCode::OK)
            .header(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")
            .header(http::header::CONTENT_LENGTH, text.len())
            .body(text.into_bytes())
            .unwrap_or_default()
    }

    async fn route(
        &self,
        method: &Method,
        segments: &[&str],
        body: &[u8],
        call: &Call<'_>,
    ) -> Reply {
        let c = &self.control;
        match (method, segments) {
            (&Method::GET, ["metrics"]) => self.metrics(),
            (&Method::GET, ["api", "v1", "regions"]) => {
                json_reply(StatusCode::OK, &views::regions(&c.state.live()))
            }
            (&Method::GET, ["api", "v1", "origins"]) => {
                json_reply(StatusCode::OK, &views::origins(&c.state.live()))
            }
            (&Method::GET, ["api", "v1", "tenants", id, "route"]) => {
                views::tenant_route(&c.state.live(), id)
            }
            (&Method::GET, ["api", "v1", "config"]) => {
                json_reply(StatusCode::OK, &json!(c.active()))
            }
            (&Method::POST, ["api", "v1", "config", "reload"]) => match c.reload(call.who).await {
                Ok(report) => json_reply(StatusCode::OK, &json!(report)),
                Err(e) => problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Reload refused; the previous configuration keeps serving",
                    &e.to_string(),
                ),
            },
            (&Method::GET, ["api", "v1", "overrides"]) => with_etag(
                json_reply(StatusCode::OK, &json!(c.overrides())),
                c.overrides_version(),
            ),
            (&Method::GET, ["api", "v1", "overrides", "history"]) => match c.shared_overrides() {
                None => fleet_off(),
                Some(s) => match s.history(100).await {
                    Ok(entries) => json_reply(StatusCode::OK, &json!({"entries": entries})),
                    Err(e) => override_error(e),
                },
            },
            (&Method::GET, ["api", "v1", "fleet"]) => match c.fleet() {
                None => fleet_off(),
                Some(f) => json_reply(StatusCode::OK, &f.view().await),
            },
            (&Method::DELETE, ["api", "v1", "overrides"]) => {
                // Not guarded: it returns to what the configuration file says.
                let cleared = c
                    .update_overrides_if(call.who, "clear all overrides", call.if_match, |_, o| {
                        *o = Default::default();
                        Ok(())
                    })
                    .await;
                self.changed("clear all overrides", cleared)
            }
            (&Method::PUT, ["api", "v1", "regions", name, "weight"]) => {
                let weight = match parse_weight(body) {
                    Ok(w) => w,
                    Err(r) => return *r,
                };
                let region = name.to_string();
                self.change(
                    call,
                    &format!("region {name} weight {weight}"),
                    move |cfg, o| {
                        require_region(cfg, &region)?;
                        check_weight(weight)?;
                        o.regions.entry(region).or_default().weight = Some(weight);
                        Ok(())
                    },
                )
                .await
            }
            (&Method::POST, ["api", "v1", "regions", name, action @ ("drain" | "undrain")]) => {
                let region = name.to_string();
                let drained = *action == "drain";
                self.change(call, &format!("region {name} {action}"), move |cfg, o| {
                    require_region(cfg, &region)?;
                    o.regions.entry(region).or_default().drained = drained;
                    Ok(())
                })
                .await
            }
            (&Method::PUT, ["api", "v1", "origins", region, address, "weight"]) => {
                let weight = match parse_weight(body) {
                    Ok(w) => w,
                    Err(r) => return *r,
                };
                let (region, address) = (region.to_string(), address.to_string());
                let what = format!("origin {region}/{address} weight {weight}");
                self.change(call, &what, move |cfg, o| {
                    require_origin(cfg, &region, &address)?;
                    check_weight(weight)?;
                    o.origins
                        .entry(origin_key(&region, &address))
                        .or_default()
                        .weight = Some(weight);
                    Ok(())
                })
                .await
            }
            (
                &Method::POST,
                ["api", "v1", "origins", region, address, action @ ("drain" | "undrain")],
            ) => {
                let (region, address) = (region.to_string(), address.to_string());
                let drained = *action == "drain";
                let what = format!("origin {region}/{address} {action}");
                self.change(call, &what, move |cfg, o| {
                    require_origin(cfg, &region, &address)?;
                    o.origins
                        .entry(origin_key(&region, &address))
                        .or_default()
                        .drained = drained;
                    Ok(())
                })
                .await
            }
            (&Method::GET, ["api", "v1", "dns", "edges"]) => {
                match self.dns.as_ref().and_then(|d| d.zone()) {
                    Some(zone) => json_reply(StatusCode::OK, &views::dns_edges(&zone)),
                    None => problem(
                        StatusCode::NOT_FOUND,
                        "Not found",
                        "this gateway runs no DNS responder ([dns] is not configured)",
                    ),
                }
            }
            (
                &Method::POST,
                ["api", "v1", "dns", "edges", address, action @ ("drain" | "undrain")],
            ) => {
                let address = address.to_string();
                let drained = *action == "drain";
                let what = format!("dns edge {address} {action}");
                self.change(call, &what, move |cfg, o| {
                    let key = require_dns_edge(cfg, &address)?;
                    o.dns_edges.entry(key).or_default().drained = drained;
                    Ok(())
                })
                .await
            }
            _ => problem(
                StatusCode::NOT_FOUND,
                "Not found",
                "no such admin endpoint (see docs/operations.md)",
            ),
        }
    }

    /// An override change, refused when it would strand a geography unless forced.
    async fn change<F>(&self, call: &Call<'_>, what: &str, f: F) -> Reply
    where
        F: FnOnce(&edge_config::Config, &mut Overrides) -> Result<(), OverrideError>,
    {
        let result = self
            .control
            .update_overrides_guarded(call.who, what, call.strand, call.if_match, f)
            .await;
        self.changed(what, result)
    }

    fn changed(&self, what: &str, result: Result<(Overrides, u64), OverrideError>) -> Reply {
        match result {
            Ok((o, version)) => with_etag(
                json_reply(
                    StatusCode::OK,
                    &json!({
                        "applied": what,
                        "generation": self.control.state.live().snapshot.generation,
                        "version": version,
                        "overrides": o,
                    }),
                ),
                version,
            ),
            Err(e) => override_error(e),
        }
    }
}
