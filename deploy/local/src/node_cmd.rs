//! `daas-local node` (and the test crate's `daas-node`): a worker node as
//! one process, the stand-in for `k3s agent` where K3s cannot be built (see
//! `deploy/k3s/README.md`). It runs containerd, runc, the CNI plugins and
//! the kubelet ([`crate::node`]), which joins `--server` by TLS
//! bootstrapping with the token in `--token-file`, until SIGTERM or Ctrl-C,
//! then stops them and removes everything the node made. Whoever approves
//! the kubelet's CSR (the master) is not its concern.
//!
//! The token file holds a K3s join token `K10<CA hash>::<id>.<secret>` or a
//! bare bootstrap token `<id>.<secret>`. As `k3s agent` does, a node with a
//! `K10` token refuses a server whose CA (`--ca-file`, a bundle of one
//! certificate) does not hash to the token's before sending anything.
//!
//! On start it prints one JSON line on stdout: the node's name, IP, data
//! directory and footprint. It exits 0 when stopped by a signal, and 1 with
//! the component's log when a part of the node dies.

use std::path::PathBuf;
use std::time::Duration;

use crate::node::NodeBuilder;
use crate::tls_bootstrap::BootstrapToken;
use anyhow::{Context as _, bail, ensure};
use clap::Parser;
use sha2::{Digest as _, Sha256};
use tokio::signal::unix::{SignalKind, signal};

/// Runs one real worker node until SIGTERM.
#[derive(Debug, Parser, Clone)]
#[command(name = "daas-node", version)]
pub struct NodeArgs {
    /// The API server, `https://127.0.0.1:<port>`.
    #[arg(long)]
    server: String,
    /// A file (best 0600) holding the join token.
    #[arg(long)]
    token_file: PathBuf,
    /// The cluster CA (PEM), which signed the API server's certificate.
    #[arg(long)]
    ca_file: PathBuf,
    /// The node's name.
    #[arg(long)]
    node_name: String,
    /// A label to register the node with, `key=value` (repeatable).
    #[arg(long = "node-label", value_name = "KEY=VALUE")]
    node_labels: Vec<String>,
}

/// The bootstrap token of a join token, after checking a `K10` token's CA
/// hash against `ca_pem`.
fn bootstrap_token(join_token: &str, ca_pem: &str) -> anyhow::Result<BootstrapToken> {
    let credentials = match join_token.strip_prefix("K10") {
        None => join_token,
        Some(rest) => {
            let (hash, credentials) = rest
                .split_once("::")
                .context("a K10 join token has `::` between the CA hash and the credentials")?;
            ensure!(
                hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
                "the CA hash of a join token must be 64 hex digits"
            );
            ensure!(
                ca_pem.matches("-----BEGIN CERTIFICATE-----").count() == 1,
                "the CA file must hold exactly one certificate to check a K10 token against"
            );
            // K3s's hashCA for a bundle of one certificate: the file's bytes.
            let actual = hex::encode(Sha256::digest(ca_pem.as_bytes()));
            if !actual.eq_ignore_ascii_case(hash) {
                bail!(
                    "the server's CA does not match the join token (CA hash {actual}, token \
                     expects {hash}): refusing to send the token to it"
                );
            }
            credentials
        }
    };
    credentials
        .parse()
        .context("the token file holds no usable bootstrap token")
}

async fn run(args: NodeArgs) -> anyhow::Result<()> {
    let ca_pem = std::fs::read_to_string(&args.ca_file)
        .with_context(|| format!("reading the CA file {}", args.ca_file.display()))?;
    let join_token = std::fs::read_to_string(&args.token_file)
        .with_context(|| format!("reading the token file {}", args.token_file.display()))?;
    let token = bootstrap_token(join_token.trim(), &ca_pem)?;
    let mut builder = NodeBuilder::for_server(&args.server, &ca_pem, &args.node_name, &token);
    for label in &args.node_labels {
        let (key, value) = label
            .split_once('=')
            .with_context(|| format!("node label {label:?} is not key=value"))?;
        builder = builder.label(key, value);
    }
    let node = builder.start().await?;
    println!(
        "{}",
        serde_json::json!({
            "node": node.name(),
            "ip": node.internal_ip().to_string(),
            "data_dir": node.data_dir(),
            "footprint": node.footprint().to_json(),
        })
    );
    let mut terminate = signal(SignalKind::terminate()).context("watching SIGTERM")?;
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            result = tokio::signal::ctrl_c() => {
                result.context("waiting for Ctrl-C")?;
                break;
            }
            _ = terminate.recv() => break,
            _ = interval.tick() => node.check_alive()?,
        }
    }
    eprintln!("daas-node: stopping {}", node.name());
    drop(node);
    Ok(())
}

/// Runs the node of `args` until SIGTERM or Ctrl-C; the process's exit code.
pub async fn main(args: NodeArgs) -> std::process::ExitCode {
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "daas-node: {}",
                daas_core::error_chain::one_line(e.as_ref())
            );
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const TOKEN: &str = "abcdef.0123456789abcdef";

    fn k10(ca: &str) -> String {
        format!("K10{}::{TOKEN}", hex::encode(Sha256::digest(ca.as_bytes())))
    }

    #[test]
    fn a_bare_or_matching_k10_token_gives_the_bootstrap_token() {
        for join in [TOKEN.to_owned(), k10(CA)] {
            assert_eq!(bootstrap_token(&join, CA).unwrap().bearer(), TOKEN);
        }
    }

    #[test]
    fn a_k10_token_of_another_ca_is_refused_before_use() {
        let err = bootstrap_token(&k10("another CA"), CA).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
    }

    #[test]
    fn malformed_join_tokens_are_refused() {
        for (join, why) in [
            ("K10abc", "`::`"),
            ("K10xyz::abcdef.0123456789abcdef", "64 hex digits"),
            ("not-a-token", "no usable bootstrap token"),
        ] {
            let err = bootstrap_token(join, CA).unwrap_err();
            assert!(format!("{err:#}").contains(why), "{join}: {err:#}");
        }
        let two = format!("{CA}{CA}");
        let err = bootstrap_token(&k10(&two), &two).unwrap_err();
        assert!(err.to_string().contains("exactly one certificate"), "{err}");
    }
}
