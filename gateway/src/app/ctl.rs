//! `edge-gateway ctl`: the operator's command line over the admin API.
//!
//! Exit codes scripts can trust: 0 done, 1 the gateway refused (4xx/5xx, e.g. unknown region,
//! invalid config), 2 usage or connection problem, 3 unauthorized, 4 (`ctl fleet` only) the
//! fleet does not agree: configuration drift, stale overrides, or Redis unreachable.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;
use serde_json::Value;

/// What `ctl` can do.
#[derive(Debug, Clone, Subcommand)]
pub enum CtlCommand {
    /// List regions: health, latency, weights, drain state.
    Regions,
    /// List origins.
    Origins,
    /// Set a region's weight (0..=1000; 0 takes it out of rotation).
    Weight {
        /// Region name.
        region: String,
        /// New weight.
        weight: u32,
        /// Apply even if it leaves the geography without a usable origin (every request of
        /// it then gets 503); refused without it.
        #[arg(long)]
        force: bool,
    },
    /// Drain a region (weight 0 without forgetting its weight).
    Drain {
        /// Region name.
        region: String,
        /// Drain even if it leaves the geography without a usable origin (every request of
        /// it then gets 503); refused without it.
        #[arg(long)]
        force: bool,
    },
    /// Undo `drain`.
    Undrain {
        /// Region name.
        region: String,
    },
    /// Where a tenant's requests go now, and why.
    Route {
        /// Tenant id (UUID).
        tenant: String,
    },
    /// Reload the configuration file.
    Reload,
    /// Show or clear operator overrides.
    Overrides {
        /// Remove every override.
        #[arg(long)]
        clear: bool,
    },
    /// List the fleet's live replicas (fleet mode): configuration hash and drift, overrides
    /// version and staleness. Exits 4 when they do not all agree.
    Fleet,
    /// The DNS responder's edges: list, drain, undrain.
    #[command(subcommand)]
    Dns(DnsCtl),
}

/// `ctl dns ...`
#[derive(Debug, Clone, Subcommand)]
pub enum DnsCtl {
    /// List the DNS edges: geography, priority, weight, drain, probe verdict.
    Edges,
    /// Keep an edge out of DNS answers from the next query on (it is still answered when
    /// its whole geography would otherwise have none: fail static).
    Drain {
        /// The edge's address, as in [[dns.edges]].
        address: String,
    },
    /// Undo `dns drain`.
    Undrain {
        /// The edge's address.
        address: String,
    },
}

/// `ctl fleet`'s exit code when the fleet does not agree.
pub const EXIT_FLEET_DISAGREES: i32 = 4;

/// Connection settings for `ctl`.
#[derive(Debug, Clone)]
pub struct CtlTarget {
    /// `http://host:port` of the admin listener.
    pub admin: String,
    /// File holding the bearer token (else `EDGE_ADMIN_TOKEN`).
    pub token_file: Option<PathBuf>,
}

struct HttpReply {
    status: u16,
    body: Vec<u8>,
}

fn token(target: &CtlTarget) -> Result<Option<String>, String> {
    if let Some(path) = &target.token_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read token file {}: {e}", path.display()))?;
        // Same format as the gateway's token file: the first token, `name:` and
        // `name:role:` prefixes optional.
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .ok_or_else(|| format!("token file {} holds no token", path.display()))?;
        let (_, _, token) = crate::control::admin::auth::parse_line(line)
            .map_err(|e| format!("token file {}: {e}", path.display()))?;
        return Ok(Some(token.to_string()));
    }
    Ok(std::env::var(crate::control::admin::auth::TOKEN_ENV).ok())
}

/// One HTTP/1.1 request to the admin listener (plain HTTP, loopback in practice).
fn request(
    target: &CtlTarget,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<HttpReply, String> {
    let authority = target
        .admin
        .strip_prefix("http://")
        .ok_or_else(|| format!("--admin must be an http:// URL, got {:?}", target.admin))?
        .trim_end_matches('/');
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority} resolves to nothing"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("cannot connect to the admin API at {addr}: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    if let Some(t) = token(target)? {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "PUT" || method == "POST" {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream
        .write_all(req.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("read: {e}"))?;
    parse_reply(&raw)
}

fn parse_reply(raw: &[u8]) -> Result<HttpReply, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("malformed response from the admin API")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("malformed status line from the admin API")?;
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok(HttpReply { status, body })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..pos]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = pos + 2;
        let end = (start + size).min(data.len());
        out.extend_from_slice(&data[start..end]);
        data = data.get(end + 2..).unwrap_or_default();
    }
    out
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One table row per element of the JSON array `list` (none when it is not an array).
fn rows(list: &Value, row: impl Fn(&Value) -> Vec<String>) -> Vec<Vec<String>> {
    list.as_array()
        .map(|a| a.iter().map(row).collect())
        .unwrap_or_default()
}

fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(headers.iter().map(|h| h.to_string()).collect())];
    out.extend(rows.into_iter().map(line));
    out.join("\n")
}

fn render(cmd: &CtlCommand, v: &Value) -> String {
    match cmd {
        CtlCommand::Regions => table(
            &[
                "REGION",
                "GEO",
                "PRIO",
                "WEIGHT",
                "CONFIGURED",
                "DRAINED",
                "HEALTHY",
                "LATENCY_MS",
            ],
            rows(&v["regions"], |r| {
                vec![
                    cell(&r["name"]),
                    cell(&r["geography"]),
                    cell(&r["priority"]),
                    cell(&r["weight"]["effective"]),
                    cell(&r["weight"]["configured"]),
                    cell(&r["drained"]),
                    format!("{}/{}", cell(&r["healthy_origins"]), cell(&r["origins"])),
                    cell(&r["latency_ms"]),
                ]
            }),
        ),
        CtlCommand::Origins => table(
            &[
                "REGION",
                "ADDRESS",
                "STATUS",
                "USABLE",
                "WEIGHT",
                "DRAINED",
                "EJECTIONS",
                "LATENCY_MS",
            ],
            rows(&v["origins"], |o| {
                vec![
                    cell(&o["region"]),
                    cell(&o["address"]),
                    cell(&o["status"]),
                    cell(&o["usable"]),
                    cell(&o["weight"]["effective"]),
                    cell(&o["drained"]),
                    cell(&o["ejections"]),
                    cell(&o["latency_ms"]),
                ]
            }),
        ),
        CtlCommand::Route { .. } => {
            let mut s = format!(
                "tenant {} -> geography {}\n",
                cell(&v["tenant"]),
                cell(&v["geography"])
            );
            let order: Vec<String> = v["candidates"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|c| format!("{}/{}", cell(&c["region"]), cell(&c["address"])))
                        .collect()
                })
                .unwrap_or_default();
            s.push_str(&format!("candidates: {}\n", order.join(" -> ")));
            s.push_str(&table(
                &[
                    "REGION",
                    "ADDRESS",
                    "PRIO",
                    "WEIGHT",
                    "STATUS",
                    "LATENCY_MS",
                    "DECISION",
                ],
                rows(&v["origins"], |o| {
                    vec![
                        cell(&o["region"]),
                        cell(&o["address"]),
                        cell(&o["priority"]),
                        cell(&o["effective_weight"]),
                        cell(&o["status"]),
                        cell(&o["latency_ms"]),
                        cell(&o["decision"]),
                    ]
                }),
            ));
            s
        }
        CtlCommand::Dns(DnsCtl::Edges) => table(
            &[
                "GEO",
                "ADDRESS",
                "PRIO",
                "WEIGHT",
                "DRAINED",
                "STATUS",
                "LATENCY_MS",
            ],
            rows(&v["edges"], |e| {
                vec![
                    cell(&e["geography"]),
                    cell(&e["address"]),
                    cell(&e["priority"]),
                    cell(&e["weight"]),
                    cell(&e["drained"]),
                    cell(&e["status"]),
                    cell(&e["latency_ms"]),
                ]
            }),
        ),
        CtlCommand::Fleet => {
            let flag = |m: &Value| {
                let mut f = Vec::new();
                if m["config_drift"] == Value::Bool(true) {
                    f.push("config-drift");
                }
                if m["stale_overrides"] == Value::Bool(true) {
                    f.push("stale-overrides");
                }
                if f.is_empty() {
                    "-".to_owned()
                } else {
                    f.join(",")
                }
            };
            let mut s = table(
                &[
                    "NODE",
                    "VERSION",
                    "GENERATION",
                    "CONFIG_HASH",
                    "OVERRIDES",
                    "UPTIME_S",
                    "SEEN_MS_AGO",
                    "FLAGS",
                ],
                rows(&v["members"], |m| {
                    let node = if m["self"] == Value::Bool(true) {
                        format!("{}*", cell(&m["node"]))
                    } else {
                        cell(&m["node"])
                    };
                    vec![
                        node,
                        cell(&m["version"]),
                        cell(&m["generation"]),
                        cell(&m["config_hash"]),
                        cell(&m["overrides_version"]),
                        cell(&m["uptime_s"]),
                        cell(&m["last_seen_ms"]),
                        flag(m),
                    ]
                }),
            );
            let members = v["members"].as_array().map_or(0, Vec::len);
            s.push_str(&format!(
                "\n{members} replica(s); redis {}; {} with config drift, {} with stale overrides",
                if v["redis_up"] == Value::Bool(true) {
                    "up"
                } else {
                    "UNREACHABLE (last roster shown)"
                },
                cell(&v["config_drift"]),
                cell(&v["stale_overrides"]),
            ));
            s
        }
        _ => serde_json::to_string_pretty(v).unwrap_or_default(),
    }
}

fn force_query(force: bool) -> &'static str {
    if force {
        "?force=true"
    } else {
        ""
    }
}

/// Runs one `ctl` command; returns the exit code.
pub fn run(target: &CtlTarget, cmd: &CtlCommand) -> i32 {
    let (method, path, body) = match cmd {
        CtlCommand::Regions => ("GET", "/api/v1/regions".to_string(), None),
        CtlCommand::Origins => ("GET", "/api/v1/origins".to_string(), None),
        CtlCommand::Weight {
            region,
            weight,
            force,
        } => (
            "PUT",
            format!("/api/v1/regions/{region}/weight{}", force_query(*force)),
            Some(format!("{{\"weight\":{weight}}}")),
        ),
        CtlCommand::Drain { region, force } => (
            "POST",
            format!("/api/v1/regions/{region}/drain{}", force_query(*force)),
            None,
        ),
        CtlCommand::Undrain { region } => {
            ("POST", format!("/api/v1/regions/{region}/undrain"), None)
        }
        CtlCommand::Route { tenant } => ("GET", format!("/api/v1/tenants/{tenant}/route"), None),
        CtlCommand::Reload => ("POST", "/api/v1/config/reload".to_string(), None),
        CtlCommand::Overrides { clear: false } => ("GET", "/api/v1/overrides".to_string(), None),
        CtlCommand::Overrides { clear: true } => ("DELETE", "/api/v1/overrides".to_string(), None),
        CtlCommand::Dns(DnsCtl::Edges) => ("GET", "/api/v1/dns/edges".to_string(), None),
        CtlCommand::Dns(DnsCtl::Drain { address }) => {
            ("POST", format!("/api/v1/dns/edges/{address}/drain"), None)
        }
        CtlCommand::Dns(DnsCtl::Undrain { address }) => {
            ("POST", format!("/api/v1/dns/edges/{address}/undrain"), None)
        }
        CtlCommand::Fleet => ("GET", "/api/v1/fleet".to_string(), None),
    };
    let reply = match request(target, method, &path, body.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("edge-gateway ctl: {e}");
            return 2;
        }
    };
    let value: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    match reply.status {
        200..=299 => {
            println!("{}", render(cmd, &value));
            if matches!(cmd, CtlCommand::Fleet) && value["agree"] != Value::Bool(true) {
                return EXIT_FLEET_DISAGREES;
            }
            0
        }
        401 => {
            eprintln!("edge-gateway ctl: unauthorized: set EDGE_ADMIN_TOKEN or --token-file");
            3
        }
        403 => {
            eprintln!(
                "edge-gateway ctl: forbidden: this token's role is viewer; changes need an \
                 operator token"
            );
            3
        }
        status => {
            let detail = value["detail"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| String::from_utf8_lossy(&reply.body).into_owned());
            eprintln!("edge-gateway ctl: {status}: {detail}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_parsed_including_chunked() {
        let r = parse_reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        let r = parse_reply(b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"abcde"[..]));
    }

    #[test]
    fn tables_align() {
        let t = table(&["A", "LONGER"], vec![vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, "A    LONGER\nxyz  1");
    }
}
