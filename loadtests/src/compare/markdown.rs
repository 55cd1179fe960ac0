//! The comparison as Markdown: one table per workload, with ratios to the other proxies, and
//! a summary of the h2 workloads when there are several stream counts.

use std::fmt::Write as _;

use super::model::{Cell, Comparison, Mode, Proxy, Workload};

fn ratio(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 && a > 0.0 => format!("{:.2}×", a / b),
        _ => "—".to_owned(),
    }
}

fn opt(x: Option<f64>, unit: &str) -> String {
    x.map_or("—".to_owned(), |v| format!("{v:.2}{unit}"))
}

/// The candidate's label (`--candidate-label`), else the generic one.
fn label(c: &Comparison, p: Proxy) -> String {
    match (&c.candidate, p) {
        (Some(what), Proxy::Candidate) => {
            let short = what.split(" (").next().unwrap_or(what);
            format!("edge-gateway {short}")
        }
        _ => p.label().to_owned(),
    }
}

/// The comparison as Markdown: one table per workload.
pub fn markdown(c: &Comparison) -> String {
    let mut s = String::new();
    header(&mut s, c);
    let mut workloads: Vec<Workload> = Vec::new();
    for x in &c.cells {
        let w = Workload {
            mode: x.mode,
            streams: x.streams,
        };
        if !workloads.contains(&w) {
            workloads.push(w);
        }
    }
    for &w in &workloads {
        table(&mut s, c, w);
    }
    let h2: Vec<Workload> = workloads
        .iter()
        .copied()
        .filter(|w| w.mode == Mode::H2)
        .collect();
    if h2.len() > 1 {
        h2_summary(&mut s, c, &h2);
    }
    fleet_cost(&mut s, c, &workloads);
    for n in &c.notes {
        let _ = writeln!(s, "**Note:** {n}.\n");
    }
    let _ = writeln!(
        s,
        "Proxy CPU/req is the proxy's own utime+stime (all its processes and threads) over the \
         requests it served, split into user and system time; for \"direct\" it is the \
         backend's. All CPU/req adds the load tool's and the backend's: on loopback the kernel \
         charges the delivery of a packet, and the wake-up of the process waiting for it, to \
         the process that sent it, so how much of that lands on the proxy depends on how busy \
         its peers are (see loadtests/RESULTS.md, \"Re-checking the comparison\"); the sum \
         does not. Switches are the proxy's context switches (waits for work and \
         preemptions). Upstream connections are the backend's accepted connections during \
         the run (for \"direct\": the client's). h2load reports no percentiles: its p50 \
         column is the mean."
    );
    s
}

/// When, where, how and with which versions.
fn header(s: &mut String, c: &Comparison) {
    let _ = writeln!(
        s,
        "### edge-gateway vs nginx vs HAProxy vs bare Pingora\n\n\
         {} · {}  \nCommand: `{}`  \n{} interleaved rounds × {} s per run, wrk {} connections, \
         h2load {} connections, one worker thread per proxy, upstream keep-alive, backend: \
         nginx (1 worker) answering 100 bytes; the gateway with tenant lookup, routing, one \
         rate-limit plan, metrics, geo and health checks on, access log off.  \n{}Versions: {}\n",
        c.date,
        c.machine,
        c.command,
        c.rounds,
        c.seconds,
        c.connections,
        c.h2_connections,
        c.candidate
            .as_ref()
            .map_or(String::new(), |x| format!("Candidate: {x}.  \n")),
        c.versions
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("; ")
    );
}

fn describe(c: &Comparison, w: Workload) -> String {
    match w.mode {
        Mode::H2 => format!(
            "{} — {} connections × {} streams",
            w.mode.describe(),
            c.h2_connections,
            w.streams
        ),
        m => m.describe().to_owned(),
    }
}

fn find(c: &Comparison, w: Workload, p: Proxy) -> Option<&Cell> {
    c.cells
        .iter()
        .find(|x| x.mode == w.mode && x.streams == w.streams && x.proxy == p)
}

/// One workload's table: a row per target, with ratios to the other proxies.
fn table(s: &mut String, c: &Comparison, w: Workload) {
    let base = |p: Proxy| find(c, w, p).map(|x| x.rps).filter(|r| *r > 0.0);
    let candidate = c.candidate.is_some();
    let _ = writeln!(s, "**{}**\n", describe(c, w));
    let _ = writeln!(
        s,
        "| target | req/s (median) | vs nginx | vs HAProxy | vs bare Pingora |{} p50 | p99 | proxy CPU/req (user + sys) | all CPU/req | proxy switches / req | upstream conns / 1k req | errors |",
        if candidate { " vs edge-gateway |" } else { "" }
    );
    let _ = writeln!(
        s,
        "|---|---:|---:|---:|---:|{}---:|---:|---:|---:|---:|---:|---:|",
        if candidate { "---:|" } else { "" }
    );
    for p in Proxy::ALL {
        let Some(x) = find(c, w, p) else {
            if p == Proxy::Gateway && w.mode == Mode::Plain {
                let _ = writeln!(
                    s,
                    "| edge-gateway | n/a: TLS only by design (plain HTTP is redirected) | | | | |{} | | | | | |",
                    if candidate { " |" } else { "" }
                );
            }
            continue;
        };
        let vs_gateway = if candidate {
            format!(" {} |", ratio(x.rps, base(Proxy::Gateway)))
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "| {} | {:.0} | {} | {} | {} |{vs_gateway} {} | {} | {} | {} | {} | {} | {} |",
            label(c, p),
            x.rps,
            ratio(x.rps, base(Proxy::Nginx)),
            ratio(x.rps, base(Proxy::Haproxy)),
            ratio(x.rps, base(Proxy::Bare)),
            opt(x.p50_ms, " ms"),
            opt(x.p99_ms, " ms"),
            match (
                x.cpu_us_per_req,
                x.cpu_user_us_per_req,
                x.cpu_system_us_per_req
            ) {
                (Some(t), Some(u), Some(k)) => format!("{t:.1} µs ({u:.1} + {k:.1})"),
                (Some(t), _, _) => format!("{t:.1} µs"),
                _ => "—".to_owned(),
            },
            x.total_cpu_us_per_req
                .map_or("—".to_owned(), |v| format!("{v:.1} µs")),
            x.switches_per_req
                .map_or("—".to_owned(), |v| format!("{v:.2}")),
            x.upstream_conns_per_1k
                .map_or("—".to_owned(), |v| format!("{v:.1}")),
            x.errors
        );
    }
    s.push('\n');
}

/// How CPU per request moves with the h2 streams per connection, per target.
fn h2_summary(s: &mut String, c: &Comparison, h2: &[Workload]) {
    let targets: Vec<Proxy> = Proxy::ALL
        .into_iter()
        .filter(|&p| h2.iter().any(|&w| find(c, w, p).is_some()))
        .collect();
    let _ = writeln!(
        s,
        "**h2: CPU per request by streams per connection** ({} connections; median µs of CPU \
         per request, req/s in brackets)\n",
        c.h2_connections
    );
    let mut head = "| streams / connection | in flight |".to_owned();
    let mut rule = "|---:|---:|".to_owned();
    for &p in &targets {
        let _ = write!(head, " {} |", label(c, p));
        rule.push_str("---:|");
    }
    head.push_str(" gateway / bare | gateway / HAProxy |");
    rule.push_str("---:|---:|");
    let _ = writeln!(s, "{head}\n{rule}");
    for &w in h2 {
        let cpu = |p: Proxy| find(c, w, p).and_then(|x| x.cpu_us_per_req);
        let mut row = format!("| {} | {} |", w.streams, w.streams * c.h2_connections);
        for &p in &targets {
            let cell = find(c, w, p).map_or("—".to_owned(), |x| {
                format!(
                    "{} ({:.0})",
                    x.cpu_us_per_req
                        .map_or("—".to_owned(), |v| format!("{v:.1} µs")),
                    x.rps
                )
            });
            let _ = write!(row, " {cell} |");
        }
        let g = cpu(Proxy::Gateway);
        let _ = write!(
            row,
            " {} | {} |",
            g.map_or("—".to_owned(), |g| ratio(g, cpu(Proxy::Bare))),
            g.map_or("—".to_owned(), |g| ratio(g, cpu(Proxy::Haproxy)))
        );
        let _ = writeln!(s, "{row}");
    }
    let _ = writeln!(s);
}

/// With `--targets gateway,gateway-fleet`: what `[fleet]` costs per request, per mode.
fn fleet_cost(s: &mut String, c: &Comparison, workloads: &[Workload]) {
    let cpu = |w: Workload, p: Proxy| find(c, w, p).and_then(|x| x.cpu_us_per_req);
    let mut lines = Vec::new();
    for &w in workloads {
        if let (Some(a), Some(b)) = (cpu(w, Proxy::Gateway), cpu(w, Proxy::GatewayFleet)) {
            lines.push(format!(
                "| {} | {a:.1} µs | {b:.1} µs | {:+.1} % |",
                w.name(),
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
