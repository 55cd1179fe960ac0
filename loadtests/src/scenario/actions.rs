//! The scenario's actions while the load runs: kills, brownouts, drains and reloads at their
//! moments, each recorded as an event.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use edge_sim::SimRegion;

use crate::gateway::{self, Admin};
use crate::load::Live;
use crate::run::{Event, EventKind, ReloadStats};
use crate::topology::Topology;
use crate::util;

use super::catalog::{BROWNOUT_ERROR_RATE, BROWNOUT_JITTER, BROWNOUT_LATENCY, RELOAD_EVERY};
use super::plan::{Act, Step};
use super::world::{ConfigFiles, World};

/// What the action task may touch.
pub(super) struct ActionCtx {
    sims: Option<Vec<SimRegion>>,
    admin: Option<Admin>,
    configs: Option<ConfigFiles>,
    pub(super) events: Arc<Mutex<Vec<Event>>>,
    pub(super) reloads: Arc<Mutex<ReloadStats>>,
    live: Arc<Live>,
}

impl ActionCtx {
    /// What the actions may touch in `world`, with empty event and reload records.
    pub(super) fn new(world: &World, topology: &Topology, live: Arc<Live>) -> ActionCtx {
        ActionCtx {
            sims: world.sims.as_ref().map(|s| {
                topology
                    .regions
                    .iter()
                    .filter_map(|r| s.region(&r.name).cloned())
                    .collect()
            }),
            admin: world.admin.clone(),
            configs: world.configs.clone(),
            events: Arc::new(Mutex::new(Vec::new())),
            reloads: Arc::new(Mutex::new(ReloadStats::default())),
            live,
        }
    }

    fn region(&self, name: &str) -> Result<&SimRegion, String> {
        self.sims
            .as_ref()
            .and_then(|s| s.iter().find(|r| r.name == name))
            .ok_or_else(|| format!("no simulated region {name}"))
    }

    fn admin(&self) -> Result<&Admin, String> {
        self.admin.as_ref().ok_or_else(|| "no admin API".to_owned())
    }

    /// Records an action that began at `began` (from the start of the run).
    fn push(
        &self,
        began: Duration,
        label: String,
        kind: EventKind,
        region: Option<&str>,
        result: Result<String, String>,
    ) {
        let (ok, detail) = match result {
            Ok(d) => (true, d),
            Err(e) => (false, e),
        };
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Event {
                at_s: began.as_secs_f64(),
                label,
                kind,
                region: region.map(str::to_owned),
                ok,
                detail,
            });
    }
}

fn admin_result(reply: gateway::AdminReply) -> Result<String, String> {
    let text = format!("{} in {:.1} ms", reply.status, util::ms(reply.took));
    if reply.ok() {
        Ok(text)
    } else {
        Err(format!("{text}: {}", reply.body.trim()))
    }
}

async fn sleep_until(start: Instant, offset: Duration, ctx: &ActionCtx) -> bool {
    // Sleeps in slices so that an early stop is noticed; bounded by `offset`.
    loop {
        if ctx.live.stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = start.elapsed();
        if now >= offset {
            return true;
        }
        tokio::time::sleep((offset - now).min(Duration::from_millis(100))).await;
    }
}

/// Carries out `steps` at their moments, until the last one or until the load stops.
pub(super) async fn run_steps(steps: Vec<Step>, start: Instant, ctx: ActionCtx) {
    use EventKind::{Fault, Recovery};
    for step in steps {
        if !sleep_until(start, step.at, &ctx).await {
            return;
        }
        // An event is dated when its action begins: a drain takes effect somewhere during
        // the admin call, and failover is measured from the earliest moment it could.
        let t0 = start.elapsed();
        match step.act {
            Act::Mark(label) => ctx.push(t0, label, EventKind::Info, None, Ok(String::new())),
            Act::ReloadStorm { until } => storm(&ctx, start, t0, until).await,
            Act::Kill(r) => {
                let res = kill(&ctx, &r);
                ctx.push(t0, format!("kill {r}"), Fault, Some(&r), res);
            }
            Act::Revive(r) => {
                let res = revive(&ctx, &r).await;
                ctx.push(t0, format!("revive {r}"), Recovery, Some(&r), res);
            }
            Act::Brownout(r) => {
                let res = brownout(&ctx, &r);
                ctx.push(t0, format!("brownout {r}"), Fault, Some(&r), res);
            }
            Act::Clear(r) => {
                let res = clear(&ctx, &r);
                ctx.push(t0, format!("recover {r}"), Recovery, Some(&r), res);
            }
            Act::Drain(r) => {
                let res = match ctx.admin() {
                    Ok(a) => admin_result(a.drain(&r).await),
                    Err(e) => Err(e),
                };
                ctx.push(t0, format!("drain {r}"), Fault, Some(&r), res);
            }
            Act::Undrain(r) => {
                let res = match ctx.admin() {
                    Ok(a) => admin_result(a.undrain(&r).await),
                    Err(e) => Err(e),
                };
                ctx.push(t0, format!("undrain {r}"), Recovery, Some(&r), res);
            }
        }
    }
}

fn kill(ctx: &ActionCtx, region: &str) -> Result<String, String> {
    ctx.region(region).map(|sim| {
        sim.kill();
        "every origin's listener closed and connections dropped".to_owned()
    })
}

async fn revive(ctx: &ActionCtx, region: &str) -> Result<String, String> {
    match ctx.region(region) {
        Ok(sim) => sim
            .revive()
            .await
            .map(|()| "listening again".to_owned())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    }
}

fn brownout(ctx: &ActionCtx, region: &str) -> Result<String, String> {
    ctx.region(region).map(|sim| {
        sim.set_latency(BROWNOUT_LATENCY, BROWNOUT_JITTER);
        sim.set_error_rate(BROWNOUT_ERROR_RATE);
        format!(
            "+{} ms (±{} ms), {} % 503",
            BROWNOUT_LATENCY.as_millis(),
            BROWNOUT_JITTER.as_millis(),
            BROWNOUT_ERROR_RATE * 100.0
        )
    })
}

fn clear(ctx: &ActionCtx, region: &str) -> Result<String, String> {
    ctx.region(region).map(|sim| {
        sim.set_latency(Duration::ZERO, Duration::ZERO);
        sim.set_error_rate(0.0);
        "latency and errors back to normal".to_owned()
    })
}

/// The reload storm, between an event for its start and one with its tally.
async fn storm(ctx: &ActionCtx, start: Instant, t0: Duration, until: Duration) {
    ctx.push(
        t0,
        "reload storm starts".to_owned(),
        EventKind::Info,
        None,
        Ok(format!("every {} ms", RELOAD_EVERY.as_millis())),
    );
    reload_storm(ctx, start, until).await;
    let summary = {
        let s = ctx.reloads.lock().unwrap_or_else(PoisonError::into_inner);
        format!("{} reloads, {} accepted", s.attempted, s.ok)
    };
    ctx.push(
        start.elapsed(),
        "reload storm ends".to_owned(),
        EventKind::Info,
        None,
        Ok(summary),
    );
}

async fn reload_storm(ctx: &ActionCtx, start: Instant, until: Duration) {
    let Ok(admin) = ctx.admin() else {
        return;
    };
    let mut took = Vec::new();
    let mut i: u64 = 0;
    let mut next = start.elapsed();
    // Bounded by `until` and by the number of ticks that fit in it.
    let max_ticks = (until.as_secs_f64() / RELOAD_EVERY.as_secs_f64()).ceil() as u64 + 1;
    while next < until && i < max_ticks {
        if !sleep_until(start, next, ctx).await {
            break;
        }
        i += 1;
        let written = match &ctx.configs {
            Some(c) => c
                .write(i)
                .map_err(|e| format!("cannot write the config: {e}")),
            None => Ok(()),
        };
        let result = match written {
            Ok(()) => admin_result({
                let r = admin.reload().await;
                took.push(util::ms(r.took));
                r
            }),
            Err(e) => Err(e),
        };
        {
            let mut s = ctx.reloads.lock().unwrap_or_else(PoisonError::into_inner);
            s.attempted += 1;
            match result {
                Ok(_) => s.ok += 1,
                Err(e) => {
                    s.failed += 1;
                    s.first_error.get_or_insert(e);
                }
            }
        }
        next += RELOAD_EVERY;
    }
    took.sort_by(f64::total_cmp);
    let mut s = ctx.reloads.lock().unwrap_or_else(PoisonError::into_inner);
    s.took_ms_p50 = took.get(took.len() / 2).copied().unwrap_or(0.0);
    s.took_ms_max = took.last().copied().unwrap_or(0.0);
}
