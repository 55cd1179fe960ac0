//! The pass/fail criteria: what every run must show, then what its scenario expects.

use std::time::Duration;

use crate::load::Proto;
use crate::run::RunData;
use crate::scenario::catalog::FLOOD_LIMIT_RPS;

use super::types::{Check, Posts, RateLimit, Report};

fn check(name: impl Into<String>, passed: bool, detail: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        passed,
        detail: detail.into(),
    }
}

/// Every check of `r`, in the order the summary lists them.
pub(super) fn checks(data: &RunData, r: &Report) -> Vec<Check> {
    let exp = &data.expect;
    let mut out = basics(data, r);
    out.push(failures(data, r));
    if let Some(max) = exp.max_failover {
        out.extend(failovers(r, max));
    }
    if let Some(max) = exp.max_failback {
        out.extend(failbacks(r, max));
    }
    if exp.traffic_leaves {
        out.push(traffic_leaves(r));
    }
    if let Some(rl) = &r.rate_limit {
        out.extend(rate_limited(rl));
    }
    if exp.both_protocols {
        out.push(both_protocols(r));
    }
    if exp.reloads {
        out.push(reloads(r));
    }
    if let Some(p) = &r.posts {
        out.extend(posts(p));
    }
    out
}

/// What every run must show, whatever its scenario.
fn basics(data: &RunData, r: &Report) -> Vec<Check> {
    let t = &r.totals;
    let failed_actions: Vec<String> = r
        .events
        .iter()
        .filter(|e| !e.ok)
        .map(|e| format!("{}: {}", e.label, e.detail))
        .collect();
    vec![
        check(
            "requests were answered",
            t.sent > 0 && r.latency_ms.count > 0,
            format!("{} sent, {} answered", t.sent, r.latency_ms.count),
        ),
        check(
            "no residency violation",
            t.residency_violations == 0,
            format!(
                "{} answers from outside the tenant's home geography",
                t.residency_violations
            ),
        ),
        check(
            "every answer names a known region, the same in x-edge-region and x-sim-region",
            t.unknown_regions == 0 && t.region_mismatches == 0,
            format!(
                "{} unknown, {} mismatched",
                t.unknown_regions, t.region_mismatches
            ),
        ),
        check(
            "the gateway kept running",
            data.gateway_alive,
            if data.gateway_alive {
                "running at the end"
            } else {
                "the gateway process exited during the run"
            },
        ),
        check(
            "every scenario action succeeded",
            failed_actions.is_empty(),
            if failed_actions.is_empty() {
                format!("{} actions", r.events.len())
            } else {
                failed_actions.join("; ")
            },
        ),
    ]
}

/// No failed request at all, or under 1 % where the scenario allows failures.
fn failures(data: &RunData, r: &Report) -> Check {
    let t = &r.totals;
    if data.expect.zero_errors {
        check(
            "no failed request",
            t.failed == 0,
            format!("{} failed of {} ({})", t.failed, t.sent, t.kinds_text()),
        )
    } else {
        let rate = t.failed as f64 / t.sent.max(1) as f64;
        check(
            "client-visible failures under 1 %",
            rate < 0.01,
            format!(
                "{} failed of {} ({:.3} %; {})",
                t.failed,
                t.sent,
                rate * 100.0,
                t.kinds_text()
            ),
        )
    }
}

fn failovers(r: &Report, max: Duration) -> Vec<Check> {
    let mut out: Vec<Check> = r
        .failover
        .iter()
        .map(|f| {
            check(
                format!("failover after `{}` under {} ms", f.fault, max.as_millis()),
                f.failover_ms
                    .is_some_and(|ms| ms < max.as_secs_f64() * 1000.0),
                match f.failover_ms {
                    Some(ms) => format!(
                        "{ms} ms ({} affected requests failed, {} still reached {})",
                        f.failed_after_fault, f.served_by_faulted_after_fault, f.region
                    ),
                    None => "never failed over cleanly".to_owned(),
                },
            )
        })
        .collect();
    if r.failover.is_empty() {
        out.push(check("failover measured", false, "no fault happened"));
    }
    out
}

fn failbacks(r: &Report, max: Duration) -> Vec<Check> {
    r.failover
        .iter()
        .filter(|f| f.recovery.is_some())
        .map(|f| {
            check(
                format!(
                    "failback after `{}` under {} s",
                    f.recovery.as_deref().unwrap_or_default(),
                    max.as_secs()
                ),
                f.failback_ms
                    .is_some_and(|ms| ms < max.as_secs_f64() * 1000.0),
                match f.failback_ms {
                    Some(ms) => format!(
                        "{:.2} s to 90 % of the share before the fault ({:.0} %); first answer \
                         back after {} ms",
                        ms / 1000.0,
                        f.share_before * 100.0,
                        f.failback_first_ms
                            .map_or("-".to_owned(), |x| x.to_string())
                    ),
                    None => format!(
                        "the share did not come back to 90 % of {:.0} % before the end of the run",
                        f.share_before * 100.0
                    ),
                },
            )
        })
        .collect()
}

fn traffic_leaves(r: &Report) -> Check {
    match &r.brownout {
        Some(b) => check(
            format!("traffic leaves the slow region {}", b.region),
            b.share_late <= 0.5 * b.share_before,
            format!(
                "share of its geography: {:.0} % before, {:.0} % during, {:.0} % in the \
                 second half, {:.0} % after",
                b.share_before * 100.0,
                b.share_during * 100.0,
                b.share_late * 100.0,
                b.share_after * 100.0
            ),
        ),
        None => check("traffic leaves the slow region", false, "no brownout"),
    }
}

fn rate_limited(rl: &RateLimit) -> [Check; 3] {
    [
        check(
            "the flooding tenant is rate limited (429)",
            rl.flood_429 > 0,
            format!(
                "{} of {} flood requests answered 429; {:.0} req/s got through (limit {} req/s)",
                rl.flood_429, rl.flood_sent, rl.flood_ok_rps, FLOOD_LIMIT_RPS
            ),
        ),
        check(
            "every 429 carries Retry-After",
            rl.flood_429 == rl.flood_429_with_retry_after,
            format!(
                "{} of {} 429s with Retry-After",
                rl.flood_429_with_retry_after, rl.flood_429
            ),
        ),
        check(
            "the other tenants do not suffer",
            rl.others_failed == 0
                && rl.others_p99_during_ms
                    <= (2.0 * rl.others_p99_before_ms).max(rl.others_p99_before_ms + 20.0),
            format!(
                "{} failed ({} 429s); p99 {} ms before the flood, {} ms during",
                rl.others_failed, rl.others_429, rl.others_p99_before_ms, rl.others_p99_during_ms
            ),
        ),
    ]
}

fn both_protocols(r: &Report) -> Check {
    let h1 = r
        .streams
        .iter()
        .filter(|s| s.proto == Proto::H1)
        .all(|s| s.http2_share == 0.0 && s.ok > 0);
    let h2 = r
        .streams
        .iter()
        .filter(|s| s.proto == Proto::H2)
        .all(|s| s.http2_share == 1.0 && s.ok > 0);
    check(
        "HTTP/1.1 and h2 both served",
        h1 && h2,
        r.streams
            .iter()
            .map(|s| format!("{}: {} ok, {:.0} % h2", s.name, s.ok, s.http2_share * 100.0))
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// No POST executed twice, none answered 2xx without being executed, nothing executed that
/// was not sent: each summed over every origin.
fn posts(p: &Posts) -> [Check; 2] {
    const NOT_COUNTED: &str = "not counted: the harness did not start the origins";
    [
        check(
            "no POST executed twice (executions summed over every origin)",
            p.executions_counted && p.executed_twice_or_more == 0 && p.executions_untracked == 0,
            if p.executions_counted {
                let repeated: Vec<String> = p
                    .repeated
                    .iter()
                    .map(|(id, n)| format!("{id} {n}×"))
                    .collect();
                format!(
                    "{} of {} POSTs executed twice or more{}; {} answered 502 (not sent again); \
                     {} executions the origins could not attribute",
                    p.executed_twice_or_more,
                    p.sent,
                    if repeated.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", repeated.join(", "))
                    },
                    p.bad_gateway,
                    p.executions_untracked
                )
            } else {
                NOT_COUNTED.to_owned()
            },
        ),
        check(
            "every POST answered 2xx was executed, and only POSTs sent were",
            p.executions_counted
                && p.ok_not_executed == 0
                && p.unknown_executions == 0
                && p.executions_without_id == 0,
            if p.executions_counted {
                format!(
                    "{} of {} answered 2xx without an execution; {} executions of ids never \
                     sent, {} without an id",
                    p.ok_not_executed, p.ok, p.unknown_executions, p.executions_without_id
                )
            } else {
                NOT_COUNTED.to_owned()
            },
        ),
    ]
}

fn reloads(r: &Report) -> Check {
    match &r.reloads {
        Some(s) => check(
            "every reload accepted",
            s.attempted > 0 && s.failed == 0,
            format!(
                "{} of {} accepted (admin API answered in {} ms median, {} ms max){}",
                s.ok,
                s.attempted,
                s.took_ms_p50,
                s.took_ms_max,
                s.first_error
                    .as_ref()
                    .map_or(String::new(), |e| format!("; first error: {e}"))
            ),
        ),
        None => check("every reload accepted", false, "no reloads"),
    }
}
