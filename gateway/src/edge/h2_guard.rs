//! HTTP/2 stream resets counted on the wire, and `GOAWAY(ENHANCE_YOUR_CALM)` for a client that
//! abuses them (the "rapid reset" family: CVE-2023-44487 and its variants).
//!
//! Pingora cancels the upstream request of a stream the client resets: the upstream connection
//! is closed, so an origin that watches its sockets stops working on it. An origin that does
//! not (a handler sleeping on a slow query) keeps working; a client that opens the maximum of
//! streams, waits until they reach the origin, resets them and repeats would pile up
//! `rounds × h2_max_concurrent_streams` requests there from one connection that never had more
//! than the maximum open. The h2 crate's own guard (`max_pending_accept_reset_streams`) only
//! counts streams reset before the application accepted them, so it does not see this.
//!
//! This guard reads the frame headers the client sends (after the 24-byte preface; payloads are
//! skipped, nothing is decoded) and counts `RST_STREAM` frames. More than `max_resets` within
//! [`RESET_WINDOW`] and the connection is told `GOAWAY` with `ENHANCE_YOUR_CALM` (RFC 9113 §6.8,
//! §7) and closed, which cancels every stream still running on it. The `GOAWAY` is written
//! between two of the server's own frames: the guard follows the frame headers the h2 layer
//! writes, so it never cuts one in half.

use std::time::Duration;

use tokio::time::Instant;

/// The window resets are counted in.
pub const RESET_WINDOW: Duration = Duration::from_secs(10);

/// The client connection preface (RFC 9113 §3.4).
const PREFACE_LEN: usize = 24;
/// `RST_STREAM` (RFC 9113 §6.4).
const RST_STREAM: u8 = 0x3;
/// `HEADERS` (RFC 9113 §6.2).
const HEADERS: u8 = 0x1;
/// `ENHANCE_YOUR_CALM` (RFC 9113 §7).
const ENHANCE_YOUR_CALM: u32 = 0xb;

/// Follows frame boundaries in one direction of an h2 connection.
#[derive(Debug, Clone, Default)]
struct Frames {
    /// Bytes of a preface still to skip (client side only).
    preface_left: usize,
    header: [u8; 9],
    have: usize,
    payload_left: usize,
}

/// A frame header: type and stream id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FrameHead {
    kind: u8,
    stream: u32,
}

impl Frames {
    /// At a frame boundary: no frame (or preface) partly read.
    fn at_boundary(&self) -> bool {
        self.preface_left == 0 && self.have == 0 && self.payload_left == 0
    }

    /// Advances over `bytes`, calling `on` for each complete frame header.
    fn feed(&mut self, mut bytes: &[u8], mut on: impl FnMut(FrameHead)) {
        while !bytes.is_empty() {
            if self.preface_left > 0 {
                let n = self.preface_left.min(bytes.len());
                self.preface_left -= n;
                bytes = &bytes[n..];
            } else if self.payload_left > 0 {
                let n = self.payload_left.min(bytes.len());
                self.payload_left -= n;
                bytes = &bytes[n..];
            } else {
                let n = (9 - self.have).min(bytes.len());
                self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
                self.have += n;
                bytes = &bytes[n..];
                if self.have == 9 {
                    self.have = 0;
                    let h = &self.header;
                    self.payload_left =
                        (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
                    on(FrameHead {
                        kind: h[3],
                        stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
                    });
                }
            }
        }
    }
}

/// What the connection should do after the guard saw some bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardState {
    /// Carry on.
    Open,
    /// Send the `GOAWAY` (at the next frame boundary of our writes), then close.
    GoAwayPending,
    /// The `GOAWAY` left; the connection is closing.
    GoAwaySent,
}

/// The reset accounting of one h2 connection.
#[derive(Debug, Clone)]
pub struct H2Guard {
    read: Frames,
    write: Frames,
    max_resets: u32,
    window_start: Option<Instant>,
    resets: u32,
    last_client_stream: u32,
    state: GuardState,
    goaway: [u8; 17],
    goaway_sent: usize,
}

impl H2Guard {
    /// A guard allowing `max_resets` client stream resets per [`RESET_WINDOW`].
    pub fn new(max_resets: u32) -> Self {
        H2Guard {
            read: Frames {
                preface_left: PREFACE_LEN,
                ..Frames::default()
            },
            write: Frames::default(),
            max_resets,
            window_start: None,
            resets: 0,
            last_client_stream: 0,
            state: GuardState::Open,
            goaway: [0; 17],
            goaway_sent: 0,
        }
    }

    /// The state after the last bytes seen.
    pub fn state(&self) -> GuardState {
        self.state
    }

    /// Feeds bytes the client sent; returns `true` when this crossed the reset budget.
    pub fn on_read(&mut self, bytes: &[u8], now: Instant) -> bool {
        let mut resets = 0;
        let mut last = self.last_client_stream;
        self.read.feed(bytes, |f| match f.kind {
            RST_STREAM => resets += 1,
            HEADERS if f.stream % 2 == 1 => last = last.max(f.stream),
            _ => {}
        });
        self.last_client_stream = last;
        if resets == 0 || self.state != GuardState::Open {
            return false;
        }
        match self.window_start {
            Some(start) if now.duration_since(start) < RESET_WINDOW => {}
            _ => {
                self.window_start = Some(now);
                self.resets = 0;
            }
        }
        self.resets = self.resets.saturating_add(resets);
        if self.resets > self.max_resets {
            self.state = GuardState::GoAwayPending;
            self.goaway = goaway_frame(self.last_client_stream, ENHANCE_YOUR_CALM);
            return true;
        }
        false
    }

    /// Feeds bytes our h2 layer wrote (what the socket accepted).
    pub fn on_write(&mut self, bytes: &[u8]) {
        self.write.feed(bytes, |_| {});
    }

    /// Whether our own writes are between frames (a `GOAWAY` may go now).
    pub fn can_inject(&self) -> bool {
        self.state == GuardState::GoAwayPending && self.write.at_boundary()
    }

    /// The part of the `GOAWAY` frame not written yet.
    pub fn goaway_unsent(&self) -> &[u8] {
        &self.goaway[self.goaway_sent..]
    }

    /// Records `n` more bytes of the `GOAWAY` as written.
    pub fn goaway_wrote(&mut self, n: usize) {
        self.goaway_sent = (self.goaway_sent + n).min(self.goaway.len());
        if self.goaway_sent == self.goaway.len() {
            self.state = GuardState::GoAwaySent;
        }
    }
}

/// A `GOAWAY` frame (RFC 9113 §6.8): last stream id processed, error code, no debug data.
fn goaway_frame(last_stream: u32, code: u32) -> [u8; 17] {
    let mut f = [0u8; 17];
    f[2] = 8; // payload length
    f[3] = 0x7; // GOAWAY
    f[9..13].copy_from_slice(&(last_stream & 0x7fff_ffff).to_be_bytes());
    f[13..17].copy_from_slice(&code.to_be_bytes());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, stream: u32, payload: usize) -> Vec<u8> {
        let mut f = vec![
            (payload >> 16) as u8,
            (payload >> 8) as u8,
            payload as u8,
            kind,
            0,
        ];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend(std::iter::repeat_n(0xAA, payload));
        f
    }

    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    #[test]
    fn resets_over_the_budget_ask_for_goaway_with_the_last_stream() {
        let now = Instant::now();
        let mut g = H2Guard::new(3);
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame(0x4, 0, 6)); // SETTINGS
        for id in [1u32, 3, 5, 7] {
            bytes.extend(frame(HEADERS, id, 20));
        }
        assert!(!g.on_read(&bytes, now));
        // Three resets are within the budget, the fourth is not; fed byte by byte.
        let mut resets = Vec::new();
        for id in [1u32, 3, 5, 7] {
            resets.extend(frame(RST_STREAM, id, 4));
        }
        let crossed: Vec<bool> = resets.iter().map(|b| g.on_read(&[*b], now)).collect();
        // Crossed once, when the fourth reset's frame header was complete.
        let at: Vec<usize> = (0..crossed.len()).filter(|i| crossed[*i]).collect();
        assert_eq!(at, [3 * 13 + 8]);
        assert_eq!(g.state(), GuardState::GoAwayPending);
        let f = g.goaway_unsent();
        assert_eq!(&f[..9], &[0, 0, 8, 7, 0, 0, 0, 0, 0]);
        assert_eq!(u32::from_be_bytes([f[9], f[10], f[11], f[12]]), 7);
        assert_eq!(
            u32::from_be_bytes([f[13], f[14], f[15], f[16]]),
            ENHANCE_YOUR_CALM
        );
    }

    #[test]
    fn the_budget_is_per_window() {
        let t0 = Instant::now();
        let mut g = H2Guard::new(2);
        g.on_read(PREFACE, t0);
        let rst = frame(RST_STREAM, 1, 4);
        for round in 0..5 {
            let at = t0 + RESET_WINDOW * round;
            assert!(!g.on_read(&rst, at));
            assert!(!g.on_read(&rst, at));
        }
        assert_eq!(g.state(), GuardState::Open);
        assert!(g.on_read(&rst, t0 + RESET_WINDOW * 4 + Duration::from_secs(1)));
    }

    #[test]
    fn goaway_waits_for_a_boundary_in_our_writes() {
        let now = Instant::now();
        let mut g = H2Guard::new(0);
        g.on_read(PREFACE, now);
        let data = frame(0x0, 1, 100);
        g.on_write(&data[..50]);
        assert!(g.on_read(&frame(RST_STREAM, 1, 4), now));
        assert!(!g.can_inject(), "mid-frame");
        g.on_write(&data[50..]);
        assert!(g.can_inject());
        g.goaway_wrote(10);
        assert_eq!(g.goaway_unsent().len(), 7);
        g.goaway_wrote(7);
        assert_eq!(g.state(), GuardState::GoAwaySent);
        assert!(!g.can_inject());
    }

    proptest::proptest! {
        /// Frame boundaries do not depend on how the bytes are cut.
        #[test]
        fn resets_are_counted_however_the_bytes_are_cut(
            frames in proptest::collection::vec((0u8..10, 0u32..20, 0usize..40), 0..30),
            cut in 0usize..2000,
        ) {
            let mut bytes = PREFACE.to_vec();
            for (k, s, len) in &frames {
                bytes.extend(frame(*k, *s, *len));
            }
            let want = frames.iter().filter(|(k, _, _)| *k == RST_STREAM).count() as u32;
            let now = Instant::now();
            let mut g = H2Guard::new(u32::MAX);
            let cut = cut.min(bytes.len());
            g.on_read(&bytes[..cut], now);
            g.on_read(&bytes[cut..], now);
            proptest::prop_assert_eq!(g.resets, want);
            proptest::prop_assert!(g.read.at_boundary());
        }
    }
}
