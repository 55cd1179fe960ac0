//! Fleet mode under test: a real `redis-server` the test owns (a loopback port or a unix
//! socket; killed by PID on drop; killable, restartable and pausable mid-test), and gateway
//! replicas of one topology sharing it.
//!
//! Each replica has a directory of its own under the topology's, with the same config text
//! except `[listeners]` and `fleet.node_id` (which the fleet's configuration hash ignores),
//! so its state file is its own and the fleet sees no drift.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_addr, GatewayProcess, Topology, ADMIN_TOKEN};

/// Where a test Redis listens.
#[derive(Debug, Clone)]
pub enum RedisAddr {
    /// 127.0.0.1 and this port.
    Tcp(u16),
    /// This unix socket.
    Unix(PathBuf),
}

/// A `redis-server` without persistence, owned by one test.
pub struct RedisServer {
    child: Option<Child>,
    /// Where it listens (the same after a restart).
    pub addr: RedisAddr,
}

impl RedisServer {
    /// Starts one on a free loopback port.
    pub fn start_tcp() -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Self::start(RedisAddr::Tcp(port))
    }

    /// Starts one on a unix socket in `dir`.
    pub fn start_unix(dir: &Path) -> RedisServer {
        Self::start(RedisAddr::Unix(dir.join("redis.sock")))
    }

    fn start(addr: RedisAddr) -> RedisServer {
        let mut r = RedisServer { child: None, addr };
        r.restart();
        r
    }

    /// The URL for `[fleet] redis_url`.
    pub fn url(&self) -> String {
        match &self.addr {
            RedisAddr::Tcp(port) => format!("redis://127.0.0.1:{port}"),
            RedisAddr::Unix(path) => format!("redis+unix://{}", path.display()),
        }
    }

    /// Starts it (again) where it listened, and waits until it answers `PING`.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "redis-server is running already");
        let mut cmd = Command::new("redis-server");
        cmd.args(["--save", "", "--appendonly", "no", "--protected-mode", "no"]);
        match &self.addr {
            RedisAddr::Tcp(port) => {
                cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"]);
            }
            RedisAddr::Unix(path) => {
                cmd.args(["--port", "0", "--unixsocket"]).arg(path);
            }
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (cargo xtask deps installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING"
            );
            // Polling its socket is the readiness signal redis-server offers.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills it (SIGKILL: no goodbye to the clients) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Freezes it (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Thaws it (SIGCONT).
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, sig: i32) {
        let pid = self.child.as_ref().expect("redis-server running").id();
        crate::gateway::send_signal(pid, sig);
    }

    fn answers(&self) -> bool {
        let ping = |s: &mut dyn ReadWrite| {
            let mut buf = [0u8; 7];
            s.write_all(b"PING\r\n").is_ok()
                && s.read_exact(&mut buf).is_ok()
                && &buf == b"+PONG\r\n"
        };
        match &self.addr {
            RedisAddr::Tcp(port) => TcpStream::connect(("127.0.0.1", *port)).is_ok_and(|mut s| {
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                ping(&mut s)
            }),
            RedisAddr::Unix(path) => UnixStream::connect(path).is_ok_and(|mut s| {
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                ping(&mut s)
            }),
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // SIGKILL ends a stopped process too.
        self.kill();
    }
}

/// One gateway replica of a fleet.
pub struct Replica {
    /// Its name (`fleet.node_id`).
    pub name: String,
    /// Its HTTPS listener.
    pub https: SocketAddr,
    /// Its admin listener.
    pub admin: SocketAddr,
    /// Its config file.
    pub config: PathBuf,
    /// The running process, if started.
    pub process: Option<GatewayProcess>,
}

impl Replica {
    /// Writes replica `name`'s config: `topo`'s (with an admin listener and a state file),
    /// in a directory of its own, with `fleet` (the `[fleet]` section, without `node_id`)
    /// and `extra` appended.
    pub fn write(topo: &Topology, name: &str, fleet: &str, extra: &str) -> Replica {
        let dir = topo.dir.path().join(name);
        std::fs::create_dir_all(&dir).expect("replica dir");
        let (https, http, admin) = (free_addr(), free_addr(), free_addr());
        let mut t = topo.config_toml();
        let placeholder = topo.admin.unwrap_or_else(free_addr);
        if topo.admin.is_none() {
            t = t.replace(
                "[tls]\n",
                &format!("admin = \"{placeholder}\"\n\n[admin]\nstate_file = \"overrides.json\"\n\n[tls]\n"),
            );
        }
        let text = t
            .replace(&topo.https.to_string(), &https.to_string())
            .replace(&topo.http.to_string(), &http.to_string())
            .replace(&placeholder.to_string(), &admin.to_string())
            .replace("cert = \"edge.pem\"", "cert = \"../edge.pem\"")
            .replace("key = \"edge.key\"", "key = \"../edge.key\"");
        let text = format!("{text}\n{extra}\n[fleet]\nnode_id = \"{name}\"\n{fleet}\n");
        let config = dir.join("edge.toml");
        std::fs::write(&config, text).expect("write replica config");
        Replica {
            name: name.to_owned(),
            https,
            admin,
            config,
            process: None,
        }
    }

    /// Starts the replica and waits until it listens.
    pub fn start(&mut self) {
        self.process = Some(GatewayProcess::start_full(
            &self.config,
            self.https,
            &[],
            &[("EDGE_ADMIN_TOKEN", ADMIN_TOKEN)],
        ));
    }

    /// Stops it (SIGKILL through the handle).
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.process
            .as_ref()
            .map(GatewayProcess::log_text)
            .unwrap_or_default()
    }

    /// A client that trusts `topo`'s CA and sends `gw.test` to this replica.
    pub fn client(&self, topo: &Topology) -> reqwest::Client {
        crate::init_crypto();
        let ca = reqwest::Certificate::from_der(&topo.pki.ca_der()).expect("CA cert");
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .resolve("gw.test", self.https)
            .timeout(Duration::from_secs(10))
            .build()
            .expect("build client")
    }

    /// `https://gw.test:<port>`.
    pub fn base_url(&self) -> String {
        format!("https://gw.test:{}", self.https.port())
    }

    /// Runs `edge-gateway ctl --admin <this replica> ARGS`: (exit code, stdout + stderr).
    pub fn ctl(&self, args: &[&str]) -> (i32, String) {
        ctl_at(self.admin, args)
    }

    /// The sum of the samples of metric `name` (0 when absent).
    pub async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::Client::new()
            .get(format!("http://{}/metrics", self.admin))
            .bearer_auth(ADMIN_TOKEN)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("read /metrics");
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
            .expect("valid Prometheus text")
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    }

    /// Polls `name` until `ok` accepts it or `within` passes; the time it took, if it did.
    pub async fn wait_metric(
        &self,
        name: &str,
        within: Duration,
        ok: impl Fn(f64) -> bool,
    ) -> Option<Duration> {
        let started = Instant::now();
        loop {
            if ok(self.metric(name).await) {
                return Some(started.elapsed());
            }
            if started.elapsed() > within {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `GET /api/v1/<path>` on the admin API, as JSON.
    pub async fn api(&self, path: &str) -> (u16, serde_json::Value) {
        let r = reqwest::Client::new()
            .get(format!("http://{}/api/v1/{path}", self.admin))
            .bearer_auth(ADMIN_TOKEN)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("admin API");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }
}

/// Runs `edge-gateway ctl --admin http://ADMIN ARGS` with the test token: (exit code, stdout +
/// stderr). Blocking: from async code, call it through `spawn_blocking`.
pub fn ctl_at(admin: SocketAddr, args: &[&str]) -> (i32, String) {
    let out = Command::new(crate::gateway_bin())
        .arg("ctl")
        .arg("--admin")
        .arg(format!("http://{admin}"))
        .args(args)
        .env("EDGE_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()
        .expect("run ctl");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
