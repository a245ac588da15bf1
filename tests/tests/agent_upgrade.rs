//! A new master image under a running agent, with real processes: the
//! devnet, the control plane, `daas-master serve` with dev attestation, and
//! `daas-agent run` pinned to the on-chain `EnclaveConfig` (not to PCRs of
//! its own).
//!
//! The master is restarted from another binary, so it attests to other
//! PCRs: the agent refuses it, and says so once. Once the operator replaces
//! the config's PCRs
//! with `daas-console enclave config update`, the agent follows without a
//! restart and its heartbeats reach the master again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use daas_core::api::MasterClient;
use daas_core::wallet::{Keypair, Scheme};
use daas_e2e::agent::AgentHost;
use daas_e2e::enclave;
use daas_e2e::k3s::unique_suffix;
use daas_e2e::stack::Stack;
use daas_e2e::user::UserMachine;
use sui_crypto::ed25519::Ed25519PrivateKey;

/// Long enough for a busy machine; the loops end as soon as they can.
const TIMEOUT: Duration = Duration::from_secs(120);

/// Polls `probe` every 500 ms until it holds; panics with `what` and the
/// agent's log after [`TIMEOUT`].
async fn eventually<F, Fut>(host: &AgentHost, what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !probe().await {
        assert!(
            start.elapsed() < TIMEOUT,
            "{what} within {TIMEOUT:?}; the agent's log:\n{}",
            host.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Whether the master has had a heartbeat of `node` in the last `secs`.
async fn heartbeat_within(stack: &Stack, node: &str, secs: u64) -> bool {
    let master = MasterClient::new(stack.master.client().unwrap());
    let Ok(list) = master.node_health().await else {
        return false;
    };
    list.nodes.iter().any(|health| {
        health.node == node
            && health
                .last_heartbeat_age_secs
                .is_some_and(|age| age <= secs)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_pinned_to_an_enclave_config_follows_the_operators_new_image() {
    let admin = Ed25519PrivateKey::new([0xad; 32]);
    let (mut stack, config) = enclave::stack_with_config(&admin).await.unwrap();

    // A worker pinned to the config; its runtime only sleeps: what is
    // checked is the master's view of its heartbeats.
    let host = AgentHost::new(&stack).await.unwrap();
    let node = format!("agent-up-{}", unique_suffix());
    let text: String = host
        .config_pinned_to(&node, config)
        .lines()
        .map(|line| {
            if line.starts_with("  command:") {
                "  command: [\"sh\", \"-c\", \"exec sleep 100000\", \"--\"]".to_owned()
            } else {
                line.to_owned()
            }
        })
        .map(|line| line + "\n")
        .collect();
    host.write_config(&text).unwrap();
    let mut agent = host.spawn("run", None).unwrap();
    eventually(&host, "the node heartbeats", || {
        heartbeat_within(&stack, &node, 2)
    })
    .await;

    // A new master image: the same program with one more byte, so other
    // dev PCRs. The agent refuses it.
    let images = tempfile::tempdir().unwrap();
    let image = enclave::new_master_image(images.path()).unwrap();
    let before = host.log_len();
    stack.master.upgrade(image).await.unwrap();
    eventually(&host, "the agent refuses the new image", || {
        let log = host.log_since(before);
        async move { log.contains("heartbeat failed") && log.contains("PCR0") }
    })
    .await;
    // Said once, naming what it waits for, not once per heartbeat.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let refused = host.log_since(before);
    assert_eq!(
        refused
            .matches("heartbeat failed: the master does not attest")
            .count(),
        1,
        "{refused}"
    );
    assert!(
        refused.contains(&format!("the PCRs EnclaveConfig {config} expects")),
        "{refused}"
    );
    let new_pcrs = stack
        .master
        .client()
        .unwrap()
        .security_context()
        .await
        .unwrap()
        .pcrs;
    assert!(
        !host.log_since(before).contains("following it"),
        "followed before the config changed"
    );

    // The operator replaces the config's PCRs from the deploy script's file.
    let operator =
        UserMachine::with_key(&Keypair::from_bytes(Scheme::Ed25519, &[0xad; 32]).unwrap()).unwrap();
    let pcrs_file = images.path().join("pcrs.json");
    let json = serde_json::json!({
        "PCR0": new_pcrs[&0], "PCR1": new_pcrs[&1], "PCR2": new_pcrs[&2],
    });
    std::fs::write(&pcrs_file, json.to_string()).unwrap();
    let updated = operator
        .console(
            &[
                "enclave",
                "config",
                "update",
                &config.to_string(),
                "--pcrs",
                pcrs_file.to_str().unwrap(),
                "--yes",
                "--chain-endpoint",
                stack.devnet.url(),
            ],
            b"",
        )
        .unwrap();
    let stdout = String::from_utf8_lossy(&updated.stdout);
    assert!(stdout.contains("version       1"), "{stdout}");
    assert!(stdout.contains(&new_pcrs[&0]), "{stdout}");

    // The agent follows the config, without a restart.
    eventually(&host, "the agent follows the config", || {
        let log = host.log_since(before);
        async move { log.contains("EnclaveConfig expects new PCRs (a new master image): following it") }
    })
    .await;
    eventually(&host, "heartbeats reach the new image", || {
        heartbeat_within(&stack, &node, 2)
    })
    .await;
    assert!(agent.try_wait().unwrap().is_none(), "the agent stopped");
    assert!(
        host.log_since(before)
            .contains("heartbeats reach the master again"),
        "{}",
        host.log_since(before)
    );
    // Trusting the new PCRs, it no longer fails its heartbeats.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let log = host.log_since(before);
    let (_, after) = log.split_once("following it").unwrap();
    assert!(!after.contains("heartbeat failed"), "{log}");
    agent.kill().await.unwrap();
}
