//! `daas-master`: K3s-DaaS enclave master. See the library for the parts.
// The release build's layout of the serve future (audit anchoring inside the
// leader's tasks) nests deeper than the default query depth of 128.
#![recursion_limit = "256"]

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = daas_master::cli::Cli::parse();
    // Logs go to stderr: stdout's first line is the bound address.
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match daas_master::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!(
                "error: {}",
                daas_core::error_chain::one_line(error.as_ref())
            );
            std::process::ExitCode::FAILURE
        }
    }
}
