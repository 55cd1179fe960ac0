//! [`SimOrigin`]: one simulated origin server and its run-time controls.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::Handle;
use tokio::task::AbortHandle;

use crate::conn::{ConnGuard, KillSwitch, Killed};
use crate::echo::Identity;
use crate::execution::Executions;
use crate::faults::Faults;
use crate::handler::{self, Responder};
use crate::record::{lock, RecordedRequest, Stats};

/// Pending-connection queue length; generous so load tests see refusals only when an
/// origin is deliberately down.
const LISTEN_BACKLOG: u32 = 1024;

/// Pause after a failed accept (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// The listening side of an origin, present only while it accepts connections.
#[derive(Debug, Default)]
struct ListenerSlot {
    listener: Option<TcpListener>,
    accept_task: Option<AbortHandle>,
    /// Bumped on every (re)bind so an accept loop left over from before a kill cannot
    /// poll the new listener and steal its wake-ups.
    generation: u64,
}

/// State shared between the handle and the accept loop.
#[derive(Debug)]
struct Shared {
    /// The part every request sees, handed to each connection on its own.
    responder: Arc<Responder>,
    kill_switch: KillSwitch,
    listener: Mutex<ListenerSlot>,
}

/// Outcome of one accept attempt.
enum Accept {
    Connection,
    Closed,
    Failed(io::Error),
}

impl Shared {
    /// Closes the listening socket now, in the caller's thread, so that a connect issued
    /// right after returns "refused" rather than landing in a backlog nobody drains.
    fn close_listener(&self) {
        let (listener, accept_task) = {
            let mut slot = lock(&self.listener);
            (slot.listener.take(), slot.accept_task.take())
        };
        drop(listener);
        if let Some(task) = accept_task {
            task.abort();
        }
    }

    fn is_listening(&self) -> bool {
        lock(&self.listener).listener.is_some()
    }

    /// Accepts one connection and spawns its task.
    ///
    /// The spawn happens under the listener lock: a kill takes that lock first, so every
    /// connection is either subscribed to the kill switch before it trips or never
    /// accepted at all.
    fn poll_accept(self: &Arc<Self>, generation: u64, cx: &mut Context<'_>) -> Poll<Accept> {
        let slot = lock(&self.listener);
        let listener = match slot.listener.as_ref() {
            Some(listener) if slot.generation == generation => listener,
            _ => return Poll::Ready(Accept::Closed),
        };
        match listener.poll_accept(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(error)) => Poll::Ready(Accept::Failed(error)),
            Poll::Ready(Ok((stream, _peer))) => {
                let killed = self.kill_switch.subscribe();
                let guard = ConnGuard::new(self.responder.stats.clone());
                tokio::spawn(serve_connection(
                    self.responder.clone(),
                    stream,
                    killed,
                    guard,
                ));
                Poll::Ready(Accept::Connection)
            }
        }
    }
}

async fn accept_loop(shared: Arc<Shared>, generation: u64) {
    loop {
        match std::future::poll_fn(|cx| shared.poll_accept(generation, cx)).await {
            Accept::Connection => {}
            Accept::Closed => return,
            Accept::Failed(error) => {
                tracing::warn!(%error, origin = %shared.responder.identity.name, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

async fn serve_connection(
    responder: Arc<Responder>,
    stream: TcpStream,
    killed: Killed,
    guard: ConnGuard,
) {
    let _guard = guard;
    // Small echo responses would otherwise wait on Nagle and distort latency tests.
    let _ = stream.set_nodelay(true);
    let service = {
        let killed = killed.clone();
        service_fn(move |req| handler::serve(responder.clone(), killed.clone(), req))
    };
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    let mut killed = killed;
    tokio::select! {
        () = killed.wait() => {}
        result = connection => {
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended with an error");
            }
        }
    }
}

/// Binds a listening socket on `runtime`'s reactor.
///
/// SO_REUSEADDR lets [`SimOrigin::revive`] take back the same port while connections
/// closed by a kill are still in TIME_WAIT.
fn bind(runtime: &Handle, addr: SocketAddr) -> io::Result<TcpListener> {
    let _enter = runtime.enter();
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The owning side; stopping the server when the last [`SimOrigin`] clone goes away.
struct Owner {
    shared: Arc<Shared>,
    runtime: Handle,
    addr: SocketAddr,
}

impl Owner {
    /// Starts accepting on `listener`, which is put in `slot`.
    fn install(&self, slot: &mut ListenerSlot, listener: TcpListener) {
        slot.generation = slot.generation.wrapping_add(1);
        slot.listener = Some(listener);
        let task = self
            .runtime
            .spawn(accept_loop(self.shared.clone(), slot.generation));
        if let Some(stale) = slot.accept_task.replace(task.abort_handle()) {
            stale.abort();
        }
    }

    /// Rebinds the original address unless already listening. Bound under the slot lock
    /// so that concurrent revives cannot race each other into "address in use".
    fn revive(&self) -> io::Result<()> {
        let mut slot = lock(&self.shared.listener);
        if slot.listener.is_some() {
            return Ok(());
        }
        let listener = bind(&self.runtime, self.addr)?;
        self.install(&mut slot, listener);
        Ok(())
    }

    fn kill(&self) {
        self.shared.close_listener();
        self.shared.kill_switch.trip();
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A simulated origin server.
///
/// Cheap to clone; all clones control the same server, which stops (listener closed,
/// connections dropped) when the last clone is dropped.
#[derive(Clone)]
pub struct SimOrigin {
    owner: Arc<Owner>,
}

impl fmt::Debug for SimOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimOrigin")
            .field("region", &self.region())
            .field("name", &self.name())
            .field("addr", &self.addr())
            .field("serving", &self.is_serving())
            .finish()
    }
}

impl SimOrigin {
    /// Binds `bind` (port 0 picks a free port) and serves on the current tokio runtime.
    ///
    /// Fails if there is no current runtime, the address cannot be bound, or `region` or
    /// `name` cannot be sent as a header value.
    pub async fn start(
        region: impl Into<String>,
        name: impl Into<String>,
        bind: SocketAddr,
    ) -> io::Result<Self> {
        let runtime = Handle::try_current().map_err(io::Error::other)?;
        Self::start_on(&runtime, region, name, bind)
    }

    /// Like [`SimOrigin::start`] but serves on `runtime`, callable from any thread,
    /// including one without a runtime.
    pub fn start_on(
        runtime: &Handle,
        region: impl Into<String>,
        name: impl Into<String>,
        bind_addr: SocketAddr,
    ) -> io::Result<Self> {
        let identity = Identity::new(region.into(), name.into())?;
        let listener = bind(runtime, bind_addr)?;
        let addr = listener.local_addr()?;
        let owner = Owner {
            shared: Arc::new(Shared {
                responder: Arc::new(Responder {
                    identity,
                    faults: Faults::default(),
                    stats: Arc::new(Stats::default()),
                }),
                kill_switch: KillSwitch::default(),
                listener: Mutex::new(ListenerSlot::default()),
            }),
            runtime: runtime.clone(),
            addr,
        };
        owner.install(&mut lock(&owner.shared.listener), listener);
        let id = &owner.shared.responder.identity;
        tracing::debug!(region = %id.region, origin = %id.name, %addr, "simulated origin started");
        Ok(Self {
            owner: Arc::new(owner),
        })
    }

    fn shared(&self) -> &Shared {
        &self.owner.shared
    }

    fn responder(&self) -> &Responder {
        &self.owner.shared.responder
    }

    /// The address the origin serves on (fixed for its lifetime, across kill/revive).
    pub fn addr(&self) -> SocketAddr {
        self.owner.addr
    }

    /// `http://ADDR`, for building request URLs.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.owner.addr)
    }

    /// The region this origin simulates.
    pub fn region(&self) -> &str {
        &self.responder().identity.region
    }

    /// The origin's name.
    pub fn name(&self) -> &str {
        &self.responder().identity.name
    }

    /// Requests received since start (or [`SimOrigin::reset_counters`]), health probes
    /// excluded.
    pub fn requests(&self) -> u64 {
        self.responder().stats.requests()
    }

    /// Health probes (`GET /healthz`) received since start (or the last counter reset).
    pub fn health_probes(&self) -> u64 {
        self.responder().stats.health_probes()
    }

    /// Client connections currently open, upgraded ones included.
    pub fn open_connections(&self) -> u64 {
        self.responder().stats.open_connections()
    }

    /// The most recent requests (at most [`crate::RECORD_CAPACITY`]), oldest first.
    pub fn recorded(&self) -> Vec<RecordedRequest> {
        self.responder().stats.recorded()
    }

    /// Empties the request log; counters are kept.
    pub fn clear_recorded(&self) {
        self.responder().stats.clear_recorded();
    }

    /// The non-idempotent requests this origin executed since start (or the last counter
    /// reset), counted by the id in their body (see the crate's table for the convention).
    /// A copy: later executions do not change it.
    pub fn executions(&self) -> Executions {
        self.responder().stats.executions()
    }

    /// Zeroes the request and health-probe counters and forgets the executions; the log is
    /// kept.
    pub fn reset_counters(&self) {
        self.responder().stats.reset_counters();
    }

    /// Whether the origin is currently accepting connections.
    pub fn is_serving(&self) -> bool {
        self.shared().is_listening()
    }

    /// Crashes the origin: closes the listener (new connects are refused from the moment
    /// this returns) and drops every open connection, upgraded ones included.
    pub fn kill(&self) {
        tracing::debug!(origin = %self.name(), "kill");
        self.owner.kill();
    }

    /// Stops accepting: closes the listener so new connects are refused, while
    /// connections already open keep being served (a draining or overloaded origin).
    pub fn refuse(&self) {
        tracing::debug!(origin = %self.name(), "refuse");
        self.shared().close_listener();
    }

    /// Rebinds the same address and serves again after [`SimOrigin::kill`] or
    /// [`SimOrigin::refuse`]; a no-op while serving. Fails if the port was taken
    /// meanwhile. Faults set earlier stay in force (see [`SimOrigin::reset`]).
    pub async fn revive(&self) -> io::Result<()> {
        self.owner.revive()?;
        tracing::debug!(origin = %self.name(), "revived");
        Ok(())
    }

    /// While `true`, connections are accepted and requests read, but nothing is answered
    /// (health probes included). Setting `false` releases the requests held so far.
    pub fn hang(&self, hang: bool) {
        self.responder().faults.set_hang(hang);
    }

    /// Whether [`SimOrigin::hang`] is in force.
    pub fn is_hanging(&self) -> bool {
        self.responder().faults.is_hanging()
    }

    /// Delays every response, health probes included, by `fixed` plus a uniformly drawn
    /// `0..=jitter`.
    pub fn set_latency(&self, fixed: Duration, jitter: Duration) {
        self.responder().faults.set_latency(fixed, jitter);
    }

    /// Answers this fraction (clamped to 0.0..=1.0) of requests, health probes excluded,
    /// with a 503 that still carries the JSON echo (with `"fault":"error_rate"`).
    pub fn set_error_rate(&self, rate: f64) {
        self.responder().faults.set_error_rate(rate);
    }

    /// The status `/healthz` answers (default 200); lets an origin fail its probes while
    /// still serving traffic. A value that is no HTTP status makes probes answer 500.
    pub fn set_health_status(&self, status: u16) {
        self.responder().faults.set_health_status(status);
    }

    /// Makes `/healthz` alternate between the configured status and 500 on every probe.
    pub fn set_health_flapping(&self, flapping: bool) {
        self.responder().faults.set_health_flapping(flapping);
    }

    /// The configured `(fixed, jitter)` latency.
    pub fn latency(&self) -> (Duration, Duration) {
        self.responder().faults.latency()
    }

    /// The configured error rate (0.0..=1.0).
    pub fn error_rate(&self) -> f64 {
        self.responder().faults.error_rate()
    }

    /// The status `/healthz` currently answers.
    pub fn health_status(&self) -> u16 {
        self.responder().faults.health_status().as_u16()
    }

    /// Clears hang, latency, error rate and health status. Does not rebind a killed or
    /// refusing origin: that is [`SimOrigin::revive`], which can fail.
    pub fn reset(&self) {
        self.responder().faults.reset();
    }
}
