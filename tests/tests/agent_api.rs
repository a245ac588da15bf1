//! The agent's local API end to end with the devnet, the control plane and
//! `daas-master serve` as processes: the node's owner orders the agent,
//! over TLS pinned to its key, to stake (a real transaction) and to
//! register (a real registration, reporting the agent's endpoint and key);
//! the master shows that endpoint to the owner only; `daas-console nodes
//! metrics` reaches the agent through it, and refuses an agent whose key
//! is not the one the master relays.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use daas_agent::api::{
    self, AgentControl, AgentIdentity, ApiState, ControlError, OrderGuard, Outcome, ProcMetrics,
};
use daas_core::access::agent_request::AgentAction;
use daas_core::access::worker_proof::{Purpose, WorkerClaims, WorkerProof};
use daas_core::access::{AccessToken, Claims, NodeName, unix_now_secs};
use daas_core::api::MasterClient;
use daas_core::api::agent::{AgentClient, NodeRequest, StakingRequest};
use daas_core::api::nodes::{AgentEndpoint, Capacity, RegisterWorkerRequest};
use daas_core::chain::ChainClient;
use daas_core::package::{Mist, Role, SealTokenId};
use daas_core::wallet::{Keypair, Scheme};
use daas_e2e::stack::{Stack, StackOptions};
use daas_e2e::user::{Account, UserMachine};
use futures::future::BoxFuture;
use sui_crypto::ed25519::Ed25519PrivateKey;
use tokio::net::TcpListener;

const NODE: &str = "worker-agent-api-1";
const SUI: u64 = 1_000_000_000;

/// The actions as the run loop does them: stake on chain, register with
/// the master reporting the API's endpoint and key. (Unstake needs the
/// drain the run loop owns; it is not part of this test.)
struct RealFlows {
    chain: ChainClient,
    master: MasterClient,
    audience: String,
    worker: Account,
    endpoint: AgentEndpoint,
    seal: Mutex<Option<SealTokenId>>,
}

impl RealFlows {
    async fn stake_now(&self, amount: Mist) -> Result<Outcome, ControlError> {
        let minted = self
            .chain
            .stake_and_mint(&self.worker.chain, amount, Role::Worker, NODE)
            .await
            .map_err(|error| ControlError::Upstream(error.to_string()))?;
        *self.seal.lock().unwrap() = Some(minted.token);
        Ok(Outcome {
            message: format!("staked {amount}"),
            seal_token: Some(minted.token.to_string()),
        })
    }

    async fn register_now(&self) -> Result<Outcome, ControlError> {
        let seal = self
            .seal
            .lock()
            .unwrap()
            .ok_or_else(|| ControlError::Conflict("stake first".to_owned()))?;
        let claims = WorkerClaims::new(
            Purpose::Register,
            seal,
            self.worker.address(),
            NODE.parse().unwrap(),
            self.audience.clone(),
            unix_now_secs(),
        )
        .map_err(|error| ControlError::Invalid(error.to_string()))?;
        let proof = WorkerProof::sign(&self.worker.wallet, &claims)
            .map_err(|error| ControlError::Invalid(error.to_string()))?;
        let joined = self
            .master
            .register_worker(&RegisterWorkerRequest {
                node_id: NODE.to_owned(),
                seal_token: seal.to_string(),
                ip_address: "127.0.0.1".to_owned(),
                capacity: Capacity {
                    cpu: "2".to_owned(),
                    memory: "4Gi".to_owned(),
                    storage: "20Gi".to_owned(),
                },
                proof: proof.into_string(),
                agent_api: Some(self.endpoint.clone()),
            })
            .await
            .map_err(|error| ControlError::Upstream(error.to_string()))?;
        Ok(Outcome {
            message: format!("registered as {}", joined.node_name),
            seal_token: Some(seal.to_string()),
        })
    }
}

impl AgentControl for RealFlows {
    fn stake(&self, amount: Mist) -> BoxFuture<'_, Result<Outcome, ControlError>> {
        Box::pin(self.stake_now(amount))
    }
    fn register(&self) -> BoxFuture<'_, Result<Outcome, ControlError>> {
        Box::pin(self.register_now())
    }
    fn unstake(&self) -> BoxFuture<'_, Result<Outcome, ControlError>> {
        Box::pin(async { Err(ControlError::Conflict("not in this test".to_owned())) })
    }
}

/// Serves the API with the key in `dir` on `address` until the sender is
/// dropped.
async fn serve(
    dir: &Path,
    address: SocketAddr,
    owner: &Account,
    control: Arc<dyn AgentControl>,
) -> ([u8; 32], tokio::sync::oneshot::Sender<()>) {
    let identity = AgentIdentity::load_or_generate(dir).unwrap();
    let guard = OrderGuard::new(
        owner.address(),
        NODE.parse().unwrap(),
        identity.spki_sha256(),
        (Duration::from_secs(60), Duration::from_secs(30)),
        unix_now_secs() - 5,
    );
    let state = ApiState::new(guard, control, ProcMetrics::default());
    let listener = TcpListener::bind(address).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(api::serve::serve(
        listener,
        identity.server_config().unwrap(),
        api::router(Arc::new(state)),
        async {
            let _ = stopped.await;
        },
    ));
    (identity.spki_sha256(), stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_orders_the_agent_and_the_console_reaches_it_by_its_relayed_key() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let worker = Account::funded(&stack.devnet, 0x74).await.unwrap();
    let master = MasterClient::new(stack.master.client().unwrap());
    let address: SocketAddr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let url = format!("https://{address}");
    let key_dir = tempfile::tempdir().unwrap();
    let key = AgentIdentity::load_or_generate(key_dir.path())
        .unwrap()
        .spki_sha256();
    let flows = Arc::new(RealFlows {
        chain: stack.devnet.client().unwrap(),
        master: master.clone(),
        audience: stack.cluster.server().to_owned(),
        worker: Account {
            chain: Ed25519PrivateKey::new([0x74; 32]),
            wallet: Keypair::from_bytes(Scheme::Ed25519, &[0x74; 32]).unwrap(),
        },
        endpoint: AgentEndpoint {
            url: url.clone(),
            tls_spki_sha256: hex::encode(key),
        },
        seal: Mutex::new(None),
    });
    let (served_key, stop) = serve(key_dir.path(), address, &worker, flows.clone()).await;
    assert_eq!(served_key, key);

    // The owner orders: stake 5 SUI, then register.
    let agent = AgentClient::new(&url, key, Duration::from_secs(30)).unwrap();
    let node: NodeName = NODE.parse().unwrap();
    let sign = |m: &[u8]| worker.wallet.sign_personal_message(m);
    let staked = agent
        .order(
            AgentAction::Stake,
            worker.address(),
            node.clone(),
            &StakingRequest {
                node_id: NODE.to_owned(),
                stake_amount: (5 * SUI).to_string(),
            },
            sign,
        )
        .await
        .unwrap();
    let seal: SealTokenId = staked.seal_token.unwrap().parse().unwrap();
    let registered = agent
        .order(
            AgentAction::Register,
            worker.address(),
            node.clone(),
            &NodeRequest {
                node_id: NODE.to_owned(),
            },
            sign,
        )
        .await
        .unwrap();
    assert_eq!(registered.message, format!("registered as {NODE}"));

    // The master shows the endpoint to the owner, not to the public.
    let public = master.node(NODE).await.unwrap();
    assert!(public.agent_api.is_none(), "{public:?}");
    let claims = Claims::new(
        seal,
        worker.address(),
        stack.cluster.server(),
        unix_now_secs(),
        Duration::from_secs(60),
    )
    .unwrap();
    let token = AccessToken::sign(&worker.wallet, &claims).unwrap();
    let owned = master.node_as(NODE, token.as_str()).await.unwrap();
    assert_eq!(owned.agent_api, Some(flows.endpoint.clone()));

    // The console, with the owner's wallet, reads the agent's metrics.
    let machine = UserMachine::with_key(&worker.wallet).unwrap();
    let dev_root = stack.master.state_dir().join("dev-root.pem");
    let console_args = |json: bool| {
        let mut args = vec![
            "--master".to_owned(),
            stack.master.url().to_owned(),
            "--chain".to_owned(),
            stack.devnet.url().to_owned(),
            "--allow-insecure-dev".to_owned(),
            "--dev-root".to_owned(),
            dev_root.display().to_string(),
            "nodes".to_owned(),
            "metrics".to_owned(),
            NODE.to_owned(),
        ];
        if json {
            args.push("--json".to_owned());
        }
        args
    };
    let args = console_args(true);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = machine.console(&refs, b"").unwrap();
    let view: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(view["node"], NODE);
    assert_eq!(view["agent_api"]["url"], url.as_str());
    assert!(
        view["metrics"]["memory_usage"].as_f64().unwrap() > 0.0,
        "{view}"
    );
    assert!(view["metrics"]["timestamp"].as_u64().unwrap() > 0, "{view}");

    // The agent's key changes behind the master's back (another key on the
    // same address): the console refuses to talk to it.
    drop(stop);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let other_dir = tempfile::tempdir().unwrap();
    let (other_key, _stop) = serve(other_dir.path(), address, &worker, flows.clone()).await;
    assert_ne!(other_key, key);
    let args = console_args(false);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let error = machine.console(&refs, b"").unwrap_err().to_string();
    assert!(error.contains("refusing to talk to it"), "{error}");
    assert!(error.contains(&hex::encode(other_key)), "{error}");
}
