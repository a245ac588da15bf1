//! `expired` revocation end to end, with real processes: the devnet, the
//! control plane, `daas-master serve` with dev attestation, and the agent
//! binary running `daas-node` (containerd, runc, CNI, kubelet).
//!
//! An agent joins; then the devnet's clock passes its seal token's expiry
//! (30 days) before the agent could refresh it. Expiry fires no chain
//! event: the agent's own chain check sees it, stops the runtime and exits
//! with the revoked status and a message saying the token expired, and the
//! master's periodic re-check of every Node revokes the Node.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use daas_core::access::worker::WorkerDenyReason;
use daas_core::package::MoveStruct as _;
use daas_core::package::SealTokenId;
use daas_core::package::staking::SealToken;
use daas_e2e::agent::{AgentHost, wait};
use daas_e2e::k3s::unique_suffix;
use daas_e2e::kwok::node_ready;
use daas_e2e::stack::{Stack, StackOptions};
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use sui_sdk_types::Address;

/// `daas-agent`'s revoked status (agent/src/exit.rs).
const EXIT_REVOKED: i32 = 10;
/// A real kubelet from start to Ready on a busy machine.
const READY_TIMEOUT: Duration = Duration::from_secs(240);
/// The agent's exit, and the master's re-check, after the expiry.
const SHORT: Duration = Duration::from_secs(120);
/// A seal token's lifetime (30 days) and a day more, in ms.
const PAST_EXPIRY_MS: u64 = 31 * 24 * 3600 * 1000;

/// Polls `probe` every 250 ms until it is true, panicking with `what` and
/// the agent's log after `timeout`.
async fn eventually<F, Fut>(host: &AgentHost, timeout: Duration, what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !probe().await {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {timeout:?}; the agent's log ends with:\n{}",
            host.log_tail(60)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seal_token_past_its_expiry_revokes_the_running_agent_and_its_node() {
    // Re-check every Node often: expiry fires no event.
    let stack = Stack::start(StackOptions {
        master_config: "nodes:\n  drain_timeout_secs: 5\n  recheck_interval_secs: 2\n".to_owned(),
        ..StackOptions::default()
    })
    .await
    .unwrap();
    let chain = stack.devnet.client().unwrap();
    let host = AgentHost::new(&stack).await.unwrap();
    let node = format!("agent-ex-{}", unique_suffix());
    host.write_config(&host.config_text(&node, host.pcrs()))
        .unwrap();
    let nodes: Api<Node> = Api::all(stack.cluster.client().await.unwrap());
    let mut agent = host.spawn("run", None).unwrap();
    eventually(&host, READY_TIMEOUT, "the Node Ready", || async {
        nodes
            .get_opt(&node)
            .await
            .ok()
            .flatten()
            .is_some_and(|n| node_ready(&n))
    })
    .await;
    let tokens = chain
        .owned_objects_of_type(host.address(), &SealToken::struct_tag(chain.package_id()))
        .await
        .unwrap();
    assert_eq!(tokens.len(), 1);
    let seal = SealTokenId::new(tokens[0]);
    let expires_at_ms = chain
        .stake_record(seal)
        .await
        .unwrap()
        .unwrap()
        .expires_at_ms;

    // The chain's clock passes the expiry in one step, so the agent has no
    // chance to refresh first. The Clock object moves with transactions on
    // the devnet: make one.
    stack.devnet.advance_clock(PAST_EXPIRY_MS).await.unwrap();
    stack.devnet.fund(Address::new([9; 32])).await.unwrap();
    assert!(chain.clock_timestamp_ms().await.unwrap() > expires_at_ms);

    // The agent stops its runtime and exits revoked, saying why.
    let exit = wait(&mut agent, SHORT).await.unwrap();
    let log = host.log_tail(30);
    assert_eq!(exit.code(), Some(EXIT_REVOKED), "{log}");
    let expected = WorkerDenyReason::Expired {
        at_ms: expires_at_ms,
    }
    .to_string();
    assert!(
        log.contains("revoked") && log.contains(&expected),
        "{expected}: {log}"
    );
    assert!(!host.state_dir().join("runtime.pid").exists());
    // The master's re-check revokes the Node.
    eventually(&host, SHORT, "the expired Node gone", || async {
        matches!(nodes.get_opt(&node).await, Ok(None))
    })
    .await;

    // A restart does not rejoin: the chain still says the token expired.
    let before = host.log_len();
    let exit = host.run("run", None, SHORT).await.unwrap();
    let log = host.log_since(before);
    assert_eq!(exit.code(), Some(EXIT_REVOKED), "{log}");
    assert!(log.contains("expired"), "{log}");
}
