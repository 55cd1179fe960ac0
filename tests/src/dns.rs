//! DNS for the tests of the gateway's `[dns]` responder: `dig` (Debian's `bind9-dnsutils`) as
//! the real client, queries written and answers read byte by byte for what `dig` cannot send,
//! and TCP listeners that stand in for edges (an edge is up while its listener is open).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::process::Command;

/// What `dig` printed: the header's status and flags, and the answer and authority sections.
#[derive(Debug, Clone)]
pub struct Dig {
    /// `NOERROR`, `NXDOMAIN`, `REFUSED`, ... (empty when no answer came).
    pub status: String,
    /// The header flags, e.g. `["qr", "aa", "rd"]`.
    pub flags: Vec<String>,
    /// Answer records as `(name, type, data)`.
    pub answers: Vec<(String, String, String)>,
    /// Authority records as `(name, type, data)`.
    pub authority: Vec<(String, String, String)>,
    /// Everything `dig` printed, for failure messages.
    pub text: String,
}

impl Dig {
    /// The answered addresses (A and AAAA data), sorted.
    pub fn addresses(&self) -> BTreeSet<String> {
        self.answers
            .iter()
            .filter(|(_, t, _)| t == "A" || t == "AAAA")
            .map(|(_, _, d)| d.clone())
            .collect()
    }

    /// Whether the header has `flag` (`aa`, `tc`, ...).
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
}

/// Runs `dig @server -p port <args>` (one try, 3 s) and parses its output.
pub fn dig(server: SocketAddr, args: &[&str]) -> Dig {
    let out = Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string()])
        .args(["+noall", "+comments", "+answer", "+authority"])
        .args(["+time=3", "+tries=1", "+norecurse"])
        .args(args)
        .output()
        .expect("run dig (Debian: apt-get install bind9-dnsutils; `cargo xtask deps`)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    parse_dig(&text)
}

fn parse_dig(text: &str) -> Dig {
    let mut d = Dig {
        status: String::new(),
        flags: Vec::new(),
        answers: Vec::new(),
        authority: Vec::new(),
        text: text.to_string(),
    };
    #[derive(PartialEq)]
    enum Section {
        None,
        Answer,
        Authority,
    }
    let mut section = Section::None;
    for line in text.lines() {
        if let Some(rest) = line.split("status: ").nth(1) {
            d.status = rest.split(',').next().unwrap_or("").trim().to_string();
        } else if let Some(rest) = line.strip_prefix(";; flags: ") {
            let flags = rest.split(';').next().unwrap_or("");
            d.flags = flags.split_whitespace().map(str::to_string).collect();
        } else if line.starts_with(";; ANSWER SECTION") {
            section = Section::Answer;
        } else if line.starts_with(";; AUTHORITY SECTION") {
            section = Section::Authority;
        } else if line.trim().is_empty() || line.starts_with(';') {
            if line.trim().is_empty() {
                section = Section::None;
            }
        } else {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() >= 5 {
                let record = (
                    fields[0].to_string(),
                    fields[3].to_string(),
                    fields[4..].join(" "),
                );
                match section {
                    Section::Answer => d.answers.push(record),
                    Section::Authority => d.authority.push(record),
                    Section::None => {}
                }
            }
        }
    }
    d
}

/// TCP listeners standing in for edges: one per address, all on one port.
pub struct EdgeListeners {
    port: u16,
    open: Vec<(IpAddr, TcpListener)>,
}

impl EdgeListeners {
    /// Listens on `port` of each of `addrs` (loopback addresses such as 127.0.0.11).
    pub fn start(port: u16, addrs: &[&str]) -> EdgeListeners {
        let mut l = EdgeListeners {
            port,
            open: Vec::new(),
        };
        for a in addrs {
            l.up(a);
        }
        l
    }

    /// Opens the listener of `addr`: its probes pass from now on.
    pub fn up(&mut self, addr: &str) {
        let ip: IpAddr = addr.parse().expect("an IP address");
        let listener = TcpListener::bind((ip, self.port))
            .unwrap_or_else(|e| panic!("listen on {ip}:{}: {e}", self.port));
        self.open.push((ip, listener));
    }

    /// Closes the listener of `addr`: its probes are refused from now on.
    pub fn down(&mut self, addr: &str) {
        let ip: IpAddr = addr.parse().expect("an IP address");
        self.open.retain(|(a, _)| *a != ip);
    }
}

/// A query as bytes: one question (`name` in presentation form, without the trailing dot),
/// recursion not desired, and an OPT record with `edns` as the UDP size when set.
pub fn query(id: u16, name: &str, qtype: u16, edns: Option<u16>) -> Vec<u8> {
    let mut b = Vec::with_capacity(64);
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(&[0x00, 0x00]);
    b.extend_from_slice(&1u16.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(&u16::from(edns.is_some()).to_be_bytes());
    for label in name.split('.').filter(|l| !l.is_empty()) {
        b.push(u8::try_from(label.len()).expect("a label under 256 bytes"));
        b.extend_from_slice(label.as_bytes());
    }
    b.push(0);
    b.extend_from_slice(&qtype.to_be_bytes());
    b.extend_from_slice(&1u16.to_be_bytes());
    if let Some(size) = edns {
        b.push(0);
        b.extend_from_slice(&41u16.to_be_bytes());
        b.extend_from_slice(&size.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }
    b
}

/// The header of an answer: id, QR, TC, RCODE (low four bits) and ANCOUNT; `None` when
/// shorter than a header.
pub fn header(answer: &[u8]) -> Option<Header> {
    let b = answer.get(..12)?;
    Some(Header {
        id: u16::from_be_bytes([b[0], b[1]]),
        response: b[2] & 0x80 != 0,
        truncated: b[2] & 0x02 != 0,
        rcode: b[3] & 0x0f,
        answers: u16::from_be_bytes([b[6], b[7]]),
    })
}

/// See [`header`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The query's id, echoed.
    pub id: u16,
    /// QR: this is a response.
    pub response: bool,
    /// TC.
    pub truncated: bool,
    /// 0 NOERROR, 1 FORMERR, 3 NXDOMAIN, 4 NOTIMP, 5 REFUSED.
    pub rcode: u8,
    /// ANCOUNT.
    pub answers: u16,
}

/// Record type codes used by the tests.
pub mod qtype {
    /// A.
    pub const A: u16 = 1;
    /// AAAA.
    pub const AAAA: u16 = 28;
}

/// `named-checkzone <zone> <file>` (Debian's `bind9-utils`): its exit code and output.
pub fn named_checkzone(zone: &str, file: &std::path::Path) -> (bool, String) {
    let out = Command::new("named-checkzone")
        .args(["-i", "full", zone])
        .arg(file)
        .output()
        .expect("run named-checkzone (Debian: apt-get install bind9-utils; `cargo xtask deps`)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dig_output_is_parsed() {
        let text = ";; Got answer:\n;; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 1\n\
                    ;; flags: qr aa; QUERY: 1, ANSWER: 0, AUTHORITY: 1, ADDITIONAL: 1\n\n\
                    ;; ANSWER SECTION:\nx.app.test. 30 IN A 127.0.0.11\n\n\
                    ;; AUTHORITY SECTION:\napp.test. 30 IN SOA ns1.example.net. h.app.test. 1 2 3 4 5\n";
        let d = parse_dig(text);
        assert_eq!(d.status, "NXDOMAIN");
        assert_eq!(d.flags, ["qr", "aa"]);
        assert_eq!(
            d.addresses().into_iter().collect::<Vec<_>>(),
            ["127.0.0.11"]
        );
        assert_eq!(d.authority[0].1, "SOA");
        assert!(d.has_flag("aa") && !d.has_flag("tc"));
    }

    #[test]
    fn queries_are_encoded() {
        let q = query(7, "a.bc", qtype::A, Some(1232));
        assert_eq!(&q[..2], &[0, 7]);
        assert_eq!(&q[12..18], &[1, b'a', 2, b'b', b'c', 0]);
        assert_eq!(q.len(), 12 + 6 + 4 + 11);
        let h = header(&[0, 7, 0x82, 0x03, 0, 1, 0, 2, 0, 0, 0, 0]).unwrap();
        assert_eq!(
            h,
            Header {
                id: 7,
                response: true,
                truncated: true,
                rcode: 3,
                answers: 2
            }
        );
    }
}
