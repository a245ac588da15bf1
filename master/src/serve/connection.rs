//! One connection, from accept to close: the PROXY header and the TLS
//! handshake under one deadline, then HTTP until the client leaves, the
//! connection stays without a request for the idle timeout, or the server
//! shuts down.
//!
//! "Idle" counts requests, not bytes: HTTP/2 pings or a trickle of header
//! bytes do not keep a connection open, only requests in flight do (a
//! request is in flight from its head until its response body is sent).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::{Body as HttpBody, Bytes, Frame, Incoming, SizeHint};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use super::scalar_writes::ScalarWrites;
use super::stall::WriteStallGuard;
use super::{DRAIN_TIMEOUT, ProxyProtocol, ServeOptions};
use crate::endpoint::{Peer, Stream};
use crate::proxy_protocol::{self, Header};

/// What every connection of a listener shares.
pub(super) struct Shared {
    pub(super) acceptor: TlsAcceptor,
    pub(super) http: auto::Builder<TokioExecutor>,
    pub(super) app: Router,
    pub(super) options: ServeOptions,
    /// Turns true when the server shuts down.
    pub(super) closing: watch::Receiver<bool>,
}

impl Shared {
    /// Counts a connection closed before it served anything.
    pub(super) fn refused(&self, reason: &'static str) {
        if let Some(metrics) = &self.options.metrics {
            metrics.refused(self.options.name, reason);
        }
    }
}

/// Serves one accepted connection; `slot` is its place under the
/// listener's connection cap, given back when it ends.
pub(super) async fn serve(
    shared: Arc<Shared>,
    stream: Stream,
    peer: Peer,
    _slot: OwnedSemaphorePermit,
) {
    let _open = shared
        .options
        .metrics
        .as_ref()
        .map(|metrics| metrics.opened(shared.options.name));
    let limits = &shared.options.limits;
    let opened = tokio::time::timeout(
        limits.handshake_timeout,
        open(&shared, stream, peer.clone()),
    );
    let (peer, tls) = match opened.await {
        Ok(Ok(opened)) => opened,
        Ok(Err(refusal)) => {
            tracing::debug!(listener = shared.options.name, %peer, %refusal, "connection refused");
            shared.refused(refusal.reason());
            return;
        }
        Err(_) => {
            tracing::debug!(listener = shared.options.name, %peer, "handshake timed out");
            shared.refused("handshake_timeout");
            return;
        }
    };
    let activity = Arc::new(Activity::new());
    let service = ConnectionService {
        app: shared.app.clone(),
        peer: ConnectInfo(peer.clone()),
        activity: Arc::clone(&activity),
        body_timeout: limits.body_timeout,
    };
    let connection = shared
        .http
        .serve_connection(TokioIo::new(ScalarWrites(tls)), service);
    tokio::pin!(connection);
    let idle_timeout = limits.idle_timeout;
    let idle = tokio::time::sleep(idle_timeout);
    tokio::pin!(idle);
    let mut closing = shared.closing.clone();
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
                return;
            }
            () = &mut idle => match activity.idle_deadline(idle_timeout) {
                Some(deadline) if deadline > Instant::now() => idle.as_mut().reset(deadline),
                Some(_) => break,
                None => idle.as_mut().reset(Instant::now() + idle_timeout),
            },
            _ = closing.wait_for(|closing| *closing) => break,
        }
    }
    // Idle or shutting down: HTTP/1.1 closes now, HTTP/2 says GOAWAY and
    // lets its streams finish.
    connection.as_mut().graceful_shutdown();
    if tokio::time::timeout(DRAIN_TIMEOUT, connection)
        .await
        .is_err()
    {
        tracing::debug!(%peer, "connection did not close in time; dropped");
    }
}

/// Why a connection was closed before TLS.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("bad PROXY protocol header: {0}")]
    ProxyHeader(#[from] proxy_protocol::HeaderError),
    #[error("TLS handshake failed: {0}")]
    Tls(#[from] std::io::Error),
}

impl Refusal {
    fn reason(&self) -> &'static str {
        match self {
            Self::ProxyHeader(_) => "proxy_header",
            Self::Tls(_) => "tls",
        }
    }
}

/// The PROXY header (when required) and the TLS handshake.
async fn open(
    shared: &Shared,
    mut stream: Stream,
    transport_peer: Peer,
) -> Result<
    (
        Peer,
        tokio_rustls::server::TlsStream<WriteStallGuard<Stream>>,
    ),
    Refusal,
> {
    let peer = match shared.options.proxy_protocol {
        ProxyProtocol::Off => transport_peer,
        ProxyProtocol::Required => match proxy_protocol::read_header(&mut stream).await? {
            Header::Proxy { source, .. } => Peer::Ip(source),
            Header::Local => transport_peer,
        },
    };
    let stream = WriteStallGuard::new(stream, shared.options.limits.write_stall_timeout);
    let tls = shared.acceptor.accept(stream).await?;
    Ok((peer, tls))
}

/// Requests in flight on a connection, and when the last one ended.
struct Activity {
    started: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `started` at which the last request ended.
    last_done_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_done_ms: AtomicU64::new(0),
        }
    }

    /// A request began; it ends when the guard drops.
    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(self))
    }

    /// When the connection becomes idle for `timeout`: `None` while a
    /// request is in flight.
    fn idle_deadline(&self, timeout: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let last_done = Duration::from_millis(self.last_done_ms.load(Ordering::Acquire));
        Some(self.started + last_done + timeout)
    }
}

/// A request in flight.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        let now_ms = u64::try_from(activity.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        activity.last_done_ms.fetch_max(now_ms, Ordering::AcqRel);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The per-connection service: records the peer, times the request body
/// and keeps the request in flight until its response body is sent.
#[derive(Clone)]
struct ConnectionService {
    app: Router,
    peer: ConnectInfo<Peer>,
    activity: Arc<Activity>,
    body_timeout: Duration,
}

impl hyper::service::Service<Request<Incoming>> for ConnectionService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let in_flight = self.activity.begin();
        let body_timeout = self.body_timeout;
        let mut request = request.map(|body| {
            if body.is_end_stream() {
                Body::new(body)
            } else {
                Body::new(TimedBody::new(body, body_timeout))
            }
        });
        request.extensions_mut().insert(self.peer.clone());
        let response = self.app.clone().oneshot(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| {
                Body::new(InFlightBody {
                    body,
                    _in_flight: in_flight,
                })
            }))
        })
    }
}

/// The request body failed to arrive within the body timeout.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body did not arrive within {} s", .0.as_secs())]
pub struct BodyTimeout(pub Duration);

impl BodyTimeout {
    /// The timeout somewhere in `error`'s chain of sources, if any.
    pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Self> {
        std::iter::successors(Some(error), |error| error.source())
            .find_map(|error| error.downcast_ref::<Self>())
    }
}

/// A request body that fails once its deadline passes.
struct TimedBody {
    body: Incoming,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
}

impl TimedBody {
    fn new(body: Incoming, timeout: Duration) -> Self {
        Self {
            body,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            timeout,
        }
    }
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimeout(this.timeout).into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A response body that keeps its request in flight until it is sent.
struct InFlightBody {
    body: Body,
    /// Dropped with the body, once it is sent (or the client is gone).
    _in_flight: InFlight,
}

impl HttpBody for InFlightBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_counts_from_the_last_request_and_not_while_one_runs() {
        let timeout = Duration::from_secs(2);
        let activity = Arc::new(Activity::new());
        assert_eq!(
            activity.idle_deadline(timeout),
            Some(activity.started + timeout)
        );
        let first = activity.begin();
        let second = activity.begin();
        drop(first);
        assert_eq!(activity.idle_deadline(timeout), None);
        let before = Instant::now();
        drop(second);
        let deadline = activity.idle_deadline(timeout).unwrap();
        // Counted from the end of the last request, to the millisecond.
        assert!(deadline + Duration::from_millis(1) >= before + timeout);
        assert!(deadline <= Instant::now() + timeout);
    }
}
