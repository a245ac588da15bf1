//! The verifiable audit log end to end, with real processes: the devnet,
//! the control plane sending its audit events to `daas-master`'s webhook,
//! a second master replica on the same stack, and each replica signing
//! checkpoints with its own enclave key and anchoring them in its own
//! `AuditLog` on chain.
//!
//! - kubectl requests (to the first replica, through the API server's
//!   webhook) and events posted to the second replica's webhook all end up
//!   in an anchored checkpoint of the replica that acknowledged them, and
//!   `daas-console audit verify` checks each against the chain, talking to
//!   either replica;
//! - the audit endpoints refuse a request without an access token (401)
//!   and a viewer reading another identity's event (403);
//! - a tampered event, a proof against another root, a checkpoint signed
//!   by another key, and one replica's proof against the other's log each
//!   fail verification (the console's verifier, against the real chain and
//!   the real masters' proofs);
//! - with the devnet stopped for a while, events keep being acknowledged
//!   and are anchored, in order, once it is back;
//! - a master killed with SIGKILL while the webhook is posting loses no
//!   acknowledged event: its next boot (new key, new log) anchors them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use daas_core::access::AccessToken;
use daas_core::api::MasterClient;
use daas_core::api::audit::{AUDIT_EVENTS_PATH, AuditEventProof};
use daas_core::attested::{AttestedClient, AttestedError, Request};
use daas_core::audit::verify::{VerifyError, verify_event_proof};
use daas_core::chain::ptb::PcrArgs;
use daas_core::chain::{ChainClient, TransactionSigner};
use daas_core::package::audit::{AuditLog, CheckpointAnchor};
use daas_core::package::enclave::Enclave;
use daas_core::package::{ENCLAVE_CAP_ID, Mist, Role, SealTokenId};
use daas_core::wallet::{Keypair, Scheme};
use daas_e2e::audit::{access_token, event_list, webhook_client};
use daas_e2e::devnet::DevnetOptions;
use daas_e2e::replicas::replica_of;
use daas_e2e::stack::{MasterProcess, Stack, StackOptions};
use daas_e2e::user::{Account, UserMachine};
use serde_json::json;
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_sdk_types::Address;

/// How long anchoring may take in this test (checkpoints every 500 ms).
const ANCHOR_TIMEOUT: Duration = Duration::from_secs(120);
const SUI: u64 = 1_000_000_000;

struct World {
    stack: Stack,
    /// The second master replica.
    replica: MasterProcess,
    chain: ChainClient,
    /// Registers enclaves and reads the audit log: a super-tier staker.
    operator: UserMachine,
    operator_key: Keypair,
    /// The operator's seal token.
    operator_seal: SealTokenId,
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
        // The replica pays from its own address.
        let replica_gas = Keypair::from_bytes(Scheme::Ed25519, &[0x6b; 32]).unwrap();
        let replica_gas_file = dir.path().join("replica-gas.key");
        daas_core::private_file::write_atomic(
            &replica_gas_file,
            replica_gas.to_suiprivkey().as_bytes(),
        )
        .unwrap();
        let mut stack = Stack::start(StackOptions {
            devnet: DevnetOptions {
                admin: Some(TransactionSigner::address(&admin)),
                ..DevnetOptions::default()
            },
            // The kill -9 check asks for every acknowledged event: lift
            // the per-client and per-identity request budgets.
            master_config: format!(
                "audit:\n  checkpoint_events: 50\n  checkpoint_interval_ms: 500\n  \
                 gas_key_file: \"{}\"\napi:\n  client_rate_limit_per_minute: 1000000\n\
                 access:\n  rate_limit_per_minute: 1000000\n",
                gas_file.display()
            ),
            audit: true,
            ..StackOptions::default()
        })
        .await
        .unwrap();
        // The masters' dev root exists only now: the devnet learns it on a
        // restart (which the master rides out). The replica shares it.
        let pem = std::fs::read_to_string(dev_root(&stack)).unwrap();
        stack.devnet.trust_dev_attestation_root(&pem).await.unwrap();
        let gas_path = gas_file.display().to_string();
        let replica_gas_path = replica_gas_file.display().to_string();
        // Replicas that paid from one address would race for its gas coins.
        let config = std::fs::read_to_string(stack.master.config_path())
            .unwrap()
            .replace(&gas_path, &replica_gas_path);
        let replica = replica_of(&stack.master, &config).await.unwrap();
        let chain = stack.devnet.client().unwrap();
        for address in [
            TransactionSigner::address(&admin),
            gas.address(),
            replica_gas.address(),
        ] {
            stack.devnet.fund(address).await.unwrap();
        }
        let operator_key = Keypair::from_bytes(Scheme::Ed25519, &[0x0e; 32]).unwrap();
        for _ in 0..3 {
            stack.devnet.fund(operator_key.address()).await.unwrap();
        }
        let operator = UserMachine::with_key(&operator_key).unwrap();
        let operator_seal = chain
            .stake_and_mint(&operator_key, Mist::new(10 * SUI), Role::User, "")
            .await
            .unwrap()
            .token;
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
            replica,
            chain,
            operator,
            operator_key,
            operator_seal,
            config,
            _dir: dir,
        };
        world.register_enclave(world.stack.master.url());
        world.register_enclave(world.replica.url());
        world
    }

    /// `daas-console enclave register` of the key of the master at `url`.
    fn register_enclave(&self, url: &str) {
        let config = self.config.to_string();
        let mut args = self.console_globals(url);
        args.extend([
            "enclave".into(),
            "register".into(),
            "--config".into(),
            config,
            "--yes".into(),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.operator.console(&args, b"").unwrap();
    }

    /// The console's flags for the master at `url` (both replicas share
    /// the dev root).
    fn console_globals(&self, url: &str) -> Vec<String> {
        vec![
            "--master".into(),
            url.to_owned(),
            "--chain-endpoint".into(),
            self.stack.devnet.url().to_owned(),
            "--allow-insecure-dev".into(),
            "--dev-root".into(),
            dev_root(&self.stack).display().to_string(),
        ]
    }

    /// `daas-console audit verify ID` against the master at `url`, retried
    /// until it succeeds.
    async fn verified(&self, url: &str, audit_id: &str) -> String {
        let deadline = tokio::time::Instant::now() + ANCHOR_TIMEOUT;
        let mut args = self.console_globals(url);
        args.extend(["audit".into(), "verify".into(), audit_id.to_owned()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        loop {
            match self.operator.console(&args, b"") {
                Ok(output) => return String::from_utf8(output.stdout).unwrap(),
                Err(error) if tokio::time::Instant::now() >= deadline => panic!(
                    "event {audit_id} was not verified at {url} within {ANCHOR_TIMEOUT:?}: \
                     {error:#}\nfirst master's log:\n{}\nreplica's log:\n{}",
                    self.stack.master.log_tail(40),
                    self.replica.log_tail(40)
                ),
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }

    /// A client of the first master.
    fn master(&self) -> MasterClient {
        MasterClient::new(self.stack.master.client().unwrap())
    }

    /// A client of the replica.
    fn replica_client(&self) -> MasterClient {
        MasterClient::new(self.replica.client().unwrap())
    }

    /// The operator's signed access token for reading the audit log.
    fn token(&self) -> AccessToken {
        access_token(&self.stack, &self.operator_key, self.operator_seal).unwrap()
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

    /// The chain's view of a served event: its log, the anchor of its
    /// checkpoint and the anchoring enclave.
    async fn on_chain(&self, served: &AuditEventProof) -> (AuditLog, CheckpointAnchor, Enclave) {
        let record = served.checkpoint.anchor.clone().unwrap();
        let log_id: Address = record.log_id.parse().unwrap();
        let log = self.chain.audit_log(log_id).await.unwrap().value;
        let anchor = self
            .chain
            .audit_checkpoint(log.checkpoints.id, served.checkpoint.tree_size)
            .await
            .unwrap()
            .unwrap();
        let enclave = self.chain.enclave(anchor.enclave_id).await.unwrap().value;
        (log, anchor, enclave)
    }
}

/// Posts one EventList of `ids` to the audit webhook at `webhook_url`.
async fn post_events(http: &reqwest::Client, webhook_url: &str, ids: &[String]) {
    let answer = http
        .post(format!("{webhook_url}/audit"))
        .json(&event_list(ids))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{:?}", answer.status());
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
async fn audit_events_of_every_replica_are_anchored_verified_and_survive_outages_and_kill_9() {
    let mut world = World::start().await;

    // kubectl requests reach the first replica through the API server's
    // webhook; they end up anchored in its log and verify on their own.
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
    let first = world.stack.master.url().to_owned();
    let verified = world.verified(&first, &kubectl_id).await;
    assert!(verified.contains("VERIFIED"), "{verified}");
    assert!(verified.contains("create"), "{verified}");
    assert!(verified.contains("configmaps"), "{verified}");
    world.verified(&first, &created).await;

    // Events the second replica acknowledges are anchored in its own log.
    let http = webhook_client(&world.stack).unwrap();
    let replica_ids: Vec<String> = (0..120).map(|i| format!("replica-{i}")).collect();
    for batch in replica_ids.chunks(40) {
        post_events(&http, &world.replica.webhook_url(), batch).await;
    }
    let second = world.replica.url().to_owned();
    for id in [&replica_ids[0], &replica_ids[77], &replica_ids[119]] {
        let verified = world.verified(&second, id).await;
        assert!(verified.contains("VERIFIED"), "{verified}");
    }
    let first_log = world
        .master()
        .audit_event(&created, &world.token())
        .await
        .unwrap()
        .checkpoint
        .anchor
        .unwrap()
        .log_id;
    let replica_log = world
        .replica_client()
        .audit_event(&replica_ids[0], &world.token())
        .await
        .unwrap()
        .checkpoint
        .anchor
        .unwrap()
        .log_id;
    assert_ne!(first_log, replica_log, "each replica anchors its own log");

    reads_need_a_staker(&world, &created).await;
    tampering_fails(&world, &created, &replica_ids[5]).await;
    outage_then_catch_up(&mut world).await;
    kill_9_loses_no_acknowledged_event(world).await;
}

/// Without an access token the audit endpoints answer 401; a viewer is
/// served its own events only (403 for the cluster admin's).
async fn reads_need_a_staker(world: &World, audit_id: &str) {
    let raw: AttestedClient = world.stack.master.client().unwrap();
    for path in [
        format!("{AUDIT_EVENTS_PATH}/{audit_id}"),
        "/api/v1/audit/checkpoints".to_owned(),
        "/api/v1/audit/consistency?from=1&to=2".to_owned(),
    ] {
        let answer = raw.send(&Request::get(path.clone())).await.unwrap();
        assert_eq!(answer.status, 401, "{path} without a token");
    }
    let viewer = Account::funded(&world.stack.devnet, 0x5d).await.unwrap();
    let seal = world
        .chain
        .stake_and_mint(&viewer.chain, Mist::new(SUI), Role::User, "")
        .await
        .unwrap()
        .token;
    let token = access_token(&world.stack, &viewer.wallet, seal).unwrap();
    match world.master().audit_event(audit_id, &token).await {
        Err(AttestedError::Status { status: 403, .. }) => {}
        other => panic!("a viewer read the cluster admin's event: {other:?}"),
    }
    // Checkpoints carry no who-did-what: any staker reads them.
    assert!(
        !world
            .master()
            .audit_checkpoints(&token)
            .await
            .unwrap()
            .checkpoints
            .is_empty()
    );
}

/// The verifier refuses a changed event, a proof against another root, a
/// checkpoint signed by a key other than the registered one, and one
/// replica's proof checked against the other replica's log.
async fn tampering_fails(world: &World, audit_id: &str, replica_id: &str) {
    let token = world.token();
    let served = world.master().audit_event(audit_id, &token).await.unwrap();
    let (log, anchor, enclave) = world.on_chain(&served).await;
    verify_event_proof(audit_id, &served, &log, &anchor, &enclave).unwrap();

    let mut tampered = served.clone();
    tampered.event.verb = "get".into();
    assert!(matches!(
        verify_event_proof(audit_id, &tampered, &log, &anchor, &enclave),
        Err(VerifyError::Inclusion(_))
    ));

    let mut other_root = anchor.clone();
    other_root.root = vec![0x42; 32];
    assert!(matches!(
        verify_event_proof(audit_id, &served, &log, &other_root, &enclave),
        Err(VerifyError::Mismatch(_))
    ));
    let mut moved: AuditEventProof = served.clone();
    moved.leaf_index = (served.leaf_index + 1) % served.checkpoint.tree_size.max(2);
    assert!(verify_event_proof(audit_id, &moved, &log, &anchor, &enclave).is_err());

    let mut impostor = enclave.clone();
    impostor.pk = ed25519_dalek::SigningKey::from_bytes(&[0x99; 32])
        .verifying_key()
        .to_bytes()
        .to_vec();
    assert!(matches!(
        verify_event_proof(audit_id, &served, &log, &anchor, &impostor),
        Err(VerifyError::Checkpoint(_))
    ));

    // The replica's event, proved in its own log, verifies there and
    // nowhere else: not against the first replica's log, anchor or key.
    let other = world
        .replica_client()
        .audit_event(replica_id, &token)
        .await
        .unwrap();
    let (other_log, other_anchor, other_enclave) = world.on_chain(&other).await;
    verify_event_proof(
        replica_id,
        &other,
        &other_log,
        &other_anchor,
        &other_enclave,
    )
    .unwrap();
    assert_ne!(other_enclave.id, enclave.id);
    assert!(verify_event_proof(replica_id, &other, &log, &anchor, &enclave).is_err());
    assert!(verify_event_proof(replica_id, &other, &other_log, &other_anchor, &enclave).is_err());
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
    // Checkpoints are signed meanwhile but cannot be anchored. Reading
    // them needs the reader's stake: answered from the master's decision
    // cache, or refused (503) if it must ask the chain: it fails closed.
    let token = world.token();
    match world.master().audit_checkpoints(&token).await {
        Ok(list) => assert!(
            list.checkpoints.iter().any(|c| c.anchor.is_none()),
            "no checkpoint pending during the outage: {list:?}"
        ),
        Err(AttestedError::Status { status: 503, .. }) => {}
        Err(error) => panic!("reading checkpoints during the outage: {error}"),
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    world.stack.devnet.restart().await.unwrap();
    let first = world.stack.master.url().to_owned();
    for id in &ids {
        world.verified(&first, id).await;
    }
    // Anchored in order: the anchored tree sizes only grow.
    let list = world.master().audit_checkpoints(&token).await.unwrap();
    let anchored: Vec<_> = list
        .checkpoints
        .iter()
        .filter_map(|c| c.anchor.as_ref().map(|a| (c.tree_size, a.log_id.clone())))
        .collect();
    let sizes: Vec<u64> = anchored.iter().map(|(size, _)| *size).collect();
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    // Each anchored checkpoint the master lists is on chain in its log
    // (more may have been anchored since the list was read).
    for (size, log_id) in &anchored {
        let log_id: Address = log_id.parse().unwrap();
        let on_chain = world.chain.audit_log(log_id).await.unwrap().value;
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
/// answered 200 is in the log after the restart, and is anchored in the
/// new boot's log once the new boot's key is registered.
async fn kill_9_loses_no_acknowledged_event(mut world: World) {
    let http = webhook_client(&world.stack).unwrap();
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
    let token = world.token();
    for id in &acknowledged {
        match master.audit_event(id, &token).await {
            Ok(_) => {}
            Err(AttestedError::Status { status: 409, .. }) => {}
            Err(error) => panic!("acknowledged event {id} is lost after kill -9: {error}"),
        }
    }
    // The new boot has a new key: once registered, it creates a new log
    // and anchors everything.
    world.register_enclave(world.stack.master.url());
    let last = acknowledged.iter().next_back().unwrap().clone();
    let first = world.stack.master.url().to_owned();
    world.verified(&first, &last).await;
    let served = world.master().audit_event(&last, &token).await.unwrap();
    let stored = world
        .master()
        .audit_checkpoints(&token)
        .await
        .unwrap()
        .stored;
    let (log, _, _) = world.on_chain(&served).await;
    assert!(log.tree_size <= stored);
}
