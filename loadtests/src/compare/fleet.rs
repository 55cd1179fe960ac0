//! Everything a comparison starts: the backend, nginx, HAProxy, the gateway and the bare
//! pass-through, each on its config and logging into the output directory.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::pki::Pki;

use super::confs::{self, ConfFiles, Ports};
use super::model::Proxy;
use super::procs::{wait_port, Proc};
use super::tools::Tools;

/// The log of process `name` in `out`: `compare-<name>.log`.
pub(super) fn log_path(out: &Path, name: &str) -> PathBuf {
    out.join(format!("compare-{name}.log"))
}

/// The backend and the proxies in front of it.
pub(super) struct Fleet {
    backend: Proc,
    proxies: BTreeMap<Proxy, Proc>,
}

/// The two binaries of this workspace a comparison runs.
pub(super) struct Bins<'a> {
    pub(super) gateway: &'a Path,
    pub(super) bare: &'a Path,
}

/// How one proxy is started: its command, its log's name and the port that says it is up.
struct Launch {
    proxy: Proxy,
    name: &'static str,
    log: &'static str,
    port: SocketAddr,
    cmd: Command,
}

/// The proxies in start order, each on its config.
fn launches(
    tools: &Tools,
    bins: &Bins<'_>,
    confs: &ConfFiles,
    pki: &Pki,
    ports: &Ports,
) -> [Launch; 4] {
    let mut nginx = Command::new(&tools.nginx);
    nginx.arg("-c").arg(&confs.nginx);
    let mut haproxy = Command::new(&tools.haproxy);
    haproxy.arg("-db").arg("-f").arg(&confs.haproxy);
    let mut gateway = Command::new(bins.gateway);
    gateway
        .arg("run")
        .arg("--config")
        .arg(&confs.gateway)
        // Health transitions (info) are kept to detect an ejected origin; no access log.
        .env("RUST_LOG", "info,access=warn");
    let mut bare = Command::new(bins.bare);
    bare.arg("--upstream")
        .arg(ports.backend.to_string())
        .arg("--listen")
        .arg(ports.bare.to_string())
        .arg("--tls-listen")
        .arg(ports.bare_tls.to_string())
        .arg("--cert")
        .arg(&pki.cert)
        .arg("--key")
        .arg(&pki.key)
        .arg("--threads")
        .arg("1");
    let launch = |proxy, name, log, port, cmd| Launch {
        proxy,
        name,
        log,
        port,
        cmd,
    };
    [
        launch(Proxy::Nginx, "nginx", "nginx", ports.nginx_tls, nginx),
        launch(
            Proxy::Haproxy,
            "haproxy",
            "haproxy",
            ports.haproxy_tls,
            haproxy,
        ),
        launch(
            Proxy::Gateway,
            "edge-gateway",
            "gateway",
            ports.gateway_tls,
            gateway,
        ),
        launch(Proxy::Bare, "bare Pingora", "bare", ports.bare_tls, bare),
    ]
}

/// Spawns `cmd` logging into `log` and waits until it listens on `port`.
fn start(name: &str, cmd: &mut Command, log: &Path, port: SocketAddr) -> Result<Proc, String> {
    let mut proc = Proc::spawn(name, cmd, log)?;
    wait_port(port, &mut proc, log)?;
    Ok(proc)
}

impl Fleet {
    /// Writes the configs into `dir` and starts every process in turn, each once the one
    /// before listens.
    pub(super) fn start(
        tools: &Tools,
        bins: &Bins<'_>,
        dir: &Path,
        pki: &Pki,
        ports: &Ports,
        out: &Path,
    ) -> Result<Fleet, String> {
        let confs = confs::write(dir, pki, ports)?;
        eprintln!("compare: starting the backend, nginx, HAProxy, edge-gateway and bare Pingora");
        let backend = start(
            "backend nginx",
            Command::new(&tools.nginx).arg("-c").arg(&confs.backend),
            &log_path(out, "backend"),
            ports.backend_status,
        )?;
        let mut proxies = BTreeMap::new();
        for mut l in launches(tools, bins, &confs, pki, ports) {
            let proc = start(l.name, &mut l.cmd, &log_path(out, l.log), l.port)?;
            proxies.insert(l.proxy, proc);
        }
        Ok(Fleet { backend, proxies })
    }

    /// The process whose CPU time is `proxy`'s: the backend's for [`Proxy::Direct`].
    pub(super) fn pid(&self, proxy: Proxy) -> u32 {
        match proxy {
            Proxy::Direct => self.backend.pid(),
            p => self.proxies.get(&p).map_or(0, Proc::pid),
        }
    }

    /// Stops the proxies, then the backend.
    pub(super) fn stop(self) {
        let Fleet {
            mut backend,
            proxies,
        } = self;
        for (_, mut p) in proxies {
            p.stop();
        }
        backend.stop();
    }
}
