//! Serves the local API over TLS 1.3: accept, handshake under a deadline,
//! HTTP/1.1 or HTTP/2, until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;
use tracing::debug;

/// The default address: loopback only, on the seed's worker port (the
/// master's default is 8443 on the same machine in the local stack).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` with `tls` until `shutdown` completes.
///
/// # Errors
/// The listener failed.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    app: Router,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => return Ok(()),
        };
        tokio::spawn(connection(acceptor.clone(), stream, peer, app.clone()));
    }
}

async fn connection(acceptor: TlsAcceptor, stream: TcpStream, peer: SocketAddr, app: Router) {
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(error)) => {
            debug!(%peer, %error, "TLS handshake refused");
            return;
        }
        Err(_) => {
            debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        app.clone().oneshot(request.map(Body::new))
    });
    if let Err(error) = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), service)
        .await
    {
        debug!(%peer, %error, "connection ended with an error");
    }
}
