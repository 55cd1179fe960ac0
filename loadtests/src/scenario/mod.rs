//! The scenarios: what load, what faults at which moment, and what must hold afterwards.
//!
//! [`run`] goes through one scenario in order: `plan` it, start its `world`, drive the load
//! while the `actions` break and repair things, then analyse the records into a report and
//! write its files. `wrong-edge` is the exception: it runs two edges of its own
//! (`wrong_edge`) and writes its own report.

mod actions;
pub(crate) mod catalog;
mod fleet;
mod options;
mod plan;
mod world;
pub(crate) mod wrong_edge;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use crate::chart;
use crate::gateway;
use crate::load::{self, Live, Rate, Rec, StreamSpec};
use crate::report::{self, Report};
use crate::run::{Event, ReloadStats, RunData};
use crate::topology::{SimWorld, Topology};

pub use catalog::{
    Scenario, BROWNOUT_ERROR_RATE, BROWNOUT_JITTER, BROWNOUT_LATENCY, FLOOD_LIMIT_RPS, RELOAD_EVERY,
};
pub use fleet::{run as run_fleet, FleetReport};
pub use options::{GatewayChoice, Options};

use actions::ActionCtx;
use plan::Plan;
use world::World;

/// Runs one scenario end to end and writes its files; returns the report.
pub async fn run(scenario: Scenario, opts: &Options) -> Result<Report, String> {
    // reqwest is built without a default crypto provider; the gateway uses ring as well.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let topology = match opts.gateway {
        GatewayChoice::Spawn { .. } => Topology::standard(),
        GatewayChoice::External { .. } => Topology::demo(),
    };
    let plan = plan::plan(scenario, opts, &topology);
    let mut world = world::start(scenario, opts, &plan, &topology).await?;
    let topology = Arc::new(topology);
    let recorded = drive(scenario, opts, &plan, &world, topology.clone()).await?;
    let data = collect(scenario, opts, &plan, &mut world, &topology, recorded).await;
    let report = report::analyse(&data);
    publish(&report, &opts.out)?;
    if !report.passed {
        if let Some(gw) = world.gateway.as_ref() {
            eprintln!(
                "gateway log (last lines of {}):\n{}",
                gw.log_path().display(),
                gw.log_tail(15)
            );
        }
    }
    drop(world);
    Ok(report)
}

/// What the load and the actions left behind.
struct Recorded {
    records: Vec<Rec>,
    elapsed: Duration,
    events: Vec<Event>,
    reloads: ReloadStats,
}

/// Upper bound on requests when the options give none: 1.5 × what the streams offer (a
/// closed loop counted as 20,000 req/s), 1,000 to 5 million.
fn request_cap(streams: &[StreamSpec]) -> u64 {
    let offered: f64 = streams
        .iter()
        .map(|s| match s.rate {
            Rate::Open(r) => r * (s.until.saturating_sub(s.from)).as_secs_f64(),
            Rate::Closed(_) => 20_000.0 * (s.until.saturating_sub(s.from)).as_secs_f64(),
        })
        .sum();
    ((offered * 1.5) as u64).clamp(1000, 5_000_000)
}

/// Sends the load while the actions run and a progress line shows; the actions stop when
/// the load ends.
async fn drive(
    scenario: Scenario,
    opts: &Options,
    plan: &Plan,
    world: &World,
    topology: Arc<Topology>,
) -> Result<Recorded, String> {
    let max_requests = opts
        .max_requests
        .unwrap_or_else(|| request_cap(&plan.streams));
    let live = Arc::new(Live::default());
    let start = Instant::now();
    let progress = crate::progress::spawn(
        scenario.name(),
        plan.duration,
        live.clone(),
        start,
        opts.quiet,
    );
    let ctx = ActionCtx::new(world, &topology, live.clone());
    let (events, reloads) = (ctx.events.clone(), ctx.reloads.clone());
    let actions = tokio::spawn(actions::run_steps(plan.steps.clone(), start, ctx));
    let records = load::run(
        &world.target,
        topology,
        &plan.streams,
        max_requests,
        live.clone(),
        start,
    )
    .await;
    live.stop.store(true, Ordering::Relaxed);
    let _ = actions.await;
    progress.finish().await;
    let records = records?;
    let elapsed = start.elapsed();
    let events = std::mem::take(&mut *events.lock().unwrap_or_else(PoisonError::into_inner));
    let reloads = reloads
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    Ok(Recorded {
        records,
        elapsed,
        events,
        reloads,
    })
}

/// The run's records with the plan and the gateway's state at the end.
async fn collect(
    scenario: Scenario,
    opts: &Options,
    plan: &Plan,
    world: &mut World,
    topology: &Topology,
    recorded: Recorded,
) -> RunData {
    let gateway_alive = match world.gateway.as_mut() {
        Some(gw) => gw.is_running(),
        None => true,
    };
    let gateway_log = world
        .gateway
        .as_ref()
        .map(|gw| gateway::log_summary(gw.log_path()))
        .unwrap_or_default();
    let metrics = match &world.admin {
        Some(a) => a.metrics().await,
        None => Vec::new(),
    };
    // Read after the load waited for its last answer: every execution is counted by then,
    // unless the gateway still holds a request the client gave up on (timeouts are reported).
    let executions = world.sims.as_ref().map(SimWorld::executions);
    RunData {
        scenario,
        describe: scenario.describe().to_owned(),
        gateway: world.gateway_desc.clone(),
        duration: plan.duration,
        elapsed: recorded.elapsed,
        topology: topology.clone(),
        streams: plan.streams.clone(),
        records: recorded.records,
        events: recorded.events,
        expect: plan.expect.clone(),
        reloads: plan.expect.reloads.then_some(recorded.reloads),
        metrics,
        gateway_alive,
        short: opts.short,
        tuning: plan.tuning.clone(),
        gateway_log,
        executions,
    }
}

/// Writes `<scenario>.json` and `<scenario>.svg` into `out` and prints the Markdown.
fn publish(report: &Report, out: &Path) -> Result<(), String> {
    let json = report::write_json(report, out)?;
    let svg = out.join(format!("{}.svg", report.scenario));
    chart::draw(report, &svg)?;
    println!("{}", report::markdown(report, &[json, svg]));
    Ok(())
}
