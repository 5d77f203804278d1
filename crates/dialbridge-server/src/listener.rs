//! How connections are served, with a bound on everything a client can hold: at most
//! `--max-connections` at once (the accept loop waits for a free slot, further clients wait in
//! the listen backlog), a request head within `--header-read-timeout-secs`, a body that keeps
//! arriving (`--body-read-timeout-secs`, else 408), an answer within `--request-timeout-secs`
//! (else 503), and connections closed after `--idle-timeout-secs` without a request. Every
//! request carries its client's address (`ConnectInfo`). On shutdown it stops accepting,
//! lets requests in flight finish for up to `--shutdown-timeout-secs`, then drops the rest.
//! After a flood of connections, the memory they held is handed back to the OS.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::{middleware, Router};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

use crate::config::ServeConfig;
use crate::contract;
use crate::heap;

/// The bounds of `serve`, from the `serve` flags.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub request_timeout: Duration,
    pub idle_timeout: Duration,
    pub shutdown_timeout: Duration,
}

impl Limits {
    pub fn of(config: &ServeConfig) -> Self {
        let secs = |n: u64| Duration::from_secs(n.max(1));
        Limits {
            max_connections: config.max_connections.max(1),
            header_read_timeout: secs(config.header_read_timeout_secs),
            body_read_timeout: secs(config.body_read_timeout_secs),
            request_timeout: secs(config.request_timeout_secs),
            idle_timeout: secs(config.idle_timeout_secs),
            shutdown_timeout: Duration::from_secs(config.shutdown_timeout_secs),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` fires, then shuts down gracefully.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    // Around the router, not layered into it: `Router::layer` wraps each route in a boxed
    // service of its own, and every request clones its route's whole stack of boxes (one
    // allocation per layer; a `from_fn` layer clones what it wraps once more).
    let app = ServiceBuilder::new()
        .layer(middleware::from_fn(contract::in_contract_shape))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ))
        .layer(RequestBodyTimeoutLayer::new(limits.body_read_timeout))
        .service(app);
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);

    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    let peak = Arc::new(AtomicUsize::new(0));
    tokio::spawn(give_back_memory(
        connections.clone(),
        peak.clone(),
        shutdown.clone(),
    ));
    // Start-up freed more than it keeps, and glibc holds on to it: handing it back took an
    // idle process from 39.5 to 33.0 MB (VmRSS), when the Dialpad spec was parsed before this.
    heap::trim();
    // Fired when the shutdown grace is over: connections still open are dropped.
    let abort = CancellationToken::new();
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = shutdown.cancelled() => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        peak.fetch_max(connections.len() + 1, Ordering::Relaxed);
        let connection = Connection {
            builder: builder.clone(),
            app: app.clone(),
            remote,
            idle_timeout: limits.idle_timeout,
            shutdown: shutdown.clone(),
            abort: abort.clone(),
            _slot: slot,
        };
        connections.spawn(connection.serve(stream));
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(limits.shutdown_timeout, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "requests still in flight after the shutdown timeout; dropping their connections"
        );
        abort.cancel();
        connections.wait().await;
    }
    Ok(())
}

/// Hands freed memory back to the OS once many connections have closed. glibc's malloc keeps
/// what a flood of connections freed: 3,000 slow clients took a release build from 38 to
/// 119 MiB, and it stayed there after they left, until `malloc_trim` brought it to 33 MiB
/// (`scripts/slow-clients.py`; mimalloc kept more, and started higher).
async fn give_back_memory(
    connections: TaskTracker,
    peak: Arc<AtomicUsize>,
    shutdown: CancellationToken,
) {
    /// How many connections must have closed since the peak to be worth a trim.
    const FALL: usize = 64;
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
            () = shutdown.cancelled() => return,
        }
        let open = connections.len();
        if peak.load(Ordering::Relaxed) >= open + FALL {
            peak.store(open, Ordering::Relaxed);
            heap::trim();
        }
    }
}

/// One accepted connection and what it needs; holds its slot until it ends.
struct Connection<A> {
    builder: Arc<Builder<TokioExecutor>>,
    app: A,
    remote: SocketAddr,
    idle_timeout: Duration,
    shutdown: CancellationToken,
    abort: CancellationToken,
    _slot: OwnedSemaphorePermit,
}

impl<A> Connection<A>
where
    A: Service<axum::extract::Request, Response = axum::response::Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    A::Future: Send + 'static,
{
    async fn serve(self, stream: TcpStream) {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY: {e}");
        }
        let activity = Arc::new(Activity::new());
        let (app, remote, tracked) = (self.app.clone(), self.remote, activity.clone());
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(remote));
            let busy = tracked.begin();
            let answer = app.clone().oneshot(request.map(axum::body::Body::new));
            async move {
                let response = answer.await;
                drop(busy);
                response
            }
        });
        let connection = self.builder.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(connection);
        let mut closing = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(remote = %self.remote, "connection ended: {e}");
                    }
                    return;
                }
                () = self.shutdown.cancelled(), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                () = activity.idle_for(self.idle_timeout), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                () = self.abort.cancelled() => return,
            }
        }
    }
}

/// Requests in flight on one connection, and since when it has had none.
struct Activity {
    started: Instant,
    in_flight: AtomicUsize,
    idle_since_ms: AtomicU64,
}

/// One request in flight; the connection is idle again when the last one is dropped.
struct Busy(Arc<Activity>);

impl Activity {
    fn new() -> Self {
        Activity {
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
        }
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Completes once the connection has had no request in flight for `idle`.
    async fn idle_for(&self, idle: Duration) {
        let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        loop {
            let wait_ms = if self.in_flight.load(Ordering::SeqCst) > 0 {
                idle_ms
            } else {
                let idle_since = self.idle_since_ms.load(Ordering::SeqCst);
                let waited = self.now_ms().saturating_sub(idle_since);
                if waited >= idle_ms {
                    return;
                }
                idle_ms - waited
            };
            tokio::time::sleep(Duration::from_millis(wait_ms.max(10))).await;
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0
                .idle_since_ms
                .store(self.0.now_ms(), Ordering::SeqCst);
        }
    }
}
