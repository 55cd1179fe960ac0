//! A misbehaving origin on raw TCP: it reads each request head (and its body, by
//! Content-Length or chunked) and then does exactly what the test says — answer bytes that no
//! well-behaved server would write, close mid-response, or close without answering.
//!
//! Health probes (`GET /healthz`) are always answered `200`, so the gateway sees the origin as
//! healthy and sends it traffic. Every other request is recorded (method, path, body) before
//! it is answered: the record is how a test counts executions.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A request as the raw origin read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRequest {
    /// Request method.
    pub method: String,
    /// Request target.
    pub path: String,
    /// Header lines, lowercase names.
    pub headers: Vec<(String, String)>,
    /// The head exactly as received: the request line and the header lines, CRLFs included
    /// (names as spelled), then any chunked trailer lines, each prefixed `trailer `.
    pub head: String,
    /// The body (de-chunked).
    pub body: Vec<u8>,
    /// How many requests came before this one on the same connection.
    pub on_connection: usize,
}

impl RawRequest {
    /// The request line.
    pub fn line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }

    /// Header lines as sent (name spelling kept), in order.
    pub fn fields(&self) -> Vec<(&str, &str)> {
        self.head
            .split("\r\n")
            .skip(1)
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n, v.trim()))
            .collect()
    }

    /// Every value of `name` (compared case-insensitively), in order.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.fields()
            .into_iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .collect()
    }
}

/// What the raw origin does with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Write these bytes and keep the connection for the next request.
    Write(Vec<u8>),
    /// Write these bytes, then close.
    WriteAndClose(Vec<u8>),
    /// Close without a byte of response.
    Close,
    /// Hold the request (a slow origin) for this long, then answer `200`; the hold ends early
    /// when the gateway closes the connection (it cancelled the request). Counted in
    /// [`RawOrigin::in_flight`] while held.
    Hold(std::time::Duration),
}

impl Answer {
    /// A keep-alive `200` with a short body.
    pub fn ok(body: &str) -> Answer {
        Answer::Write(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-sim-region: raw\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
    }
}

type Behaviour = dyn Fn(&RawRequest) -> Answer + Send + Sync;

/// A raw origin listening on loopback; stops when dropped.
pub struct RawOrigin {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<RawRequest>>>,
    in_flight: Arc<InFlight>,
    task: JoinHandle<()>,
}

/// Requests being held now, and the most at once.
#[derive(Debug, Default)]
struct InFlight {
    now: std::sync::atomic::AtomicUsize,
    max: std::sync::atomic::AtomicUsize,
}

impl RawOrigin {
    /// Starts an origin that answers each (non-probe) request with `behaviour`.
    pub async fn start(
        behaviour: impl Fn(&RawRequest) -> Answer + Send + Sync + 'static,
    ) -> RawOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let in_flight = Arc::new(InFlight::default());
        let behaviour: Arc<Behaviour> = Arc::new(behaviour);
        let task = tokio::spawn({
            let requests = requests.clone();
            let in_flight = in_flight.clone();
            async move {
                while let Ok((conn, _)) = listener.accept().await {
                    tokio::spawn(serve(
                        conn,
                        behaviour.clone(),
                        requests.clone(),
                        in_flight.clone(),
                    ));
                }
            }
        });
        RawOrigin {
            addr,
            requests,
            in_flight,
            task,
        }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every non-probe request it read, in order.
    pub fn requests(&self) -> Vec<RawRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// Requests held ([`Answer::Hold`]) right now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.now.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The most requests held at once so far.
    pub fn max_in_flight(&self) -> usize {
        self.in_flight.max.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for RawOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    conn: TcpStream,
    behaviour: Arc<Behaviour>,
    requests: Arc<Mutex<Vec<RawRequest>>>,
    in_flight: Arc<InFlight>,
) {
    let mut conn = BufReader::new(conn);
    let mut count = 0;
    loop {
        let Some(mut req) = read_request(&mut conn).await else {
            return;
        };
        if req.method == "GET" && req.path == "/healthz" {
            let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
            if conn.get_mut().write_all(ok).await.is_err() {
                return;
            }
            continue;
        }
        req.on_connection = count;
        count += 1;
        requests.lock().unwrap().push(req.clone());
        match behaviour(&req) {
            Answer::Write(bytes) => {
                if conn.get_mut().write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Answer::WriteAndClose(bytes) => {
                let _ = conn.get_mut().write_all(&bytes).await;
                let _ = conn.get_mut().shutdown().await;
                return;
            }
            Answer::Close => return,
            Answer::Hold(hold) => {
                use std::sync::atomic::Ordering::SeqCst;
                let now = in_flight.now.fetch_add(1, SeqCst) + 1;
                in_flight.max.fetch_max(now, SeqCst);
                // Watch the connection while holding: a read of 0 bytes is the gateway
                // giving up on the request.
                let mut probe = [0u8; 1];
                let cancelled = tokio::select! {
                    _ = tokio::time::sleep(hold) => false,
                    r = conn.read(&mut probe) => matches!(r, Ok(0) | Err(_)),
                };
                in_flight.now.fetch_sub(1, SeqCst);
                if cancelled {
                    return;
                }
                let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nheld";
                if conn.get_mut().write_all(ok).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn read_request(conn: &mut BufReader<TcpStream>) -> Option<RawRequest> {
    let mut line = String::new();
    if conn.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut head = line.clone();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if conn.read_line(&mut h).await.ok()? == 0 {
            return None;
        }
        head.push_str(&h);
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (n, v) = h.split_once(':')?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            conn.read_line(&mut size).await.ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            if size == 0 {
                // Trailer lines, then the empty line.
                loop {
                    let mut t = String::new();
                    if conn.read_line(&mut t).await.ok()? == 0 {
                        return None;
                    }
                    if t.trim_end().is_empty() {
                        break;
                    }
                    head.push_str("trailer ");
                    head.push_str(&t);
                }
                break;
            }
            let mut chunk = vec![0u8; size + 2];
            conn.read_exact(&mut chunk).await.ok()?;
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body = vec![0u8; len];
        conn.read_exact(&mut body).await.ok()?;
    }
    Some(RawRequest {
        method,
        path,
        headers,
        head,
        body,
        on_connection: 0,
    })
}
