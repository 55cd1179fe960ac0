//! What every process of a comparison listens on, and the config text that tells it so:
//! the backend nginx, nginx and HAProxy as proxies, and the gateway (its config is
//! [`crate::bench`]'s, shared with `profile`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::bench::{self, GatewaySetup};
use crate::pki::Pki;
use crate::util;

use super::model::{Mode, Proxy};

/// The backend's answer: exactly 100 bytes.
const BODY: &str =
    "edge-loadtest backend: a fixed answer of exactly one hundred bytes for proxy benchmarks......\n";

/// Ports of everything in the comparison.
pub(crate) struct Ports {
    pub(crate) backend: SocketAddr,
    pub(crate) backend_tls: SocketAddr,
    pub(crate) backend_status: SocketAddr,
    pub(crate) nginx: SocketAddr,
    pub(crate) nginx_tls: SocketAddr,
    pub(crate) haproxy: SocketAddr,
    pub(crate) haproxy_tls: SocketAddr,
    pub(crate) bare: SocketAddr,
    pub(crate) bare_tls: SocketAddr,
    pub(crate) gateway_tls: SocketAddr,
    pub(crate) candidate_tls: SocketAddr,
    /// The `[fleet]` gateway and its Redis (`--targets ...,gateway-fleet`).
    pub(crate) gateway_fleet_tls: Option<SocketAddr>,
    pub(crate) redis: Option<SocketAddr>,
}

impl Ports {
    pub(crate) fn pick(fleet: bool) -> Result<Ports, String> {
        let p = || util::free_port().map_err(|e| format!("no free port: {e}"));
        Ok(Ports {
            backend: p()?,
            backend_tls: p()?,
            backend_status: p()?,
            nginx: p()?,
            nginx_tls: p()?,
            haproxy: p()?,
            haproxy_tls: p()?,
            bare: p()?,
            bare_tls: p()?,
            gateway_tls: p()?,
            candidate_tls: p()?,
            gateway_fleet_tls: if fleet { Some(p()?) } else { None },
            redis: if fleet { Some(p()?) } else { None },
        })
    }

    /// The listener of `proxy` for `mode` (`None`: the gateway has no plain listener).
    pub(super) fn of(&self, proxy: Proxy, mode: Mode) -> Option<SocketAddr> {
        let tls = mode != Mode::Plain;
        Some(match (proxy, tls) {
            (Proxy::Gateway, true) => self.gateway_tls,
            (Proxy::Candidate, true) => self.candidate_tls,
            (Proxy::Gateway | Proxy::Candidate, false) => return None,
            (Proxy::GatewayFleet, true) => self.gateway_fleet_tls?,
            (Proxy::GatewayFleet, false) => return None,
            (Proxy::Nginx, false) => self.nginx,
            (Proxy::Nginx, true) => self.nginx_tls,
            (Proxy::Haproxy, false) => self.haproxy,
            (Proxy::Haproxy, true) => self.haproxy_tls,
            (Proxy::Bare, false) => self.bare,
            (Proxy::Bare, true) => self.bare_tls,
            (Proxy::Direct, false) => self.backend,
            (Proxy::Direct, true) => self.backend_tls,
        })
    }
}

fn nginx_common(dir: &Path, name: &str) -> String {
    let d = dir.display();
    format!(
        "worker_processes 1;\ndaemon off;\nmaster_process on;\npid {d}/{name}.pid;\n\
         error_log {d}/{name}.error.log warn;\nworker_rlimit_nofile 16384;\n\
         events {{ worker_connections 8192; multi_accept on; }}\n"
    )
}

fn nginx_http_common(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "  access_log off;\n  client_body_temp_path {d}/tmp-body;\n  proxy_temp_path {d}/tmp-proxy;\n  \
         fastcgi_temp_path {d}/tmp-fcgi;\n  uwsgi_temp_path {d}/tmp-uwsgi;\n  scgi_temp_path {d}/tmp-scgi;\n  \
         keepalive_requests 10000000;\n  keepalive_timeout 75s;\n  \
         ssl_protocols TLSv1.2 TLSv1.3;\n  ssl_session_tickets off;\n  ssl_session_cache off;\n"
    )
}

/// The backend nginx: 100 bytes to every request, plain and TLS, and `stub_status`.
pub(crate) fn backend_conf(dir: &Path, pki: &Pki, p: &Ports) -> String {
    format!(
        "{}http {{\n{}  default_type text/plain;\n  server {{\n    listen {} reuseport;\n    \
         listen {} ssl http2;\n    ssl_certificate {};\n    ssl_certificate_key {};\n    \
         location / {{ return 200 \"{}\"; }}\n  }}\n  server {{\n    listen {};\n    \
         location = /status {{ stub_status; }}\n  }}\n}}\n",
        nginx_common(dir, "backend"),
        nginx_http_common(dir),
        p.backend,
        p.backend_tls,
        pki.cert.display(),
        pki.key.display(),
        BODY.trim_end_matches('\n').replace('"', "'") + "\\n",
        p.backend_status
    )
}

fn nginx_conf(dir: &Path, pki: &Pki, p: &Ports) -> String {
    format!(
        "{}http {{\n{}  upstream backend {{\n    server {};\n    keepalive 1024;\n    \
         keepalive_requests 10000000;\n    keepalive_timeout 60s;\n  }}\n  server {{\n    \
         listen {};\n    listen {} ssl http2;\n    ssl_certificate {};\n    ssl_certificate_key {};\n    \
         location / {{\n      proxy_pass http://backend;\n      proxy_http_version 1.1;\n      \
         proxy_set_header Connection \"\";\n    }}\n  }}\n}}\n",
        nginx_common(dir, "nginx"),
        nginx_http_common(dir),
        p.backend,
        p.nginx,
        p.nginx_tls,
        pki.cert.display(),
        pki.key.display(),
    )
}

fn haproxy_conf(pki: &Pki, p: &Ports) -> String {
    format!(
        "global\n  nbthread 1\n  maxconn 8000\n  ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets\n\n\
         defaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n  \
         timeout http-keep-alive 75s\n  option http-keep-alive\n  http-reuse always\n\n\
         frontend fe_plain\n  bind {}\n  default_backend be\n\n\
         frontend fe_tls\n  bind {} ssl crt {} alpn h2,http/1.1\n  default_backend be\n\n\
         backend be\n  server backend {} pool-max-conn 1024\n",
        p.haproxy,
        p.haproxy_tls,
        pki.combined.display(),
        p.backend
    )
}

/// The config files of one comparison.
pub(super) struct ConfFiles {
    pub(super) backend: PathBuf,
    pub(super) nginx: PathBuf,
    pub(super) haproxy: PathBuf,
    pub(super) gateway: PathBuf,
    pub(super) candidate: PathBuf,
    pub(super) gateway_fleet: Option<PathBuf>,
}

/// Writes every config into `dir`, the comparison's temporary directory.
pub(super) fn write(dir: &Path, pki: &Pki, ports: &Ports) -> Result<ConfFiles, String> {
    bench::write_geo_db(dir)?;
    let gateway = |listen| {
        bench::gateway_toml(&GatewaySetup {
            listen,
            backend: ports.backend,
            // The default: probes are part of what a gateway costs.
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(500),
            threads: 1,
            preserve_case: false,
        })
    };
    let write = |name: &str, text: String| -> Result<PathBuf, String> {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        Ok(p)
    };
    Ok(ConfFiles {
        backend: write("backend.conf", backend_conf(dir, pki, ports))?,
        nginx: write("nginx.conf", nginx_conf(dir, pki, ports))?,
        haproxy: write("haproxy.cfg", haproxy_conf(pki, ports))?,
        gateway: write("edge.toml", gateway(ports.gateway_tls))?,
        candidate: write("edge-candidate.toml", gateway(ports.candidate_tls))?,
        // The same gateway with `[fleet]`: they differ by `[fleet]` alone.
        gateway_fleet: match (ports.gateway_fleet_tls, ports.redis) {
            (Some(listen), Some(redis)) => Some(write(
                "edge-fleet.toml",
                format!(
                    "{}\n[fleet]\nredis_url = \"redis://{redis}\"\nnode_id = \"compare\"\n",
                    gateway(listen)
                ),
            )?),
            _ => None,
        },
    })
}
