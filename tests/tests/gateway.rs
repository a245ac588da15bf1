//! The on-chain gateway end to end, with real processes: the devnet, the
//! control plane wired to the master's webhooks, `daas-master serve` with
//! dev attestation whose key is registered on chain through
//! `load_nitro_attestation` + `register_enclave`, and staked users
//! submitting `gateway::submit_k8s_request` transactions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use daas_core::access::review::user_namespace;
use daas_core::chain::ChainClient;
use daas_core::chain::calls::K8sRequest as Submission;
use daas_core::package::gateway::{HttpMethod, K8sResult};
use daas_core::package::{Mist, Role, SealTokenId};
use daas_e2e::enclave;
use daas_e2e::stack::Stack;
use daas_e2e::user::{Account, UserMachine};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_sdk_types::Address;

const SUI: u64 = 1_000_000_000;
/// The master's namespace, where the gateway keeps its ledger.
const MASTER_NAMESPACE: &str = "k3s-daas-system";
/// The annotation the gateway puts on what it writes.
const REQUEST_ANNOTATION: &str = "k3s-daas.io/gateway-request";

/// The stack with an `EnclaveConfig` of the master's PCRs and its admin.
struct World {
    stack: Stack,
    chain: ChainClient,
    admin: Ed25519PrivateKey,
    config: Address,
}

impl World {
    async fn start() -> Self {
        let admin = Ed25519PrivateKey::new([0xad; 32]);
        let (stack, config) = enclave::stack_with_config(&admin).await.unwrap();
        let chain = stack.devnet.client().unwrap();
        Self {
            stack,
            chain,
            admin,
            config,
        }
    }

    /// Registers the running master's key (as `daas-console enclave
    /// register` does) and, if asked, funds the address that pays for its
    /// results.
    async fn register_master(&self, fund: bool) {
        enclave::register_master(&self.stack, &self.admin, self.config, fund)
            .await
            .unwrap();
    }

    /// A developer (2 SUI); with `kubectl`, one who has used kubectl once,
    /// so the master made their namespace already.
    async fn developer(&self, seed: u8, kubectl: bool) -> Staker {
        let account = Account::funded(&self.stack.devnet, seed).await.unwrap();
        let token = self
            .chain
            .stake_and_mint(&account.chain, Mist::new(2 * SUI), Role::User, "")
            .await
            .unwrap()
            .token;
        let machine = UserMachine::with_key(&account.wallet).unwrap();
        machine
            .write_kubeconfig(&self.stack.cluster, token)
            .unwrap();
        if kubectl {
            let output = machine
                .kubectl(&self.stack.cluster, &["get", "pods", "-n", "default"])
                .unwrap();
            assert!(
                output.status.success(),
                "kubectl get pods: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Staker {
            account,
            token,
            machine,
        }
    }

    /// Submits `POST` of a ConfigMap named `name` into `namespace`.
    async fn submit_configmap(&self, who: &Staker, namespace: &str, name: &str) -> Address {
        let path = format!("/api/v1/namespaces/{namespace}/configmaps");
        let payload = serde_json::to_vec(&serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": { "name": name },
            "data": { "from": "chain" },
        }))
        .unwrap();
        self.chain
            .submit_k8s_request(
                &who.account.chain,
                who.token,
                &Submission {
                    method: HttpMethod::Post,
                    path: &path,
                    namespace,
                    resource_type: "configmaps",
                    payload: &payload,
                },
            )
            .await
            .unwrap()
            .event
            .request_id
    }

    /// Waits for the request's result on chain.
    async fn result(&self, request: Address) -> K8sResult {
        for _ in 0..600 {
            let on_chain = self.chain.k8s_request(request).await.unwrap().value;
            if let Some(result) = on_chain.result {
                return result;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "no result for request {request}; master log:\n{}",
            self.stack.master.log_tail(60)
        );
    }

    async fn kube(&self) -> kube::Client {
        self.stack.cluster.client().await.unwrap()
    }

    /// Waits until the leader's gateway has stored its first cursor: from
    /// then on no request is skipped.
    async fn gateway_following(&self) {
        let cursors: Api<ConfigMap> = Api::namespaced(self.kube().await, "kube-system");
        for _ in 0..600 {
            if cursors
                .get_opt("k3s-daas-gateway-cursor")
                .await
                .unwrap()
                .is_some()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the gateway stored no cursor; master log:\n{}",
            self.stack.master.log_tail(60)
        );
    }

    /// `daas-console ARGS --chain <devnet> --yes` as `who`.
    fn console(&self, who: &Staker, args: &[&str]) -> String {
        let mut all = args.to_vec();
        all.extend(["--chain", self.stack.devnet.url(), "--yes"]);
        let output = who.machine.console(&all, b"").unwrap();
        String::from_utf8(output.stdout).unwrap()
    }
}

struct Staker {
    account: Account,
    token: SealTokenId,
    machine: UserMachine,
}

impl Staker {
    fn namespace(&self) -> String {
        user_namespace(self.account.address())
    }
}

// kubectl runs as blocking child processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_developer_creates_in_their_namespace_and_a_denial_is_recorded() {
    let world = World::start().await;
    // Never used kubectl: their first request makes their namespace.
    let developer = world.developer(0x41, false).await;
    let own = developer.namespace();
    world.gateway_following().await;

    // Submitted while the master's key is not registered yet, then
    // unstaked: when the gateway gets to it, the stake no longer grants
    // access, and the refusal is recorded. Stake decides.
    let quitter = world.developer(0x43, true).await;
    let abandoned = world
        .submit_configmap(&quitter, &quitter.namespace(), "after-unstake")
        .await;
    world
        .chain
        .request_unstake(&quitter.account.chain, quitter.token)
        .await
        .unwrap();
    world.register_master(true).await;
    assert_eq!(world.result(abandoned).await.status_code, 403);
    let theirs: Api<ConfigMap> = Api::namespaced(world.kube().await, &quitter.namespace());
    assert!(theirs.get_opt("after-unstake").await.unwrap().is_none());

    // Through the console: it shows what it signs, submits (the namespace
    // and resource type those the path names), and shows the recorded
    // result. A namespace other than the path's is refused before signing.
    let payload = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        payload.path(),
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"from-chain"},"data":{"from":"chain"}}"#,
    )
    .unwrap();
    let seal = developer.token.to_string();
    let path = format!("/api/v1/namespaces/{own}/configmaps");
    let submitted: serde_json::Value = serde_json::from_str(&world.console(
        &developer,
        &[
            "gateway",
            "submit",
            "POST",
            &path,
            "--payload",
            payload.path().to_str().unwrap(),
            "--seal-token",
            &seal,
            "--json",
        ],
    ))
    .unwrap();
    let created: Address = submitted["request"].as_str().unwrap().parse().unwrap();
    let result = world.result(created).await;
    assert_eq!(
        result.status_code,
        201,
        "{}",
        world.stack.master.log_tail(40)
    );
    let shown: serde_json::Value = serde_json::from_str(&world.console(
        &developer,
        &["gateway", "show", &created.to_string(), "--json"],
    ))
    .unwrap();
    assert_eq!(shown["result"]["status_code"], 201);
    assert_eq!(shown["method"], "POST");
    assert_eq!(shown["namespace"], own.as_str());
    assert_eq!(shown["resource_type"], "configmaps");
    let elsewhere = developer
        .machine
        .console(
            &[
                "gateway",
                "submit",
                "GET",
                &path,
                "--namespace",
                "default",
                "--seal-token",
                &seal,
                "--chain",
                world.stack.devnet.url(),
                "--yes",
            ],
            b"",
        )
        .unwrap_err();
    assert!(
        format!("{elsewhere:#}")
            .contains(&format!("the path names namespace `{own}`, not `default`")),
        "{elsewhere:#}"
    );
    let listed: serde_json::Value = serde_json::from_str(&world.console(
        &developer,
        &[
            "gateway",
            "list",
            "--sender",
            &developer.account.address().to_string(),
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], created.to_string());

    let configmaps: Api<ConfigMap> = Api::namespaced(world.kube().await, &own);
    let made = configmaps.get("from-chain").await.unwrap();
    assert_eq!(
        made.metadata.annotations.unwrap()[REQUEST_ANNOTATION],
        created.to_string()
    );
    assert_eq!(made.data.unwrap()["from"], "chain");
    // The result is signed by the registered enclave.
    let enclave = world.chain.enclave(result.enclave_id).await.unwrap().value;
    assert_eq!(enclave.config_id, world.config);

    // The same request aimed at another namespace: RBAC refuses it, and the
    // refusal is what is recorded.
    let denied = world
        .submit_configmap(&developer, "default", "from-chain")
        .await;
    let result = world.result(denied).await;
    assert_eq!(result.status_code, 403);
    let defaults: Api<ConfigMap> = Api::namespaced(world.kube().await, "default");
    assert!(defaults.get_opt("from-chain").await.unwrap().is_none());

    // A path whose namespace is not the request's namespace is refused by
    // the gateway itself (400), never sent.
    let path = "/api/v1/namespaces/default/configmaps";
    let mismatched = world
        .chain
        .submit_k8s_request(
            &developer.account.chain,
            developer.token,
            &Submission {
                method: HttpMethod::Post,
                path,
                namespace: &own,
                resource_type: "configmaps",
                payload: br#"{"metadata":{"name":"sneaky"}}"#,
            },
        )
        .await
        .unwrap()
        .event
        .request_id;
    let result = world.result(mismatched).await;
    assert_eq!(result.status_code, 400);
    assert!(defaults.get_opt("sneaky").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_interrupted_by_kill_9_executes_once() {
    let mut world = World::start().await;
    // Registered but unable to pay: the request executes, its result cannot
    // be recorded, and the master is killed while it retries.
    world.register_master(false).await;
    let developer = world.developer(0x42, true).await;
    let own = developer.namespace();
    world.gateway_following().await;
    let request = world.submit_configmap(&developer, &own, "once").await;

    let configmaps: Api<ConfigMap> = Api::namespaced(world.kube().await, &own);
    let mut made = None;
    for _ in 0..600 {
        made = configmaps.get_opt("once").await.unwrap();
        if made.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let made = made.unwrap_or_else(|| {
        panic!(
            "the request was not executed; master log:\n{}",
            world.stack.master.log_tail(60)
        )
    });
    let version = made.metadata.resource_version.clone().unwrap();
    world.stack.master.kill().await.unwrap();

    // The ledger holds the attempt. Put it back to "executing", the state
    // a kill between sending and noting the answer leaves.
    let ledger: Api<ConfigMap> = Api::namespaced(world.kube().await, MASTER_NAMESPACE);
    let entries = ledger
        .list(&ListParams::default().labels("k3s-daas.io/gateway-ledger=true"))
        .await
        .unwrap()
        .items;
    let entry = entries
        .iter()
        .find(|e| e.data.as_ref().unwrap()["request"] == request.to_string())
        .expect("a ledger entry for the request");
    let name = entry.metadata.name.clone().unwrap();
    let interrupted = serde_json::json!({
        "data": { "state": "executing", "status": null, "result-hash": null, "tag": null }
    });
    ledger
        .patch(&name, &PatchParams::default(), &Patch::Merge(&interrupted))
        .await
        .unwrap();
    assert!(
        world
            .chain
            .k8s_request(request)
            .await
            .unwrap()
            .value
            .result
            .is_none()
    );

    // A new boot: a new key, registered and funded. It finds the attempt,
    // sees the object it made, and records without sending again.
    world.stack.master.restart().await.unwrap();
    world.register_master(true).await;
    let result = world.result(request).await;
    assert_eq!(
        result.status_code,
        201,
        "{}",
        world.stack.master.log_tail(60)
    );
    let now = configmaps.get("once").await.unwrap();
    assert_eq!(now.metadata.resource_version.unwrap(), version);
    let log = std::fs::read_to_string(world.stack.master.log_path()).unwrap();
    assert!(
        log.contains("the interrupted attempt took effect; not sent again"),
        "{}",
        world.stack.master.log_tail(60)
    );
}
