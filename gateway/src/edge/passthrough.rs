//! The L4 passthrough: a connection whose ClientHello names a foreign tenant goes, still
//! encrypted, to an edge of the tenant's geography: a PROXY v2 header with the client's
//! address, the recorded ClientHello bytes, then both directions spliced until either side
//! closes.
//!
//! Nothing here reads or changes the TLS bytes. The splice has no timeout of its own: the home
//! edge's `request_header_timeout` and `idle_timeout` close a connection that stalls there,
//! and that close ends the splice. The connection keeps its slot (`limits.max_connections`)
//! for as long as it is spliced.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::proxy_protocol;

/// Why no peer took the connection.
#[derive(Debug, thiserror::Error)]
#[error("no peer edge took the connection (tried {tried})")]
pub struct Unreachable {
    /// Addresses tried.
    pub tried: usize,
}

/// Connects to the first of `peers` that answers within `connect_timeout`, starting at
/// `start` (so that connections spread over a geography's edges) and going round once.
/// Every address that fails is passed to `failed`. On success the PROXY v2 header (client
/// `client`, destination `local`) and `recorded` have been written.
pub async fn connect(
    peers: &[SocketAddr],
    start: usize,
    connect_timeout: Duration,
    client: SocketAddr,
    local: SocketAddr,
    recorded: &[u8],
    mut failed: impl FnMut(SocketAddr),
) -> Result<(TcpStream, SocketAddr), Unreachable> {
    let header = proxy_protocol::header(client, local);
    for i in 0..peers.len() {
        let addr = peers[(start + i) % peers.len()];
        let attempt = async {
            let mut up = TcpStream::connect(addr).await?;
            up.set_nodelay(true)?;
            // One write: the header and the hello travel in one segment when they fit.
            let mut first = Vec::with_capacity(header.len() + recorded.len());
            first.extend_from_slice(&header);
            first.extend_from_slice(recorded);
            up.write_all(&first).await?;
            Ok::<_, std::io::Error>(up)
        };
        match tokio::time::timeout(connect_timeout, attempt).await {
            Ok(Ok(up)) => return Ok((up, addr)),
            Ok(Err(e)) => {
                tracing::debug!(peer = %addr, error = %e, "peer edge refused a passthrough")
            }
            Err(_) => tracing::debug!(peer = %addr, "peer edge did not answer in time"),
        }
        failed(addr);
    }
    Err(Unreachable { tried: peers.len() })
}

/// Copies both directions between `client` and `peer` until both are done (each side's end
/// is passed on as a half-close). Returns the bytes sent each way (client to peer, peer to
/// client); an error ends the splice quietly: either end closing abruptly is routine.
pub async fn splice<C, P>(client: &mut C, peer: &mut P) -> (u64, u64)
where
    C: AsyncRead + AsyncWrite + Unpin + ?Sized,
    P: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    match tokio::io::copy_bidirectional(client, peer).await {
        Ok(counts) => counts,
        Err(e) => {
            tracing::debug!(error = %e, "passthrough ended with an error");
            (0, 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn the_first_answering_peer_gets_the_header_and_the_hello() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let good = listener.local_addr().unwrap();
        // A port nothing listens on: bound, then closed.
        let dead = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let client: SocketAddr = "203.0.113.9:4000".parse().unwrap();
        let local: SocketAddr = "127.0.0.10:8443".parse().unwrap();
        let mut failed = Vec::new();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = vec![0u8; 28 + 5];
            s.read_exact(&mut got).await.unwrap();
            s.write_all(b"pong").await.unwrap();
            got
        });
        let (mut up, addr) = connect(
            &[dead, good],
            0,
            Duration::from_secs(5),
            client,
            local,
            b"hello",
            |a| failed.push(a),
        )
        .await
        .unwrap();
        assert_eq!(addr, good);
        assert_eq!(failed, vec![dead]);
        let got = server.await.unwrap();
        let proxy_protocol::Parsed::Header(h) = proxy_protocol::parse(&got) else {
            panic!("no PROXY header in {got:?}")
        };
        assert_eq!(h.source, Some(client));
        assert_eq!(&got[h.len..], b"hello");
        let mut pong = [0u8; 4];
        up.read_exact(&mut pong).await.unwrap();
        assert_eq!(&pong, b"pong");
        let err = connect(
            &[dead],
            0,
            Duration::from_secs(5),
            client,
            local,
            b"",
            |_| {},
        )
        .await
        .unwrap_err();
        assert_eq!(err.tried, 1);
    }

    #[tokio::test]
    async fn the_splice_carries_both_directions_to_the_end() {
        let (mut a, mut a_far) = tokio::io::duplex(64);
        let (mut b, mut b_far) = tokio::io::duplex(64);
        let relay = tokio::spawn(async move { splice(&mut a, &mut b).await });
        a_far.write_all(b"from client").await.unwrap();
        a_far.shutdown().await.unwrap();
        let mut got = Vec::new();
        b_far.write_all(b"from peer!").await.unwrap();
        b_far.shutdown().await.unwrap();
        b_far.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"from client");
        let mut back = Vec::new();
        a_far.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"from peer!");
        assert_eq!(relay.await.unwrap(), (11, 10));
    }
}
