//! One active health probe: `GET <path>` over a fresh connection (TLS when the origin is),
//! judged by the status code, timed to the status line.
//!
//! A fresh connection each time on purpose: a probe must notice an origin that stopped
//! accepting connections, which a pooled connection would hide.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use edge_config::StatusRange;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Longest status line + headers read before giving up on finding the status line.
const MAX_HEAD: usize = 8 * 1024;

/// What one probe needs to know.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    /// Where to connect.
    pub addr: SocketAddr,
    /// TLS with this server name, or plaintext.
    pub tls: Option<String>,
    /// `Host` header.
    pub host: String,
    /// Request path.
    pub path: String,
    /// Statuses that count as passing.
    pub expected: Vec<StatusRange>,
    /// Time allowed for the whole probe.
    pub timeout: Duration,
}

/// The verdict of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    /// Passed: an expected status arrived in time.
    pub ok: bool,
    /// Time from connect start to the status line.
    pub rtt: Duration,
    /// What went wrong, when it failed.
    pub detail: Option<String>,
}

/// Runs one probe; never takes longer than `target.timeout`.
pub async fn probe(target: &ProbeTarget, tls: Option<&TlsConnector>) -> ProbeOutcome {
    let start = Instant::now();
    let result = tokio::time::timeout(target.timeout, run(target, tls)).await;
    let rtt = start.elapsed();
    match result {
        Err(_) => ProbeOutcome {
            ok: false,
            rtt,
            detail: Some(format!("timed out after {:?}", target.timeout)),
        },
        Ok(Err(e)) => ProbeOutcome {
            ok: false,
            rtt,
            detail: Some(e),
        },
        Ok(Ok(status)) => {
            let ok = target.expected.iter().any(|r| r.contains(status));
            ProbeOutcome {
                ok,
                rtt,
                detail: (!ok).then(|| format!("unexpected status {status}")),
            }
        }
    }
}

async fn run(target: &ProbeTarget, tls: Option<&TlsConnector>) -> Result<u16, String> {
    let tcp = TcpStream::connect(target.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    match (&target.tls, tls) {
        (Some(name), Some(connector)) => {
            let server_name = ServerName::try_from(name.clone())
                .map_err(|e| format!("invalid TLS server name {name:?}: {e}"))?;
            let stream = connector
                .connect(server_name, tcp)
                .await
                .map_err(|e| format!("TLS: {e}"))?;
            exchange(stream, target).await
        }
        (Some(_), None) => Err("TLS origin but no TLS client configured".into()),
        (None, _) => exchange(tcp, target).await,
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    target: &ProbeTarget,
) -> Result<u16, String> {
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: edge-gateway-health/{}\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n",
        target.path,
        target.host,
        env!("CARGO_PKG_VERSION")
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    loop {
        if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
            return parse_status_line(&buf[..end]);
        }
        if buf.len() > MAX_HEAD {
            return Err("no status line in the first 8 KiB".into());
        }
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("connection closed before a status line".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Parses `HTTP/1.x NNN reason`.
pub fn parse_status_line(line: &[u8]) -> Result<u16, String> {
    let text = std::str::from_utf8(line).map_err(|_| "status line is not UTF-8".to_string())?;
    let mut parts = text.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return Err(format!("malformed status line {text:?}"));
    }
    code.parse::<u16>()
        .map_err(|_| format!("malformed status line {text:?}"))
}

/// A TLS client for probing TLS origins, trusting the platform's roots (as the proxy does).
pub fn tls_connector() -> Option<TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs().ok()?;
    for cert in native {
        let _ = roots.add(cert);
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Some(TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK"), Ok(200));
        assert_eq!(parse_status_line(b"HTTP/1.0 503"), Ok(503));
        assert!(parse_status_line(b"SSH-2.0-OpenSSH").is_err());
        assert!(parse_status_line(b"HTTP/1.1 20 OK").is_err());
    }
}
