//! The local API while `run` runs: served on the agent's own key (or the
//! operator's `security.tls_cert`/`tls_key`), its
//! endpoint and key hash reported to the master at registration and with
//! every heartbeat, so that the owner's console can pin it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use daas_core::access::unix_now_secs;
use daas_core::api::nodes::AgentEndpoint;
use daas_core::package::Mist;
use futures::future::BoxFuture;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tracing::{info, warn};

use super::{Agent, AgentError, UNSTAKE_REQUEST_FILE};
use crate::api::serve::serve;
use crate::api::{
    AgentControl, AgentIdentity, ApiState, ControlError, OrderGuard, Outcome, ProcMetrics, router,
};
use crate::state::StateStore;

/// How old an owner's order may be, and how far ahead of the agent's clock.
const ORDER_AGE: (Duration, Duration) = (Duration::from_secs(60), Duration::from_secs(30));

/// The served API; dropping it stops the server.
#[derive(Debug)]
pub(super) struct LocalApi {
    /// What the master is told.
    pub endpoint: AgentEndpoint,
    _stop: oneshot::Sender<()>,
}

/// Starts the API on `agent.api_listen` (`None` when it is `off`).
///
/// # Errors
/// The key cannot be made or read, or the address cannot be bound.
pub(super) async fn start(agent: &Agent) -> Result<Option<LocalApi>, AgentError> {
    let Some(address) = agent.config.api_listen else {
        return Ok(None);
    };
    let local = |what: &str, error: &dyn std::fmt::Display| {
        AgentError::Local(format!("the local API: {what}: {error}"))
    };
    let identity = match &agent.config.tls {
        Some((certificate, key)) => AgentIdentity::from_files(certificate, key),
        None => AgentIdentity::load_or_generate(&agent.config.state_dir),
    }
    .map_err(|error| local("its TLS key", &error))?;
    let tls = identity
        .server_config()
        .map_err(|error| local("its TLS configuration", &error))?;
    let listener = TcpListener::bind(address)
        .await
        .map_err(|error| local(&format!("listening on {address}"), &error))?;
    let bound = listener
        .local_addr()
        .map_err(|error| local("its address", &error))?;
    let guard = OrderGuard::new(
        agent.key.address(),
        agent.config.node.clone(),
        identity.spki_sha256(),
        ORDER_AGE,
        unix_now_secs(),
    );
    let control = Arc::new(RunControl {
        store: agent.store.clone(),
    });
    let app = router(Arc::new(ApiState::new(
        guard,
        control,
        ProcMetrics::default(),
    )));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let stopped = async {
            let _ = stopped.await;
        };
        if let Err(error) = serve(listener, tls, app, stopped).await {
            warn!(%error, "the local API stopped");
        }
    });
    let endpoint = AgentEndpoint {
        url: format!("https://{}", reachable(bound, &agent.config.master.url)),
        tls_spki_sha256: identity.spki_sha256_hex(),
    };
    info!(url = %endpoint.url, key = %endpoint.tls_spki_sha256, "local API serving");
    Ok(Some(LocalApi {
        endpoint,
        _stop: stop,
    }))
}

/// `bound`, with an unspecified address replaced by the one this machine
/// reaches the master from.
fn reachable(bound: SocketAddr, master_url: &str) -> SocketAddr {
    if bound.ip().is_unspecified() {
        SocketAddr::new(super::join::local_ip(master_url), bound.port())
    } else {
        bound
    }
}

/// The run loop's side of the owner's orders: it stakes and registers by
/// itself, and an unstake order is the same request `daas-agent unstake`
/// leaves for a running agent.
struct RunControl {
    store: StateStore,
}

impl AgentControl for RunControl {
    fn stake(&self, _amount: Mist) -> BoxFuture<'_, Result<Outcome, ControlError>> {
        Box::pin(async {
            Err(ControlError::Conflict(
                "this agent stakes by itself when it runs (node.stake_amount in its config)"
                    .to_owned(),
            ))
        })
    }

    fn register(&self) -> BoxFuture<'_, Result<Outcome, ControlError>> {
        Box::pin(async {
            Err(ControlError::Conflict(
                "this agent is running and registered itself".to_owned(),
            ))
        })
    }

    fn unstake(&self) -> BoxFuture<'_, Result<Outcome, ControlError>> {
        Box::pin(async {
            self.store
                .write_private(UNSTAKE_REQUEST_FILE, b"requested\n")
                .map_err(|error| ControlError::Conflict(error.to_string()))?;
            Ok(Outcome {
                message: "unstake requested: the agent drains the node, unstakes and \
                          withdraws when unbonding ends"
                    .to_owned(),
                seal_token: None,
            })
        })
    }
}
