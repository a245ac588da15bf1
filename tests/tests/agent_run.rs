//! `daas-agent` end to end, with real processes: the devnet, the control
//! plane, `daas-master serve` with dev attestation, and the agent binary
//! running `daas-node` (containerd, runc, CNI, kubelet) as its node
//! runtime.
//!
//! - refusals: a bad config (the message names the field and file), a node
//!   name the master would refuse, a master with other PCRs — each before
//!   anything is staked; control characters a refusal quotes are written
//!   out;
//! - a fresh agent with a faucet-funded wallet stakes, registers and joins:
//!   a real Node becomes Ready (the figures of `run` → join token accepted
//!   and → Node Ready are printed); slashing its seal token stops the
//!   runtime, the agent exits with the revoked status and the Node is gone;
//! - crash recovery and unstake: the agent is crashed after each start-up
//!   step and each unstake step (and once kill -9'd while running), then
//!   restarted: one stake only, the same node; a pod it ran leaves on
//!   unstake, the Node is removed, and the stake returns after unbonding.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use daas_core::chain::ChainClient;
use daas_core::package::staking::SealToken;
use daas_core::package::{Mist, MoveStruct as _, Role, SealTokenId};
use daas_e2e::agent::{AgentHost, CRASH_EXIT, wait};
use daas_e2e::k3s::unique_suffix;
use daas_e2e::kwok::node_ready;
use daas_e2e::node::{NodeBinaries, image_reference};
use daas_e2e::slasher::{slash, stack_with_slasher};
use daas_e2e::stack::{Stack, StackOptions};
use daas_e2e::user::UserMachine;
use k8s_openapi::api::core::v1::{
    Capabilities, Container, Node, Pod, PodSecurityContext, PodSpec, SeccompProfile,
    SecurityContext,
};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_sdk_types::Address;

/// Exit statuses of `daas-agent` (agent/src/exit.rs).
const EXIT_REVOKED: i32 = 10;
const EXIT_MASTER_REFUSED: i32 = 11;
const EXIT_LEFT: i32 = 12;
const EXIT_CONFIG: i32 = 78;
/// A real kubelet from start to Ready on a busy machine.
const READY_TIMEOUT: Duration = Duration::from_secs(240);
/// A short run of the agent (refusals, crashes).
const SHORT: Duration = Duration::from_secs(120);
/// A day in ms.
const DAY_MS: u64 = 24 * 3600 * 1000;
/// The devnet's unbonding period (7 days) plus a margin.
const UNBONDING_MS: u64 = 7 * 24 * 3600 * 1000 + 60_000;

async fn seal_tokens(chain: &ChainClient, owner: Address) -> Vec<Address> {
    chain
        .owned_objects_of_type(owner, &SealToken::struct_tag(chain.package_id()))
        .await
        .unwrap()
}

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

async fn node_is_ready(nodes: &Api<Node>, name: &str) -> bool {
    nodes
        .get_opt(name)
        .await
        .ok()
        .flatten()
        .is_some_and(|node| node_ready(&node))
}

async fn node_is_gone(nodes: &Api<Node>, name: &str) -> bool {
    matches!(nodes.get_opt(name).await, Ok(None))
}

/// The message the agent stops with may quote outside text (a path here;
/// the master's or the chain's words elsewhere): its control characters
/// are written out, never sent to the operator's terminal.
#[test]
fn a_refusal_writes_out_the_control_characters_it_quotes() {
    let agent = daas_e2e::binaries::workspace_binary(daas_e2e::binaries::AGENT).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("worker\u{1b}]0;owned\u{7}.yaml");
    let out = std::process::Command::new(agent)
        .arg("run")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(EXIT_CONFIG), "{stderr:?}");
    assert!(
        stderr.contains("cannot read config file")
            && stderr.contains(r"worker\u001b]0;owned\u0007.yaml"),
        "{stderr:?}"
    );
    assert!(!stderr.contains(['\u{1b}', '\u{7}']), "{stderr:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_then_a_fresh_agent_joins_and_is_revoked_by_a_slash() {
    let slasher = Ed25519PrivateKey::new([0x53; 32]);
    let stack = stack_with_slasher(&slasher, "nodes:\n  drain_timeout_secs: 5\n")
        .await
        .unwrap();
    let chain = stack.devnet.client().unwrap();
    let host = AgentHost::new(&stack).await.unwrap();
    let node = format!("agent-rv-{}", unique_suffix());
    let good = host.config_text(&node, host.pcrs());
    let balance = chain.sui_balance(host.address()).await.unwrap();

    // Refused before anything is staked or signed.
    let config = host.config_path().display().to_string();
    let long = "n".repeat(64);
    let mut other_pcrs: BTreeMap<u8, String> = host.pcrs().clone();
    other_pcrs.insert(0, "ab".repeat(48));
    for (text, status, needle) in [
        (
            good.replace("node:\n", "node:\n  colour: blue\n"),
            EXIT_CONFIG,
            "colour",
        ),
        (
            good.replace(&format!("id: {node}"), &format!("id: {long}")),
            EXIT_CONFIG,
            "node.id",
        ),
        (
            good.replace("stake_amount: 5000000000", "stake_amount: many"),
            EXIT_CONFIG,
            "stake_amount",
        ),
        (
            host.config_text(&node, &other_pcrs),
            EXIT_MASTER_REFUSED,
            "PCR0",
        ),
    ] {
        host.write_config(&text).unwrap();
        let before = host.log_len();
        let exit = host.run("run", None, SHORT).await.unwrap();
        let message = &host.log_since(before);
        assert_eq!(exit.code(), Some(status), "{message}");
        assert!(message.contains(needle), "{needle}: {message}");
        if status == EXIT_CONFIG {
            assert!(message.contains(&config), "{message}");
        }
        assert!(seal_tokens(&chain, host.address()).await.is_empty());
    }
    assert_eq!(chain.sui_balance(host.address()).await.unwrap(), balance);

    // Leaving before ever staking: nothing to leave, nothing signed, and
    // the node may still join.
    host.write_config(&good).unwrap();
    let before = host.log_len();
    let exit = host.run("unstake", None, SHORT).await.unwrap();
    let message = host.log_since(before);
    assert_eq!(exit.code(), Some(EXIT_LEFT), "{message}");
    assert!(message.contains("nothing to leave"), "{message}");
    assert_eq!(host.state().unwrap()["phase"]["phase"], "joining");
    assert!(!host.state_dir().join("unstake-requested").exists());
    assert_eq!(chain.sui_balance(host.address()).await.unwrap(), balance);

    // A fresh start: stake, register, join; a real Node becomes Ready.
    let kube = stack.cluster.client().await.unwrap();
    let nodes: Api<Node> = Api::all(kube.clone());
    let started = Instant::now();
    let mut agent = host.spawn("run", None).unwrap();
    eventually(&host, READY_TIMEOUT, "the join token accepted", || async {
        std::fs::read_to_string(host.log_path())
            .is_ok_and(|log| log.contains("registered; join token accepted"))
    })
    .await;
    let accepted = started.elapsed();
    eventually(&host, READY_TIMEOUT, "the Node Ready", || {
        node_is_ready(&nodes, &node)
    })
    .await;
    let ready = started.elapsed();
    eprintln!(
        "BENCH daas-agent run (fresh wallet, stake included) → join token accepted: {} ms; → Node Ready: {} ms",
        accepted.as_millis(),
        ready.as_millis()
    );
    let tokens = seal_tokens(&chain, host.address()).await;
    assert_eq!(tokens.len(), 1);
    let seal = SealTokenId::new(tokens[0]);
    assert_eq!(
        host.state().unwrap()["seal_token"],
        serde_json::json!(seal.to_string())
    );

    // The owner's console reaches the running agent's local API, pinned to
    // the key the agent reported at registration and the master relays.
    let owner = UserMachine::with_key(host.key()).unwrap();
    let dev_root = stack.master.state_dir().join("dev-root.pem");
    let dev_root = dev_root.display().to_string();
    let output = owner
        .console(
            &[
                "--master",
                stack.master.url(),
                "--chain",
                stack.devnet.url(),
                "--allow-insecure-dev",
                "--dev-root",
                &dev_root,
                "nodes",
                "metrics",
                &node,
                "--json",
            ],
            b"",
        )
        .unwrap();
    let view: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(view["node"], node.as_str(), "{view}");
    assert!(
        view["agent_api"]["url"]
            .as_str()
            .is_some_and(|url| url.starts_with("https://127.0.0.1:")),
        "{view}"
    );
    assert!(
        view["metrics"]["memory_usage"].as_f64().unwrap() > 0.0,
        "{view}"
    );

    // Near its expiry (within the default one-day margin) the agent
    // refreshes the seal token on chain.
    let expires = |chain: ChainClient| async move {
        chain
            .stake_record(seal)
            .await
            .unwrap()
            .unwrap()
            .expires_at_ms
    };
    let before = expires(chain.clone()).await;
    stack
        .devnet
        .advance_clock(29 * DAY_MS + DAY_MS / 2)
        .await
        .unwrap();
    // The Clock object moves with transactions on the devnet: make one.
    stack.devnet.fund(Address::new([8; 32])).await.unwrap();
    eventually(&host, SHORT, "the seal token refreshed", || async {
        host.log_tail(200).contains("seal token refreshed")
    })
    .await;
    assert!(expires(chain.clone()).await > before);
    assert!(node_is_ready(&nodes, &node).await);

    // Slashed: the agent stops its runtime and exits revoked; the Node goes.
    slash(&chain, host.key(), &slasher, seal, "e2e: misbehaving agent")
        .await
        .unwrap();
    let exit = wait(&mut agent, SHORT).await.unwrap();
    assert_eq!(exit.code(), Some(EXIT_REVOKED), "{}", host.log_tail(30));
    let log = host.log_tail(30);
    assert!(log.contains("revoked") && log.contains("slashed"), "{log}");
    assert!(!host.state_dir().join("runtime.pid").exists());
    eventually(&host, SHORT, "the revoked Node gone", || {
        node_is_gone(&nodes, &node)
    })
    .await;

    // A restart does not rejoin: the chain still says no.
    let exit = host.run("run", None, SHORT).await.unwrap();
    assert_eq!(exit.code(), Some(EXIT_REVOKED), "{}", host.log_tail(20));

    // Its owner stakes anew for the node (as `daas-console stake --node`
    // does): a plain restart adopts that token, stakes nothing itself,
    // and registers; a slash of it ends this run too.
    let renewed = chain
        .stake_and_mint(host.key(), Mist::from_sui(5).unwrap(), Role::Worker, &node)
        .await
        .unwrap()
        .token;
    let from = host.log_len();
    let mut agent = host.spawn("run", None).unwrap();
    eventually(
        &host,
        SHORT,
        "the new token adopted and registered",
        || async {
            let log = host.log_since(from);
            log.contains("adopting this node's new worker seal token")
                && log.contains("registered; join token accepted")
        },
    )
    .await;
    assert!(!host.log_since(from).contains("staking for the node"));
    assert_eq!(
        host.state().unwrap()["seal_token"],
        serde_json::json!(renewed.to_string())
    );
    slash(&chain, host.key(), &slasher, renewed, "e2e: again")
        .await
        .unwrap();
    let exit = wait(&mut agent, SHORT).await.unwrap();
    assert_eq!(exit.code(), Some(EXIT_REVOKED), "{}", host.log_tail(30));
}

/// A busybox pod on `node` that prints `message`, compliant with the
/// restricted Pod Security Standard.
fn busybox_pod(name: &str, node: &str, image: &str, message: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: Some(node.to_owned()),
            automount_service_account_token: Some(false),
            termination_grace_period_seconds: Some(1),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(1000),
                run_as_group: Some(1000),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".to_owned(),
                    ..SeccompProfile::default()
                }),
                ..PodSecurityContext::default()
            }),
            containers: vec![Container {
                name: "main".to_owned(),
                image: Some(image.to_owned()),
                image_pull_policy: Some("Never".to_owned()),
                command: Some(vec![
                    "sh".to_owned(),
                    "-c".to_owned(),
                    format!("echo {message}; exec sleep 3600"),
                ]),
                security_context: Some(SecurityContext {
                    allow_privilege_escalation: Some(false),
                    capabilities: Some(Capabilities {
                        drop: Some(vec!["ALL".to_owned()]),
                        ..Capabilities::default()
                    }),
                    ..SecurityContext::default()
                }),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_at_every_step_stake_once_and_unstake_returns_the_stake() {
    let stack = Stack::start(StackOptions {
        master_config: "nodes:\n  drain_timeout_secs: 10\n".to_owned(),
        ..StackOptions::default()
    })
    .await
    .unwrap();
    let chain = stack.devnet.client().unwrap();
    let host = AgentHost::new(&stack).await.unwrap();
    let node = format!("agent-un-{}", unique_suffix());
    host.write_config(&host.config_text(&node, host.pcrs()))
        .unwrap();
    let kube = stack.cluster.client().await.unwrap();
    let nodes: Api<Node> = Api::all(kube.clone());

    // Start-up, crashed after each step and restarted.
    let exit = host
        .run("run", Some("stake-recorded"), SHORT)
        .await
        .unwrap();
    assert_eq!(exit.code(), Some(CRASH_EXIT), "{}", host.log_tail(20));
    assert!(host.state().unwrap()["pending_stake"].is_object());
    assert!(seal_tokens(&chain, host.address()).await.is_empty());
    for step in ["staked", "registered"] {
        let exit = host.run("run", Some(step), SHORT).await.unwrap();
        assert_eq!(
            exit.code(),
            Some(CRASH_EXIT),
            "{step}: {}",
            host.log_tail(20)
        );
        assert_eq!(seal_tokens(&chain, host.address()).await.len(), 1, "{step}");
    }
    let seal = seal_tokens(&chain, host.address()).await[0];
    let staked_balance = chain.sui_balance(host.address()).await.unwrap();

    // Running; then kill -9 and a restart: the same node comes back Ready.
    let mut agent = host.spawn("run", None).unwrap();
    eventually(&host, READY_TIMEOUT, "the Node Ready", || {
        node_is_ready(&nodes, &node)
    })
    .await;
    agent.start_kill().unwrap();
    wait(&mut agent, SHORT).await.unwrap();
    let from = host.log_len();
    let mut agent = host.spawn("run", Some("drained")).unwrap();
    eventually(&host, SHORT, "the left-over runtime stopped", || async {
        host.log_since(from)
            .contains("stopping the runtime a previous agent left running")
    })
    .await;
    eventually(&host, READY_TIMEOUT, "the Node Ready again", || {
        node_is_ready(&nodes, &node)
    })
    .await;
    assert_eq!(seal_tokens(&chain, host.address()).await, [seal]);

    // A pod runs on the node and kubectl logs shows its output.
    let binaries = NodeBinaries::locate().unwrap();
    let image = image_reference(&binaries.busybox_image).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(kube.clone(), "default");
    let message = format!("hello from {node}");
    pods.create(
        &PostParams::default(),
        &busybox_pod("agent-pod", &node, &image, &message),
    )
    .await
    .unwrap();
    eventually(&host, READY_TIMEOUT, "kubectl logs of the pod", || async {
        stack
            .cluster
            .kubectl()
            .args(["logs", "-n", "default", "agent-pod"])
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(&message))
    })
    .await;

    // Unstake: the running agent drains (the pod leaves), then crashes
    // after that step; the unstake command sees it stop before leaving.
    let exit = host.run("unstake", None, READY_TIMEOUT).await.unwrap();
    assert_eq!(exit.code(), Some(1), "{}", host.log_tail(20));
    let exit = wait(&mut agent, SHORT).await.unwrap();
    assert_eq!(exit.code(), Some(CRASH_EXIT), "{}", host.log_tail(20));
    assert!(pods.get_opt("agent-pod").await.unwrap().is_none());

    // Unstake again, crashed after requesting it on chain: the master
    // removes the Node.
    let exit = host
        .run("unstake", Some("unstake-requested"), SHORT)
        .await
        .unwrap();
    assert_eq!(exit.code(), Some(CRASH_EXIT), "{}", host.log_tail(20));
    eventually(&host, SHORT, "the Node removed", || {
        node_is_gone(&nodes, &node)
    })
    .await;

    // Once more: the left-over runtime is stopped, unbonding ends, the
    // stake is withdrawn and the agent says it left.
    let from = host.log_len();
    let mut leaving = host.spawn("unstake", None).unwrap();
    eventually(&host, SHORT, "the unbonding wait", || async {
        host.log_since(from).contains("unbonding")
    })
    .await;
    stack.devnet.advance_clock(UNBONDING_MS).await.unwrap();
    // The Clock object moves with transactions on the devnet: make one.
    stack.devnet.fund(Address::new([7; 32])).await.unwrap();
    let exit = wait(&mut leaving, SHORT).await.unwrap();
    assert_eq!(exit.code(), Some(EXIT_LEFT), "{}", host.log_tail(20));
    assert!(seal_tokens(&chain, host.address()).await.is_empty());
    let returned = chain
        .sui_balance(host.address())
        .await
        .unwrap()
        .saturating_sub(staked_balance);
    assert!(returned > 4_900_000_000, "only {returned} MIST came back");
    assert!(!host.state_dir().join("runtime.pid").exists());
    assert_eq!(host.state().unwrap()["phase"]["phase"], "withdrawn");

    // A left agent stays left, and says so.
    let before = host.log_len();
    let exit = host.run("run", None, SHORT).await.unwrap();
    let message = host.log_since(before);
    assert_eq!(exit.code(), Some(EXIT_LEFT), "{message}");
    assert!(message.contains("left the cluster earlier"), "{message}");
}
