//! `daas-local`: the whole K3s-DaaS on this machine with its embedded
//! defaults — the devnet, the control plane wired to the master's webhooks,
//! and the master with dev attestation — until Ctrl-C.
//!
//! `deploy/dev/up.sh` runs it (the README's first command).

use std::io::Write as _;

use anyhow::Context as _;
use daas_e2e::stack::{Stack, StackOptions};
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    eprintln!("starting the devnet, the control plane and the master…");
    let stack = Stack::start(StackOptions::default())
        .await
        .context("bringing up the local K3s-DaaS")?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "K3s-DaaS is up (dev attestation: INSECURE, for development only)"
    )?;
    writeln!(out, "  chain (devnet)     {}", stack.devnet.url())?;
    writeln!(out, "  master (attested)  {}", stack.master.url())?;
    writeln!(out, "  API server         {}", stack.cluster.server())?;
    writeln!(
        out,
        "  admin kubeconfig   {}",
        stack.cluster.kubeconfig_path().display()
    )?;
    writeln!(
        out,
        "  master dev root    {}",
        stack.master.state_dir().join("dev-root.pem").display()
    )?;
    writeln!(
        out,
        "  master log         {}",
        stack.master.log_path().display()
    )?;
    writeln!(out, "Ctrl-C stops everything and removes its data.")?;
    out.flush()?;
    drop(out);
    // Return (and drop the stack, which stops its processes) on SIGTERM as
    // well as Ctrl-C: a killed launcher must not leave a master running.
    let mut terminate = signal(SignalKind::terminate()).context("watching SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("waiting for Ctrl-C")?,
        _ = terminate.recv() => {}
    }
    eprintln!("stopping");
    drop(stack);
    Ok(())
}
