//! The HTTPS serve loop: any [`Listener`], TLS 1.3 (tokio-rustls), HTTP/1.1
//! and HTTP/2 (hyper), an axum [`Router`], graceful shutdown, and a bound
//! on every phase of a connection ([`ConnectionLimits`]):
//!
//! | phase | bound |
//! |---|---|
//! | open connections | `max_connections` per listener; over it the newest is closed at once |
//! | PROXY v2 header (when required) and TLS handshake | `handshake_timeout` |
//! | the first request, the time between requests (HTTP/1.1 keep-alive, idle HTTP/2), an HTTP/1.1 request head | `idle_timeout` without a request in flight, then the connection is closed |
//! | a request body | `body_timeout` from the request head; then the body fails and the connection closes |
//! | a client that stops reading its response | `write_stall_timeout` without write progress |
//! | a dead HTTP/2 peer with streams open | a keep-alive ping every [`H2_PING_INTERVAL`], answered within [`H2_PING_TIMEOUT`] |
//! | shutdown | [`DRAIN_TIMEOUT`] for open requests |
//!
//! Each listener has its own connection budget, so a flood of the public
//! port cannot starve the webhook listener the API server calls; at start
//! the master raises its open-file limit and fits both budgets under it
//! with a reserve ([`fd_limit`]).

mod connection;
pub mod fd_limit;
mod metrics;
pub mod own_thread;
mod scalar_writes;
pub(crate) mod stall;

use std::future::Future;
use std::io;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use crate::endpoint::Listener;
pub use crate::endpoint::Peer;
pub use connection::BodyTimeout;
pub use metrics::ConnectionMetrics;

/// Longest open connections may take to finish after shutdown starts.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an HTTP/2 connection with requests in flight pings its peer.
pub const H2_PING_INTERVAL: Duration = Duration::from_secs(20);
/// How long the peer has to answer a ping before the connection closes.
pub const H2_PING_TIMEOUT: Duration = Duration::from_secs(10);

/// How long each phase of a connection may take, and how many connections
/// a listener holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections at most; the newest over it is closed at once.
    pub max_connections: NonZeroU32,
    /// The PROXY v2 header (when required) and the TLS handshake.
    pub handshake_timeout: Duration,
    /// How long a connection may stay without a request in flight (before
    /// the first request, between requests, or within a request head).
    pub idle_timeout: Duration,
    /// How long a request body may take to arrive, from the request head.
    pub body_timeout: Duration,
    /// How long a write may make no progress (the client stopped reading).
    pub write_stall_timeout: Duration,
    /// Concurrent HTTP/2 streams per connection.
    pub max_streams: u32,
}

impl ConnectionLimits {
    /// The webhook listener's default budget: the API server keeps a few
    /// keep-alive connections, and this leaves it room to spare.
    pub const WEBHOOK_MAX_CONNECTIONS: NonZeroU32 = NonZeroU32::new(512).unwrap();

    /// The public listener's default budget.
    pub const MAX_CONNECTIONS: NonZeroU32 = NonZeroU32::new(8192).unwrap();

    /// The webhook listener's default idle time: longer than the API
    /// server keeps an idle webhook connection (client-go's 90 s), so the
    /// API server closes it first, and a person's next `kubectl`, seconds
    /// after the last, does not wait for a mutual-TLS handshake. Its few
    /// clients hold the identity's certificate, so holding them is cheap.
    pub const WEBHOOK_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: Self::MAX_CONNECTIONS,
            handshake_timeout: Duration::from_secs(10),
            // Reconnecting with TLS 1.3 resumption is cheaper than holding
            // idle connections: about 30 KB of buffers each, so 5,000 agents
            // heartbeating every 10 s would hold 150 MB.
            idle_timeout: Duration::from_secs(2),
            body_timeout: Duration::from_secs(10),
            write_stall_timeout: Duration::from_secs(10),
            max_streams: 64,
        }
    }
}

/// Whether a listener reads a PROXY protocol v2 header before TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyProtocol {
    /// No header is read (nor trusted): the peer is the transport's.
    #[default]
    Off,
    /// Every connection must start with a valid header, whose source
    /// address becomes the peer; connections without one are closed.
    Required,
}

/// How [`serve_tls`] serves one listener.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The listener's name in logs and metrics (`public`, `webhooks`).
    pub name: &'static str,
    /// Its limits.
    pub limits: ConnectionLimits,
    /// Whether connections carry a PROXY v2 header.
    pub proxy_protocol: ProxyProtocol,
    /// Where to count connections, if anywhere.
    pub metrics: Option<ConnectionMetrics>,
}

impl ServeOptions {
    /// Default limits, no PROXY header, no metrics.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            limits: ConnectionLimits::default(),
            proxy_protocol: ProxyProtocol::Off,
            metrics: None,
        }
    }
}

/// Serves `app` over TLS on `listener` until `shutdown` completes, then
/// stops accepting and lets open connections finish (up to
/// [`DRAIN_TIMEOUT`]).
///
/// # Errors
/// Never today: accept errors are logged and retried.
pub async fn serve_tls(
    listener: Listener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let name = options.name;
    let max = options.limits.max_connections.get();
    let slots = Arc::new(Semaphore::new(max as usize));
    let (closing, closing_watch) = watch::channel(false);
    let shared = Arc::new(connection::Shared {
        acceptor: TlsAcceptor::from(tls),
        http: http_builder(&options.limits),
        app,
        options,
        closing: closing_watch,
    });
    let at_cap = AtomicBool::new(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // E.g. out of file descriptors: back off, keep serving.
                    tracing::warn!(listener = name, %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            // At the cap, the newest connection is closed at once: the open
            // ones keep working and the client learns now, not at a timeout.
            if !at_cap.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    listener = name,
                    max_connections = max,
                    "connection cap reached: closing new connections until some end"
                );
            }
            shared.refused("cap");
            drop(stream);
            continue;
        };
        at_cap.store(false, Ordering::Relaxed);
        tokio::spawn(connection::serve(Arc::clone(&shared), stream, peer, slot));
    }
    drop(listener);
    tracing::info!(listener = name, "shutting down: draining open connections");
    let _ = closing.send(true);
    // Every connection holds a slot until it ends: all slots back, all done.
    if tokio::time::timeout(DRAIN_TIMEOUT, slots.acquire_many(max))
        .await
        .is_err()
    {
        tracing::warn!(listener = name, "open connections did not finish in time");
    }
    Ok(())
}

/// HTTP/1.1 and HTTP/2 with their timers and limits.
fn http_builder(limits: &ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_PING_INTERVAL)
        .keep_alive_timeout(H2_PING_TIMEOUT)
        .max_concurrent_streams(limits.max_streams);
    builder
}
