//! The command line: `daas-master serve` and `daas-master proxy`.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::attestation::{self, AttestationMode};
use crate::config::MasterConfig;
use crate::endpoint::{Endpoint, Listener};
use crate::http::app;
use crate::http::attestation::{self as attestation_api, AttestationState};
use crate::identity::MasterIdentity;

/// The K3s-DaaS enclave master.
///
/// Runs beside the K3s control plane inside an AWS Nitro Enclave and proves
/// itself by remote attestation: clients verify its attestation document
/// and then talk to it over TLS 1.3 pinned to the attested key.
#[derive(Debug, Parser)]
#[command(name = "daas-master", version)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the attested HTTPS API.
    Serve(ServeArgs),
    /// Forward connections from one endpoint to another (parent instance:
    /// TCP to the enclave's vsock).
    Proxy(ProxyArgs),
}

/// `daas-master serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to listen: tcp:HOST:PORT, unix:/PATH or vsock:CID:PORT
    /// [default: the config's api.listen/api.port, else tcp:127.0.0.1:8443].
    #[arg(long, value_name = "ENDPOINT")]
    pub listen: Option<Endpoint>,
    /// State directory (the dev attestation root lives here).
    #[arg(
        long,
        env = "DAAS_MASTER_STATE_DIR",
        value_name = "DIR",
        default_value = "/var/lib/k3s-daas/master"
    )]
    pub state_dir: PathBuf,
    /// Attestation provider: auto (Nitro if /dev/nsm exists, else dev), nitro, or dev (INSECURE)
    /// [default: the config's tee.type, else auto].
    #[arg(long, value_name = "MODE")]
    pub attestation: Option<AttestationMode>,
    /// Configuration file (nautilus-config.yaml shape).
    #[arg(long, env = "DAAS_MASTER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `daas-master proxy`.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Where to accept connections.
    #[arg(long, value_name = "ENDPOINT")]
    pub listen: Endpoint,
    /// Where to forward them.
    #[arg(long, value_name = "ENDPOINT")]
    pub to: Endpoint,
}

/// Runs a parsed command line until it finishes or SIGTERM/SIGINT.
///
/// # Errors
/// Why the command could not run.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Proxy(args) => proxy(args).await,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(path) => MasterConfig::load(path)?,
        None => MasterConfig::default(),
    };
    if config.api.tls_cert.is_some() || config.api.tls_key.is_some() {
        tracing::warn!(
            "api.tls_cert/api.tls_key are ignored: the attested TLS key is made in memory at boot"
        );
    }
    let mode = match args.attestation {
        Some(mode) => mode,
        None => config
            .attestation_mode()
            .map_err(anyhow::Error::msg)?
            .unwrap_or_default(),
    };
    let listen = match args.listen {
        Some(listen) => listen,
        None => config
            .listen()
            .map_err(anyhow::Error::msg)?
            .unwrap_or_else(|| Endpoint::Tcp("127.0.0.1:8443".to_owned())),
    };

    let provider = attestation::start(mode, &args.state_dir)?;
    let identity = Arc::new(MasterIdentity::generate()?);
    let tls = identity.server_config()?;
    let state = AttestationState::new(
        Arc::clone(&provider),
        Arc::clone(&identity),
        config.attestation_interval(),
    )
    .context("the attestation provider cannot make a document")?;
    tracing::info!(
        tee_type = %provider.tee_type(),
        signing_public_key = %identity.signing_public_key_hex(),
        tls_spki_sha256 = %hex::encode(identity.tls_spki_sha256()),
        "master keys made"
    );

    let listener = Listener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    announce(&format!(
        "daas-master listening on {}",
        https_url(&listener)?
    ))?;
    crate::serve::serve_tls(listener, tls, app(attestation_api::router(Arc::new(state))), shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn proxy(args: ProxyArgs) -> anyhow::Result<()> {
    let listener = Listener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let bound = listener.local_endpoint()?;
    announce(&format!(
        "daas-master proxy listening on {bound}, forwarding to {}",
        args.to
    ))?;
    crate::proxy::forward(listener, args.to, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// `https://ADDR` for TCP; the endpoint itself otherwise.
fn https_url(listener: &Listener) -> std::io::Result<String> {
    Ok(match listener.tcp_addr() {
        Some(address) => format!("https://{address}"),
        None => format!("{} (https)", listener.local_endpoint()?),
    })
}

/// Prints the first stdout line (tests and scripts wait for it).
fn announce(line: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot watch SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
    // Give the log line a moment before connections are drained.
    tokio::time::sleep(Duration::from_millis(1)).await;
}
