//! The local API over a real TLS socket: TLS 1.3 only, the pinned client
//! refuses another key, the read routes answer, and the order layer
//! refuses unsigned, replayed, foreign, re-bodied and misdirected orders.
//!
//! The [`AgentControl`] here only records what it was asked: these tests
//! are about the API's authentication layer, not the actions behind it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use daas_agent::api::{
    self, AgentControl, AgentIdentity, ApiState, ControlError, OrderGuard, Outcome, ProcMetrics,
};
use daas_core::access::agent_request::{AgentAction, AgentRequest, AgentRequestClaims};
use daas_core::access::{NodeName, unix_now_secs};
use daas_core::api::agent::{AgentClient, AgentClientError, NodeRequest, StakingRequest};
use daas_core::package::Mist;
use daas_core::wallet::{Keypair, Scheme};
use futures::future::BoxFuture;
use tokio::net::TcpListener;

const NODE: &str = "worker-api-1";
const TIMEOUT: Duration = Duration::from_secs(10);

/// Records the actions it is asked to take.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Recorder {
    fn done(&self, what: String) -> BoxFuture<'_, Result<Outcome, ControlError>> {
        self.0.lock().unwrap().push(what.clone());
        Box::pin(async move {
            Ok(Outcome {
                message: what,
                seal_token: None,
            })
        })
    }
}

impl AgentControl for Recorder {
    fn stake(&self, amount: Mist) -> BoxFuture<'_, Result<Outcome, ControlError>> {
        self.done(format!("stake {}", amount.get()))
    }
    fn register(&self) -> BoxFuture<'_, Result<Outcome, ControlError>> {
        self.done("register".to_owned())
    }
    fn unstake(&self) -> BoxFuture<'_, Result<Outcome, ControlError>> {
        Box::pin(async { Err(ControlError::Conflict("not staked yet".to_owned())) })
    }
}

struct Agent {
    url: String,
    key: [u8; 32],
    owner: Keypair,
    recorder: Arc<Recorder>,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Agent {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let identity = AgentIdentity::load_or_generate(dir.path()).unwrap();
        Self::serve(identity, dir).await
    }

    /// Serves with the operator's certificate and key files
    /// (`security.tls_cert`/`tls_key`).
    async fn start_with_operator_files() -> (Self, [u8; 32]) {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let certificate = rcgen::CertificateParams::new(vec!["agent.example".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let spki = daas_core::attested::tls::certificate_spki_sha256(certificate.der()).unwrap();
        let cert_path = dir.path().join("agent.crt");
        let key_path = dir.path().join("agent.key");
        std::fs::write(&cert_path, certificate.pem()).unwrap();
        daas_core::private_file::write_atomic(&key_path, key.serialize_pem().as_bytes()).unwrap();
        let identity = AgentIdentity::from_files(&cert_path, &key_path).unwrap();
        (Self::serve(identity, dir).await, spki)
    }

    async fn serve(identity: AgentIdentity, dir: tempfile::TempDir) -> Self {
        let owner = Keypair::generate(Scheme::Ed25519);
        let guard = OrderGuard::new(
            owner.address(),
            NODE.parse().unwrap(),
            identity.spki_sha256(),
            (Duration::from_secs(60), Duration::from_secs(30)),
            unix_now_secs() - 5,
        );
        let recorder = Arc::new(Recorder::default());
        let state = ApiState::new(guard, recorder.clone(), ProcMetrics::default());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(api::serve::serve(
            listener,
            identity.server_config().unwrap(),
            api::router(Arc::new(state)),
            async {
                let _ = stopped.await;
            },
        ));
        Self {
            url,
            key: identity.spki_sha256(),
            owner,
            recorder,
            _dir: dir,
            _stop: stop,
        }
    }

    fn client(&self) -> AgentClient {
        AgentClient::new(&self.url, self.key, TIMEOUT).unwrap()
    }

    fn node(&self) -> NodeName {
        NODE.parse().unwrap()
    }

    /// A wire-form order for `action` over `body`, signed by `signer`
    /// claiming `owner`.
    fn signed(&self, action: AgentAction, body: &[u8], signer: &Keypair) -> String {
        let claims = AgentRequestClaims::new(
            action,
            signer.address(),
            self.node(),
            self.key,
            body,
            unix_now_secs(),
        );
        AgentRequest::sign(signer, &claims)
            .unwrap()
            .as_str()
            .to_owned()
    }
}

fn status(result: Result<impl std::fmt::Debug, AgentClientError>) -> (u16, String) {
    match result {
        Err(AgentClientError::Status { status, error, .. }) => (status, error),
        other => panic!("expected an HTTP error, got {other:?}"),
    }
}

fn node_body() -> Vec<u8> {
    serde_json::to_vec(&NodeRequest {
        node_id: NODE.to_owned(),
    })
    .unwrap()
}

#[tokio::test]
async fn read_routes_answer_over_pinned_tls() {
    let agent = Agent::start().await;
    let client = agent.client();
    let health = client.health().await.unwrap();
    assert_eq!(health.status, "ok");
    assert_eq!(health.node_id, NODE);
    let metrics = client.metrics().await.unwrap();
    assert!(metrics.memory_usage > 0.0, "{metrics:?}");
    assert!(metrics.timestamp > 0);

    // Prometheus and OpenAPI through a client pinned the same way.
    let verifier = daas_core::attested::tls::ServerKeyVerifier::pinned(agent.key);
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(daas_core::attested::tls::client_config(verifier).unwrap())
        .build()
        .unwrap();
    let text = http
        .get(format!("{}/metrics", agent.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("daas_agent_memory_usage_percent"), "{text}");
    let openapi: serde_json::Value = http
        .get(format!("{}/openapi.json", agent.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/staking",
        "/api/v1/register",
        "/api/v1/unstake",
        "/api/v1/metrics",
        "/health",
        "/metrics",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path} missing");
    }
}

#[tokio::test]
async fn the_operator_s_certificate_is_served_over_tls_1_3_only() {
    let (agent, spki) = Agent::start_with_operator_files().await;
    assert_eq!(agent.key, spki);
    let health = agent.client().health().await.unwrap();
    assert_eq!(health.node_id, NODE);
    // Pinning the key the agent would have generated instead fails.
    let mut other = spki;
    other[31] ^= 1;
    let client = AgentClient::new(&agent.url, other, TIMEOUT).unwrap();
    assert!(matches!(
        client.health().await,
        Err(AgentClientError::KeyMismatch { .. })
    ));
    let error = tls12_handshake(&agent).await;
    assert!(error.contains("ProtocolVersion"), "{error}");
}

#[tokio::test]
async fn a_client_pinning_another_key_is_refused() {
    let agent = Agent::start().await;
    let mut other = agent.key;
    other[0] ^= 1;
    let client = AgentClient::new(&agent.url, other, TIMEOUT).unwrap();
    let error = client.metrics().await.unwrap_err();
    match &error {
        AgentClientError::KeyMismatch {
            pinned, presented, ..
        } => {
            assert_eq!(*pinned, hex::encode(other));
            assert_eq!(*presented, hex::encode(agent.key));
        }
        other => panic!("expected a key mismatch, got {other:?}"),
    }
    assert!(
        error.to_string().contains("refusing to talk to it"),
        "{error}"
    );
}

#[tokio::test]
async fn tls_below_1_3_is_refused() {
    let agent = Agent::start().await;
    let error = tls12_handshake(&agent).await;
    assert!(error.contains("ProtocolVersion"), "{error}");
    // The same client with TLS 1.3 gets through.
    assert!(agent.client().health().await.is_ok());
}

/// The error of a TLS 1.2-only handshake with the agent.
async fn tls12_handshake(agent: &Agent) -> String {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = daas_core::attested::tls::ServerKeyVerifier::pinned(agent.key);
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let address = agent.url.trim_start_matches("https://");
    let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("daas-agent").unwrap();
    connector.connect(name, tcp).await.unwrap_err().to_string()
}

#[tokio::test]
async fn the_owner_s_signed_order_is_carried_out_once() {
    let agent = Agent::start().await;
    let client = agent.client();
    let owner = &agent.owner;
    let staking = StakingRequest {
        node_id: NODE.to_owned(),
        stake_amount: "5000000000".to_owned(),
    };
    let done = client
        .order(
            AgentAction::Stake,
            owner.address(),
            agent.node(),
            &staking,
            |m| owner.sign_personal_message(m),
        )
        .await
        .unwrap();
    assert!(done.success);
    assert_eq!(done.action, "stake");
    let done = client
        .order(
            AgentAction::Register,
            owner.address(),
            agent.node(),
            &NodeRequest {
                node_id: NODE.to_owned(),
            },
            |m| owner.sign_personal_message(m),
        )
        .await
        .unwrap();
    assert_eq!(done.message, "register");
    assert_eq!(
        *agent.recorder.0.lock().unwrap(),
        vec!["stake 5000000000".to_owned(), "register".to_owned()]
    );

    // The action's own refusal comes back with its status.
    let body = node_body();
    let order = agent.signed(AgentAction::Unstake, &body, owner);
    let (code, error) = status(client.send_signed(AgentAction::Unstake, &order, body).await);
    assert_eq!((code, error.as_str()), (409, "not staked yet"));

    // Replayed: the same order again.
    let body = node_body();
    let order = agent.signed(AgentAction::Register, &body, owner);
    client
        .send_signed(AgentAction::Register, &order, body.clone())
        .await
        .unwrap();
    let (code, error) = status(
        client
            .send_signed(AgentAction::Register, &order, body)
            .await,
    );
    assert_eq!(code, 409);
    assert!(error.contains("already used"), "{error}");
}

#[tokio::test]
async fn unsigned_foreign_and_misdirected_orders_are_refused() {
    let agent = Agent::start().await;
    let client = agent.client();
    let body = node_body();
    // (case, order, route, body, status, words of the error)
    type Case<'a> = (&'a str, String, AgentAction, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "unsigned",
            String::new(),
            AgentAction::Register,
            body.clone(),
            401,
            "Bearer",
        ),
        (
            "garbage",
            "daasa1.x.y".to_owned(),
            AgentAction::Register,
            body.clone(),
            401,
            "order refused",
        ),
        (
            "another wallet",
            agent.signed(
                AgentAction::Register,
                &body,
                &Keypair::generate(Scheme::Ed25519),
            ),
            AgentAction::Register,
            body.clone(),
            403,
            "not by this node's owner",
        ),
        (
            "another route",
            agent.signed(AgentAction::Stake, &body, &agent.owner),
            AgentAction::Register,
            body.clone(),
            403,
            "this route is for register",
        ),
        (
            "another body",
            agent.signed(AgentAction::Register, b"{}", &agent.owner),
            AgentAction::Register,
            body.clone(),
            403,
            "another body",
        ),
    ];
    for (case, order, action, body, expected, needle) in cases {
        let result = if order.is_empty() {
            // No Authorization header at all.
            let verifier = daas_core::attested::tls::ServerKeyVerifier::pinned(agent.key);
            let http = reqwest::Client::builder()
                .use_preconfigured_tls(daas_core::attested::tls::client_config(verifier).unwrap())
                .build()
                .unwrap();
            let response = http
                .post(format!("{}/api/v1/register", agent.url))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let code = response.status().as_u16();
            let error: serde_json::Value = response.json().await.unwrap();
            (code, error["error"].as_str().unwrap().to_owned())
        } else {
            status(client.send_signed(action, &order, body).await)
        };
        assert_eq!(result.0, expected, "{case}: {}", result.1);
        assert!(result.1.contains(needle), "{case}: {}", result.1);
    }

    // Another agent's order, and one for another node.
    let claims = AgentRequestClaims::new(
        AgentAction::Register,
        agent.owner.address(),
        agent.node(),
        [7; 32],
        &body,
        unix_now_secs(),
    );
    let other_agent = AgentRequest::sign(&agent.owner, &claims).unwrap();
    let (code, error) = status(
        client
            .send_signed(AgentAction::Register, other_agent.as_str(), body.clone())
            .await,
    );
    assert_eq!(code, 401);
    assert!(error.contains("for the agent with TLS key"), "{error}");
    let claims = AgentRequestClaims {
        node_id: "worker-other".parse().unwrap(),
        ..AgentRequestClaims::new(
            AgentAction::Register,
            agent.owner.address(),
            agent.node(),
            agent.key,
            &body,
            unix_now_secs(),
        )
    };
    let other_node = AgentRequest::sign(&agent.owner, &claims).unwrap();
    let (code, error) = status(
        client
            .send_signed(AgentAction::Register, other_node.as_str(), body)
            .await,
    );
    assert_eq!(code, 403);
    assert!(error.contains("this agent runs worker-api-1"), "{error}");

    // A stale order (issued before the agent started, and too old).
    let body = node_body();
    let claims = AgentRequestClaims::new(
        AgentAction::Register,
        agent.owner.address(),
        agent.node(),
        agent.key,
        &body,
        unix_now_secs() - 600,
    );
    let stale = AgentRequest::sign(&agent.owner, &claims).unwrap();
    let (code, error) = status(
        client
            .send_signed(AgentAction::Register, stale.as_str(), body)
            .await,
    );
    assert_eq!(code, 401);
    assert!(error.contains("stale"), "{error}");
    assert!(agent.recorder.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn bad_bodies_of_signed_orders_are_named() {
    let agent = Agent::start().await;
    let client = agent.client();
    for (action, body, needle) in [
        (
            AgentAction::Stake,
            br#"{"node_id":"worker-api-1","stake_amount":"5 SUI"}"#.to_vec(),
            "is not a decimal amount of MIST",
        ),
        (
            AgentAction::Stake,
            br#"{"node_id":"worker-api-1"}"#.to_vec(),
            "bad stake body",
        ),
        (
            AgentAction::Register,
            br#"{"node_id":"worker-other"}"#.to_vec(),
            "is not this agent's node worker-api-1",
        ),
        (
            AgentAction::Unstake,
            br#"{"node_id":"worker-api-1","extra":1}"#.to_vec(),
            "unknown field",
        ),
        (
            AgentAction::Register,
            b"not json".to_vec(),
            "bad register body",
        ),
    ] {
        let order = agent.signed(action, &body, &agent.owner);
        let (code, error) = status(client.send_signed(action, &order, body).await);
        assert_eq!(code, 400, "{error}");
        assert!(error.contains(needle), "{needle}: {error}");
    }
    assert!(agent.recorder.0.lock().unwrap().is_empty());
}
