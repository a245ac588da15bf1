//! The HTTPS serve loop: any [`Listener`], TLS 1.3 (tokio-rustls), HTTP/1.1
//! and HTTP/2 (hyper), an axum [`Router`], graceful shutdown.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio_rustls::TlsAcceptor;

use crate::endpoint::Listener;

/// Longest a client may take to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may wait for the next request's head (idle
/// keep-alive included) before it is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest open connections may take to finish after shutdown starts.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The other end of a connection as the listener saw it (`IP:PORT` for
/// TCP). Handlers read it with `ConnectInfo<Peer>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer(String);

impl Peer {
    /// A peer known by this address text.
    pub fn new(address: impl Into<String>) -> Self {
        Self(address.into())
    }

    /// The key that rate-limits unauthenticated callers: the IP address for
    /// TCP peers, the endpoint otherwise.
    pub fn rate_limit_key(&self) -> &str {
        match self.0.parse::<std::net::SocketAddr>() {
            Ok(_) => self.0.rsplit_once(':').map_or(&self.0, |(host, _)| host),
            Err(_) => &self.0,
        }
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
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
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Without a timer hyper never times out a client that is slow to send
    // its request head (slowloris), nor an idle keep-alive connection: each
    // costs about 30 KB of buffers, and 5,000 agents heartbeating every 10 s
    // would hold 150 MB. Reconnecting is cheaper than holding them.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(IDLE_TIMEOUT);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // E.g. out of file descriptors: back off, keep serving.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        let builder = builder.clone();
        let connect_info = ConnectInfo(Peer(peer.clone()));
        let service = TowerToHyperService::new(tower::util::MapRequest::new(
            app.clone(),
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(connect_info.clone());
                request
            },
        ));
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .into_owned();
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: draining open connections");
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("open connections did not finish in time");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Peer;

    #[test]
    fn rate_limit_keys_drop_the_port() {
        assert_eq!(Peer::new("10.0.0.7:5123").rate_limit_key(), "10.0.0.7");
        assert_eq!(Peer::new("[::1]:443").rate_limit_key(), "[::1]");
        assert_eq!(Peer::new("vsock:3:8443").rate_limit_key(), "vsock:3:8443");
        assert_eq!(
            Peer::new("unix:/run/m.sock").rate_limit_key(),
            "unix:/run/m.sock"
        );
    }
}
