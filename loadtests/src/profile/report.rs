//! The profile as Markdown: a summary table per protocol, then per target and protocol the
//! functions and allocation sites a request pays for.

use std::fmt::Write as _;

use super::{Entry, Kind, Measured, Profile, Proto};

/// `1234567.8` → `1,234,568`.
pub(super) fn thousands(x: f64) -> String {
    let neg = x < 0.0;
    let digits = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if neg {
        format!("-{out}")
    } else {
        out
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "—".to_owned(),
    }
}

/// A function or site name for a table cell: no pipes, at most 160 characters.
fn cell(name: &str) -> String {
    let clean = name.replace('|', "\\|").replace('`', "'");
    let short: String = clean.chars().take(160).collect();
    if short.len() < clean.len() {
        format!("`{short}…`")
    } else {
        format!("`{short}`")
    }
}

/// The whole report.
pub(super) fn markdown(p: &Profile, top: usize) -> String {
    let mut s = String::new();
    let [n1, n2] = p.requests;
    let _ = writeln!(
        s,
        "### Instructions and heap allocations per request (valgrind)\n\n\
         {} · {}  \nCommand: `{}`  \n{}; per protocol N1 = {} and N2 = {} requests over {} \
         connections (h2: {} streams each), TLS 1.3, one worker thread, the gateway with \
         tenant lookup, routing, one rate-limit plan, metrics and geo on. Per request = \
         (count after N2 − count after N1) / (N2 − N1): start-up, warm-up and the \
         connections' handshakes cancel out; per connection = what a connection costs \
         besides its requests. Instructions: callgrind on the release build (mimalloc); \
         allocations: DHAT on the same code built with the C library's allocator.\n",
        p.date,
        p.machine,
        p.command,
        p.valgrind,
        thousands(n1 as f64),
        thousands(n2 as f64),
        p.connections,
        p.h2_streams
    );
    let protos: Vec<Proto> = {
        let mut v: Vec<Proto> = Vec::new();
        for m in &p.results {
            if !v.contains(&m.proto) {
                v.push(m.proto);
            }
        }
        v
    };
    for &proto in &protos {
        summary_table(&mut s, p, proto);
    }
    for n in &p.notes {
        let _ = writeln!(s, "**Note:** {n}\n");
    }
    for m in &p.results {
        details(&mut s, m, top);
    }
    s
}

fn summary_table(s: &mut String, p: &Profile, proto: Proto) {
    let rows: Vec<&Measured> = p.results.iter().filter(|m| m.proto == proto).collect();
    let bare = rows.iter().find(|m| m.kind == Kind::Bare);
    let bare_ins = bare.and_then(|m| m.instructions.as_ref().map(|i| i.per_request));
    let bare_alloc = bare.and_then(|m| m.allocations.as_ref().map(|a| a.blocks_per_request));
    let bare_bytes = bare.and_then(|m| m.allocations.as_ref().map(|a| a.bytes_per_request));
    let _ = writeln!(s, "**{}**\n", proto.describe());
    let _ = writeln!(
        s,
        "| target | instructions / request | vs bare | instructions / connection | allocations / request | vs bare | bytes allocated / request | vs bare |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for m in rows {
        let ins = m.instructions.as_ref().map(|i| i.per_request);
        let conn = m.instructions.as_ref().map(|i| i.per_connection);
        let blocks = m.allocations.as_ref().map(|a| a.blocks_per_request);
        let bytes = m.allocations.as_ref().map(|a| a.bytes_per_request);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            m.target,
            ins.map_or("—".to_owned(), thousands),
            ratio(ins, bare_ins),
            conn.map_or("—".to_owned(), thousands),
            blocks.map_or("—".to_owned(), |b| format!("{b:.1}")),
            ratio(blocks, bare_alloc),
            bytes.map_or("—".to_owned(), thousands),
            ratio(bytes, bare_bytes),
        );
    }
    s.push('\n');
}

fn entries(s: &mut String, title: &str, unit: &str, list: &[Entry], top: usize) {
    if list.is_empty() {
        return;
    }
    let _ = writeln!(s, "{title}\n");
    let bytes = list.iter().any(|e| e.bytes_per_request.is_some());
    if bytes {
        let _ = writeln!(s, "| {unit} | bytes / request | site |\n|---:|---:|---|");
    } else {
        let _ = writeln!(s, "| {unit} | function |\n|---:|---|");
    }
    for e in list.iter().take(top) {
        let n = if bytes {
            format!("{:.2}", e.per_request)
        } else {
            thousands(e.per_request)
        };
        match e.bytes_per_request {
            Some(b) => {
                let _ = writeln!(s, "| {n} | {} | {} |", thousands(b), cell(&e.name));
            }
            None => {
                let _ = writeln!(s, "| {n} | {} |", cell(&e.name));
            }
        }
    }
    s.push('\n');
}

fn details(s: &mut String, m: &Measured, top: usize) {
    if m.instructions.is_none() && m.allocations.is_none() {
        return;
    }
    let _ = writeln!(s, "#### {}, {}\n", m.target, m.proto.describe());
    if let Some(i) = &m.instructions {
        entries(
            s,
            "Instructions by function, inclusive (frames above 95 % of the request left out):",
            "instructions / request",
            &i.inclusive,
            top,
        );
        entries(
            s,
            "The gateway's own functions, inclusive (`edge_gateway::`, with the Pingora phase \
             filters it implements and everything they call):",
            "instructions / request",
            &i.ours,
            top,
        );
        entries(
            s,
            "Instructions by function, exclusive (the function's own code):",
            "instructions / request",
            &i.exclusive,
            top,
        );
    }
    if let Some(a) = &m.allocations {
        entries(
            s,
            "Heap allocations by site (first frames outside the allocator):",
            "allocations / request",
            &a.sites,
            top,
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn numbers_get_separators() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
        assert_eq!(thousands(-12_345.0), "-12,345");
    }
}
