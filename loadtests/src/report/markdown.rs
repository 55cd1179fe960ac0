//! The Markdown summary printed on stdout: one section after the other, each from one part
//! of the report.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::types::{Posts, Report};

fn pct(x: f64) -> String {
    format!("{:.0} %", x * 100.0)
}

fn opt_ms(x: Option<f64>) -> String {
    x.map_or("—".to_owned(), |v| {
        if v >= 1000.0 {
            format!("{:.2} s", v / 1000.0)
        } else {
            format!("{v} ms")
        }
    })
}

/// The Markdown summary printed on stdout.
pub fn markdown(r: &Report, files: &[PathBuf]) -> String {
    let mut s = String::new();
    header(&mut s, r);
    totals(&mut s, r);
    streams(&mut s, r);
    let _ = writeln!(s, "Errors by kind: {}\n", r.totals.kinds_text());
    events(&mut s, r);
    phases(&mut s, r);
    failovers(&mut s, r);
    scenario_numbers(&mut s, r);
    if let Some(p) = &r.posts {
        posts(&mut s, p);
    }
    gateway(&mut s, r);
    checks(&mut s, r);
    if !files.is_empty() {
        let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        let _ = writeln!(s, "\nFiles: {}", names.join(", "));
    }
    s
}

/// The title with the verdict, the description and the run's setting.
fn header(s: &mut String, r: &Report) {
    let verdict = if r.passed { "PASS" } else { "FAIL" };
    let _ = writeln!(s, "## edge-loadtest `{}`: {verdict}\n", r.scenario);
    let _ = writeln!(s, "{}.  ", r.description);
    let _ = writeln!(
        s,
        "{} s{}, {} · gateway: {}\n",
        r.duration_s,
        if r.short { " (short form)" } else { "" },
        r.date,
        r.gateway
    );
}

/// The totals and the latency of every answered request.
fn totals(s: &mut String, r: &Report) {
    let t = &r.totals;
    let l = &r.latency_ms;
    let _ = writeln!(
        s,
        "| sent | ok | failed | offered | throughput | p50 | p90 | p99 | p99.9 | max | residency violations |"
    );
    let _ = writeln!(
        s,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        s,
        "| {} | {} | {} | {} req/s | {} req/s | {} ms | {} ms | {} ms | {} ms | {} ms | {} |\n",
        t.sent,
        t.ok,
        t.failed,
        t.offered_rps,
        t.throughput_rps,
        l.p50,
        l.p90,
        l.p99,
        l.p999,
        l.max,
        t.residency_violations
    );
}

/// Per stream, when there are several.
fn streams(s: &mut String, r: &Report) {
    if r.streams.len() > 1 {
        let _ = writeln!(
            s,
            "| stream | protocol | sent | ok | failed | 429 | p50 | p99 | p99.9 |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
        for st in &r.streams {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} ms | {} ms | {} ms |",
                st.name,
                st.proto.label(),
                st.sent,
                st.ok,
                st.failed,
                st.rate_limited,
                st.latency_ms.p50,
                st.latency_ms.p99,
                st.latency_ms.p999
            );
        }
        s.push('\n');
    }
}

/// What the scenario did, and whether it worked.
fn events(s: &mut String, r: &Report) {
    if !r.events.is_empty() {
        let _ = writeln!(s, "| t | event | result |");
        let _ = writeln!(s, "|---:|---|---|");
        for e in &r.events {
            let _ = writeln!(
                s,
                "| {:.2} s | {} | {}{} |",
                e.at_s,
                e.label,
                if e.ok { "" } else { "FAILED: " },
                e.detail
            );
        }
        s.push('\n');
    }
}

/// Share of each region within its geography, per phase.
fn phases(s: &mut String, r: &Report) {
    let regions: Vec<&str> = r.regions.iter().map(|x| x.name.as_str()).collect();
    let _ = writeln!(
        s,
        "Share of each geography's answers by region:\n\n| phase | req | failed | ok req/s | p99 | {} |",
        regions.join(" | ")
    );
    let _ = writeln!(
        s,
        "|---|---:|---:|---:|---:|{}",
        "---:|".repeat(regions.len())
    );
    for p in &r.phases {
        let shares: Vec<String> = regions
            .iter()
            .map(|name| pct(p.share.get(*name).copied().unwrap_or(0.0)))
            .collect();
        let _ = writeln!(
            s,
            "| {} ({:.1}–{:.1} s) | {} | {} | {} | {} ms | {} |",
            p.name,
            p.from_s,
            p.to_s,
            p.requests,
            p.failed,
            p.ok_rps,
            p.p99_ms,
            shares.join(" | ")
        );
    }
    s.push('\n');
}

/// One line per fault: failover and failback.
fn failovers(s: &mut String, r: &Report) {
    for f in &r.failover {
        let _ = writeln!(
            s,
            "**{}** at {:.2} s ({} tenants): failover {} ({} failed, {} still served by {}); \
             {}failback {} (first answer back after {}; share before {}).\n",
            f.fault,
            f.fault_at_s,
            f.geography,
            opt_ms(f.failover_ms),
            f.failed_after_fault,
            f.served_by_faulted_after_fault,
            f.region,
            f.recovery.as_ref().map_or(String::new(), |x| format!(
                "`{x}` at {:.2} s, ",
                f.recovery_at_s.unwrap_or(0.0)
            )),
            opt_ms(f.failback_ms),
            opt_ms(f.failback_first_ms),
            pct(f.share_before)
        );
    }
}

/// The brownout, rate-limit and reload numbers of the scenarios that have them.
fn scenario_numbers(s: &mut String, r: &Report) {
    if let Some(b) = &r.brownout {
        let _ = writeln!(
            s,
            "Brownout of {}: share {} before, {} during ({} in the second half), {} after; \
             p99 of its geography {} ms before, {} ms during; {} origin 5xx reached clients.\n",
            b.region,
            pct(b.share_before),
            pct(b.share_during),
            pct(b.share_late),
            pct(b.share_after),
            b.p99_before_ms,
            b.p99_during_ms,
            b.origin_5xx_seen
        );
    }
    if let Some(rl) = &r.rate_limit {
        let _ = writeln!(
            s,
            "Rate limit: flooder sent {}, {} answered 429 ({} with Retry-After), {} req/s got \
             through; other tenants: {} failed, p99 {} ms before the flood and {} ms during.\n",
            rl.flood_sent,
            rl.flood_429,
            rl.flood_429_with_retry_after,
            rl.flood_ok_rps,
            rl.others_failed,
            rl.others_p99_before_ms,
            rl.others_p99_during_ms
        );
    }
    if let Some(rs) = &r.reloads {
        let _ = writeln!(
            s,
            "Reloads: {} asked, {} accepted, {} refused/failed; admin API answered in {} ms \
             median, {} ms max.\n",
            rs.attempted, rs.ok, rs.failed, rs.took_ms_p50, rs.took_ms_max
        );
    }
}

/// The POSTs: answers, then executions per id summed over every origin.
fn posts(s: &mut String, p: &Posts) {
    let other = if p.other.is_empty() {
        "none".to_owned()
    } else {
        p.other
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        s,
        "POSTs (not idempotent, no `Idempotency-Key`; stream {}): {} sent, {} answered 2xx, \
         **{} answered 502** (cut after an origin may have processed them, so not sent again), \
         other outcomes: {other}.",
        p.streams.join(", "),
        p.sent,
        p.ok,
        p.bad_gateway
    );
    if !p.executions_counted {
        let _ = writeln!(
            s,
            "Executions not counted: the harness did not start the origins.\n"
        );
        return;
    }
    let _ = writeln!(
        s,
        "Executions summed over every origin: {} POSTs executed once, {} never, **{} twice or \
         more** (max {}×); {} answered 2xx without an execution; of the 502s, {} were executed \
         (the client cannot tell: what `Idempotency-Key` is for) and {} were not; {} executions \
         of ids never sent, {} without an id, {} unattributed.\n",
        p.executed_once,
        p.executed_never,
        p.executed_twice_or_more,
        p.max_executions,
        p.ok_not_executed,
        p.bad_gateway_executed,
        p.bad_gateway_not_executed,
        p.unknown_executions,
        p.executions_without_id,
        p.executions_untracked
    );
}

/// What the gateway reported: its metrics and its log's warnings and errors.
fn gateway(s: &mut String, r: &Report) {
    if !r.gateway_metrics.is_empty() {
        let m: Vec<String> = r
            .gateway_metrics
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        let _ = writeln!(s, "Gateway metrics at the end: {}.\n", m.join(", "));
    }
    if !r.gateway_log.is_empty() {
        let lines: Vec<String> = r
            .gateway_log
            .iter()
            .map(|(m, n)| format!("{n} × `{m}`"))
            .collect();
        let _ = writeln!(
            s,
            "Gateway log warnings and errors: {}.\n",
            lines.join("; ")
        );
    }
}

/// The checks as a task list.
fn checks(s: &mut String, r: &Report) {
    let _ = writeln!(s, "Checks:\n");
    for c in &r.checks {
        let _ = writeln!(
            s,
            "- [{}] {} — {}",
            if c.passed { "x" } else { " " },
            c.name,
            c.detail
        );
    }
}
