//! A real `redis-server` for the fleet's unit tests: started on a free loopback port with no
//! persistence, ready when it answers `PING`, killed by PID when dropped. `cargo xtask`
//! installs `redis-server` when it is missing.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server` owned by one test.
pub struct TestRedis {
    child: Child,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
}

impl TestRedis {
    /// Starts one and waits (up to 10 s) until it answers.
    pub fn start() -> TestRedis {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (run `cargo xtask deps` to install it)");
        let r = TestRedis { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !r.answers() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING"
            );
            // Polling the socket is the readiness signal redis-server offers.
            std::thread::sleep(Duration::from_millis(10));
        }
        r
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn answers(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
