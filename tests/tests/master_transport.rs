//! The master's transport against the real control plane, devnet and
//! master processes:
//!
//! - the webhook listener answers only the API server's client certificate
//!   (mutual TLS), and the API server still authenticates users through it;
//! - with the public port flooded to its connection cap, users still
//!   authenticate through the webhooks (their listener has its own budget);
//! - the API server's webhook connections stay open between a person's
//!   commands seconds apart;
//! - forged tokens (a self-made key signing for random seal-token ids) are
//!   limited per client address before any chain read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use daas_core::access::{AccessToken, Claims, unix_now_secs};
use daas_core::package::{Mist, Role, SealTokenId};
use daas_core::wallet::{Keypair, Scheme};
use daas_e2e::load::WebhookClient;
use daas_e2e::stack::{Stack, StackOptions};
use daas_e2e::user::{Account, UserMachine};
use serde_json::json;
use sui_sdk_types::Address;
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;

const SUI: u64 = 1_000_000_000;
/// Ceiling of a wait for a close (the tests assert that, not the time).
const CEILING: Duration = Duration::from_secs(60);

/// A staked user (2 SUI: developer) whose kubeconfig runs the plugin.
async fn staked_user(stack: &Stack, seed: u8) -> (Account, SealTokenId, UserMachine) {
    let account = Account::funded(&stack.devnet, seed).await.unwrap();
    let minted = stack
        .devnet
        .client()
        .unwrap()
        .stake_and_mint(&account.chain, Mist::new(2 * SUI), Role::User, "")
        .await
        .unwrap();
    let machine = UserMachine::with_key(&account.wallet).unwrap();
    machine
        .write_kubeconfig(&stack.cluster, minted.token)
        .unwrap();
    (account, minted.token, machine)
}

/// `kubectl auth whoami` as the user must name them.
fn assert_authenticated(stack: &Stack, machine: &UserMachine, account: &Account) {
    let output = machine
        .kubectl(&stack.cluster, &["auth", "whoami", "-o", "json"])
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(&format!("sui:{}", account.address())),
        "whoami failed: {stdout}{}\nmaster log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        stack.master.log_tail(30)
    );
}

/// The base64 value of `key:` in a kubeconfig, decoded.
fn kubeconfig_value(kubeconfig: &str, key: &str) -> Vec<u8> {
    let value = kubeconfig
        .lines()
        .find_map(|line| line.trim().strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no {key} in the webhook kubeconfig"));
    STANDARD.decode(value).unwrap()
}

/// An HTTPS client of the webhook listener (any server key: only the
/// client side is under test), presenting `identity` if given.
fn webhook_client(identity: Option<reqwest::Identity>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .use_rustls_tls()
        .timeout(Duration::from_secs(10));
    if let Some(identity) = identity {
        builder = builder.identity(identity);
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn the_webhooks_answer_only_the_api_servers_client_certificate() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let (account, seal, machine) = staked_user(&stack, 0x61).await;
    // Through the API server: it presents the certificate from its
    // kubeconfig, and users authenticate.
    assert_authenticated(&stack, &machine, &account);

    let token = AccessToken::sign(
        &account.wallet,
        &Claims::new(
            seal,
            account.address(),
            stack.cluster.server(),
            unix_now_secs(),
            Duration::from_secs(300),
        )
        .unwrap(),
    )
    .unwrap()
    .into_string();
    let review = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": { "token": token },
    });
    let url = format!("{}/authenticate", stack.master.webhook_url());

    // Any other local client: refused in the TLS handshake.
    let refused = webhook_client(None).post(&url).json(&review).send().await;
    let error = refused.expect_err("a client without a certificate was answered");
    assert!(error.is_connect() || error.is_request(), "{error:?}");

    // With the API server's certificate and key, the review is answered.
    let kubeconfig = std::fs::read_to_string(stack.master.authentication_kubeconfig()).unwrap();
    let mut pem = kubeconfig_value(&kubeconfig, "client-certificate-data");
    pem.extend(kubeconfig_value(&kubeconfig, "client-key-data"));
    let identity = reqwest::Identity::from_pem(&pem).unwrap();
    let answer: serde_json::Value = webhook_client(Some(identity))
        .post(&url)
        .json(&review)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"]["authenticated"], true, "{answer}");
}

/// The API server keeps its webhook connections open between a person's
/// commands, and so does the master (`api.webhook_idle_timeout_secs`, 120
/// s, not the public listener's 2 s): otherwise each command after a pause
/// would wait for a new mutual-TLS handshake.
#[tokio::test]
async fn webhook_connections_stay_open_between_commands_seconds_apart() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let connection = WebhookClient::new(&stack.master)
        .unwrap()
        .open()
        .await
        .unwrap();
    assert_eq!(connection.get("/healthz").await.unwrap(), 200);
    // Past the public listener's idle time.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = connection.get("/healthz").await;
    assert!(
        matches!(again, Ok(status) if status == 200),
        "the idle webhook connection was closed: {again:?}"
    );
}

/// The master's public address.
fn public_address(stack: &Stack) -> SocketAddr {
    stack
        .master
        .url()
        .strip_prefix("https://")
        .unwrap()
        .parse()
        .unwrap()
}

/// Whether the server closes `stream` within [`CEILING`].
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(CEILING, stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn with_the_public_port_at_its_cap_users_still_authenticate() {
    const CAP: usize = 8;
    let options = StackOptions {
        // Connections that never start TLS hold their slot for 10 minutes.
        master_config: format!("api:\n  max_connections: {CAP}\n  handshake_timeout_secs: 600\n"),
        ..StackOptions::default()
    };
    let stack = Stack::start(options).await.unwrap();
    let (account, _, machine) = staked_user(&stack, 0x62).await;

    let public = public_address(&stack);
    let mut flood = Vec::new();
    for _ in 0..2 * CAP {
        flood.push(TcpStream::connect(public).await.unwrap());
    }
    // The last one is over the cap whatever else was open: closed at once.
    let mut newest = flood.pop().unwrap();
    assert!(closed_by_server(&mut newest).await);
    // The public API is full…
    let client = stack.master.client().unwrap();
    assert!(client.security_context().await.is_err());
    // …and the API server still reaches the webhooks: users authenticate.
    assert_authenticated(&stack, &machine, &account);

    // The flood gone, the public API answers again.
    drop(flood);
    let recovered = tokio::time::timeout(CEILING, async {
        loop {
            if client.security_context().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(recovered.is_ok(), "the public API did not recover");
}

/// An HTTPS client of the attested API that connects from `source`
/// (any 127.0.0.0/8 address is this machine) and accepts any server key.
fn public_client(source: &str) -> reqwest::Client {
    let source: IpAddr = source.parse().unwrap();
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .use_rustls_tls()
        .local_address(source)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// `daas_master_access_cache_lookups_total{cache="decision",outcome="miss"}`:
/// each miss is a read of the chain.
async fn decision_misses(stack: &Stack, client: &reqwest::Client) -> u64 {
    let metrics = client
        .get(format!("{}/metrics", stack.master.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    metrics
        .lines()
        .find(|line| {
            line.starts_with("daas_master_access_cache_lookups_total")
                && line.contains(r#"cache="decision""#)
                && line.contains(r#"outcome="miss""#)
        })
        .and_then(|line| line.rsplit(' ').next())
        .map_or(0, |count| count.parse().unwrap())
}

#[tokio::test]
async fn forged_tokens_are_limited_per_client_before_any_chain_read() {
    const BUDGET: usize = 12;
    const SENT: usize = 40;
    let options = StackOptions {
        master_config: format!("api:\n  client_rate_limit_per_minute: {BUDGET}\n"),
        ..StackOptions::default()
    };
    let stack = Stack::start(options).await.unwrap();
    // The harness polled /readyz from 127.0.0.1; the attacker and the
    // observer use addresses of their own (each has its own budget).
    let attacker = public_client("127.0.0.2");
    let observer = public_client("127.0.0.3");
    let before = decision_misses(&stack, &observer).await;

    let mut admitted = 0;
    for i in 0..SENT {
        // A self-made key, a valid signature, a seal token nobody minted.
        let mut seed = [0x77u8; 32];
        seed[0] = u8::try_from(i).unwrap();
        let key = Keypair::from_bytes(Scheme::Ed25519, &seed).unwrap();
        let seal = SealTokenId::new(Address::new(rand::random()));
        let claims = Claims::new(
            seal,
            key.address(),
            stack.cluster.server(),
            unix_now_secs(),
            Duration::from_secs(300),
        )
        .unwrap();
        let token = AccessToken::sign(&key, &claims).unwrap().into_string();
        let response = attacker
            .get(format!("{}/api/v1/namespaces", stack.master.url()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            429 => assert!(response.headers().contains_key("retry-after")),
            401 | 403 | 503 => admitted += 1,
            other => panic!("a forged token got {other}"),
        }
    }
    let chain_reads = decision_misses(&stack, &observer).await - before;
    // The budget (plus what refilled during the run) was admitted; the
    // rest was refused before any work.
    assert!((1..SENT / 2).contains(&admitted), "{admitted} admitted");
    assert!(
        chain_reads <= u64::try_from(admitted).unwrap(),
        "{chain_reads} chain reads for {admitted} admitted requests"
    );
}
