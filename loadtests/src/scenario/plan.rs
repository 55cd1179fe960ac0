//! A scenario's plan: the streams of load, the actions at fixed moments of the run, and
//! what must hold afterwards.

use std::time::Duration;

use crate::load::{Method, Proto, Rate, StreamSpec};
use crate::run::Expectations;
use crate::topology::{Topology, Tuning, EU_PRIMARY};

use super::catalog::{Scenario, FLOOD_LIMIT_RPS};
use super::options::Options;

/// The tenant that floods in the rate-limit scenario (index into the standard topology).
pub(super) const FLOOD_TENANT: usize = 0;

/// The share of the region outage's load that is POSTs (the rest is GETs, 70 % HTTP/1.1 and
/// 30 % h2 as in the other topology scenarios).
pub(super) const OUTAGE_POST_SHARE: f64 = 0.2;

/// What a scenario does to the world at one moment.
#[derive(Debug, Clone)]
pub(super) enum Act {
    Kill(String),
    Revive(String),
    Brownout(String),
    Clear(String),
    Drain(String),
    Undrain(String),
    ReloadStorm {
        until: Duration,
    },
    /// Marks a moment (e.g. a stream starting) on the chart and in the phases.
    Mark(String),
}

/// An action at an offset of the run.
#[derive(Debug, Clone)]
pub(super) struct Step {
    pub(super) at: Duration,
    pub(super) act: Act,
}

/// A scenario's plan: its streams, actions and expectations.
pub(super) struct Plan {
    pub(super) duration: Duration,
    pub(super) streams: Vec<StreamSpec>,
    pub(super) steps: Vec<Step>,
    pub(super) expect: Expectations,
    pub(super) tuning: Tuning,
    /// Extra gateway config (`[rate_limits]`), empty for most scenarios.
    pub(super) rate_limits: String,
}

/// What every stream of a plan has in common: the run's length, its rate and its tenants.
struct Mix {
    duration: Duration,
    rps: f64,
    concurrency: Option<usize>,
    everyone: Vec<(usize, f64)>,
}

impl Mix {
    fn new(scenario: Scenario, opts: &Options, topology: &Topology) -> Mix {
        Mix {
            duration: opts
                .duration
                .unwrap_or_else(|| scenario.default_duration(opts.short)),
            rps: opts.rps.unwrap_or_else(|| scenario.default_rps(opts.short)),
            concurrency: opts.concurrency,
            everyone: topology.tenant_weights(),
        }
    }

    /// `share` of the offered rate, or of the closed-loop workers (at least one).
    fn rate(&self, share: f64) -> Rate {
        match self.concurrency {
            Some(c) => Rate::Closed(((c as f64 * share).round() as usize).max(1)),
            None => Rate::Open(self.rps * share),
        }
    }

    /// A stream of GETs of every tenant over the whole run.
    fn stream(&self, name: &str, proto: Proto, share: f64) -> StreamSpec {
        StreamSpec {
            name: name.to_owned(),
            proto,
            method: Method::Get,
            rate: self.rate(share),
            from: Duration::ZERO,
            until: self.duration,
            tenants: self.everyone.clone(),
            expect_429: false,
            expect_502: false,
        }
    }

    /// 70 % HTTP/1.1 and 30 % h2 of `share` of the load: the mix of the scenarios that change
    /// the topology.
    fn h1_h2(&self, share: f64) -> Vec<StreamSpec> {
        vec![
            self.stream("h1", Proto::H1, 0.7 * share),
            self.stream("h2", Proto::H2, 0.3 * share),
        ]
    }

    /// POSTs of every tenant over HTTP/1.1, each with a unique id in its body; a 502 is an
    /// expected answer when a fault cuts one after an origin may have processed it.
    fn posts(&self, share: f64) -> StreamSpec {
        StreamSpec {
            method: Method::Post,
            expect_502: true,
            ..self.stream("post", Proto::H1, share)
        }
    }

    /// The moment `fraction` of the way through the run.
    fn at(&self, fraction: f64) -> Duration {
        self.duration.mul_f64(fraction)
    }

    fn step(&self, fraction: f64, act: Act) -> Step {
        Step {
            at: self.at(fraction),
            act,
        }
    }
}

/// What every scenario is held to unless it says otherwise: no failed request.
fn baseline_expectations() -> Expectations {
    Expectations {
        zero_errors: true,
        max_failover: None,
        max_failback: None,
        traffic_leaves: false,
        rate_limit: None,
        both_protocols: false,
        reloads: false,
    }
}

/// The plan of `scenario` with the options' overrides.
pub(super) fn plan(scenario: Scenario, opts: &Options, topology: &Topology) -> Plan {
    let mix = Mix::new(scenario, opts, topology);
    let mut plan = Plan {
        duration: mix.duration,
        streams: Vec::new(),
        steps: Vec::new(),
        expect: baseline_expectations(),
        tuning: if opts.short {
            Tuning::fast()
        } else {
            Tuning::defaults()
        },
        rate_limits: String::new(),
    };
    let region = EU_PRIMARY.to_owned();
    match scenario {
        Scenario::Steady => {
            plan.expect.both_protocols = true;
            plan.streams = vec![
                mix.stream("h1", Proto::H1, 0.6),
                mix.stream("h2", Proto::H2, 0.4),
            ];
        }
        Scenario::RegionOutage => {
            plan.expect.max_failover = Some(Duration::from_secs(1));
            plan.expect.max_failback = Some(Duration::from_secs(15));
            plan.streams = mix.h1_h2(1.0 - OUTAGE_POST_SHARE);
            plan.streams.push(mix.posts(OUTAGE_POST_SHARE));
            plan.steps = vec![
                mix.step(0.2, Act::Kill(region.clone())),
                mix.step(0.35, Act::Revive(region)),
            ];
        }
        Scenario::Brownout => {
            // Requests are retried on 503s within the retry budget; the rest reach clients.
            plan.expect.zero_errors = false;
            plan.expect.traffic_leaves = true;
            plan.streams = vec![mix.stream("h1", Proto::H1, 1.0)];
            plan.steps = vec![
                mix.step(0.25, Act::Brownout(region.clone())),
                mix.step(0.75, Act::Clear(region)),
            ];
        }
        Scenario::WeightShift => {
            plan.expect.max_failover = Some(Duration::from_secs(1));
            plan.expect.max_failback = Some(Duration::from_secs(15));
            plan.streams = mix.h1_h2(1.0);
            plan.steps = vec![
                mix.step(0.3, Act::Drain(region.clone())),
                mix.step(0.65, Act::Undrain(region)),
            ];
        }
        Scenario::ReloadStorm => {
            plan.expect.reloads = true;
            plan.streams = mix.h1_h2(1.0);
            let until = mix.at(0.85);
            plan.steps = vec![mix.step(0.15, Act::ReloadStorm { until })];
        }
        Scenario::RateLimit => rate_limit(&mix, topology, &mut plan),
        Scenario::Churn => plan.streams = vec![mix.stream("churn", Proto::Churn, 1.0)],
        // Runs its own two-edge world (`wrong_edge`), not a plan.
        Scenario::WrongEdge => {}
        // Runs on its own (`scenario/fleet.rs`): several replicas and a Redis.
        Scenario::Fleet => {}
    }
    plan
}

/// One tenant floods from 30 % to 80 % of the run; every other tenant keeps its share.
fn rate_limit(mix: &Mix, topology: &Topology, plan: &mut Plan) {
    let flood_from = mix.at(0.3);
    let flood_until = mix.at(0.8);
    let flooder = topology.tenants.get(FLOOD_TENANT);
    let flood_id = flooder.map(|t| t.id.clone()).unwrap_or_default();
    let label = flooder.map(|t| t.label.clone()).unwrap_or_default();
    plan.rate_limits = flood_limits(&flood_id);
    let victims: Vec<(usize, f64)> = mix
        .everyone
        .iter()
        .copied()
        .filter(|(t, _)| *t != FLOOD_TENANT)
        .collect();
    let flood_rate = match mix.concurrency {
        Some(c) => Rate::Closed(c.max(1)),
        None => Rate::Open((mix.rps * 6.0).max(f64::from(FLOOD_LIMIT_RPS) * 4.0)),
    };
    plan.expect.rate_limit = Some(("flood".to_owned(), "others".to_owned()));
    plan.streams = vec![
        StreamSpec {
            tenants: victims,
            ..mix.stream("others", Proto::H1, 1.0)
        },
        StreamSpec {
            rate: flood_rate,
            from: flood_from,
            until: flood_until,
            tenants: vec![(FLOOD_TENANT, 1.0)],
            expect_429: true,
            ..mix.stream("flood", Proto::H1, 1.0)
        },
    ];
    plan.steps = vec![
        Step {
            at: flood_from,
            act: Act::Mark(format!("flood starts ({label})")),
        },
        Step {
            at: flood_until,
            act: Act::Mark("flood ends".to_owned()),
        },
    ];
}

/// `[rate_limits]`: generous for everyone but the flooder, who gets [`FLOOD_LIMIT_RPS`].
fn flood_limits(flood_id: &str) -> String {
    format!(
        "[rate_limits]\ndefault_plan = \"standard\"\n\n\
         [rate_limits.plans.standard]\nrps = 10000\nburst = 10000\n\n\
         [[rate_limits.tenant_overrides]]\ntenant = \"{flood_id}\"\nrps = {FLOOD_LIMIT_RPS}\nburst = {FLOOD_LIMIT_RPS}\n\n"
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::scenario::options::GatewayChoice;

    fn opts() -> Options {
        Options {
            duration: None,
            rps: None,
            concurrency: None,
            short: false,
            out: PathBuf::from("."),
            gateway: GatewayChoice::Spawn {
                bin: PathBuf::from("x"),
                threads: 2,
                access_log: false,
            },
            max_requests: None,
            quiet: true,
        }
    }

    #[test]
    fn outage_plan_fits_in_30_seconds_and_revives_before_failback_deadline() {
        let topo = Topology::standard();
        let p = plan(Scenario::RegionOutage, &opts(), &topo);
        assert!(p.duration <= Duration::from_secs(28));
        let revive = p
            .steps
            .iter()
            .find(|s| matches!(s.act, Act::Revive(_)))
            .unwrap();
        // Failback takes about rise × interval + slow start = 12 s with the defaults.
        assert!(p.duration - revive.at >= Duration::from_secs(15));
    }

    #[test]
    fn outage_plan_posts_a_fifth_of_the_load_and_expects_502s_only_there() {
        let topo = Topology::standard();
        let p = plan(Scenario::RegionOutage, &opts(), &topo);
        let rate = |s: &StreamSpec| match s.rate {
            Rate::Open(r) => r,
            Rate::Closed(_) => panic!("open loop expected"),
        };
        let total: f64 = p.streams.iter().map(rate).sum();
        assert!((total - 1000.0).abs() < 1e-6, "{total}");
        let posts: Vec<&StreamSpec> = p
            .streams
            .iter()
            .filter(|s| s.method == Method::Post)
            .collect();
        assert_eq!(posts.len(), 1);
        assert!((rate(posts[0]) - 200.0).abs() < 1e-6);
        assert!(posts[0].expect_502 && !posts[0].expect_429);
        for s in p.streams.iter().filter(|s| s.method == Method::Get) {
            assert!(!s.expect_502 && !s.expect_429, "{}", s.name);
        }
        let steady = plan(Scenario::Steady, &opts(), &topo);
        assert!(steady.streams.iter().all(|s| s.method == Method::Get));
    }

    #[test]
    fn rate_limit_plan_names_the_flooder() {
        let topo = Topology::standard();
        let p = plan(Scenario::RateLimit, &opts(), &topo);
        assert!(p.rate_limits.contains(&topo.tenants[FLOOD_TENANT].id));
        let flood = p.streams.iter().find(|s| s.name == "flood").unwrap();
        assert!(flood.expect_429);
        let others = p.streams.iter().find(|s| s.name == "others").unwrap();
        assert!(others.tenants.iter().all(|(t, _)| *t != FLOOD_TENANT));
    }
}
