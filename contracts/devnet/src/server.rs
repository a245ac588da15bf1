//! Serving the devnet: gRPC (`sui.rpc.v2`) and the HTTP devnet endpoints
//! (faucet, clock) on one loopback port, with graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::serve::ListenerExt;
use daas_core::attestation::DevRoot;
use serde::{Deserialize, Serialize};
use sui_rpc::proto::sui::rpc::v2::ledger_service_server::LedgerServiceServer;
use sui_rpc::proto::sui::rpc::v2::move_package_service_server::MovePackageServiceServer;
use sui_rpc::proto::sui::rpc::v2::name_service_server::NameServiceServer;
use sui_rpc::proto::sui::rpc::v2::signature_verification_service_server::SignatureVerificationServiceServer;
use sui_rpc::proto::sui::rpc::v2::state_service_server::StateServiceServer;
use sui_rpc::proto::sui::rpc::v2::subscription_service_server::SubscriptionServiceServer;
use sui_rpc::proto::sui::rpc::v2::transaction_execution_service_server::TransactionExecutionServiceServer;
use sui_sdk_types::Address;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::faucet;
use crate::genesis::GenesisConfig;
use crate::ledger::{Ledger, LedgerError};
use crate::nitro::Attestation;
use crate::service::DevnetService;

/// How long a shutdown waits for open connections.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Default faucet payout: 100 SUI.
pub const DEFAULT_FAUCET_AMOUNT: u64 = 100_000_000_000;

/// How to start a devnet.
#[derive(Debug, Clone)]
pub struct DevnetConfig {
    /// Directory of the ledger database.
    pub data_dir: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Owner of the `AdminCap` and `EnclaveCap` at genesis (default: the
    /// faucet's address).
    pub admin: Option<Address>,
    /// Owner of the `SlasherCap` at genesis (default: the admin).
    pub slasher: Option<Address>,
    /// MIST paid per faucet request.
    pub faucet_amount: u64,
    /// **Insecure, development only.** A local root CA whose attestation
    /// documents `0x2::nitro_attestation::load_nitro_attestation` accepts
    /// besides the AWS Nitro root. Anyone with its key can register any
    /// key as an enclave; never set it for a devnet others rely on.
    pub insecure_dev_attestation_root: Option<DevRoot>,
    /// Accept debug-mode attestation documents (all-zero PCR 0, 1 or 2).
    pub allow_debug_attestation: bool,
    /// Serve `ListEvents` and `SubscribeEvents`; `false` answers them
    /// `UNIMPLEMENTED`, like a full node without the event index.
    pub event_index: bool,
}

/// Errors starting or running the devnet.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The ledger could not be opened.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("server failed: {0}")]
    Serve(#[source] std::io::Error),
    /// The server task failed.
    #[error("server task failed: {0}")]
    Task(String),
}

/// A devnet serving in the background.
#[derive(Debug)]
pub struct RunningDevnet {
    addr: SocketAddr,
    ledger: Arc<Ledger>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), std::io::Error>>,
}

impl RunningDevnet {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The gRPC and HTTP base URL, `http://IP:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The ledger it serves.
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// Stops accepting requests and lets open ones finish for up to
    /// [`SHUTDOWN_GRACE`]; connections still open after that (idle
    /// keep-alive clients, subscriptions) are dropped. Committed
    /// transactions are durable either way.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut self.task).await {
            Ok(Ok(r)) => r.map_err(ServerError::Serve),
            Ok(Err(e)) => Err(ServerError::Task(e.to_string())),
            Err(_) => {
                tracing::warn!("connections still open after the grace period; closing them");
                self.task.abort();
                Ok(())
            }
        }
    }

    /// Waits until the server stops.
    pub async fn wait(self) -> Result<(), ServerError> {
        match self.task.await {
            Ok(r) => r.map_err(ServerError::Serve),
            Err(e) => Err(ServerError::Task(e.to_string())),
        }
    }

    /// Waits until the server stops by itself (an I/O failure), without
    /// consuming the handle.
    pub async fn finished(&mut self) -> Result<(), ServerError> {
        match (&mut self.task).await {
            Ok(r) => r.map_err(ServerError::Serve),
            Err(e) => Err(ServerError::Task(e.to_string())),
        }
    }

    /// Asks the server to stop without waiting.
    pub fn stop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
    }
}

/// The HTTP and gRPC routes over `ledger`; streams end when `stopping`
/// turns true.
pub fn router(
    ledger: Arc<Ledger>,
    stopping: watch::Receiver<bool>,
    event_index: bool,
) -> axum::Router {
    let service = DevnetService::new(Arc::clone(&ledger), stopping).with_event_index(event_index);
    let grpc = tonic::service::Routes::new(LedgerServiceServer::new(service.clone()))
        .add_service(StateServiceServer::new(service.clone()))
        .add_service(TransactionExecutionServiceServer::new(service.clone()))
        .add_service(SubscriptionServiceServer::new(service.clone()))
        .add_service(MovePackageServiceServer::new(service.clone()))
        .add_service(NameServiceServer::new(service.clone()))
        .add_service(SignatureVerificationServiceServer::new(service))
        .prepare()
        .into_axum_router();
    let http = axum::Router::new()
        .route("/v2/gas", post(faucet::gas_handler))
        .route("/devnet/v1/advance-clock", post(advance_clock))
        .with_state(ledger);
    grpc.merge(http)
}

/// Opens the ledger (running genesis on first start), binds the listener
/// and serves in a background task.
pub async fn start(config: DevnetConfig) -> Result<RunningDevnet, ServerError> {
    let admin = config.admin.unwrap_or_else(faucet::faucet_address);
    let genesis = GenesisConfig {
        admin,
        slasher: config.slasher.unwrap_or(admin),
        timestamp_ms: daas_core::clock::unix_now_ms(),
    };
    let data_dir = config.data_dir.clone();
    let faucet_amount = config.faucet_amount;
    if let Some(root) = &config.insecure_dev_attestation_root {
        tracing::warn!(
            fingerprint = %hex::encode(root.fingerprint()),
            "INSECURE: trusting a development attestation root; anyone holding its key can \
             register any key as an enclave on this devnet"
        );
    }
    if config.allow_debug_attestation {
        tracing::warn!("INSECURE: accepting debug-mode attestation documents (zero PCRs)");
    }
    let attestation = Attestation::new(
        config.insecure_dev_attestation_root.clone(),
        config.allow_debug_attestation,
    );
    let ledger = tokio::task::spawn_blocking(move || {
        Ledger::open(&data_dir, &genesis, faucet_amount, attestation)
    })
    .await
    .map_err(|e| ServerError::Task(e.to_string()))??;
    let ledger = Arc::new(ledger);
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
    })?;
    // gRPC answers are small: without TCP_NODELAY each one waits for the
    // client's delayed ACK (about 40 ms).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    let (tx, rx) = oneshot::channel::<()>();
    let (stopping_tx, stopping) = watch::channel(false);
    let app = router(Arc::clone(&ledger), stopping, config.event_index);
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
                // End open subscriptions so their connections can close.
                let _ = stopping_tx.send(true);
            })
            .await
    });
    tracing::info!(%addr, "devnet serving");
    Ok(RunningDevnet {
        addr,
        ledger,
        shutdown: Some(tx),
        task,
    })
}

/// Body of `POST /devnet/v1/advance-clock`.
#[derive(Debug, Clone, Deserialize)]
pub struct AdvanceClock {
    /// Milliseconds to move the clock forward.
    pub ms: u64,
}

/// Answer of `POST /devnet/v1/advance-clock`.
#[derive(Debug, Clone, Serialize)]
pub struct ClockOffset {
    /// Total offset now added to the wall clock.
    pub offset_ms: u64,
}

async fn advance_clock(
    State(ledger): State<Arc<Ledger>>,
    body: Result<Json<AdvanceClock>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<ClockOffset>, (StatusCode, String)> {
    let Json(request) = body.map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("expected {{\"ms\": <milliseconds>}}: {e}"),
        )
    })?;
    let span = tracing::info_span!("advance_clock", ms = request.ms);
    match tokio::task::spawn_blocking(move || ledger.advance_clock(request.ms))
        .instrument(span)
        .await
    {
        Ok(Ok(offset_ms)) => Ok(Json(ClockOffset { offset_ms })),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "advancing the clock failed");
            Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                "advancing the clock failed".to_owned(),
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "clock task failed");
            Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                "clock task failed".to_owned(),
            ))
        }
    }
}

/// What `daas-devnet start` prints on stdout. The first line is
/// `daas-devnet listening on http://IP:PORT package 0x…`; the following
/// lines are `name value` pairs: the chain id, the genesis object ids and
/// the faucet URL.
pub fn banner(devnet: &RunningDevnet) -> String {
    use daas_core::package as p;
    let url = devnet.url();
    [
        format!("daas-devnet listening on {url} package {}", p::PACKAGE_ID),
        format!("chain_id {}", devnet.ledger().chain_id()),
        format!("stake_pool {}", p::STAKE_POOL_ID),
        format!("admin_cap {}", p::ADMIN_CAP_ID),
        format!("slasher_cap {}", p::SLASHER_CAP_ID),
        format!("enclave_cap {}", p::ENCLAVE_CAP_ID),
        format!("faucet {url}/v2/gas"),
        format!("faucet_address {}", faucet::faucet_address()),
    ]
    .join("\n")
}
