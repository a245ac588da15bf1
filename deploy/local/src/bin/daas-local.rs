//! `daas-local`: the whole K3s-DaaS on this machine (see
//! `daas_local::launcher`). `deploy/dev/up.sh` runs `daas-local up`.

use clap::Parser as _;
use daas_local::launcher::{self, Cli};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DAAS_LOCAL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,kube_client=off")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    launcher::main(Cli::parse()).await
}
