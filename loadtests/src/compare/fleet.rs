//! Everything a comparison starts: the backend, nginx, HAProxy, the gateway and the bare
//! pass-through, each on its config and logging into the output directory.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bench::AccessLog;
use crate::pki::Pki;

use super::confs::{self, ConfFiles, Ports};
use super::model::Proxy;
use super::procs::{wait_port, Proc};
use super::tools::Tools;

/// The log of process `name` in `out`: `compare-<name>.log`.
pub(super) fn log_path(out: &Path, name: &str) -> PathBuf {
    out.join(format!("compare-{name}.log"))
}

/// The backend and the proxies in front of it (and the Redis of `compare --fleet`).
pub(super) struct Fleet {
    backend: Proc,
    proxies: BTreeMap<Proxy, Proc>,
    redis: Option<Proc>,
}

/// The binaries of this workspace a comparison runs (each only when it is a target).
pub(super) struct Bins<'a> {
    pub(super) gateway: &'a Path,
    pub(super) bare: &'a Path,
    /// A second gateway build, on the same config.
    pub(super) candidate: Option<&'a Path>,
}

/// How one proxy is started: its command, its log's name and the port that says it is up.
struct Launch {
    proxy: Proxy,
    name: &'static str,
    log: &'static str,
    port: SocketAddr,
    cmd: Command,
}

/// `bin run --config conf`, access log off.
fn gateway_cmd(bin: &Path, conf: &Path) -> Command {
    let mut cmd = Command::new(bin);
    let log = AccessLog::Off;
    cmd.args(log.global_args())
        .arg("run")
        .arg("--config")
        .arg(conf)
        .env("RUST_LOG", log.rust_log());
    cmd
}

/// The proxies in `targets`, in start order, each on its config.
fn launches(
    tools: &Tools,
    bins: &Bins<'_>,
    confs: &ConfFiles,
    pki: &Pki,
    ports: &Ports,
    targets: &[Proxy],
) -> Vec<Launch> {
    let mut nginx = Command::new(&tools.nginx);
    nginx.arg("-c").arg(&confs.nginx);
    let mut haproxy = Command::new(&tools.haproxy);
    haproxy.arg("-db").arg("-f").arg(&confs.haproxy);
    let gateway = gateway_cmd(bins.gateway, &confs.gateway);
    let candidate = bins.candidate.map(|b| gateway_cmd(b, &confs.candidate));
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
    let mut fleet = Vec::new();
    if let (Some(redis), Some(listen), Some(conf)) = (
        ports.redis,
        ports.gateway_fleet_tls,
        confs.gateway_fleet.as_ref(),
    ) {
        // `Proxy::Direct` marks the Redis here: it is no proxy, and `Fleet::start` keeps it
        // apart.
        let mut server = Command::new("redis-server");
        server.args(["--port", &redis.port().to_string(), "--bind", "127.0.0.1"]);
        server.args(["--save", "", "--appendonly", "no"]);
        fleet.push(launch(
            Proxy::Direct,
            "redis-server",
            "redis",
            redis,
            server,
        ));
        fleet.push(launch(
            Proxy::GatewayFleet,
            "edge-gateway [fleet]",
            "gateway-fleet",
            listen,
            gateway_cmd(bins.gateway, conf),
        ));
    }
    let mut all = vec![
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
    ];
    if let Some(cmd) = candidate {
        all.push(launch(
            Proxy::Candidate,
            "edge-gateway (candidate)",
            "candidate",
            ports.candidate_tls,
            cmd,
        ));
    }
    all.extend(fleet);
    // The Redis goes with the [fleet] gateway, started right before it.
    all.retain(|l| {
        targets.contains(&l.proxy)
            || (l.proxy == Proxy::Direct && targets.contains(&Proxy::GatewayFleet))
    });
    all
}

/// Spawns `cmd` logging into `log` and waits until it listens on `port`.
fn start(name: &str, cmd: &mut Command, log: &Path, port: SocketAddr) -> Result<Proc, String> {
    let mut proc = Proc::spawn(name, cmd, log)?;
    wait_port(port, &mut proc, log)?;
    Ok(proc)
}

impl Fleet {
    /// Writes the configs into `dir` and starts the backend and every proxy of `targets` in
    /// turn, each once the one before listens.
    pub(super) fn start(
        tools: &Tools,
        bins: &Bins<'_>,
        dir: &Path,
        pki: &Pki,
        ports: &Ports,
        out: &Path,
        targets: &[Proxy],
    ) -> Result<Fleet, String> {
        let confs = confs::write(dir, pki, ports)?;
        let names: Vec<&str> = targets
            .iter()
            .filter(|&&p| p != Proxy::Direct)
            .map(|p| p.label())
            .collect();
        eprintln!("compare: starting the backend and {}", names.join(", "));
        let backend = start(
            "backend nginx",
            Command::new(&tools.nginx).arg("-c").arg(&confs.backend),
            &log_path(out, "backend"),
            ports.backend_status,
        )?;
        let mut proxies = BTreeMap::new();
        let mut redis = None;
        for mut l in launches(tools, bins, &confs, pki, ports, targets) {
            let proc = start(l.name, &mut l.cmd, &log_path(out, l.log), l.port)?;
            if l.proxy == Proxy::Direct {
                redis = Some(proc);
            } else {
                proxies.insert(l.proxy, proc);
            }
        }
        Ok(Fleet {
            backend,
            proxies,
            redis,
        })
    }

    /// The process whose CPU time is `proxy`'s: the backend's for [`Proxy::Direct`].
    pub(super) fn pid(&self, proxy: Proxy) -> Option<u32> {
        match proxy {
            Proxy::Direct => Some(self.backend.pid()),
            p => self.proxies.get(&p).map(Proc::pid),
        }
    }

    /// The backend's PID.
    pub(super) fn backend_pid(&self) -> u32 {
        self.backend.pid()
    }

    /// Stops the proxies, then the backend.
    pub(super) fn stop(self) {
        let Fleet {
            mut backend,
            proxies,
            redis,
        } = self;
        for (_, mut p) in proxies {
            p.stop();
        }
        if let Some(mut r) = redis {
            r.stop();
        }
        backend.stop();
    }
}
