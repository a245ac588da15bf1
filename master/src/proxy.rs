//! The parent-side forwarder: accepts on one endpoint and copies bytes to
//! another (typically `tcp:0.0.0.0:8443` to the enclave's `vsock:16:8443`).
//! It sees only TLS ciphertext; the client's attestation check runs end to
//! end through it.
//!
//! vsock shows the master only the parent, so the forwarder first writes a
//! PROXY protocol v2 header naming the client's address
//! ([`ForwardOptions::send_proxy_header`]), which the master's vsock
//! listener requires: per-client limits then key by the client, not by the
//! parent. The master bounds every connection's phases; the forwarder ends
//! a connection as soon as the master's side does, and caps how many it
//! holds (each costs two descriptors).

use std::future::Future;
use std::io;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::Semaphore;
use tracing::Instrument as _;

use crate::endpoint::{Endpoint, Listener, Peer, Stream, connect};
use crate::proxy_protocol::{self, Header};
use crate::serve::stall::WriteStallGuard;

/// Longest the proxy waits to reach the target and send the header.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may leave its responses unread.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How [`forward`] forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardOptions {
    /// Whether each forwarded connection starts with a PROXY v2 header.
    pub send_proxy_header: bool,
    /// Connections held at most; the newest over it is closed at once.
    pub max_connections: NonZeroU32,
}

/// Forwards every connection accepted on `listener` to `target` until
/// `shutdown` completes. Open connections are dropped at shutdown.
///
/// # Errors
/// Never today: accept and forwarding errors are logged.
pub async fn forward(
    listener: Listener,
    target: Endpoint,
    options: ForwardOptions,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    tokio::pin!(shutdown);
    let slots = Arc::new(Semaphore::new(options.max_connections.get() as usize));
    let at_cap = AtomicBool::new(false);
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let (inbound, peer) = tokio::select! {
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
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            if !at_cap.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    max_connections = options.max_connections,
                    "connection cap reached: closing new connections until some end"
                );
            }
            drop(inbound);
            continue;
        };
        at_cap.store(false, Ordering::Relaxed);
        let target = target.clone();
        let span = tracing::debug_span!("forward", %peer, %target);
        tasks.spawn(
            async move {
                forward_one(inbound, peer, &target, options.send_proxy_header).await;
                drop(slot);
            }
            .instrument(span),
        );
    }
    tasks.shutdown().await;
    Ok(())
}

/// Connects to `target`, sends the header, and copies both ways until the
/// target's side ends.
async fn forward_one(inbound: Stream, peer: Peer, target: &Endpoint, send_proxy_header: bool) {
    let header = send_proxy_header.then(|| proxy_header(&inbound, &peer));
    let opened = async {
        let mut outbound = connect(target).await?;
        if let Some(header) = &header {
            outbound.write_all(header).await?;
        }
        io::Result::Ok(outbound)
    };
    let outbound = match tokio::time::timeout(CONNECT_TIMEOUT, opened).await {
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
    let (client_read, client_write) =
        tokio::io::split(WriteStallGuard::new(inbound, WRITE_STALL_TIMEOUT));
    let (target_read, target_write) = tokio::io::split(outbound);
    let upstream = copy_then_close(client_read, target_write);
    let downstream = copy_then_close(target_read, client_write);
    tokio::pin!(upstream, downstream);
    // The target bounds the connection: once it is done, so is the client.
    // A client done sending still gets the rest of the answer.
    let down = tokio::select! {
        down = &mut downstream => down,
        up = &mut upstream => {
            tracing::debug!(%peer, up = ?up, "client finished sending");
            downstream.await
        }
    };
    tracing::debug!(%peer, down = ?down, "connection closed");
}

/// The header naming `peer` to the target: its address and the address it
/// connected to for a TCP client, `LOCAL` otherwise.
fn proxy_header(inbound: &Stream, peer: &Peer) -> Vec<u8> {
    let header = match (peer, inbound.local_tcp_addr()) {
        (Peer::Ip(source), Some(destination)) => Header::Proxy {
            source: *source,
            destination,
        },
        _ => Header::Local,
    };
    proxy_protocol::encode(&header)
}

/// Copies `from` into `to` until `from` ends, then shuts `to` down.
async fn copy_then_close<R, W>(mut from: R, mut to: W) -> io::Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let copied = tokio::io::copy(&mut from, &mut to).await?;
    to.shutdown().await?;
    Ok(copied)
}
