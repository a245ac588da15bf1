//! `daas-master`: K3s-DaaS enclave master.

use clap::Parser;

/// The K3s-DaaS enclave master.
///
/// Runs beside the K3s control plane inside an AWS Nitro Enclave: answers the
/// API server's TokenReview webhook from on-chain stake, admits worker nodes,
/// revokes access on unstake or slash, and proves itself by remote attestation.
/// The service itself arrives with the master work; this build only identifies
/// itself.
#[derive(Debug, Parser)]
#[command(name = "daas-master", version)]
struct Cli {}

fn main() {
    Cli::parse();
    println!("daas-master {}: no service in this build yet; see --help", env!("CARGO_PKG_VERSION"));
}
