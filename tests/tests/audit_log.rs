//! The verifiable audit log end to end, with real processes: the devnet,
//! the control plane sending its audit events to `daas-master`'s webhook,
//! and the master signing checkpoints with its enclave key and anchoring
//! them on chain.
//!
//! - kubectl requests end up in an anchored checkpoint and
//!   `daas-console audit verify` checks them against the chain;
//! - a tampered event, a proof against another root and a checkpoint not
//!   signed by the registered key each fail verification (the console's
//!   verifier, against the real chain and the real master's proofs);
//! - with the devnet stopped for a while, events keep being acknowledged
//!   and are anchored, in order, once it is back;
//! - a master killed with SIGKILL while the webhook is posting loses no
//!   acknowledged event.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use daas_core::api::MasterClient;
use daas_core::api::audit::AuditEventProof;
use daas_core::attested::AttestedError;
use daas_core::audit::verify::{VerifyError, verify_event_proof};
use daas_core::chain::ptb::PcrArgs;
use daas_core::chain::{ChainClient, TransactionSigner};
use daas_core::package::{AUDIT_LOG_ID, ENCLAVE_CAP_ID};
use daas_core::wallet::{Keypair, Scheme};
use daas_e2e::devnet::DevnetOptions;
use daas_e2e::stack::{Stack, StackOptions};
use daas_e2e::user::UserMachine;
use serde_json::json;
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_sdk_types::Address;

/// How long anchoring may take in this test (checkpoints every 500 ms).
const ANCHOR_TIMEOUT: Duration = Duration::from_secs(120);

struct World {
    stack: Stack,
    chain: ChainClient,
    operator: UserMachine,
    config: Address,
    /// Holds the gas key file.
    _dir: tempfile::TempDir,
}

impl World {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let admin = Ed25519PrivateKey::new([0xad; 32]);
        let gas = Keypair::from_bytes(Scheme::Ed25519, &[0x6a; 32]).unwrap();
        let gas_file = dir.path().join("gas.key");
        daas_core::private_file::write_atomic(&gas_file, gas.to_suiprivkey().as_bytes()).unwrap();
        let mut stack = Stack::start(StackOptions {
            devnet: DevnetOptions {
                admin: Some(TransactionSigner::address(&admin)),
                ..DevnetOptions::default()
            },
            // The kill -9 check asks for every acknowledged event: lift
            // the per-client request budget.
            master_config: format!(
                "audit:\n  checkpoint_events: 50\n  checkpoint_interval_ms: 500\n  \
                 gas_key_file: \"{}\"\napi:\n  client_rate_limit_per_minute: 1000000\n",
                gas_file.display()
            ),
            audit: true,
            ..StackOptions::default()
        })
        .await
        .unwrap();
        // The master's dev root exists only now: the devnet learns it on a
        // restart (which the master rides out).
        let pem = std::fs::read_to_string(dev_root(&stack)).unwrap();
        stack.devnet.trust_dev_attestation_root(&pem).await.unwrap();
        let chain = stack.devnet.client().unwrap();
        for address in [TransactionSigner::address(&admin), gas.address()] {
            stack.devnet.fund(address).await.unwrap();
        }
        let operator_key = Keypair::from_bytes(Scheme::Ed25519, &[0x0e; 32]).unwrap();
        stack.devnet.fund(operator_key.address()).await.unwrap();
        let operator = UserMachine::with_key(&operator_key).unwrap();
        let pcrs = master_pcrs(&stack).await;
        let config = chain
            .create_enclave_config(
                &admin,
                ENCLAVE_CAP_ID,
                "k3s-daas master",
                &PcrArgs {
                    pcr0: &pcrs[0],
                    pcr1: &pcrs[1],
                    pcr2: &pcrs[2],
                },
            )
            .await
            .unwrap()
            .event
            .config_id;
        let world = Self {
            stack,
            chain,
            operator,
            config,
            _dir: dir,
        };
        world.register_enclave();
        world
    }

    /// `daas-console enclave register` of the running master's key.
    fn register_enclave(&self) {
        let config = self.config.to_string();
        let mut args = self.console_globals();
        args.extend([
            "enclave".into(),
            "register".into(),
            "--config".into(),
            config,
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.operator.console(&args, b"").unwrap();
    }

    fn console_globals(&self) -> Vec<String> {
        vec![
            "--master".into(),
            self.stack.master.url().to_owned(),
            "--chain-endpoint".into(),
            self.stack.devnet.url().to_owned(),
            "--allow-insecure-dev".into(),
            "--dev-root".into(),
            dev_root(&self.stack).display().to_string(),
        ]
    }

    /// `daas-console audit verify ID`, retried until it succeeds.
    async fn verified(&self, audit_id: &str) -> String {
        let deadline = tokio::time::Instant::now() + ANCHOR_TIMEOUT;
        let mut args = self.console_globals();
        args.extend(["audit".into(), "verify".into(), audit_id.to_owned()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        loop {
            match self.operator.console(&args, b"") {
                Ok(output) => return String::from_utf8(output.stdout).unwrap(),
                Err(error) if tokio::time::Instant::now() >= deadline => panic!(
                    "event {audit_id} was not verified within {ANCHOR_TIMEOUT:?}: {error:#}\n\
                     master log:\n{}",
                    self.stack.master.log_tail(40)
                ),
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }

    fn master(&self) -> MasterClient {
        MasterClient::new(self.stack.master.client().unwrap())
    }

    /// Creates a ConfigMap as the cluster admin and returns the request's
    /// auditID (the API server's `Audit-Id` response header).
    async fn create_config_map(&self, name: &str) -> String {
        let client = self.stack.cluster.client().await.unwrap();
        let body = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": name }, "data": { "k": "v" },
        });
        let request = http::Request::post("/api/v1/namespaces/default/configmaps")
            .header("content-type", "application/json")
            .body(kube::client::Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap();
        let response = client.send(request).await.unwrap();
        assert!(response.status().is_success(), "{:?}", response.status());
        response
            .headers()
            .get("audit-id")
            .expect("no Audit-Id header")
            .to_str()
            .unwrap()
            .to_owned()
    }
}

fn dev_root(stack: &Stack) -> PathBuf {
    stack.master.state_dir().join("dev-root.pem")
}

async fn master_pcrs(stack: &Stack) -> [Vec<u8>; 3] {
    let master = stack.master.client().unwrap().master().await.unwrap();
    let pcrs = master.attestation().pcrs();
    [0, 1, 2].map(|index| pcrs.get(index).unwrap().as_bytes().to_vec())
}

/// The `Audit-Id` header kubectl logs at `-v=8`.
fn audit_id_in_kubectl_log(log: &str) -> String {
    let at = log
        .find("Audit-Id: ")
        .unwrap_or_else(|| panic!("kubectl logged no Audit-Id:\n{log}"));
    log[at + "Audit-Id: ".len()..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
        .collect()
}

#[tokio::test]
async fn audit_events_are_anchored_verified_and_survive_outages_and_kill_9() {
    let mut world = World::start().await;

    // kubectl requests end up anchored and verify on their own.
    let output = world
        .stack
        .cluster
        .kubectl()
        .args([
            "create",
            "configmap",
            "from-kubectl",
            "--from-literal=a=b",
            "-v=8",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let kubectl_id = audit_id_in_kubectl_log(&String::from_utf8_lossy(&output.stderr));
    let created = world.create_config_map("audit-direct").await;
    let verified = world.verified(&kubectl_id).await;
    assert!(verified.contains("VERIFIED"), "{verified}");
    assert!(verified.contains("create"), "{verified}");
    assert!(verified.contains("configmaps"), "{verified}");
    world.verified(&created).await;

    tampering_fails(&world, &created).await;
    outage_then_catch_up(&mut world).await;
    kill_9_loses_no_acknowledged_event(world).await;
}

/// The verifier refuses a changed event, a proof against another root,
/// and a checkpoint signed by a key other than the registered one.
async fn tampering_fails(world: &World, audit_id: &str) {
    let served = world.master().audit_event(audit_id).await.unwrap();
    let record = served.checkpoint.anchor.clone().unwrap();
    let log_id: Address = record.log_id.parse().unwrap();
    assert_eq!(log_id, AUDIT_LOG_ID);
    let log = world.chain.audit_log(log_id).await.unwrap().value;
    let anchor = world
        .chain
        .audit_checkpoint(log.checkpoints.id, served.checkpoint.tree_size)
        .await
        .unwrap()
        .unwrap();
    let enclave = world.chain.enclave(anchor.enclave_id).await.unwrap().value;
    verify_event_proof(audit_id, &served, log_id, &anchor, &enclave).unwrap();

    let mut tampered = served.clone();
    tampered.event.verb = "get".into();
    assert!(matches!(
        verify_event_proof(audit_id, &tampered, log_id, &anchor, &enclave),
        Err(VerifyError::Inclusion(_))
    ));

    let mut other_root = anchor.clone();
    other_root.root = vec![0x42; 32];
    assert!(matches!(
        verify_event_proof(audit_id, &served, log_id, &other_root, &enclave),
        Err(VerifyError::Mismatch(_))
    ));
    let mut moved: AuditEventProof = served.clone();
    moved.leaf_index = (served.leaf_index + 1) % served.checkpoint.tree_size.max(2);
    assert!(verify_event_proof(audit_id, &moved, log_id, &anchor, &enclave).is_err());

    let mut impostor = enclave.clone();
    impostor.pk = ed25519_dalek::SigningKey::from_bytes(&[0x99; 32])
        .verifying_key()
        .to_bytes()
        .to_vec();
    assert!(matches!(
        verify_event_proof(audit_id, &served, log_id, &anchor, &impostor),
        Err(VerifyError::Checkpoint(_))
    ));
}

/// With the devnet down, the API server's events are still acknowledged;
/// they are anchored, in order, once the chain is back.
async fn outage_then_catch_up(world: &mut World) {
    world.stack.devnet.stop().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(world.create_config_map(&format!("during-outage-{i}")).await);
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    // Checkpoints are signed meanwhile but cannot be anchored.
    let list = world.master().audit_checkpoints().await.unwrap();
    assert!(
        list.checkpoints.iter().any(|c| c.anchor.is_none()),
        "no checkpoint pending during the outage: {list:?}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    world.stack.devnet.restart().await.unwrap();
    for id in &ids {
        world.verified(id).await;
    }
    // Anchored in order: the anchored tree sizes only grow.
    let list = world.master().audit_checkpoints().await.unwrap();
    let sizes: Vec<u64> = list
        .checkpoints
        .iter()
        .filter(|c| c.anchor.is_some())
        .map(|c| c.tree_size)
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    // Each anchored checkpoint the master lists is on chain (more may
    // have been anchored since the list was read).
    let on_chain = world.chain.audit_log(AUDIT_LOG_ID).await.unwrap().value;
    for size in &sizes {
        assert!(*size <= on_chain.tree_size, "{sizes:?}");
        let anchor = world
            .chain
            .audit_checkpoint(on_chain.checkpoints.id, *size)
            .await
            .unwrap();
        assert!(anchor.is_some(), "checkpoint {size} is not on chain");
    }
}

/// POSTs EventLists to the master's audit webhook (with the API server's
/// client certificate) while the master is SIGKILLed; every batch it
/// answered 200 is in the log after the restart, and is anchored once the
/// new boot's key is registered.
async fn kill_9_loses_no_acknowledged_event(mut world: World) {
    let kubeconfig = std::fs::read_to_string(audit_kubeconfig(
        world.stack.master.state_dir().parent().unwrap(),
    ))
    .unwrap();
    let mut pem = kubeconfig_value(&kubeconfig, "client-certificate-data");
    pem.extend(kubeconfig_value(&kubeconfig, "client-key-data"));
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .use_rustls_tls()
        .identity(reqwest::Identity::from_pem(&pem).unwrap())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let url = format!("{}/audit", world.stack.master.webhook_url());
    let poster = tokio::spawn(async move {
        let mut acknowledged = BTreeSet::new();
        for batch in 0..10_000u32 {
            let ids: Vec<String> = (0..50).map(|i| format!("kill9-{batch}-{i}")).collect();
            match http.post(&url).json(&event_list(&ids)).send().await {
                Ok(answer) if answer.status().is_success() => acknowledged.extend(ids),
                Ok(_) | Err(_) => break,
            }
        }
        acknowledged
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    world.stack.master.kill().await.unwrap();
    let acknowledged = poster.await.unwrap();
    assert!(
        acknowledged.len() >= 50,
        "the master acknowledged {} events before the kill",
        acknowledged.len()
    );
    world.stack.master.restart().await.unwrap();
    let master = world.master();
    for id in &acknowledged {
        match master.audit_event(id).await {
            Ok(_) => {}
            Err(AttestedError::Status { status: 409, .. }) => {}
            Err(error) => panic!("acknowledged event {id} is lost after kill -9: {error}"),
        }
    }
    // The new boot has a new key: once registered, it anchors everything.
    world.register_enclave();
    let last = acknowledged.iter().next_back().unwrap().clone();
    world.verified(&last).await;
    let stored = world.master().audit_checkpoints().await.unwrap().stored;
    let on_chain = world.chain.audit_log(AUDIT_LOG_ID).await.unwrap().value;
    assert!(on_chain.tree_size <= stored);
}

fn event_list(ids: &[String]) -> serde_json::Value {
    let items: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| {
            json!({
                "level": "Metadata", "auditID": id, "stage": "ResponseComplete",
                "requestURI": "/api/v1/namespaces/default/pods", "verb": "list",
                "user": { "username": "system:admin", "groups": ["system:masters"] },
                "objectRef": { "resource": "pods", "namespace": "default", "apiVersion": "v1" },
                "responseStatus": { "code": 200 },
                "stageTimestamp": "2026-12-04T13:00:00.000000Z",
            })
        })
        .collect();
    json!({ "kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items })
}

fn audit_kubeconfig(master_dir: &Path) -> PathBuf {
    master_dir
        .join("apiserver")
        .join("audit-webhook.kubeconfig")
}

fn kubeconfig_value(kubeconfig: &str, key: &str) -> Vec<u8> {
    let value = kubeconfig
        .lines()
        .find_map(|line| line.trim().strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no {key} in the audit webhook kubeconfig"));
    STANDARD.decode(value).unwrap()
}
