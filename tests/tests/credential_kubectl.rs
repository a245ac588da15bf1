//! kubectl → `daas-console credential` → API server → token webhook →
//! access review on the devnet, end to end with real processes.
//!
//! The webhook here is a stand-in for the master's TokenReview handler
//! built from the same `daas_core::access` pieces the master wires: parse
//! the `TokenReview`, verify the access token for the cluster's audience,
//! review it against the chain, answer. kubectl runs the plugin from a
//! kubeconfig written by `daas-console kubeconfig`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use daas_core::access::tokenreview::TokenReview;
use daas_core::access::{AccessToken, Decision, review, unix_now_secs};
use daas_core::chain::{ChainClient, TransactionSigner};
use daas_core::package::{Mist, Role};
use daas_core::wallet::{Keypair, Scheme};
use daas_e2e::devnet::Devnet;
use daas_e2e::{k3s, webhook};
use sui_crypto::ed25519::Ed25519PrivateKey;
use tokio::net::TcpListener;

const SUI: u64 = 1_000_000_000;
const PASSPHRASE: &str = "kubectl test passphrase";

/// The `daas-console` executable: `$DAAS_CONSOLE_BIN`, or built by Cargo
/// if needed (the same way the devnet harness finds `daas-devnet`).
fn console_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("DAAS_CONSOLE_BIN") {
                let path = PathBuf::from(path);
                assert!(
                    path.is_file(),
                    "DAAS_CONSOLE_BIN={} is not a file",
                    path.display()
                );
                return path;
            }
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let output = Command::new(cargo)
                .current_dir(workspace)
                .args([
                    "build",
                    "-p",
                    "daas-console",
                    "--bin",
                    "daas-console",
                    "--message-format=json-render-diagnostics",
                ])
                .stderr(Stdio::inherit())
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "cargo build -p daas-console failed"
            );
            output
                .stdout
                .split(|b| *b == b'\n')
                .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
                .find(|m| {
                    m["reason"] == "compiler-artifact" && m["target"]["name"] == "daas-console"
                })
                .and_then(|m| m["executable"].as_str().map(PathBuf::from))
                .expect("cargo reported no daas-console executable")
        })
        .clone()
}

/// What the webhook saw: the tokens and its decisions.
#[derive(Default)]
struct Seen {
    tokens: Vec<String>,
    decisions: Vec<Result<Decision, String>>,
}

/// Answers a `POST /authenticate` TokenReview for `audience` from the chain.
async fn answer_token_review(
    audience: String,
    client: ChainClient,
    seen: Arc<Mutex<Seen>>,
    body: Vec<u8>,
) -> String {
    let request: TokenReview = serde_json::from_slice(&body).unwrap();
    let verified = AccessToken::parse(&request.spec.token)
        .and_then(|t| t.verify(&audience, unix_now_secs(), Duration::from_secs(30)));
    let decision = match verified {
        Ok(token) => {
            let now_ms = u64::try_from(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_millis(),
            )
            .unwrap();
            review(&client, &token, now_ms)
                .await
                .map_err(|e| e.to_string())
        }
        Err(error) => Err(error.to_string()),
    };
    let answer = match &decision {
        Ok(decision) => request.answer(decision),
        Err(error) => request.reject(error.clone()),
    };
    let mut seen = seen.lock().unwrap();
    seen.tokens.push(request.spec.token.clone());
    seen.decisions.push(decision);
    serde_json::to_string(&answer).unwrap()
}

/// A user's machine: a wallet, a cache dir, a kubeconfig.
struct Machine {
    dir: tempfile::TempDir,
}

impl Machine {
    fn console(&self, args: &[&str], stdin: &[u8]) -> Output {
        use std::io::Write as _;
        let mut child = Command::new(console_binary())
            .arg("--wallet-dir")
            .arg(self.dir.path().join("wallet"))
            .args(args)
            .env("DAAS_WALLET_PASSPHRASE", PASSPHRASE)
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "daas-console {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// `kubectl` as the user runs it: the user's kubeconfig, no terminal.
    fn kubectl(&self, cluster: &k3s::Cluster, args: &[&str]) -> Output {
        Command::new(&cluster.binaries().kubectl)
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args(args)
            .env("DAAS_WALLET_PASSPHRASE", PASSPHRASE)
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"))
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn cache_files(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("cache/k3s-daas/credentials"))
            .map(Iterator::count)
            .unwrap_or(0)
    }
}

// kubectl runs as a blocking child process while the webhook task answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_authenticates_with_a_wallet_signed_token_until_unstake() {
    // Stake 5 SUI (admin tier) with the key the user's wallet holds.
    let devnet = Devnet::start().await.unwrap();
    let client = devnet.client().unwrap();
    let chain_key = Ed25519PrivateKey::new([0x61; 32]);
    let wallet_key = Keypair::from_bytes(Scheme::Ed25519, &[0x61; 32]).unwrap();
    let address = wallet_key.address();
    assert_eq!(TransactionSigner::address(&chain_key), address);
    devnet.fund(address).await.unwrap();
    let minted = client
        .stake_and_mint(&chain_key, Mist::new(5 * SUI), Role::User, "")
        .await
        .unwrap();

    // The cluster, authenticating bearer tokens through our webhook.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let files = tempfile::tempdir().unwrap();
    let webhook = files.path().join("token-webhook.yaml");
    std::fs::write(
        &webhook,
        webhook::config_file(&format!("http://127.0.0.1:{port}/authenticate")),
    )
    .unwrap();
    let cluster = k3s::ClusterBuilder::new()
        .token_webhook(&webhook, Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let answer = {
        let (audience, client, seen) = (cluster.server().to_owned(), client.clone(), seen.clone());
        move |_path, body| answer_token_review(audience.clone(), client.clone(), seen.clone(), body)
    };
    tokio::spawn(webhook::serve(listener, answer));

    // The user's machine: import the key, write the kubeconfig.
    let machine = Machine {
        dir: tempfile::tempdir().unwrap(),
    };
    machine.console(
        &["wallet", "import", "--alias", "me", "--suiprivkey"],
        wallet_key.to_suiprivkey().as_bytes(),
    );
    let ca = machine.dir.path().join("ca.pem");
    std::fs::write(&ca, cluster.ca_pem()).unwrap();
    let seal = minted.token.to_string();
    machine.console(
        &[
            "kubeconfig",
            "--kubeconfig",
            machine.kubeconfig().to_str().unwrap(),
            "--server",
            cluster.server(),
            "--seal-token",
            &seal,
            "--ca-file",
            ca.to_str().unwrap(),
            "--name",
            "daas-e2e",
        ],
        b"",
    );

    // kubectl runs the plugin, the API server asks the webhook, the chain
    // says admin.
    let output = machine.kubectl(&cluster, &["auth", "whoami", "-o", "json"]);
    assert!(
        output.status.success(),
        "kubectl auth whoami: {}\nwebhook saw: {:?}",
        String::from_utf8_lossy(&output.stderr),
        seen.lock().unwrap().decisions
    );
    let review: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let info = &review["status"]["userInfo"];
    assert_eq!(info["username"], format!("sui:{address}"));
    let groups: Vec<&str> = info["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    assert!(groups.contains(&"k3s-daas:admin"), "{groups:?}");
    assert!(groups.contains(&"k3s-daas:users"), "{groups:?}");
    assert_eq!(info["extra"]["k3s-daas.io/seal-token-id"][0], seal);
    assert_eq!(machine.cache_files(), 1, "the plugin cached its token");
    {
        let seen = seen.lock().unwrap();
        let token = seen.tokens.last().unwrap();
        assert!(token.starts_with("daas1."), "{token}");
    }

    // A second kubectl process reuses the cached token.
    let output = machine.kubectl(&cluster, &["auth", "whoami", "-o", "json"]);
    assert!(output.status.success());
    {
        let seen = seen.lock().unwrap();
        let n = seen.tokens.len();
        assert!(n >= 1);
        assert!(
            seen.tokens.iter().all(|t| t == &seen.tokens[0]),
            "one token for both kubectl runs"
        );
    }

    // Unstaking ends access at the next review, although the plugin's
    // token is still valid.
    client
        .request_unstake(&chain_key, minted.token)
        .await
        .unwrap();
    // The API server caches webhook answers for the webhook cache TTL (200 ms
    // here), but also caches every successful token authentication for a
    // fixed 10 s (kube-apiserver's TokenSuccessCacheTTL, no flag sets it):
    // poll past that.
    let unstaked = std::time::Instant::now();
    let output = loop {
        let output = machine.kubectl(&cluster, &["auth", "whoami", "-o", "json"]);
        if !output.status.success() {
            break output;
        }
        assert!(
            unstaked.elapsed() < Duration::from_secs(20),
            "access survived the unstake for 20 s; webhook decisions: {:?}",
            seen.lock().unwrap().decisions
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!("access ended {:?} after the unstake", unstaked.elapsed());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Unauthorized") || stderr.contains("credentials"),
        "{stderr}"
    );
    let seen = seen.lock().unwrap();
    assert!(
        matches!(seen.decisions.last(), Some(Ok(Decision::Denied(_)))),
        "{:?}",
        seen.decisions.last()
    );
}
