//! What a TLS client sends first, read before anything is decrypted: a PROXY v2 header when a
//! trusted peer edge passed the connection on, then the TLS records of the ClientHello,
//! recorded byte for byte so that they can be replayed to the handshake (terminate) or to a
//! peer edge (pass through).
//!
//! The ClientHello is parsed by rustls' own [`Acceptor`] (the parser the handshake uses),
//! fed from the recorded bytes; only its SNI is kept. Reading is bounded in size
//! ([`MAX_CLIENT_HELLO_BYTES`], [`proxy_protocol::MAX_HEADER_BYTES`]) here and in time by the
//! caller (`limits.tls_handshake_timeout`).

use std::io;
use std::net::IpAddr;

use edge_config::Cidr;
use rustls::server::Acceptor;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::proxy_protocol::{self, Parsed, ProxyHeader};

/// Most bytes read for a ClientHello (its records, and whatever came with them). Browsers'
/// hellos are 0.5 to 2 KiB (post-quantum key shares included); a hello that needs more is
/// refused like a malformed one.
pub const MAX_CLIENT_HELLO_BYTES: usize = 16 * 1024;

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 4096;

/// What the client (or the peer edge in front of it) sent before the handshake proper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preface {
    /// The PROXY header, when a trusted peer sent one.
    pub proxy: Option<ProxyHeader>,
    /// The server name the client asked for, when it sent one.
    pub sni: Option<String>,
    /// Every byte read after the PROXY header: the ClientHello's records and anything that
    /// came in the same reads. Replayed in full.
    pub recorded: Vec<u8>,
}

/// Why no ClientHello was read. Each closes the connection.
#[derive(Debug, thiserror::Error)]
pub enum PrefaceError {
    /// The connection closed before sending a TLS byte (a port check, or a peer's probe): not
    /// a failed handshake.
    #[error("closed before the handshake")]
    Closed,
    /// A PROXY header from an address outside `[edge] trusted_peers`.
    #[error("PROXY header from an untrusted address")]
    UntrustedProxy,
    /// A trusted peer's PROXY header that this gateway does not take.
    #[error("{0}")]
    BadProxy(String),
    /// Not a ClientHello, a malformed or oversized one, or one cut short.
    #[error("{0}")]
    BadHello(String),
    /// Reading failed.
    #[error("read: {0}")]
    Io(#[from] io::Error),
}

impl PrefaceError {
    /// A short label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            PrefaceError::Closed => "closed",
            PrefaceError::UntrustedProxy => "untrusted",
            PrefaceError::BadProxy(_) => "malformed",
            PrefaceError::BadHello(_) => "bad_client_hello",
            PrefaceError::Io(_) => "io",
        }
    }
}

/// How far a [`HelloReader`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The ClientHello is not complete yet.
    NeedMore,
    /// The ClientHello is complete.
    Done {
        /// Its server name, when it has one.
        sni: Option<String>,
    },
    /// Not a (usable) ClientHello: why.
    Invalid(String),
}

/// Reads a ClientHello from bytes fed to it, recording them. Pure: no socket.
pub struct HelloReader {
    acceptor: Option<Acceptor>,
    recorded: Vec<u8>,
}

impl Default for HelloReader {
    fn default() -> Self {
        HelloReader {
            acceptor: Some(Acceptor::default()),
            recorded: Vec::new(),
        }
    }
}

impl HelloReader {
    /// Feeds the next bytes read from the client.
    pub fn feed(&mut self, bytes: &[u8]) -> Progress {
        if self.recorded.len() + bytes.len() > MAX_CLIENT_HELLO_BYTES {
            return Progress::Invalid(format!(
                "no complete ClientHello in {MAX_CLIENT_HELLO_BYTES} bytes"
            ));
        }
        self.recorded.extend_from_slice(bytes);
        let mut rest = bytes;
        loop {
            let Some(acceptor) = self.acceptor.as_mut() else {
                return Progress::Invalid("the ClientHello was already read".into());
            };
            let read = match acceptor.read_tls(&mut rest) {
                Ok(n) => n,
                Err(e) => return Progress::Invalid(format!("not TLS: {e}")),
            };
            match acceptor.accept() {
                Ok(Some(accepted)) => {
                    self.acceptor = None;
                    let sni = accepted.client_hello().server_name().map(str::to_owned);
                    return Progress::Done { sni };
                }
                Ok(None) if rest.is_empty() => return Progress::NeedMore,
                Ok(None) if read == 0 => {
                    self.acceptor = None;
                    return Progress::Invalid("the ClientHello does not fit the reader".into());
                }
                Ok(None) => {}
                Err((e, _alert)) => {
                    self.acceptor = None;
                    return Progress::Invalid(format!("not a ClientHello: {e}"));
                }
            }
        }
    }

    /// The bytes fed so far.
    pub fn into_recorded(self) -> Vec<u8> {
        self.recorded
    }
}

/// Reads the preface of a connection from `peer`: a PROXY v2 header (accepted only when
/// `peer` is in `trusted_peers`), then the ClientHello. Unbounded in time: the caller bounds
/// it.
pub async fn read_preface<S: AsyncRead + Unpin>(
    io: &mut S,
    peer: Option<IpAddr>,
    trusted_peers: &[Cidr],
) -> Result<Preface, PrefaceError> {
    let trusted = peer.is_some_and(|ip| trusted_peers.iter().any(|c| c.contains(ip)));
    let mut buf = Vec::with_capacity(READ_CHUNK);
    let proxy = loop {
        match proxy_protocol::parse(&buf) {
            Parsed::NotProxy => break None,
            Parsed::Header(_) | Parsed::Refused(_) if !trusted => {
                return Err(PrefaceError::UntrustedProxy)
            }
            Parsed::Header(h) => {
                buf.drain(..h.len);
                break Some(h);
            }
            Parsed::Refused(why) => return Err(PrefaceError::BadProxy(why)),
            Parsed::Incomplete => {
                if read_more(io, &mut buf).await? == 0 {
                    return Err(if buf.is_empty() {
                        PrefaceError::Closed
                    } else {
                        PrefaceError::BadProxy("closed inside the PROXY header".into())
                    });
                }
            }
        }
    };
    let mut reader = HelloReader::default();
    let mut progress = if buf.is_empty() {
        Progress::NeedMore
    } else {
        reader.feed(&buf)
    };
    loop {
        match progress {
            Progress::Done { sni } => {
                return Ok(Preface {
                    proxy,
                    sni,
                    recorded: reader.into_recorded(),
                })
            }
            Progress::Invalid(why) => return Err(PrefaceError::BadHello(why)),
            Progress::NeedMore => {}
        }
        buf.clear();
        if read_more(io, &mut buf).await? == 0 {
            return Err(if reader.recorded.is_empty() {
                PrefaceError::Closed
            } else {
                PrefaceError::BadHello("closed inside the ClientHello".into())
            });
        }
        progress = reader.feed(&buf);
    }
}

async fn read_more<S: AsyncRead + Unpin>(io: &mut S, buf: &mut Vec<u8>) -> io::Result<usize> {
    let start = buf.len();
    buf.resize(start + READ_CHUNK, 0);
    let n = io.read(&mut buf[start..]).await;
    buf.truncate(start + *n.as_ref().unwrap_or(&0));
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Arc;

    /// The first flight of a real rustls client asking for `name`.
    pub(crate) fn client_hello(name: &str) -> Vec<u8> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let mut conn = rustls::ClientConnection::new(
            Arc::new(config),
            rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap(),
        )
        .unwrap();
        let mut out = Vec::new();
        conn.write_tls(&mut out).unwrap();
        out
    }

    #[test]
    fn a_hello_is_read_whole_or_in_pieces() {
        let hello = client_hello("t1.app.test");
        let mut r = HelloReader::default();
        assert_eq!(
            r.feed(&hello),
            Progress::Done {
                sni: Some("t1.app.test".into())
            }
        );
        assert_eq!(r.into_recorded(), hello);
        let mut r = HelloReader::default();
        let mut last = Progress::NeedMore;
        for byte in &hello {
            assert_eq!(last, Progress::NeedMore);
            last = r.feed(std::slice::from_ref(byte));
        }
        assert_eq!(
            last,
            Progress::Done {
                sni: Some("t1.app.test".into())
            }
        );
    }

    #[test]
    fn garbage_and_oversized_input_are_refused() {
        let mut r = HelloReader::default();
        assert!(matches!(
            r.feed(b"GET / HTTP/1.1\r\n\r\n"),
            Progress::Invalid(_)
        ));
        // A handshake record header announcing more than anything will send.
        let mut r = HelloReader::default();
        let mut progress = r.feed(&[0x16, 0x03, 0x01, 0x40, 0x00]);
        while progress == Progress::NeedMore {
            progress = r.feed(&[0u8; 1024]);
        }
        assert!(matches!(progress, Progress::Invalid(_)), "{progress:?}");
    }

    #[tokio::test]
    async fn the_preface_takes_a_trusted_proxy_header_only() {
        let hello = client_hello("t1.app.test");
        let client: std::net::SocketAddr = "203.0.113.9:5000".parse().unwrap();
        let mut bytes = proxy_protocol::header(client, "127.0.0.10:8443".parse().unwrap());
        bytes.extend_from_slice(&hello);
        let trusted = [Cidr::parse("127.0.0.0/8").unwrap()];
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let p = read_preface(&mut &bytes[..], Some(local), &trusted)
            .await
            .unwrap();
        assert_eq!(p.proxy.unwrap().source, Some(client));
        assert_eq!(p.sni.as_deref(), Some("t1.app.test"));
        assert_eq!(p.recorded, hello);
        let e = read_preface(&mut &bytes[..], Some(local), &[])
            .await
            .unwrap_err();
        assert!(matches!(e, PrefaceError::UntrustedProxy), "{e:?}");
        // Without a header, trusted or not.
        let p = read_preface(&mut &hello[..], Some(local), &trusted)
            .await
            .unwrap();
        assert_eq!(p.proxy, None);
        assert_eq!(p.recorded, hello);
        // Nothing at all, or a LOCAL header and nothing: not a handshake.
        let e = read_preface(&mut &b""[..], Some(local), &[]).await;
        assert!(matches!(e, Err(PrefaceError::Closed)));
        let local_only = proxy_protocol::local_header();
        let e = read_preface(&mut &local_only[..], Some(local), &trusted).await;
        assert!(matches!(e, Err(PrefaceError::Closed)), "{e:?}");
        let e = read_preface(&mut &hello[..hello.len() - 1], Some(local), &[]).await;
        assert!(matches!(e, Err(PrefaceError::BadHello(_))), "{e:?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]
        /// Malformed, truncated, mutated or oversized hellos: an answer, never a panic, and
        /// never more recorded than the bound.
        #[test]
        fn the_reader_is_total_and_bounded(
            cut in 0usize..2000,
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
            noise in proptest::collection::vec(any::<u8>(), 0..20_000),
            piece in 1usize..600,
        ) {
            let mut hello = client_hello("a.app.test");
            for (at, value) in flips {
                let i = at % hello.len();
                hello[i] = value;
            }
            hello.truncate(cut.min(hello.len()));
            hello.extend_from_slice(&noise);
            let mut r = HelloReader::default();
            let mut fed = 0;
            for chunk in hello.chunks(piece) {
                fed += chunk.len();
                match r.feed(chunk) {
                    Progress::NeedMore => prop_assert!(fed <= MAX_CLIENT_HELLO_BYTES),
                    Progress::Done { .. } | Progress::Invalid(_) => break,
                }
            }
            prop_assert!(r.into_recorded().len() <= MAX_CLIENT_HELLO_BYTES);
        }
    }
}
