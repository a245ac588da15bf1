//! The gateway across two master replicas on one API server and one
//! devnet: the leader executes, its death without releasing the Lease (an
//! aborted task, as kill -9) hands the gateway to the other replica after
//! the lease period, which executes what came next and nothing twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use daas_core::access::review::user_namespace;
use daas_core::chain::calls::K8sRequest as Submission;
use daas_core::chain::ptb::PcrArgs;
use daas_core::chain::{ChainClient, TransactionSigner};
use daas_core::package::gateway::{HttpMethod, K8sResult};
use daas_core::package::{ENCLAVE_CAP_ID, Mist, Role, SealTokenId};
use daas_e2e::devnet::{Devnet, DevnetOptions};
use daas_e2e::k3s;
use daas_master::access::{AccessService, AccessSettings};
use daas_master::attestation::AttestationProvider;
use daas_master::attestation::dev::DevProvider;
use daas_master::gateway::enclave::EnclaveWatch;
use daas_master::gateway::{Gateway, GatewaySettings};
use daas_master::leader::LeaseSettings;
use daas_master::namespaces::ensure_master_namespace;
use daas_master::reconcile::{Invalidation, Reconciler, ReconcilerSettings, ReconcilerStatus};
use ed25519_dalek::SigningKey;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_sdk_types::{Address, Ed25519PublicKey};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const SUI: u64 = 1_000_000_000;

struct Nothing;

impl Invalidation for Nothing {
    fn seal_token_changed(&self, _id: SealTokenId) {}
    fn all_changed(&self) {}
}

/// One replica: its enclave and its running reconciler (with gateway).
struct Replica {
    enclave: Address,
    status: watch::Receiver<ReconcilerStatus>,
    task: JoinHandle<()>,
}

struct World {
    devnet: Devnet,
    chain: ChainClient,
    admin: Ed25519PrivateKey,
    provider: DevProvider,
    config: Address,
    kube: kube::Client,
    namespace: String,
    _state: tempfile::TempDir,
}

impl World {
    async fn start() -> Self {
        let state = tempfile::tempdir().unwrap();
        let provider = DevProvider::with_binary_measurement(state.path(), &[0x42; 48]).unwrap();
        let pem = std::fs::read_to_string(provider.root_path()).unwrap();
        let admin = Ed25519PrivateKey::new([0xad; 32]);
        let devnet = Devnet::start_with_attestation(
            DevnetOptions {
                admin: Some(TransactionSigner::address(&admin)),
                ..DevnetOptions::default()
            },
            Some(&pem),
        )
        .await
        .unwrap();
        devnet
            .fund(TransactionSigner::address(&admin))
            .await
            .unwrap();
        let chain = devnet.client().unwrap();
        let pcr = |index| provider.pcrs()[&index].as_bytes().to_vec();
        let (pcr0, pcr1, pcr2) = (pcr(0), pcr(1), pcr(2));
        let config = chain
            .create_enclave_config(
                &admin,
                ENCLAVE_CAP_ID,
                "failover",
                &PcrArgs {
                    pcr0: &pcr0,
                    pcr1: &pcr1,
                    pcr2: &pcr2,
                },
            )
            .await
            .unwrap()
            .event
            .config_id;
        let cluster = k3s::shared().await.unwrap();
        let kube = cluster.client().await.unwrap();
        ensure_master_namespace(&kube).await.unwrap();
        let namespace = cluster
            .create_namespace(&kube, "gateway-failover")
            .await
            .unwrap();
        Self {
            devnet,
            chain,
            admin,
            provider,
            config,
            kube,
            namespace,
            _state: state,
        }
    }

    /// Registers `key` from a dev attestation document and funds its gas.
    async fn register(&self, key: &SigningKey) -> Address {
        let pk = key.verifying_key().to_bytes();
        let document = self.provider.attest(None, &pk, &[0; 32]).unwrap();
        let enclave = self
            .chain
            .register_enclave(&self.admin, self.config, &document)
            .await
            .unwrap()
            .event
            .enclave_id;
        self.devnet
            .fund(Ed25519PublicKey::new(pk).derive_address())
            .await
            .unwrap();
        enclave
    }

    async fn replica(&self, identity: &str) -> Replica {
        let key = SigningKey::from_bytes(&rand::random());
        let settings = ReconcilerSettings {
            poll_interval: Duration::from_millis(100),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            lease: LeaseSettings {
                namespace: self.namespace.clone(),
                name: "leader".to_owned(),
                lease_duration: Duration::from_secs(3),
                renew_interval: Duration::from_millis(300),
                renew_deadline: Duration::from_secs(2),
            },
            cursor_namespace: self.namespace.clone(),
            cursor_name: "cursor".to_owned(),
            // Only this test's (no) nodes.
            scope: Some(format!("gateway-failover={}", self.namespace)),
            // Every event from genesis: the registrations come later.
            invalidation_start: Some(0),
            ..ReconcilerSettings::new(identity)
        };
        let access = Arc::new(AccessService::new(
            AccessSettings {
                audience: "gateway-failover".to_owned(),
                api_server_url: "https://127.0.0.1:6443".to_owned(),
                cluster_ca_pem: String::new(),
                decision_cache_ttl: Duration::from_secs(30),
                seal_token_ttl: Duration::from_secs(3600),
                seal_tokens_per_owner: NonZeroU32::new(10).unwrap(),
                clock_skew: Duration::from_secs(30),
                rate_limit_per_minute: NonZeroU32::new(1000).unwrap(),
            },
            self.chain.clone(),
            self.kube.clone(),
            &mut prometheus_client::registry::Registry::default(),
        ));
        let gateway = Gateway::new(
            GatewaySettings {
                cursor_namespace: self.namespace.clone(),
                cursor_name: "gateway-cursor".to_owned(),
                ledger_namespace: self.namespace.clone(),
                poll_interval: Duration::from_millis(100),
                initial_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(1),
                ..GatewaySettings::default()
            },
            self.chain.clone(),
            self.kube.clone(),
            access,
            EnclaveWatch::new(key.clone()),
        );
        let reconciler = Reconciler::new(
            settings,
            self.chain.clone(),
            self.kube.clone(),
            Arc::new(Nothing),
        )
        .unwrap()
        .with_gateway(Arc::new(gateway));
        let status = reconciler.status();
        let task = tokio::spawn(reconciler.run(std::future::pending()));
        let enclave = self.register(&key).await;
        Replica {
            enclave,
            status,
            task,
        }
    }

    async fn submit(&self, who: &Ed25519PrivateKey, token: SealTokenId, name: &str) -> Address {
        let namespace = user_namespace(TransactionSigner::address(who));
        let path = format!("/api/v1/namespaces/{namespace}/configmaps");
        let payload =
            format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}}}}"#);
        self.chain
            .submit_k8s_request(
                who,
                token,
                &Submission {
                    method: HttpMethod::Post,
                    path: &path,
                    namespace: &namespace,
                    resource_type: "configmaps",
                    payload: payload.as_bytes(),
                },
            )
            .await
            .unwrap()
            .event
            .request_id
    }

    async fn result(&self, request: Address) -> K8sResult {
        for _ in 0..600 {
            if let Some(result) = self.chain.k8s_request(request).await.unwrap().value.result {
                return result;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no result for request {request}");
    }
}

async fn leader<'a>(a: &'a Replica, b: &'a Replica) -> (&'a Replica, &'a Replica) {
    for _ in 0..300 {
        if a.status.borrow().leader {
            return (a, b);
        }
        if b.status.borrow().leader {
            return (b, a);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no replica leads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_moves_to_the_other_replica_and_executes_nothing_twice() {
    let world = World::start().await;
    let a = world.replica("replica-a").await;
    let b = world.replica("replica-b").await;
    let (first, second) = leader(&a, &b).await;

    let developer = Ed25519PrivateKey::new(rand::random());
    world
        .devnet
        .fund(TransactionSigner::address(&developer))
        .await
        .unwrap();
    let token = world
        .chain
        .stake_and_mint(&developer, Mist::new(2 * SUI), Role::User, "")
        .await
        .unwrap()
        .token;
    let before = world.submit(&developer, token, "before").await;
    let result = world.result(before).await;
    assert_eq!(result.status_code, 201);
    assert_eq!(result.enclave_id, first.enclave);
    let own = user_namespace(TransactionSigner::address(&developer));
    let configmaps: Api<ConfigMap> = Api::namespaced(world.kube.clone(), &own);
    let version = configmaps
        .get("before")
        .await
        .unwrap()
        .metadata
        .resource_version;

    // The leader dies without releasing the Lease.
    first.task.abort();
    let after = world.submit(&developer, token, "after").await;
    let result = world.result(after).await;
    assert_eq!(result.status_code, 201);
    assert_eq!(
        result.enclave_id, second.enclave,
        "the other replica executed it"
    );
    assert!(second.status.borrow().leader);
    // What the dead leader did was not done again.
    assert_eq!(
        configmaps
            .get("before")
            .await
            .unwrap()
            .metadata
            .resource_version,
        version
    );
    second.task.abort();
}
