//! `daas-agent`: K3s-DaaS worker agent.

use clap::Parser;

/// The K3s-DaaS worker agent.
///
/// Proves control of a worker seal token to the attested master, receives a
/// K3s join token and runs `k3s agent` with it, then reports heartbeats.
/// The service itself arrives with the agent work; this build only
/// identifies itself.
#[derive(Debug, Parser)]
#[command(name = "daas-agent", version)]
struct Cli {}

fn main() {
    Cli::parse();
    println!(
        "daas-agent {}: no service in this build yet; see --help",
        env!("CARGO_PKG_VERSION")
    );
}
