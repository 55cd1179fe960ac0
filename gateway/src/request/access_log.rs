//! One access-log line per request, written off the request path.
//!
//! A line is formatted straight into a buffer owned by the worker thread that handled the
//! request (no allocation once the buffer has grown, no lock anyone else holds but for the
//! moment of a swap, no system call); a writer thread swaps the buffers out every
//! `flush_interval` (or sooner when one is half full) and writes each with one `write`. When
//! the sink is slower than the traffic, a full buffer drops new lines and counts them
//! (`edge_access_log_dropped_total`): requests never wait for the log. Successful requests can
//! be sampled (`sample_success`); errors are always written.
//!
//! A file sink is opened for appending and reopened when it is rotated away (renamed or
//! deleted: checked once a second), so `logrotate` works without a signal.
//!
//! Why not `tracing`: formatting an event through `tracing-subscriber` and handing each line
//! to a non-blocking writer cost several microseconds and an allocation per request (measured
//! in `docs/performance.md`), a quarter of the throughput with the log on; this costs a few
//! hundred nanoseconds. `RUST_LOG=access=off` still turns the log off, as before.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime};

use edge_config::{AccessLogFormat, LogSink, TenantId};
use pingora::proxy::Session;
use prometheus::IntCounter;

/// What the access log records about a finished request.
#[derive(Debug, Clone, Copy)]
pub struct RequestSummary<'a> {
    /// The request id (propagated or generated).
    pub request_id: &'a str,
    /// The client as rate limits and location saw it: the socket peer, or the address a
    /// trusted proxy or peer edge forwarded (`None` before admission read it).
    pub client_ip: Option<std::net::IpAddr>,
    /// The tenant, when identified.
    pub tenant: Option<TenantId>,
    /// The tenant's geography.
    pub geography: Option<&'a str>,
    /// The region of the last origin tried.
    pub region: Option<&'a str>,
    /// The last origin tried.
    pub origin: Option<&'a str>,
    /// Upstream attempts made.
    pub attempts: usize,
    /// The gateway error that ended the request, if any.
    pub error: Option<&'a str>,
    /// Time since the request was read.
    pub duration: Duration,
}

/// One worker thread's pending lines.
type Buffer = Arc<Mutex<Vec<u8>>>;

/// What the request threads and the writer share.
#[derive(Default)]
struct Shared {
    buffers: Mutex<Vec<Buffer>>,
    writer: Mutex<Option<std::thread::Thread>>,
    stop: AtomicBool,
    /// Set by the writer once its last pass is written.
    done: (Mutex<bool>, std::sync::Condvar),
}

/// The access log: cheap to clone, one per process.
#[derive(Clone)]
pub struct AccessLog {
    enabled: bool,
    format: AccessLogFormat,
    sample_success: f64,
    cap: usize,
    shared: Arc<Shared>,
    lines: IntCounter,
    dropped: IntCounter,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog")
            .field("enabled", &self.enabled)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// This thread's buffer for each access log it wrote to (one in a running gateway).
    static BUFFERS: RefCell<Vec<(Weak<Shared>, Buffer)>> = const { RefCell::new(Vec::new()) };
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AccessLog {
    /// A log that writes nothing (counting into `lines` and `dropped` if it ever did).
    pub fn disabled(lines: IntCounter, dropped: IntCounter) -> AccessLog {
        AccessLog {
            enabled: false,
            format: AccessLogFormat::Json,
            sample_success: 1.0,
            cap: 0,
            shared: Arc::new(Shared::default()),
            lines,
            dropped,
        }
    }

    /// A log per `config`, counting written and dropped lines in `lines` and `dropped`, and
    /// its writer thread (not started when the log is off). `tracing_allows` is whether the
    /// `access` log target is enabled (`RUST_LOG`), which can turn the log off too. Fails when
    /// the file sink cannot be opened.
    pub fn start(
        config: &edge_config::AccessLog,
        tracing_allows: bool,
        lines: IntCounter,
        dropped: IntCounter,
    ) -> std::io::Result<AccessLog> {
        let log = AccessLog {
            enabled: config.enabled && tracing_allows,
            format: config.format,
            sample_success: config.sample_success,
            cap: config.buffer_bytes,
            shared: Arc::new(Shared::default()),
            lines,
            dropped,
        };
        if log.enabled {
            let mut sink = Sink::open(&config.sink)?;
            let shared = log.shared.clone();
            let every = config.flush_interval;
            let lost = log.dropped.clone();
            let handle = std::thread::Builder::new()
                .name("access-log".into())
                .spawn(move || writer(&shared, &mut sink, every, &lost))?;
            *lock(&log.shared.writer) = Some(handle.thread().clone());
        }
        Ok(log)
    }

    /// Records a finished request (or does nothing when the log is off or the request is not
    /// sampled).
    pub fn log(&self, session: &Session, e: Option<&pingora::Error>, s: &RequestSummary<'_>) {
        if !self.enabled {
            return;
        }
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let success = (100..400).contains(&status) && s.error.is_none();
        if success && self.sample_success < 1.0 && rand::random::<f64>() >= self.sample_success {
            return;
        }
        let req = session.req_header();
        let line = Line {
            summary: s,
            method: req.method.as_str(),
            path: req.uri.path(),
            client: session
                .client_addr()
                .and_then(|a| a.as_inet())
                .map(|a| a.ip()),
            status,
            cause: e.map(|e| e.etype().as_str()),
        };
        self.write(&line);
    }

    fn write(&self, line: &Line<'_>) {
        let buffer = self.buffer();
        let mut buf = lock(&buffer);
        let before = buf.len();
        // A line is at most a few hundred bytes plus the path; the cap is checked before, so
        // a buffer overshoots it by at most one line.
        if before >= self.cap {
            drop(buf);
            self.dropped.inc();
            return;
        }
        match self.format {
            AccessLogFormat::Json => line.json(&mut buf),
            AccessLogFormat::Text => line.text(&mut buf),
        }
        let half_full = buf.len() >= self.cap / 2 && before < self.cap / 2;
        drop(buf);
        self.lines.inc();
        if half_full {
            if let Some(writer) = lock(&self.shared.writer).as_ref() {
                writer.unpark();
            }
        }
    }

    /// This thread's buffer, registered with the writer on first use.
    fn buffer(&self) -> Buffer {
        BUFFERS.with(|all| {
            let mut all = all.borrow_mut();
            if let Some((_, b)) = all
                .iter()
                .find(|(w, _)| std::ptr::eq(w.as_ptr(), Arc::as_ptr(&self.shared)))
            {
                return b.clone();
            }
            all.retain(|(w, _)| w.strong_count() > 0);
            let b: Buffer = Arc::new(Mutex::new(Vec::with_capacity(self.cap.min(64 * 1024))));
            lock(&self.shared.buffers).push(b.clone());
            all.push((Arc::downgrade(&self.shared), b.clone()));
            b
        })
    }

    /// Writes what is held now and stops the writer (at shutdown), waiting up to 2 s for it:
    /// a sink that blocks (a full pipe) must not hold the process.
    pub fn close(&self) {
        let Some(writer) = lock(&self.shared.writer).clone() else {
            return;
        };
        self.shared.stop.store(true, Ordering::Release);
        writer.unpark();
        let (done, cv) = &self.shared.done;
        let guard = lock(done);
        let _ = cv.wait_timeout_while(guard, Duration::from_secs(2), |d| !*d);
    }
}

/// The writer thread: swaps each buffer out and writes it, every `every` or when woken.
/// Lines the sink refuses (a deleted directory, a full disk) are counted in `lost`, the same
/// counter as lines dropped for a full buffer: either way they are not in the log.
fn writer(shared: &Shared, sink: &mut Sink, every: Duration, lost: &IntCounter) {
    let mut spare = Vec::new();
    loop {
        std::thread::park_timeout(every);
        let stopping = shared.stop.load(Ordering::Acquire);
        let buffers: Vec<Buffer> = lock(&shared.buffers).clone();
        for b in buffers {
            std::mem::swap(&mut *lock(&b), &mut spare);
            if !spare.is_empty() {
                if !sink.write(&spare) {
                    let lines = spare.iter().filter(|&&b| b == b'\n').count();
                    lost.inc_by(u64::try_from(lines).unwrap_or(u64::MAX));
                }
                spare.clear();
            }
        }
        sink.maybe_reopen();
        if stopping {
            sink.flush();
            let (done, cv) = &shared.done;
            *lock(done) = true;
            cv.notify_all();
            return;
        }
    }
}

/// Where lines go.
enum Sink {
    Stderr,
    Stdout,
    File {
        path: std::path::PathBuf,
        file: Option<File>,
        checked: Instant,
    },
}

impl Sink {
    fn open(sink: &LogSink) -> std::io::Result<Sink> {
        Ok(match sink {
            LogSink::Stderr => Sink::Stderr,
            LogSink::Stdout => Sink::Stdout,
            LogSink::File(path) => Sink::File {
                file: Some(open_append(path)?),
                path: path.clone(),
                checked: Instant::now(),
            },
        })
    }

    /// Writes `bytes`; false when they could not be (and were logged as lost).
    fn write(&mut self, bytes: &[u8]) -> bool {
        let result = match self {
            Sink::Stderr => std::io::stderr().lock().write_all(bytes),
            Sink::Stdout => std::io::stdout().lock().write_all(bytes),
            Sink::File { file, path, .. } => {
                if file.is_none() {
                    *file = open_append(path).ok();
                }
                match file {
                    Some(f) => f.write_all(bytes),
                    None => Err(std::io::Error::other("access log file not open")),
                }
            }
        };
        match result {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "access log lines could not be written");
                false
            }
        }
    }

    fn flush(&mut self) {
        let _ = match self {
            Sink::Stderr => std::io::stderr().flush(),
            Sink::Stdout => std::io::stdout().flush(),
            Sink::File { file: Some(f), .. } => f.flush(),
            Sink::File { file: None, .. } => Ok(()),
        };
    }

    /// A file rotated away (renamed or deleted) is reopened at its path, at most once a second.
    fn maybe_reopen(&mut self) {
        let Sink::File {
            path,
            file,
            checked,
        } = self
        else {
            return;
        };
        if checked.elapsed() < Duration::from_secs(1) {
            return;
        }
        *checked = Instant::now();
        use std::os::unix::fs::MetadataExt;
        let at_path = std::fs::metadata(&*path).ok().map(|m| (m.dev(), m.ino()));
        let open = file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map(|m| (m.dev(), m.ino()));
        if at_path.is_none() || at_path != open {
            *file = open_append(path).ok();
        }
    }
}

fn open_append(path: &std::path::Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// One line's fields.
struct Line<'a> {
    summary: &'a RequestSummary<'a>,
    method: &'a str,
    path: &'a str,
    client: Option<std::net::IpAddr>,
    status: u16,
    cause: Option<&'a str>,
}

/// Appends `s` as a JSON string (RFC 8259: `"` and `\` escaped, control bytes as `\u00XX`).
fn json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        if b == b'"' || b == b'\\' || b < 0x20 {
            out.extend_from_slice(&s.as_bytes()[start..i]);
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\t' => out.extend_from_slice(b"\\t"),
                _ => {
                    let _ = write!(Bytes(out), "\\u{b:04x}");
                }
            }
            start = i + 1;
        }
    }
    out.extend_from_slice(&s.as_bytes()[start..]);
    out.push(b'"');
}

thread_local! {
    /// The second this thread last stamped a line with, and its RFC 3339 text up to the
    /// seconds (`2026-11-30T08:03:22`): the calendar arithmetic is done once a second, not
    /// once a line.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Appends the time now as RFC 3339 UTC with milliseconds (`2026-11-30T08:03:22.123Z`).
fn timestamp(out: &mut Vec<u8>) {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    SECOND.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != secs {
            let whole = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
            let text = humantime::format_rfc3339_seconds(whole).to_string();
            // `…T08:03:22Z`: keep all but the `Z`.
            cached.1 = text.trim_end_matches('Z').to_owned();
            cached.0 = secs;
        }
        out.extend_from_slice(cached.1.as_bytes());
    });
    out.push(b'.');
    three_digits(out, now.subsec_millis());
    out.push(b'Z');
}

/// Appends `n` in decimal (itoa: no `fmt` machinery on the request path).
fn decimal(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Appends `n % 1000` as exactly three digits (`007`).
fn three_digits(out: &mut Vec<u8>, n: u32) {
    let n = n % 1000;
    out.extend_from_slice(&[
        b'0' + (n / 100) as u8,
        b'0' + (n / 10 % 10) as u8,
        b'0' + (n % 10) as u8,
    ]);
}

/// Appends a duration in milliseconds with three decimals (`1.500`).
fn millis(out: &mut Vec<u8>, d: Duration) {
    let micros = d.as_micros();
    decimal(out, micros / 1000);
    out.push(b'.');
    three_digits(out, (micros % 1000) as u32);
}

/// Appends an address as `Display` writes it; IPv4 without `fmt`, the common case.
fn address(out: &mut Vec<u8>, ip: Option<std::net::IpAddr>) {
    match ip {
        Some(std::net::IpAddr::V4(v4)) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                decimal(out, octet);
            }
        }
        Some(ip) => {
            let _ = write!(Bytes(out), "{ip}");
        }
        None => out.push(b'-'),
    }
}

/// [`timestamp`] for `format!`.
struct Timestamp;

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = Vec::with_capacity(24);
        timestamp(&mut out);
        f.write_str(std::str::from_utf8(&out).unwrap_or("-"))
    }
}

/// [`millis`] for `format!` (the text format). Float formatting cost more than the rest of
/// the number fields together.
struct Millis(Duration);

impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = Vec::with_capacity(16);
        millis(&mut out, self.0);
        f.write_str(std::str::from_utf8(&out).unwrap_or("-"))
    }
}

/// `fmt::Write` onto a byte vector (for numbers and timestamps).
struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

impl Line<'_> {
    fn json(&self, out: &mut Vec<u8>) {
        let s = self.summary;
        out.extend_from_slice(b"{\"ts\":\"");
        timestamp(out);
        out.extend_from_slice(b"\",\"request_id\":");
        json_str(out, s.request_id);
        out.extend_from_slice(b",\"method\":");
        json_str(out, self.method);
        out.extend_from_slice(b",\"path\":");
        json_str(out, self.path);
        out.extend_from_slice(b",\"client\":\"");
        address(out, self.client);
        out.extend_from_slice(b"\",\"client_ip\":\"");
        address(out, s.client_ip);
        out.extend_from_slice(b"\",\"tenant\":\"");
        match s.tenant {
            Some(t) => {
                let mut id = [0u8; 36];
                out.extend_from_slice(t.0.hyphenated().encode_lower(&mut id).as_bytes());
            }
            None => out.push(b'-'),
        }
        out.extend_from_slice(b"\",\"geography\":");
        json_str(out, s.geography.unwrap_or("-"));
        out.extend_from_slice(b",\"region\":");
        json_str(out, s.region.unwrap_or("-"));
        out.extend_from_slice(b",\"origin\":");
        json_str(out, s.origin.unwrap_or("-"));
        out.extend_from_slice(b",\"status\":");
        decimal(out, self.status);
        out.extend_from_slice(b",\"attempts\":");
        decimal(out, s.attempts);
        out.extend_from_slice(b",\"duration_ms\":");
        millis(out, s.duration);
        out.extend_from_slice(b",\"error\":");
        json_str(out, s.error.unwrap_or("-"));
        out.extend_from_slice(b",\"cause\":");
        json_str(out, self.cause.unwrap_or("-"));
        out.extend_from_slice(b"}\n");
    }

    fn text(&self, out: &mut Vec<u8>) {
        let s = self.summary;
        let mut tenant = [0u8; 36];
        let tenant = match s.tenant {
            Some(t) => &*t.0.hyphenated().encode_lower(&mut tenant),
            None => "-",
        };
        let client = self.client.map(|ip| ip.to_string());
        let client_ip = s.client_ip.map(|ip| ip.to_string());
        let _ = writeln!(
            Bytes(out),
            "{} access: request_id={} method={} path={} client={} client_ip={} tenant={tenant} \
             geography={} \
             region={} origin={} status={} attempts={} duration_ms={} error={} cause={}",
            Timestamp,
            s.request_id,
            self.method,
            self.path.escape_debug(),
            client.as_deref().unwrap_or("-"),
            client_ip.as_deref().unwrap_or("-"),
            s.geography.unwrap_or("-"),
            s.region.unwrap_or("-"),
            s.origin.unwrap_or("-"),
            self.status,
            s.attempts,
            Millis(s.duration),
            s.error.unwrap_or("-"),
            self.cause.unwrap_or("-"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> RequestSummary<'static> {
        RequestSummary {
            request_id: "rid",
            client_ip: Some("192.0.2.7".parse().unwrap()),
            tenant: Some(TenantId(uuid::Uuid::from_u128(1))),
            geography: Some("eu"),
            region: Some("northeurope"),
            origin: Some("127.0.0.1:9101"),
            attempts: 1,
            error: None,
            duration: Duration::from_micros(1500),
        }
    }

    #[test]
    fn a_json_line_is_one_valid_object_with_every_field() {
        let s = summary();
        let line = Line {
            summary: &s,
            method: "GET",
            path: "/a\"b\\c\u{1}",
            client: Some("10.0.0.1".parse().unwrap()),
            status: 200,
            cause: None,
        };
        let mut out = Vec::new();
        line.json(&mut out);
        assert_eq!(out.last(), Some(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["path"], "/a\"b\\c\u{1}");
        assert_eq!(v["tenant"], "00000000-0000-0000-0000-000000000001");
        assert_eq!(v["status"], 200);
        assert_eq!(v["duration_ms"], 1.5);
        assert_eq!(v["client"], "10.0.0.1");
        assert_eq!(v["client_ip"], "192.0.2.7");
        assert_eq!(v["error"], "-");
        assert!(v["ts"].as_str().unwrap().ends_with('Z'));
        let mut text = Vec::new();
        line.text(&mut text);
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains(" access: request_id=rid method=GET"),
            "{text}"
        );
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn timestamps_are_rfc3339_with_milliseconds_and_follow_the_clock() {
        for _ in 0..3 {
            let before = SystemTime::now();
            let mut out = Vec::new();
            timestamp(&mut out);
            let text = String::from_utf8(out).unwrap();
            assert_eq!(text.len(), "2026-11-30T08:03:22.123Z".len(), "{text}");
            let parsed = humantime::parse_rfc3339(&text).unwrap();
            let skew = parsed
                .duration_since(before)
                .unwrap_or_else(|e| e.duration());
            assert!(skew < Duration::from_secs(1), "{text}");
            std::thread::sleep(Duration::from_millis(600));
        }
        for ip in [
            "10.0.0.1",
            "255.255.255.255",
            "0.0.0.0",
            "2001:db8::1",
            "::ffff:1.2.3.4",
        ] {
            let mut out = Vec::new();
            address(&mut out, Some(ip.parse().unwrap()));
            assert_eq!(String::from_utf8(out).unwrap(), ip);
        }
        assert_eq!(Millis(Duration::from_micros(1500)).to_string(), "1.500");
        assert_eq!(Millis(Duration::from_micros(7)).to_string(), "0.007");
        assert_eq!(Millis(Duration::from_secs(12)).to_string(), "12000.000");
    }

    #[test]
    fn lines_a_vanished_directory_cannot_take_are_counted_as_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = Sink::File {
            path: dir.path().join("gone").join("access.log"),
            file: None,
            checked: Instant::now(),
        };
        let shared = Shared::default();
        let held: Buffer = Arc::new(Mutex::new(b"one\ntwo\nthree\n".to_vec()));
        lock(&shared.buffers).push(held.clone());
        shared.stop.store(true, Ordering::Release);
        let lost = IntCounter::new("d", "d").unwrap();
        // One pass (stopping): the buffer is taken, the write fails, its lines are counted.
        writer(&shared, &mut sink, Duration::from_millis(1), &lost);
        assert_eq!(lost.get(), 3);
        assert!(lock(&held).is_empty());
    }

    #[test]
    fn lines_reach_a_file_from_many_threads_and_a_full_buffer_drops_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let config = edge_config::AccessLog {
            sink: LogSink::File(path.clone()),
            buffer_bytes: 4096,
            flush_interval: Duration::from_secs(10),
            ..Default::default()
        };
        let lines = IntCounter::new("l", "l").unwrap();
        let dropped = IntCounter::new("d", "d").unwrap();
        let log = AccessLog::start(&config, true, lines.clone(), dropped.clone()).unwrap();
        let s = summary();
        let line = Line {
            summary: &s,
            method: "GET",
            path: "/x",
            client: None,
            status: 200,
            cause: None,
        };
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..100 {
                        log.write(&line);
                    }
                });
            }
        });
        // 4 KiB per thread holds fewer than 100 lines: some were dropped, none lost silently.
        assert_eq!(lines.get() + dropped.get(), 400);
        assert!(dropped.get() > 0);
        log.close();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut written = 0;
        while Instant::now() < deadline {
            written = std::fs::read_to_string(&path).unwrap().lines().count() as u64;
            if written == lines.get() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(written, lines.get());
    }
}
