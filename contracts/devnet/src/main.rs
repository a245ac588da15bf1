//! `daas-devnet`: runs the K3s-DaaS devnet.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use daas_core::attestation::DevRoot;
use daas_devnet::{DEFAULT_FAUCET_AMOUNT, DevnetConfig};
use sui_sdk_types::Address;

#[derive(Parser)]
#[command(version, about = "Local Sui-compatible devnet for K3s-DaaS")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the devnet (genesis on first start) and serve until SIGINT/SIGTERM.
    Start {
        /// Directory of the ledger database.
        #[arg(long, env = "DAAS_DEVNET_DATA_DIR")]
        data_dir: PathBuf,
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: SocketAddr,
        /// Owner of the AdminCap and EnclaveCap at genesis (default: the faucet address).
        #[arg(long)]
        admin: Option<Address>,
        /// Owner of the SlasherCap at genesis (default: the admin).
        #[arg(long)]
        slasher: Option<Address>,
        /// MIST sent per faucet request.
        #[arg(long, default_value_t = DEFAULT_FAUCET_AMOUNT)]
        faucet_amount: u64,
        /// INSECURE, DEVELOPMENT ONLY: also trust this local root CA (PEM) for
        /// attestation documents passed to 0x2::nitro_attestation. Anyone with
        /// its key can register any key as an enclave.
        #[arg(long, value_name = "PEM")]
        insecure_dev_attestation_root: Option<PathBuf>,
        /// INSECURE: accept debug-mode attestation documents (all-zero PCRs).
        #[arg(long)]
        allow_debug_attestation: bool,
        /// Answer ListEvents and SubscribeEvents with UNIMPLEMENTED, like a
        /// full node without the event index (clients fall back to reading
        /// checkpoints).
        #[arg(long)]
        no_event_index: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let Command::Start {
        data_dir,
        listen,
        admin,
        slasher,
        faucet_amount,
        insecure_dev_attestation_root,
        allow_debug_attestation,
        no_event_index,
    } = Cli::parse().command;
    let insecure_dev_attestation_root = match insecure_dev_attestation_root {
        Some(path) => {
            let pem = std::fs::read_to_string(&path)
                .with_context(|| format!("reading the dev attestation root {}", path.display()))?;
            Some(
                DevRoot::from_pem(&pem).with_context(|| {
                    format!("loading the dev attestation root {}", path.display())
                })?,
            )
        }
        None => None,
    };
    let config = DevnetConfig {
        data_dir,
        listen,
        admin,
        slasher,
        faucet_amount,
        insecure_dev_attestation_root,
        allow_debug_attestation,
        event_index: !no_event_index,
    };
    let mut devnet = daas_devnet::start(config)
        .await
        .context("starting the devnet")?;
    println!("{}", daas_devnet::server::banner(&devnet));
    tokio::select! {
        r = shutdown_signal() => r.context("waiting for a shutdown signal")?,
        r = devnet.finished() => return r.context("devnet stopped"),
    }
    devnet.shutdown().await.context("shutting down")
}

async fn shutdown_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}
