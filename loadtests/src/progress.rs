//! The progress line: an indicatif bar on a terminal, a plain line every 5 s otherwise.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::load::Live;

/// How often the line is refreshed.
const REFRESH: Duration = Duration::from_millis(250);
/// How often a plain line is printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// A running progress display; [`Progress::finish`] stops it.
#[derive(Debug)]
pub struct Progress {
    task: Option<tokio::task::JoinHandle<()>>,
    live: Arc<Live>,
    bar: ProgressBar,
}

/// Starts showing progress for a run of `duration` named `name`.
pub fn spawn(
    name: &str,
    duration: Duration,
    live: Arc<Live>,
    start: Instant,
    quiet: bool,
) -> Progress {
    let length = u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr())
    };
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix:.bold} [{elapsed_precise}] {bar:30.cyan/blue} {percent:>3}% {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(name.to_owned());
    let plain = !quiet && bar.is_hidden();
    let task = {
        let (bar, live, name) = (bar.clone(), live.clone(), name.to_owned());
        tokio::spawn(async move {
            let mut last = (0u64, Instant::now());
            let mut last_plain = Instant::now();
            // Bounded: ends with the run (stop flag) or at twice the planned length.
            while !live.stop.load(Ordering::Relaxed) && start.elapsed() < duration * 2 {
                tokio::time::sleep(REFRESH).await;
                let done = live.done.load(Ordering::Relaxed);
                let rate = (done.saturating_sub(last.0)) as f64 / last.1.elapsed().as_secs_f64();
                last = (done, Instant::now());
                let msg = line(&live, rate);
                let pos = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
                bar.set_position(pos.min(length));
                bar.set_message(msg.clone());
                if plain && last_plain.elapsed() >= PLAIN_EVERY {
                    last_plain = Instant::now();
                    eprintln!(
                        "{name}: {:.0}/{:.0} s, {msg}",
                        start.elapsed().as_secs_f64(),
                        duration.as_secs_f64()
                    );
                }
            }
        })
    };
    Progress {
        task: Some(task),
        live,
        bar,
    }
}

fn line(live: &Live, rate: f64) -> String {
    format!(
        "{:>6.0} req/s  {} answered  {} not 2xx  {} residency violations",
        rate,
        live.done.load(Ordering::Relaxed),
        live.not_ok.load(Ordering::Relaxed),
        live.violations.load(Ordering::Relaxed),
    )
}

impl Progress {
    /// Stops the display and clears the line.
    pub async fn finish(mut self) {
        self.live.stop.store(true, Ordering::Relaxed);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.bar.finish_and_clear();
    }
}
