//! [`SimHost`]: origins on a dedicated runtime, for callers that have no tokio runtime
//! of their own (the Pingora-based demo runs its own, which it must not share).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::runtime::{Handle, Runtime};

use crate::execution::Executions;
use crate::origin::SimOrigin;
use crate::region::{origin_name, sum_executions, SimRegion};

/// One worker is plenty: origins do almost no work per request, and a single thread
/// keeps the demo's footprint small on two-core machines.
const WORKER_THREADS: usize = 1;

/// A set of simulated origins served by a runtime of their own (one worker thread).
///
/// Dropping the host kills every origin it started and shuts the runtime down without
/// blocking, so it may be dropped from any context, async ones included.
///
/// To run async controls such as [`SimOrigin::revive`] from a thread without a runtime,
/// use the host's runtime: `host.handle().block_on(origin.revive())`.
#[derive(Debug)]
pub struct SimHost {
    origins: Vec<SimOrigin>,
    handle: Handle,
    /// In an `Option` only so that `drop` can move it into `shutdown_background`.
    runtime: Option<Runtime>,
}

impl SimHost {
    /// A host with a running runtime and no origins yet.
    pub fn new() -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .thread_name("edge-sim")
            .enable_all()
            .build()?;
        Ok(Self {
            origins: Vec::new(),
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    /// Starts one origin per `(region, name)` on a free port of 127.0.0.1.
    pub fn start(specs: &[(&str, &str)]) -> io::Result<Self> {
        let mut host = Self::new()?;
        for (region, name) in specs {
            host.spawn_origin(
                *region,
                *name,
                SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0),
            )?;
        }
        Ok(host)
    }

    /// Starts `per_region` origins for each region, named `{region}-1`, `{region}-2`, …,
    /// on free ports of 127.0.0.1.
    pub fn start_regions(regions: &[&str], per_region: usize) -> io::Result<Self> {
        let mut host = Self::new()?;
        let ip = IpAddr::from(Ipv4Addr::LOCALHOST);
        for region in regions {
            for i in 0..per_region {
                host.spawn_origin(*region, origin_name(region, i), SocketAddr::new(ip, 0))?;
            }
        }
        Ok(host)
    }

    /// Starts one more origin on this host and returns its handle.
    pub fn spawn_origin(
        &mut self,
        region: impl Into<String>,
        name: impl Into<String>,
        bind: SocketAddr,
    ) -> io::Result<SimOrigin> {
        let origin = SimOrigin::start_on(&self.handle, region, name, bind)?;
        self.origins.push(origin.clone());
        Ok(origin)
    }

    /// Handle of the host's runtime.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// All origins, in start order.
    pub fn origins(&self) -> &[SimOrigin] {
        &self.origins
    }

    /// The origin called `name`, if any.
    pub fn origin(&self, name: &str) -> Option<&SimOrigin> {
        self.origins.iter().find(|o| o.name() == name)
    }

    /// The origins of `region`, in start order (empty if none).
    pub fn region(&self, region: &str) -> SimRegion {
        SimRegion::from_origins(
            region,
            self.origins
                .iter()
                .filter(|o| o.region() == region)
                .cloned()
                .collect(),
        )
    }

    /// The executions of every origin of the host, summed per id: an id executed by two
    /// origins counts 2.
    pub fn executions(&self) -> Executions {
        sum_executions(&self.origins)
    }

    /// `(region, name, address)` of every origin, in start order.
    pub fn addrs(&self) -> Vec<(String, String, SocketAddr)> {
        self.origins
            .iter()
            .map(|o| (o.region().to_owned(), o.name().to_owned(), o.addr()))
            .collect()
    }
}

impl Drop for SimHost {
    fn drop(&mut self) {
        // Kill explicitly: clones handed out may outlive the host, and their listeners
        // would otherwise stay bound with no runtime left to serve them.
        for origin in self.origins.drain(..) {
            origin.kill();
        }
        if let Some(runtime) = self.runtime.take() {
            // `shutdown_background` never blocks, so dropping inside async code is safe.
            runtime.shutdown_background();
        }
    }
}
