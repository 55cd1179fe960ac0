//! The admin API's reads the console polls: who the caller is, the audit trail, the traffic
//! history and the config's identity without its text (a million-tenant config is megabytes;
//! `GET /api/v1/config` returns it whole).

use http::{Method, StatusCode};
use serde_json::json;

use super::auth::Caller;
use super::{json_reply, Reply};
use crate::control::Control;

/// The value of `name` in a query string (`a=1&b=2`), undecoded.
pub fn query_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `?since=N` as a number (0 when absent or not a number: everything).
fn since(query: &str) -> u64 {
    query_param(query, "since")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The answer for the console's reads, or `None` for another endpoint:
///
/// - `GET /api/v1/whoami`: `{"name", "role", "can_change"}`;
/// - `GET /api/v1/audit?since=SEQ`: `{"last_seq", "capacity", "entries": [...]}`, newest
///   first (see `control::audit::AuditEntry`);
/// - `GET /api/v1/history?since=SEQ`: see `control::history::History::to_json`;
/// - `GET /api/v1/config/status`: `GET /api/v1/config` without `source`.
pub fn answer(
    control: &Control,
    method: &Method,
    segments: &[&str],
    query: &str,
    caller: Caller<'_>,
) -> Option<Reply> {
    if method != Method::GET {
        return None;
    }
    let value = match segments {
        ["api", "v1", "whoami"] => json!({
            "name": caller.name,
            "role": caller.role.label(),
            "can_change": caller.role == super::auth::Role::Operator,
        }),
        ["api", "v1", "audit"] => json!({
            "last_seq": control.audit.last_seq(),
            "capacity": crate::control::audit::AUDIT_CAPACITY,
            "entries": control.audit.since(since(query)),
        }),
        ["api", "v1", "history"] => control.history.to_json(since(query)),
        ["api", "v1", "config", "status"] => {
            let mut v = json!(control.active());
            if let Some(o) = v.as_object_mut() {
                o.remove("source");
            }
            v
        }
        _ => return None,
    };
    Some(if segments.last() == Some(&"history") {
        compact(&value)
    } else {
        json_reply(StatusCode::OK, &value)
    })
}

/// Unindented JSON: the history is up to 900 samples, fetched whole when a console opens.
fn compact(value: &serde_json::Value) -> Reply {
    let body = serde_json::to_vec(value).unwrap_or_default();
    http::Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CONTENT_LENGTH, body.len())
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(body)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_found_by_name() {
        assert_eq!(query_param("force=true", "force"), Some("true"));
        assert_eq!(query_param("a=1&since=42", "since"), Some("42"));
        assert_eq!(query_param("force", "force"), Some(""));
        assert_eq!(query_param("forced=true", "force"), None);
        assert_eq!(since("since=x"), 0);
    }
}
