//! The parent-side forwarder: accepts on one endpoint and copies bytes to
//! another (typically `tcp:0.0.0.0:8443` to the enclave's `vsock:16:8443`).
//! It sees only TLS ciphertext; the client's attestation check runs end to
//! end through it.

use std::future::Future;
use std::io;
use std::time::Duration;

use tracing::Instrument as _;

use crate::endpoint::{Endpoint, Listener, connect};

/// Longest the proxy waits to reach the target.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Forwards every connection accepted on `listener` to `target` until
/// `shutdown` completes. Open connections are dropped at shutdown.
///
/// # Errors
/// Never today: accept and forwarding errors are logged.
pub async fn forward(
    listener: Listener,
    target: Endpoint,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    tokio::pin!(shutdown);
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let (mut inbound, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Reap finished connections so the set does not grow.
        while tasks.try_join_next().is_some() {}
        let target = target.clone();
        let span = tracing::debug_span!("forward", %peer, %target);
        tasks.spawn(
            async move {
                let mut outbound =
                    match tokio::time::timeout(CONNECT_TIMEOUT, connect(&target)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(error)) => {
                            tracing::warn!(%peer, %target, %error, "cannot reach the target");
                            return;
                        }
                        Err(_) => {
                            tracing::warn!(%peer, %target, "timed out reaching the target");
                            return;
                        }
                    };
                match tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await {
                    Ok((up, down)) => tracing::debug!(%peer, up, down, "connection closed"),
                    Err(error) => tracing::debug!(%peer, %error, "connection ended with an error"),
                }
            }
            .instrument(span),
        );
    }
    tasks.shutdown().await;
    Ok(())
}
