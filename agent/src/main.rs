//! `daas-agent`: K3s-DaaS worker agent.

use clap::{Parser, Subcommand};

/// The K3s-DaaS worker agent.
///
/// Proves control of a worker seal token to the attested master, receives a
/// K3s join token and runs `k3s agent` with it, then reports heartbeats.
#[derive(Debug, Parser)]
#[command(name = "daas-agent", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// SIMULATION: N simulated agents (own wallet, stake, registration, kwok node, heartbeats) in one process.
    Simulate(daas_agent::simulate::SimulateArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Simulate(args) => daas_agent::simulate::run(args).await,
    }
}
