//! The comparison as Markdown: one table per mode, with ratios to the other proxies.

use std::fmt::Write as _;

use super::model::{Comparison, Mode, Proxy};

fn ratio(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 && a > 0.0 => format!("{:.2}×", a / b),
        _ => "—".to_owned(),
    }
}

fn opt(x: Option<f64>, unit: &str) -> String {
    x.map_or("—".to_owned(), |v| format!("{v:.2}{unit}"))
}

/// The comparison as Markdown: one table per mode.
pub fn markdown(c: &Comparison) -> String {
    let mut s = String::new();
    header(&mut s, c);
    let modes: Vec<Mode> = {
        let mut m: Vec<Mode> = c.cells.iter().map(|x| x.mode).collect();
        m.dedup();
        m
    };
    for mode in modes {
        mode_table(&mut s, c, mode);
    }
    fleet_cost(&mut s, c);
    for n in &c.notes {
        let _ = writeln!(s, "**Note:** {n}.\n");
    }
    let _ = writeln!(
        s,
        "CPU/req is the proxy's own utime+stime (all its processes) over the requests it \
         served; for \"direct\" it is the backend's. Upstream connections are the backend's \
         accepted connections during the run (for \"direct\": the client's). h2load reports no \
         percentiles: its p50 column is the mean."
    );
    s
}

/// When, where, how and with which versions.
fn header(s: &mut String, c: &Comparison) {
    let _ = writeln!(
        s,
        "### edge-gateway vs nginx vs HAProxy vs bare Pingora\n\n\
         {} · {}  \nCommand: `{}`  \n{} interleaved rounds × {} s per run, {} connections \
         (h2: {} connections × 4 streams), one worker thread per proxy, upstream keep-alive, \
         backend: nginx (1 worker) answering 100 bytes.  \nVersions: {}\n",
        c.date,
        c.machine,
        c.command,
        c.rounds,
        c.seconds,
        c.connections,
        (c.connections / 4).max(1),
        c.versions
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("; ")
    );
}

/// One mode's table: a row per target, with ratios to the other proxies.
fn mode_table(s: &mut String, c: &Comparison, mode: Mode) {
    let row = |p: Proxy| c.cells.iter().find(|x| x.mode == mode && x.proxy == p);
    let base = |p: Proxy| row(p).map(|x| x.rps).filter(|r| *r > 0.0);
    let _ = writeln!(s, "**{}**\n", mode.describe());
    let _ = writeln!(
        s,
        "| target | req/s (median) | vs nginx | vs HAProxy | vs bare Pingora | p50 | p99 | proxy CPU/req | upstream conns / 1k req | errors |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for p in Proxy::ALL {
        let Some(x) = row(p) else {
            if p == Proxy::Gateway && mode == Mode::Plain {
                let _ = writeln!(
                    s,
                    "| edge-gateway | n/a: TLS only by design (plain HTTP is redirected) | | | | | | | | |"
                );
            }
            continue;
        };
        let _ = writeln!(
            s,
            "| {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |",
            p.label(),
            x.rps,
            ratio(x.rps, base(Proxy::Nginx)),
            ratio(x.rps, base(Proxy::Haproxy)),
            ratio(x.rps, base(Proxy::Bare)),
            opt(x.p50_ms, " ms"),
            opt(x.p99_ms, " ms"),
            x.cpu_us_per_req
                .map_or("—".to_owned(), |v| format!("{v:.1} µs")),
            x.upstream_conns_per_1k
                .map_or("—".to_owned(), |v| format!("{v:.1}")),
            x.errors
        );
    }
    s.push('\n');
}

/// With `--targets gateway,gateway-fleet`: what `[fleet]` costs per request, per mode.
fn fleet_cost(s: &mut String, c: &Comparison) {
    let cpu = |mode: Mode, p: Proxy| {
        c.cells
            .iter()
            .find(|x| x.mode == mode && x.proxy == p)
            .and_then(|x| x.cpu_us_per_req)
    };
    let mut lines = Vec::new();
    for mode in Mode::ALL {
        if let (Some(a), Some(b)) = (cpu(mode, Proxy::Gateway), cpu(mode, Proxy::GatewayFleet)) {
            lines.push(format!(
                "| {} | {a:.1} µs | {b:.1} µs | {:+.1} % |",
                mode.name(),
                (b - a) / a * 100.0
            ));
        }
    }
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "**What `[fleet]` costs per request** (gateway CPU; Redis's own CPU not included)\n\n\
         | mode | without `[fleet]` | with `[fleet]` | difference |\n|---|---:|---:|---:|"
    );
    for l in lines {
        let _ = writeln!(s, "{l}");
    }
    s.push('\n');
}
