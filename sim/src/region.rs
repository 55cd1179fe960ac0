//! [`SimRegion`]: the origins of one region, broken and repaired together.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::runtime::Handle;

use crate::execution::Executions;
use crate::origin::SimOrigin;

/// The simulated origins of one region, with region-wide fault controls.
///
/// Holds clones of the origin handles, so a region can be built over origins also held
/// elsewhere (e.g. by a [`crate::SimHost`]).
#[derive(Debug, Clone)]
pub struct SimRegion {
    /// Region name, e.g. `westeurope`.
    pub name: String,
    /// The region's origins.
    pub origins: Vec<SimOrigin>,
}

/// Name of the `index`-th (0-based) origin of `region`: `{region}-{index + 1}`.
pub(crate) fn origin_name(region: &str, index: usize) -> String {
    format!("{region}-{}", index + 1)
}

impl SimRegion {
    /// Starts `n_origins` origins named `{region}-1`, `{region}-2`, … on free ports of
    /// `bind_ip`, on the current tokio runtime.
    pub async fn start(
        region: impl Into<String>,
        n_origins: usize,
        bind_ip: IpAddr,
    ) -> io::Result<Self> {
        let runtime = Handle::try_current().map_err(io::Error::other)?;
        Self::start_on(&runtime, region, n_origins, bind_ip)
    }

    /// Like [`SimRegion::start`] but serves on `runtime`, callable from any thread.
    pub fn start_on(
        runtime: &Handle,
        region: impl Into<String>,
        n_origins: usize,
        bind_ip: IpAddr,
    ) -> io::Result<Self> {
        let name = region.into();
        let origins = (0..n_origins)
            .map(|i| {
                SimOrigin::start_on(
                    runtime,
                    name.clone(),
                    origin_name(&name, i),
                    SocketAddr::new(bind_ip, 0),
                )
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Self { name, origins })
    }

    /// Groups existing origins under `name`.
    pub fn from_origins(name: impl Into<String>, origins: Vec<SimOrigin>) -> Self {
        Self {
            name: name.into(),
            origins,
        }
    }

    /// Addresses of the origins, in order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.origins.iter().map(SimOrigin::addr).collect()
    }

    /// [`SimOrigin::set_health_flapping`] on every origin.
    pub fn set_health_flapping(&self, flapping: bool) {
        for o in &self.origins {
            o.set_health_flapping(flapping);
        }
    }

    /// [`SimOrigin::kill`] on every origin.
    pub fn kill(&self) {
        self.origins.iter().for_each(SimOrigin::kill);
    }

    /// [`SimOrigin::refuse`] on every origin.
    pub fn refuse(&self) {
        self.origins.iter().for_each(SimOrigin::refuse);
    }

    /// [`SimOrigin::revive`] on every origin; tries them all and returns the first error.
    pub async fn revive(&self) -> io::Result<()> {
        let mut first_error = None;
        for origin in &self.origins {
            if let Err(error) = origin.revive().await {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// [`SimOrigin::hang`] on every origin.
    pub fn hang(&self, hang: bool) {
        self.origins.iter().for_each(|o| o.hang(hang));
    }

    /// [`SimOrigin::set_latency`] on every origin (each draws its own jitter).
    pub fn set_latency(&self, fixed: Duration, jitter: Duration) {
        self.origins
            .iter()
            .for_each(|o| o.set_latency(fixed, jitter));
    }

    /// [`SimOrigin::set_error_rate`] on every origin.
    pub fn set_error_rate(&self, rate: f64) {
        self.origins.iter().for_each(|o| o.set_error_rate(rate));
    }

    /// [`SimOrigin::set_health_status`] on every origin.
    pub fn set_health_status(&self, status: u16) {
        self.origins
            .iter()
            .for_each(|o| o.set_health_status(status));
    }

    /// [`SimOrigin::reset`] on every origin.
    pub fn reset(&self) {
        self.origins.iter().for_each(SimOrigin::reset);
    }

    /// Requests received by all origins of the region.
    pub fn requests(&self) -> u64 {
        self.origins.iter().map(SimOrigin::requests).sum()
    }

    /// Health probes received by all origins of the region.
    pub fn health_probes(&self) -> u64 {
        self.origins.iter().map(SimOrigin::health_probes).sum()
    }

    /// The executions of all origins of the region, summed per id: an id executed by two
    /// origins counts 2.
    pub fn executions(&self) -> Executions {
        sum_executions(&self.origins)
    }

    /// [`SimOrigin::reset_counters`] on every origin.
    pub fn reset_counters(&self) {
        self.origins.iter().for_each(SimOrigin::reset_counters);
    }
}

/// The executions of `origins`, summed per id.
pub(crate) fn sum_executions(origins: &[SimOrigin]) -> Executions {
    let mut all = Executions::default();
    for origin in origins {
        all.merge(&origin.executions());
    }
    all
}
