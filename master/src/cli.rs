//! The command line: `daas-master serve` and `daas-master proxy`.

use std::io::Write as _;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::attestation::AttestationMode;
use crate::endpoint::{Endpoint, Listener};
use crate::pod_security;
use crate::proxy::ForwardOptions;
use crate::serve::ConnectionLimits;
use crate::serve::fd_limit::{self, Budget};
use crate::webhooks::{ApiServerFiles, WebhookTls};

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
    /// Make (or reuse) the webhook TLS identity and write the files that
    /// point kube-apiserver at the master's webhooks, and its Pod Security
    /// admission configuration. Run before K3s starts.
    WebhookFiles(WebhookFilesArgs),
}

/// `daas-master webhook-files`.
#[derive(Debug, Args)]
pub struct WebhookFilesArgs {
    /// State directory of the master that will serve the webhooks.
    #[arg(
        long,
        env = "DAAS_MASTER_STATE_DIR",
        value_name = "DIR",
        default_value = "/var/lib/k3s-daas/master"
    )]
    pub state_dir: PathBuf,
    /// The webhook listener's URL as the API server reaches it
    /// (https://HOST:PORT; `serve --webhook-listen` must match).
    #[arg(long, value_name = "URL", default_value = DEFAULT_WEBHOOK_URL)]
    pub url: String,
    /// Where to write authn-webhook.kubeconfig, authz-webhook.kubeconfig,
    /// authorization-config.yaml and admission-config.yaml.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
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
    /// Attestation provider: auto (Nitro if /dev/nsm exists, else refuse unless
    /// --allow-dev-fallback), nitro, or dev (INSECURE) [default: the config's tee.type, else auto].
    #[arg(long, value_name = "MODE")]
    pub attestation: Option<AttestationMode>,
    /// Let `auto` fall back to INSECURE dev attestation when /dev/nsm is missing
    /// (also tee.allow_dev_fallback); the master then says so at every start and in
    /// /api/v1/security-context.
    #[arg(long)]
    pub allow_dev_fallback: bool,
    /// Configuration file (nautilus-config.yaml shape).
    #[arg(long, env = "DAAS_MASTER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the API server reaches the webhooks (internal; not attested:
    /// its TLS identity persists in the state directory).
    #[arg(long, value_name = "ENDPOINT", default_value = DEFAULT_WEBHOOK_LISTEN)]
    pub webhook_listen: Endpoint,
}

/// Default webhook listener.
pub const DEFAULT_WEBHOOK_LISTEN: &str = "tcp:127.0.0.1:9443";
/// Default webhook URL, matching [`DEFAULT_WEBHOOK_LISTEN`].
pub const DEFAULT_WEBHOOK_URL: &str = "https://127.0.0.1:9443";

/// `daas-master proxy`.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Where to accept connections.
    #[arg(long, value_name = "ENDPOINT")]
    pub listen: Endpoint,
    /// Where to forward them.
    #[arg(long, value_name = "ENDPOINT")]
    pub to: Endpoint,
    /// Start each forwarded connection with a PROXY protocol v2 header naming the
    /// client (the master's vsock listener requires it) [default: true for a vsock
    /// target, else false].
    #[arg(long, value_name = "BOOL")]
    pub proxy_protocol: Option<bool>,
    /// Connections held at most (each costs two file descriptors); lowered to fit
    /// the open-file limit.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PROXY_MAX_CONNECTIONS)]
    pub max_connections: NonZeroU32,
}

/// Default cap of `daas-master proxy`: the master's public listener's, to
/// which it forwards.
pub const DEFAULT_PROXY_MAX_CONNECTIONS: NonZeroU32 = ConnectionLimits::MAX_CONNECTIONS;

/// Runs a parsed command line until it finishes or SIGTERM/SIGINT.
///
/// # Errors
/// Why the command could not run.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => crate::server::serve(args).await,
        Command::Proxy(args) => proxy(args).await,
        Command::WebhookFiles(args) => webhook_files(&args),
    }
}

fn webhook_files(args: &WebhookFilesArgs) -> anyhow::Result<()> {
    let tls = WebhookTls::load_or_create(&args.state_dir)?;
    let files = ApiServerFiles::write(&args.out, &args.url, &tls)?;
    let admission = pod_security::write_admission_configuration(&args.out)?;
    announce(&format!(
        "--authentication-token-webhook-config-file={} --authentication-token-webhook-version=v1 \
         --authorization-config={} --admission-control-config-file={} \
         --audit-policy-file={} --audit-webhook-config-file={} --audit-webhook-batch-max-wait={}s",
        files.authentication_kubeconfig.display(),
        files.authorization_config.display(),
        admission.display(),
        files.audit_policy.display(),
        files.audit_kubeconfig.display(),
        crate::webhooks::AUDIT_BATCH_MAX_WAIT.as_secs()
    ))?;
    Ok(())
}

async fn proxy(args: ProxyArgs) -> anyhow::Result<()> {
    let wanted = Budget {
        public: args.max_connections,
        webhook: None,
    };
    let budget = fd_limit::fit(fd_limit::raise_open_file_limit(), 2, wanted)?;
    let options = ForwardOptions {
        send_proxy_header: args
            .proxy_protocol
            .unwrap_or(matches!(args.to, Endpoint::Vsock { .. })),
        max_connections: budget.public,
    };
    let listener = Listener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let bound = listener.local_endpoint()?;
    announce(&format!(
        "daas-master proxy listening on {bound}, forwarding to {}",
        args.to
    ))?;
    tracing::info!(
        proxy_protocol = options.send_proxy_header,
        max_connections = options.max_connections,
        "forwarding"
    );
    crate::proxy::forward(listener, args.to, options, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// `https://ADDR` for TCP; the endpoint itself otherwise.
pub(crate) fn https_url(listener: &Listener) -> std::io::Result<String> {
    Ok(match listener.tcp_addr() {
        Some(address) => format!("https://{address}"),
        None => format!("{} (https)", listener.local_endpoint()?),
    })
}

/// Prints the first stdout line (tests and scripts wait for it).
pub(crate) fn announce(line: &str) -> std::io::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy_args(extra: &[&str]) -> Result<ProxyArgs, clap::Error> {
        let base = ["daas-master", "proxy", "--listen", "tcp:127.0.0.1:0"];
        let to = ["--to", "tcp:127.0.0.1:1"];
        let cli = Cli::try_parse_from(base.iter().chain(&to).chain(extra))?;
        match cli.command {
            Command::Proxy(args) => Ok(args),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn the_proxy_cap_defaults_and_zero_is_refused() {
        let args = proxy_args(&[]).unwrap();
        assert_eq!(args.max_connections, DEFAULT_PROXY_MAX_CONNECTIONS);
        let args = proxy_args(&["--max-connections", "3"]).unwrap();
        assert_eq!(args.max_connections.get(), 3);
        let error = proxy_args(&["--max-connections", "0"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("--max-connections"), "{error}");
    }
}
