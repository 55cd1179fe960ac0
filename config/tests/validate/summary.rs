//! The summary `edge-gateway check` prints, for the full and the minimal example.

use edge_config::summary;

use crate::examples_dir;

#[test]
fn summary_describes_the_topology() {
    let config = edge_config::load(&examples_dir().join("edge.toml")).unwrap();
    let s = summary(&config);
    for part in [
        "https 127.0.0.1:8443",
        "http 127.0.0.1:8080",
        "admin 127.0.0.1:9901",
        "tenants: 8",
        "geography eu (fail closed, 4 tenants)",
        "geography na (fail open, 4 tenants)",
        "region northeurope priority 1 weight 100: 2 origin(s): 127.0.0.1:9101, 127.0.0.1:9105 (weight 50, host northeurope.internal)",
        "region westus priority 2 weight 100: 1 origin(s): 127.0.0.1:9104",
        "host {tenant}.app.example.com",
        "HSTS max-age 365d",
        "health: GET /healthz every 1s, timeout 500ms, rise 2, fall 2, expect 200-399, host health.internal\n",
        "region westus priority 2 weight 100: 1 origin(s): 127.0.0.1:9104\n    health: GET /healthz every 2s, timeout 500ms, rise 2, fall 3, expect 200, 204, host health.internal\n",
        "outlier detection: eject after 3 consecutive failures (5xx included), for 5s growing to 1m",
        "retries: GET, HEAD, OPTIONS, PUT, DELETE; budget ratio 0.2 over 10s, min 3 concurrent; latency sensitivity 50ms; slow start 10s",
        "client ip: X-Forwarded-For from trusted proxies 10.0.0.0/8, ::1/128",
        "rate limits: plans premium 500/s burst 500, standard 50/s burst 100; default plan standard; per client 100/s burst 200; 1 tenant override(s); route /api/search GET 5/s burst 5; headers always; up to 1000000 tracked keys, idle after 1m",
        "unknown tenants: route by client location (default geography eu)\n",
        "tenants: 8 (1 limited to allowed countries)\n",
        "geography eu (fail closed, 4 tenants); countries IL, AE, TR; continents EU, AF\n",
        "geography na (fail open, 4 tenants); continents NA, SA\n",
        "region northeurope priority 1 weight 100: 2 origin(s): 127.0.0.1:9101, 127.0.0.1:9105 (weight 50, host northeurope.internal)\n    location: lat 53.35, lon -6.26\n",
        "geo-demo.mmdb, checked for changes every 5s; denied countries KP\n",
        "limits: 10000 connections; timeouts tls handshake 10s, request header 10s, idle 1m; uri 8KiB; headers 100 fields, 32KiB; body 10MiB, /upload 100MiB; 100 h2 streams, 100 resets per 10 s; 10000 requests per http/1.1 connection\n",
    ] {
        assert!(s.contains(part), "summary lacks {part:?}:\n{s}");
    }
    let minimal = summary(&edge_config::load(&examples_dir().join("minimal.toml")).unwrap());
    for part in [
        "client ip: the peer address (no trusted proxies)",
        "geo: off",
        "unknown tenants: reject",
        "rate limits: off",
        "slow start 10s",
        "body 10MiB; 100 h2 streams",
    ] {
        assert!(minimal.contains(part), "summary lacks {part:?}:\n{minimal}");
    }
    assert!(!minimal.contains("    health:"), "{minimal}");
}
