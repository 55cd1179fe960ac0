//! Reading the gateway's Prometheus metrics from its admin listener.

use std::time::{Duration, Instant};

use crate::{Topology, ADMIN_TOKEN};

fn admin_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("build admin client")
}

/// Every sample the gateway exports now (needs `topo.admin` and the test admin token).
pub async fn scrape(topo: &Topology) -> prometheus_parse::Scrape {
    let admin = topo.admin.expect("the topology has an admin listener");
    let text = admin_client()
        .get(format!("http://{admin}/metrics"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("read /metrics");
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("valid Prometheus text")
}

/// The sum of the samples of `name` that `keep` accepts (0 when there are none).
async fn sum(topo: &Topology, name: &str, keep: impl Fn(&prometheus_parse::Sample) -> bool) -> f64 {
    scrape(topo)
        .await
        .samples
        .iter()
        .filter(|s| s.metric == name && keep(s))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

/// The sum of `name`'s samples whose label `label.0` is `label.1` (0 when there are none).
pub async fn metric(topo: &Topology, name: &str, label: (&str, &str)) -> f64 {
    sum(topo, name, |s| s.labels.get(label.0) == Some(label.1)).await
}

/// The value of the unlabelled metric `name` (0 when absent).
pub async fn metric_value(topo: &Topology, name: &str) -> f64 {
    sum(topo, name, |_| true).await
}

/// Polls until `name{label}` reaches `at_least` (what it counts may happen asynchronously)
/// or 10 s pass; returns the last value seen.
pub async fn wait_metric(topo: &Topology, name: &str, label: (&str, &str), at_least: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = metric(topo, name, label).await;
        if v >= at_least || Instant::now() > deadline {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
