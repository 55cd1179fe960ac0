//! A bounded concurrent request driver for failover tests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What happened to one request.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Order in which the request was claimed (0-based).
    pub seq: usize,
    /// HTTP status, or 0 when the request failed without a response.
    pub status: u16,
    /// `x-edge-region` of the response.
    pub edge_region: String,
    /// The region of the origin that actually answered (`x-sim-region`).
    pub served_by: String,
    /// Transport error, if any.
    pub error: Option<String>,
    /// Time the request took.
    pub elapsed: Duration,
}

impl Outcome {
    /// True when the request got a 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// An action run once, by the worker that claims request number `at`, before sending it:
/// faults happen at a known point of the run rather than after a sleep.
pub struct Trigger {
    /// The request number.
    pub at: usize,
    /// The action (e.g. kill a region).
    pub action: Box<dyn FnOnce() + Send>,
}

/// Sends `n` requests with `concurrency` workers; `make(seq)` builds each request.
pub async fn run_load<F>(
    n: usize,
    concurrency: usize,
    make: F,
    trigger: Option<Trigger>,
) -> Vec<Outcome>
where
    F: Fn(usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    drive(n, concurrency, make, trigger, None).await
}

async fn drive<F>(
    n: usize,
    concurrency: usize,
    make: F,
    trigger: Option<Trigger>,
    stop: Option<Arc<std::sync::atomic::AtomicBool>>,
) -> Vec<Outcome>
where
    F: Fn(usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let out = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let make = Arc::new(make);
    let trigger = Arc::new(Mutex::new(trigger));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (next, out, make, trigger) = (next.clone(), out.clone(), make.clone(), trigger.clone());
        let stop = stop.clone();
        workers.push(tokio::spawn(async move {
            loop {
                if stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
                    break;
                }
                let seq = next.fetch_add(1, Ordering::SeqCst);
                if seq >= n {
                    break;
                }
                let action = {
                    let mut t = trigger.lock().unwrap();
                    match t.as_ref() {
                        Some(tr) if tr.at == seq => t.take().map(|tr| tr.action),
                        _ => None,
                    }
                };
                if let Some(action) = action {
                    action();
                }
                let outcome = send(seq, make(seq)).await;
                out.lock().unwrap().push(outcome);
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let mut v = std::mem::take(&mut *out.lock().unwrap());
    v.sort_by_key(|o| o.seq);
    v
}

/// Sends requests with `concurrency` workers until `stop` is set, at most `max` of them.
pub async fn run_until<F>(
    stop: Arc<std::sync::atomic::AtomicBool>,
    max: usize,
    concurrency: usize,
    make: F,
) -> Vec<Outcome>
where
    F: Fn(usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    drive(max, concurrency, make, None, Some(stop)).await
}

/// Sends one request and records its outcome.
pub async fn send(seq: usize, req: reqwest::RequestBuilder) -> Outcome {
    let start = Instant::now();
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let header = |n: &str| {
                resp.headers()
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string()
            };
            let edge_region = header("x-edge-region");
            let served_by = header("x-sim-region");
            let error = match resp.bytes().await {
                Ok(_) => None,
                Err(e) => Some(format!("body: {e}")),
            };
            Outcome {
                seq,
                status,
                edge_region,
                served_by,
                error,
                elapsed: start.elapsed(),
            }
        }
        Err(e) => Outcome {
            seq,
            status: 0,
            edge_region: String::new(),
            served_by: String::new(),
            error: Some(e.to_string()),
            elapsed: start.elapsed(),
        },
    }
}

/// Sends requests one after another until `done` says the last `window` outcomes satisfy it,
/// or `deadline` passes; returns the time it took, or `None` on deadline.
pub async fn until<F, P>(
    make: F,
    window: usize,
    deadline: Duration,
    mut done: P,
) -> Option<Duration>
where
    F: Fn() -> reqwest::RequestBuilder,
    P: FnMut(&[Outcome]) -> bool,
{
    let start = Instant::now();
    let mut recent: Vec<Outcome> = Vec::new();
    let mut seq = 0;
    while start.elapsed() < deadline {
        recent.push(send(seq, make()).await);
        seq += 1;
        if recent.len() > window {
            recent.remove(0);
        }
        if recent.len() == window && done(&recent) {
            return Some(start.elapsed());
        }
    }
    None
}
