//! Every flow of the seed document, end to end, on one local stack: the
//! devnet, the control plane with the master's webhooks (audit on), the
//! master with dev attestation, two real `daas-agent run` workers with
//! real kubelet nodes, and users driving the product's own interfaces:
//! `daas-console`, `kubectl` with the credential plugin, `curl` against
//! the master's and the agents' HTTPS APIs (pinned to the attested keys,
//! TLS 1.3), and the agent's command line.
//!
//! One ordered walk, one named step per item of the seed (issue #14, item
//! 3); a failing step panics with its name and the error chain. The steps
//! are numbered by the seed's flows:
//!
//! 1. node registration (stake → seal token → register → chain check →
//!    attestation → node in the cluster);
//! 2. API request authentication (kubectl with the plugin; `curl` with an
//!    opaque seal token to the master's `/api/v1/nodes`; tier RBAC; audit);
//! 3. staking and token issuance, `GET /kubectl/config`;
//! 4. metrics (agent `/api/v1/metrics` and Prometheus `/metrics`, the
//!    master's node health);
//! 5. troubleshooting (seal token on chain, `/api/v1/staking/status`,
//!    `POST /api/v1/attestation`);
//! 6. unstake, and slashing recovery (slash, restake, re-register with the
//!    new seal token);
//! 7. the zero-downtime worker rolling update (drain, upgrade the agent,
//!    uncordon) with a workload probed throughout;
//! 8. the FAQ (token format, token lookup on chain, reissue).
//!
//! What "stays available" means in step 7: a Deployment of two busybox
//! `httpd` replicas spread over the two real nodes, with a
//! PodDisruptionBudget (`minAvailable: 1`) and an HTTP readiness probe
//! that each node's kubelet runs against its pod every second. Every
//! 200 ms during the update the test counts the replicas that are Ready
//! and not terminating; at least one must be, at every sample.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use daas_core::api::{MasterClient, StatusQuery};
use daas_core::chain::TransactionSigner as _;
use daas_core::package::SealTokenId;
use daas_core::wallet::{Keypair, Scheme};
use daas_e2e::agent::{AgentHost, CRASH_AFTER_VAR, CRASH_EXIT};
use daas_e2e::binaries::{self, AGENT};
use daas_e2e::devnet::DevnetOptions;
use daas_e2e::enclave;
use daas_e2e::k3s::unique_suffix;
use daas_e2e::kwok::node_ready;
use daas_e2e::node::{NodeBinaries, image_reference};
use daas_e2e::stack::{Stack, StackOptions};
use daas_e2e::user::{Account, UserMachine};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::ListParams;
use serde_json::Value;
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_sdk_types::Address;
use tokio::process::{Child, Command};

/// A real kubelet from start to Ready on a busy machine.
const READY: Duration = Duration::from_secs(240);
/// Anything shorter: a chain event seen, a log line, a revocation.
const SHORT: Duration = Duration::from_secs(90);
/// Seed of the operator's key (SUPER stake; the package's admin, so the
/// EnclaveCap and the SlasherCap).
const OPERATOR_SEED: u8 = 0x5e;
/// Seed of the key that pays the master's audit anchoring.
const GAS_SEED: u8 = 0x6a;
/// Seed of the cluster user's key (ADMIN stake).
const USER_SEED: u8 = 0x5f;
/// Exit statuses of `daas-agent` (agent/src/exit.rs).
const EXIT_STOPPED: i32 = 0;
const EXIT_REVOKED: i32 = 10;
const EXIT_LEFT: i32 = 12;
/// The devnet's unbonding period (7 days) and a minute.
const UNBONDING_MS: u64 = 7 * 24 * 3600 * 1000 + 60_000;
/// The label that binds a worker Node to its seal token (master/src/labels.rs).
const NODE_SEAL_TOKEN_LABEL: &str = "node-restriction.kubernetes.io/k3s-daas-seal-token-prefix";

/// Runs one named step: logs it, and panics with its name and the whole
/// error chain if it fails.
async fn step<T>(name: &str, work: impl Future<Output = anyhow::Result<T>>) -> T {
    eprintln!("STEP {name}");
    let started = Instant::now();
    match work.await {
        Ok(value) => {
            eprintln!("  ok in {} ms", started.elapsed().as_millis());
            value
        }
        Err(error) => panic!("step {name:?} failed: {error:#}"),
    }
}

/// Polls `probe` every 250 ms until it gives `Some`; after `timeout` fails
/// naming `what` and the probe's last error.
async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match probe().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => String::from("not yet"),
            Err(error) => format!("{error:#}"),
        };
        if Instant::now() >= deadline {
            bail!("{what}: not within {timeout:?} (last: {last})");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A `daas-console` user: a wallet with one funded key, the options that
/// reach this stack, and, once written, a kubeconfig running the plugin.
struct Console {
    wallet: Keypair,
    machine: UserMachine,
    global: Vec<String>,
}

impl Console {
    /// A user whose key is `[seed; 32]`, funded by the faucet.
    async fn new(stack: &Stack, seed: u8) -> anyhow::Result<Self> {
        let account = Account::funded(&stack.devnet, seed).await?;
        Self::with_key(stack, &account.wallet)
    }

    /// A console on a machine whose wallet holds `wallet`.
    fn with_key(stack: &Stack, wallet: &Keypair) -> anyhow::Result<Self> {
        let machine = UserMachine::with_key(wallet)?;
        let dev_root = stack.master.state_dir().join("dev-root.pem");
        let global = vec![
            "--master".to_owned(),
            stack.master.url().to_owned(),
            "--chain".to_owned(),
            stack.devnet.url().to_owned(),
            "--allow-insecure-dev".to_owned(),
            "--dev-root".to_owned(),
            dev_root.display().to_string(),
            "--kube-config".to_owned(),
            machine.kubeconfig().display().to_string(),
            "--yes".to_owned(),
        ];
        Ok(Self {
            wallet: wallet.clone(),
            machine,
            global,
        })
    }

    fn address(&self) -> Address {
        self.wallet.address()
    }

    /// `daas-console <global options> ARGS`; its standard output.
    fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut all: Vec<&str> = self.global.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        let output = self.machine.console(&all, b"")?;
        String::from_utf8(output.stdout).context("daas-console printed no UTF-8")
    }

    /// `daas-console … ARGS --json`, parsed.
    fn json(&self, args: &[&str]) -> anyhow::Result<Value> {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.run(&all)?;
        serde_json::from_str(&out).with_context(|| format!("daas-console {args:?}: {out}"))
    }

    /// `kubectl ARGS` with this user's kubeconfig (the credential plugin).
    fn kubectl(&self, stack: &Stack, args: &[&str]) -> anyhow::Result<Output> {
        self.machine.kubectl(&stack.cluster, args)
    }
}

/// The seal token a console receipt or view names.
fn seal_of(value: &Value) -> anyhow::Result<SealTokenId> {
    value["seal_token"]
        .as_str()
        .with_context(|| format!("no seal_token in {value}"))?
        .parse()
        .context("a seal token id")
}

/// One worker machine running `daas-agent run` with a real kubelet node.
struct Worker {
    host: AgentHost,
    node: String,
    agent: Option<Child>,
    binary: PathBuf,
}

impl Worker {
    async fn new(stack: &Stack, node: &str) -> anyhow::Result<Self> {
        let host = AgentHost::new(stack).await?;
        host.write_config(&host.config_text(node, host.pcrs()))?;
        let binary = tokio::task::spawn_blocking(|| binaries::workspace_binary(AGENT)).await??;
        Ok(Self {
            host,
            node: node.to_owned(),
            agent: None,
            binary,
        })
    }

    /// Starts `daas-agent run --config … EXTRA` in the background; its
    /// stderr is appended to the host's log.
    fn start(&mut self, extra: &[&str]) -> anyhow::Result<()> {
        let child = self
            .command("run", extra)?
            .spawn()
            .context("spawning daas-agent")?;
        self.agent = Some(child);
        Ok(())
    }

    /// Runs `daas-agent run --config … EXTRA` to its end; its exit code.
    async fn run_to_end(&self, extra: &[&str]) -> anyhow::Result<Option<i32>> {
        let mut child = self
            .command("run", extra)?
            .spawn()
            .context("spawning daas-agent")?;
        let status = tokio::time::timeout(SHORT, child.wait())
            .await
            .context("daas-agent run did not end")??;
        Ok(status.code())
    }

    fn command(&self, subcommand: &str, extra: &[&str]) -> anyhow::Result<Command> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.host.log_path())
            .context("opening the agent log")?;
        let mut command = Command::new(&self.binary);
        command
            .arg(subcommand)
            .arg("--config")
            .arg(self.host.config_path())
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        Ok(command)
    }

    /// Stops the running agent with SIGTERM, as systemd does, and returns
    /// its exit code.
    async fn stop(&mut self) -> anyhow::Result<Option<i32>> {
        let mut child = self.agent.take().context("no agent running")?;
        let pid = child.id().context("the agent already exited")?;
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await?;
        ensure!(status.success(), "kill -TERM {pid} failed");
        let exit = tokio::time::timeout(SHORT, child.wait())
            .await
            .context("the agent did not stop on SIGTERM")??;
        Ok(exit.code())
    }

    /// Waits for the running agent to exit by itself; its exit code.
    async fn exited(&mut self) -> anyhow::Result<Option<i32>> {
        let mut child = self.agent.take().context("no agent running")?;
        let exit = tokio::time::timeout(SHORT, child.wait())
            .await
            .with_context(|| format!("the agent did not exit: {}", self.host.log_tail(20)))??;
        Ok(exit.code())
    }

    /// Waits for `needle` in the log written since `from`.
    async fn logged(&self, from: usize, needle: &str, timeout: Duration) -> anyhow::Result<()> {
        eventually(
            &format!("{needle:?} in the agent's log"),
            timeout,
            || async { Ok(self.host.log_since(from).contains(needle).then_some(())) },
        )
        .await
        .with_context(|| format!("its log ends with:\n{}", self.host.log_tail(40)))
    }

    /// The seal token in the agent's state.
    fn state_seal(&self) -> anyhow::Result<SealTokenId> {
        let state = self.host.state().context("no agent state")?;
        state["seal_token"]
            .as_str()
            .context("no seal token in the agent's state")?
            .parse()
            .context("the state's seal token")
    }
}

impl Drop for Worker {
    /// Stops a running agent with SIGTERM and waits for it, so that it
    /// stops its node runtime: `kill_on_drop`'s SIGKILL would leave the
    /// runtime running after the test (on success and on a failed step).
    fn drop(&mut self) {
        let Some(mut child) = self.agent.take() else {
            return;
        };
        let Some(pid) = child.id() else {
            return;
        };
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let deadline = Instant::now() + SHORT;
        while Instant::now() < deadline && !matches!(child.try_wait(), Ok(Some(_))) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The Node object, if any.
async fn node(nodes: &Api<Node>, name: &str) -> anyhow::Result<Option<Node>> {
    Ok(nodes.get_opt(name).await?)
}

/// Waits until Node `name` is Ready and bound to `seal` by its label.
async fn ready_and_bound(nodes: &Api<Node>, name: &str, seal: SealTokenId) -> anyhow::Result<()> {
    let hex = seal.to_string();
    let hex = hex.trim_start_matches("0x").to_owned();
    eventually(&format!("Node {name} Ready"), READY, || async {
        Ok(node(nodes, name).await?.filter(node_ready))
    })
    .await?;
    let found = node(nodes, name).await?.context("the Node vanished")?;
    let label = found
        .metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get(NODE_SEAL_TOKEN_LABEL))
        .with_context(|| format!("Node {name} has no {NODE_SEAL_TOKEN_LABEL}"))?;
    ensure!(
        !label.is_empty() && hex.starts_with(label.as_str()),
        "Node {name} is labelled {label}, not with seal token {seal}"
    );
    Ok(())
}

/// `curl` as the seed runs it, over TLS 1.3 and pinned to `spki_sha256`
/// (the attested or relayed key: no CA is trusted, like the product's
/// clients). The bearer goes through a 0600 header file, never argv.
struct Curl {
    dir: tempfile::TempDir,
}

/// What `curl` got.
struct Answer {
    status: u16,
    headers: String,
    body: String,
}

impl Answer {
    fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_str(&self.body).with_context(|| format!("not JSON: {}", self.body))
    }

    /// A response header's value (the last one of that name).
    fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().rev().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }
}

impl Curl {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            dir: tempfile::tempdir()?,
        })
    }

    async fn call(
        &self,
        method: &str,
        url: &str,
        spki_sha256: [u8; 32],
        bearer: Option<&str>,
    ) -> anyhow::Result<Answer> {
        self.send(method, url, spki_sha256, bearer, None).await
    }

    /// [`Self::call`] with a JSON body.
    async fn send(
        &self,
        method: &str,
        url: &str,
        spki_sha256: [u8; 32],
        bearer: Option<&str>,
        json: Option<&str>,
    ) -> anyhow::Result<Answer> {
        let headers = self.dir.path().join("request-headers");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&headers)?;
        if let Some(token) = bearer {
            writeln!(file, "Authorization: Bearer {token}")?;
        }
        if json.is_some() {
            writeln!(file, "Content-Type: application/json")?;
        }
        drop(file);
        let dump = self.dir.path().join("response-headers");
        let output = Command::new("curl")
            .args(["-sS", "--tlsv1.3", "--insecure", "--max-time", "30"])
            .arg("--pinnedpubkey")
            .arg(format!("sha256//{}", BASE64.encode(spki_sha256)))
            .arg("-X")
            .arg(method)
            .arg("-H")
            .arg(format!("@{}", headers.display()))
            .arg("-D")
            .arg(&dump)
            .args(["-o", "-", "-w", "\n%{http_code}"])
            .args(json.map(|body| ["--data-raw", body]).into_iter().flatten())
            .arg(url)
            .stdin(Stdio::null())
            .output()
            .await
            .context("running curl")?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        ensure!(
            output.status.success(),
            "curl {method} {url}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let (body, status) = text.rsplit_once('\n').context("curl printed no status")?;
        Ok(Answer {
            status: status.trim().parse().context("curl's status")?,
            headers: std::fs::read_to_string(&dump).unwrap_or_default(),
            body: body.to_owned(),
        })
    }
}

/// The master's attested TLS key (SHA-256 of its SPKI).
async fn master_key(stack: &Stack) -> anyhow::Result<[u8; 32]> {
    Ok(stack.master.client()?.master().await?.tls_spki_sha256())
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_seed_flow_end_to_end() {
    let operator_key = Ed25519PrivateKey::new([OPERATOR_SEED; 32]);
    let gas_dir = tempfile::tempdir().unwrap();
    let gas = Keypair::from_bytes(Scheme::Ed25519, &[GAS_SEED; 32]).unwrap();
    let gas_file = gas_dir.path().join("gas.key");
    daas_core::private_file::write_atomic(&gas_file, gas.to_suiprivkey().as_bytes()).unwrap();
    let mut stack = Stack::start(StackOptions {
        devnet: DevnetOptions {
            admin: Some(operator_key.address()),
            ..DevnetOptions::default()
        },
        master_config: format!(
            "nodes:\n  drain_timeout_secs: 20\naudit:\n  checkpoint_events: 50\n  \
             checkpoint_interval_ms: 500\n  gas_key_file: \"{}\"\n",
            gas_file.display()
        ),
        audit: true,
        ..StackOptions::default()
    })
    .await
    .unwrap();
    let operator = Console::new(&stack, OPERATOR_SEED).await.unwrap();
    register_enclave(&mut stack, &operator, &operator_key, &gas).await;
    let master = MasterClient::new(stack.master.client().unwrap());
    let nodes: Api<Node> = Api::all(stack.cluster.client().await.unwrap());
    let curl = Curl::new().unwrap();
    let suffix = unique_suffix();

    let mut a = Worker::new(&stack, &format!("seed-a-{suffix}"))
        .await
        .unwrap();
    let seal_a = registration(&stack, &master, &nodes, &mut a).await;
    let user = Console::new(&stack, USER_SEED).await.unwrap();
    let (operator_seal, user_seal) = staking(&stack, &master, &operator, &user).await;
    let opaque = authentication(&stack, &curl, &operator, &user, &a, operator_seal).await;
    metrics(&stack, &curl, &operator, &a, operator_seal).await;
    troubleshooting(&stack, &curl, &operator, &a, seal_a).await;
    faq(&stack, &curl, &user, user_seal, &opaque).await;
    let mut b = Worker::new(&stack, &format!("seed-b-{suffix}"))
        .await
        .unwrap();
    rolling_update(&stack, &nodes, &operator, &user, &mut a, &mut b).await;
    unstake_and_slashing(
        &stack,
        &nodes,
        &curl,
        &operator,
        &user,
        [&mut a, &mut b],
        [seal_a, operator_seal],
    )
    .await;
}

/// Set-up as the operator does it on a new deployment: the chain learns
/// the dev attestation root (on Sui, AWS's root is built in), the operator
/// (the package's admin) makes an `EnclaveConfig` with the master's PCRs
/// and registers the attested master's key with the console, so the
/// master can anchor signed audit checkpoints (flow 2's audit log).
async fn register_enclave(
    stack: &mut Stack,
    operator: &Console,
    operator_key: &Ed25519PrivateKey,
    gas: &Keypair,
) {
    step(
        "0.1 the operator registers the attested master's key on chain",
        async {
            stack.devnet.fund(gas.address()).await?;
            let config = enclave::trusted_config(stack, operator_key)
                .await?
                .to_string();
            operator.json(&["enclave", "register", "--config", &config, "--yes"])?;
            Ok(())
        },
    )
    .await;
}

/// Flow 1: the 9-step node registration.
async fn registration(
    stack: &Stack,
    master: &MasterClient,
    nodes: &Api<Node>,
    a: &mut Worker,
) -> SealTokenId {
    a.start(&[]).unwrap();
    step(
        "1.7 the agent verifies the master's TEE attestation before it stakes or signs",
        async {
            a.logged(0, "the master's attestation is verified", SHORT)
                .await?;
            a.logged(0, "staking for the node", SHORT).await?;
            let log = a.host.log_since(0);
            let attested = log.find("the master's attestation is verified");
            let staking = log.find("staking for the node");
            ensure!(attested < staking, "staked before attesting:\n{log}");
            Ok(())
        },
    )
    .await;
    let seal = step(
        "1.1-1.3 stake SUI: a SealToken is minted on chain and returned to the worker's wallet",
        async {
            a.logged(0, "staked", SHORT).await?;
            let chain = stack.devnet.client()?;
            let record = eventually("the worker's seal token on chain", SHORT, || async {
                let seal = a
                    .host
                    .state()
                    .and_then(|s| s["seal_token"].as_str().map(str::to_owned));
                let Some(seal) = seal else { return Ok(None) };
                let seal: SealTokenId = seal.parse()?;
                Ok(chain.stake_record(seal).await?.map(|record| (seal, record)))
            })
            .await?;
            let (seal, record) = record;
            ensure!(record.stake.get() >= 5_000_000_000, "{record:?}");
            Ok(seal)
        },
    )
    .await;
    step(
        "1.4 register with the seal token: POST /api/v1/register-worker",
        async { a.logged(0, "registered; join token accepted", READY).await },
    )
    .await;
    step(
        "1.5-1.6 the master verified the seal token on chain",
        async {
            let status = master
                .staking_status(&StatusQuery::Node(a.node.clone()))
                .await?;
            let token = status
                .seal_tokens
                .first()
                .with_context(|| format!("the master knows no seal token for {}", a.node))?;
            ensure!(token.seal_token == seal.to_string(), "{status:?}");
            ensure!(
                token.admitted_node.as_deref() == Some(a.node.as_str()),
                "{status:?}"
            );
            ensure!(token.role == "worker", "{status:?}");
            Ok(())
        },
    )
    .await;
    step(
        "1.8-1.9 the node joins K3s: a real kubelet Node Ready, bound to its seal token",
        ready_and_bound(nodes, &a.node, seal),
    )
    .await;
    seal
}

/// Flow 3: staking and token issuance, and `GET /kubectl/config`.
async fn staking(
    stack: &Stack,
    master: &MasterClient,
    operator: &Console,
    user: &Console,
) -> (SealTokenId, SealTokenId) {
    let user_seal = step(
        "3.1 a user stakes 5 SUI with daas-console: a seal token of the admin tier",
        async {
            let receipt = user.json(&["stake", "--tier", "admin"])?;
            ensure!(receipt["tier"] == "admin", "{receipt}");
            seal_of(&receipt)
        },
    )
    .await;
    let operator_seal = step("3.2 the operator stakes 10 SUI: the super tier", async {
        let receipt = operator.json(&["stake", "--tier", "super"])?;
        ensure!(receipt["tier"] == "super", "{receipt}");
        seal_of(&receipt)
    })
    .await;
    step(
        "3.3 the seal token is stored on chain, owned by the user",
        async {
            let status = user.json(&["stake", "status"])?;
            let tokens = status["tokens"].as_array().context("no tokens")?;
            ensure!(tokens.len() == 1, "{status}");
            ensure!(seal_of(&tokens[0])? == user_seal, "{status}");
            ensure!(tokens[0]["state"]["state"] == "active", "{status}");
            ensure!(status["owner"] == user.address().to_string(), "{status}");
            Ok(())
        },
    )
    .await;
    step(
        "3.4 GET /kubectl/config: the kubeconfig for the seal token, written by the console",
        async {
            let yaml = master.kubectl_config(user_seal).await?;
            ensure!(yaml.contains(stack.cluster.server()), "{yaml}");
            ensure!(yaml.contains("certificate-authority-data"), "{yaml}");
            for console in [user, operator] {
                let seal = if std::ptr::eq(console, user) {
                    user_seal
                } else {
                    operator_seal
                };
                let path = console.machine.kubeconfig().display().to_string();
                let seal = seal.to_string();
                console.run(&[
                    "kubeconfig",
                    "--seal-token",
                    &seal,
                    "--kubeconfig",
                    &path,
                    "--name",
                    "seed",
                ])?;
                let written = std::fs::read_to_string(&path)?;
                ensure!(written.contains(stack.cluster.server()), "{written}");
                ensure!(written.contains("credential"), "{written}");
            }
            Ok(())
        },
    )
    .await;
    (operator_seal, user_seal)
}

/// Flow 2: API request authentication. Returns the user's opaque token.
async fn authentication(
    stack: &Stack,
    curl: &Curl,
    operator: &Console,
    user: &Console,
    a: &Worker,
    operator_seal: SealTokenId,
) -> String {
    step(
        "2.1 kubectl with the credential plugin: the super operator lists the nodes",
        async {
            let output = operator.kubectl(stack, &["get", "nodes", "-o", "name"])?;
            ensure!(output.status.success(), "{}", stderr(&output));
            ensure!(stdout(&output).contains(&a.node), "{}", stdout(&output));
            Ok(())
        },
    )
    .await;
    step(
        "2.2 permission check by stake: the admin user reads pods but not nodes",
        async {
            let output = user.kubectl(stack, &["get", "pods", "--all-namespaces"])?;
            ensure!(output.status.success(), "{}", stderr(&output));
            let output = user.kubectl(stack, &["get", "nodes"])?;
            ensure!(!output.status.success(), "an admin listed nodes");
            ensure!(
                stderr(&output).contains("nodes-and-csrs"),
                "{}",
                stderr(&output)
            );
            Ok(())
        },
    )
    .await;
    let key = master_key(stack).await.unwrap();
    let operator_token = step(
        "2.3 POST /api/v1/seal-tokens: daas-console seal-token issue, against a wallet-signed proof",
        async {
            let issued = operator.json(&["seal-token", "issue"])?;
            ensure!(issued["seal_token_id"] == operator_seal.to_string(), "{issued}");
            ensure!(issued["owner"] == operator.address().to_string(), "{issued}");
            issued["seal_token"]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("no token in {issued}"))
        },
    )
    .await;
    let nodes_url = format!("{}/api/v1/nodes", stack.master.url());
    let audit_id = step(
        "2.4 curl -H \"Authorization: Bearer $SEAL_TOKEN\" https://master/api/v1/nodes",
        async {
            let answer = curl
                .call("GET", &nodes_url, key, Some(&operator_token))
                .await?;
            ensure!(answer.status == 200, "{}: {}", answer.status, answer.body);
            let list = answer.json()?;
            ensure!(list["kind"] == "NodeList", "{list}");
            let names: Vec<&str> = list["items"]
                .as_array()
                .context("no items")?
                .iter()
                .filter_map(|n| n["metadata"]["name"].as_str())
                .collect();
            ensure!(names.contains(&a.node.as_str()), "{names:?}");
            answer
                .header("Audit-Id")
                .context("the API server's Audit-Id did not come back")
        },
    )
    .await;
    let user_token = step(
        "2.5 stake-level RBAC through the master: an admin's opaque token is refused nodes",
        async {
            // As the seed exports it: `SEAL_TOKEN=$(daas-console seal-token issue)`.
            let token = user.run(&["seal-token", "issue"])?.trim().to_owned();
            let answer = curl.call("GET", &nodes_url, key, Some(&token)).await?;
            ensure!(answer.status == 403, "{}: {}", answer.status, answer.body);
            ensure!(answer.body.contains("nodes-and-csrs"), "{}", answer.body);
            let pods = format!("{}/api/v1/namespaces/default/pods", stack.master.url());
            let answer = curl.call("GET", &pods, key, Some(&token)).await?;
            ensure!(answer.status == 200, "{}: {}", answer.status, answer.body);
            Ok(token)
        },
    )
    .await;
    step(
        "2.6 fail closed: no token, a made-up token and a daas1 token of nobody get 401",
        async {
            for bearer in [
                None,
                Some("ab".repeat(32)),
                Some("daas1.e30.AAAA".to_owned()),
            ] {
                let answer = curl.call("GET", &nodes_url, key, bearer.as_deref()).await?;
                ensure!(
                    answer.status == 401,
                    "{bearer:?}: {} {}",
                    answer.status,
                    answer.body
                );
            }
            Ok(())
        },
    )
    .await;
    step(
        "2.7 kubectl --token=$SEAL_TOKEN: the opaque token straight to the API server",
        async {
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("kubeconfig");
            write_private(&path, &stack.cluster.kubeconfig_for_token(&user_token))?;
            let output = std::process::Command::new(&stack.cluster.binaries().kubectl)
                .arg("--kubeconfig")
                .arg(&path)
                .args(["get", "pods", "--all-namespaces", "-o", "name"])
                .env_remove("KUBECONFIG")
                .output()?;
            ensure!(output.status.success(), "{}", stderr(&output));
            Ok(())
        },
    )
    .await;
    step(
        "2.8 response with audit log: the curl request is in the signed, anchored audit log",
        async {
            let id = audit_id.clone();
            let verified = eventually("the audit event verified", SHORT, || async {
                operator.json(&["audit", "verify", &id]).map(Some)
            })
            .await?;
            ensure!(verified.to_string().contains(&audit_id), "{verified}");
            // An ID the log does not hold (yet) says why it may come.
            let unknown = operator.run(&["audit", "verify", "no-such-audit-id"]);
            ensure!(
                unknown
                    .as_ref()
                    .is_err_and(|e| format!("{e:#}").contains("may still be on its way")),
                "{unknown:?}"
            );
            Ok(())
        },
    )
    .await;
    step(
        "2.9 the master documents every endpoint of these flows in /openapi.json",
        async {
            let url = format!("{}/openapi.json", stack.master.url());
            let answer = curl.call("GET", &url, key, None).await?;
            ensure!(answer.status == 200, "{}: {}", answer.status, answer.body);
            let paths = &answer.json()?["paths"];
            for path in [
                "/api/{path}",
                "/api/v1/seal-tokens",
                "/kubectl/config",
                "/api/v1/register-worker",
                "/api/v1/staking/status",
                "/api/v1/attestation",
                "/metrics",
            ] {
                ensure!(!paths[path].is_null(), "{path} is not documented");
            }
            Ok(())
        },
    )
    .await;
    user_token
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// Flow 4: metrics collection.
async fn metrics(
    stack: &Stack,
    curl: &Curl,
    operator: &Console,
    a: &Worker,
    operator_seal: SealTokenId,
) {
    let owner = Console::with_key(stack, a.host.key()).unwrap();
    let endpoint = step(
        "4.1 GET /api/v1/metrics on the worker: its owner's console, pinned to the relayed key",
        async {
            let view = owner.json(&["nodes", "metrics", &a.node])?;
            ensure!(view["node"] == a.node.as_str(), "{view}");
            let metrics = &view["metrics"];
            ensure!(metrics["memory_usage"].as_f64() > Some(0.0), "{view}");
            ensure!(metrics["timestamp"].as_u64() > Some(0), "{view}");
            for field in [
                "cpu_usage",
                "pod_count",
                "container_count",
                "network_rx",
                "network_tx",
            ] {
                ensure!(!metrics[field].is_null(), "no {field}: {view}");
            }
            let url = view["agent_api"]["url"]
                .as_str()
                .context("no url")?
                .to_owned();
            let key: [u8; 32] = hex::decode(
                view["agent_api"]["tls_spki_sha256"]
                    .as_str()
                    .context("no key")?,
            )?
            .try_into()
            .map_err(|_| anyhow::anyhow!("the relayed key is not 32 bytes"))?;
            Ok((url, key))
        },
    )
    .await;
    step(
        "4.2 Prometheus GET /metrics on the worker (curl pinned to the agent's key)",
        async {
            let (url, key) = &endpoint;
            let answer = curl
                .call("GET", &format!("{url}/metrics"), *key, None)
                .await?;
            ensure!(answer.status == 200, "{}: {}", answer.status, answer.body);
            ensure!(answer.body.contains("# TYPE"), "{}", answer.body);
            Ok(())
        },
    )
    .await;
    step(
        "4.3 the master's node health: heartbeats and metrics of every node",
        async {
            let list = operator.json(&["nodes", "list"])?;
            let row = list["nodes"]
                .as_array()
                .context("no nodes")?
                .iter()
                .find(|row| row["name"] == a.node.as_str())
                .with_context(|| format!("{} not listed: {list}", a.node))?
                .clone();
            ensure!(
                row["in_master"] == true && row["in_cluster"] == true,
                "{row}"
            );
            ensure!(row["heartbeat_age_secs"].as_u64() <= Some(10), "{row}");
            ensure!(row["memory"].as_f64() > Some(0.0), "{row}");
            let key = master_key(stack).await?;
            let answer = curl
                .call("GET", &format!("{}/metrics", stack.master.url()), key, None)
                .await?;
            ensure!(answer.status == 200, "{}: {}", answer.status, answer.body);
            ensure!(answer.body.contains("# TYPE"), "{}", answer.body);
            Ok(())
        },
    )
    .await;
    step(
        "4.4 listed publicly, owners are blank; by default as the wallet's widest-viewing seal token (the super tier's), every node's owner and seal token; as a named seal token with --stake, its stake too",
        async {
            let row = |list: &serde_json::Value| {
                list["nodes"]
                    .as_array()
                    .and_then(|rows| rows.iter().find(|row| row["name"] == a.node.as_str()))
                    .cloned()
                    .with_context(|| format!("{} not listed: {list}", a.node))
            };
            let public = operator.json(&["nodes", "list", "--public"])?;
            ensure!(public["master_view"] == "public", "{public}");
            ensure!(row(&public)?["owner"].is_null(), "{public}");
            let default = operator.json(&["nodes", "list"])?;
            ensure!(default["master_view"] == "operator", "{default}");
            ensure!(row(&default)?["owner"] == owner.address().to_string(), "{default}");
            let seal = operator_seal.to_string();
            let signed = operator.json(&["nodes", "list", "--stake", "--seal-token", &seal])?;
            ensure!(signed["master_view"] == "operator", "{signed}");
            let signed_row = row(&signed)?;
            ensure!(
                signed_row["owner"] == owner.address().to_string()
                    && signed_row["seal_token"].is_string()
                    && !signed_row["stake"].is_null(),
                "{signed_row}"
            );
            Ok(())
        },
    )
    .await;
    step(
        "4.5 the super tier's operator reads the worker's agent metrics, its own seal token signing by default",
        async {
            let view = operator.json(&["nodes", "metrics", &a.node])?;
            ensure!(view["metrics"]["memory_usage"].as_f64() > Some(0.0), "{view}");
            ensure!(view["agent_api"]["url"] == endpoint.0.as_str(), "{view}");
            Ok(())
        },
    )
    .await;
}

/// Flow 5: troubleshooting a node that does not join.
async fn troubleshooting(
    stack: &Stack,
    curl: &Curl,
    operator: &Console,
    a: &Worker,
    seal_a: SealTokenId,
) {
    step("5.1 check the seal token on chain", async {
        let owner = a.host.address().to_string();
        let status = operator.json(&["stake", "status", "--owner", &owner])?;
        let token = status["tokens"]
            .as_array()
            .and_then(|tokens| tokens.first())
            .with_context(|| format!("no token: {status}"))?;
        ensure!(seal_of(token)? == seal_a, "{status}");
        ensure!(token["node"] == a.node.as_str(), "{status}");
        ensure!(token["role"] == "worker", "{status}");
        ensure!(token["state"]["state"] == "active", "{status}");
        Ok(())
    })
    .await;
    let key = master_key(stack).await.unwrap();
    step("5.2 curl https://master/api/v1/staking/status", async {
        let url = format!(
            "{}/api/v1/staking/status?node={}",
            stack.master.url(),
            a.node
        );
        let answer = curl.call("GET", &url, key, None).await?;
        ensure!(answer.status == 200, "{}: {}", answer.status, answer.body);
        let status = answer.json()?;
        let token = &status["seal_tokens"][0];
        ensure!(token["seal_token"] == seal_a.to_string(), "{status}");
        ensure!(token["admitted_node"] == a.node.as_str(), "{status}");
        ensure!(token["status"]["state"] == "active", "{status}");
        let answer = curl
            .call(
                "GET",
                &format!("{}/api/v1/staking/status", stack.master.url()),
                key,
                None,
            )
            .await?;
        ensure!(
            answer.status == 400,
            "no query: {} {}",
            answer.status,
            answer.body
        );
        Ok(())
    })
    .await;
    step(
        "5.3 POST /api/v1/attestation: curl with a fresh nonce, then the console verifies it",
        async {
            let url = format!("{}/api/v1/attestation", stack.master.url());
            let nonce = format!(
                r#"{{"nonce":"{}"}}"#,
                hex::encode(rand::random::<[u8; 32]>())
            );
            let answer = curl.send("POST", &url, key, None, Some(&nonce)).await?;
            ensure!(answer.status == 200, "{}: {}", answer.status, answer.body);
            let document = answer.json()?;
            for field in [
                "enclave_id",
                "measurement",
                "signature",
                "certificate",
                "tee_type",
            ] {
                ensure!(!document[field].is_null(), "no {field}: {document}");
            }
            let verified = operator.json(&["attest", stack.master.url()])?;
            ensure!(verified["insecure_dev"] == true, "{verified}");
            ensure!(
                verified["tee_type"] == document["tee_type"],
                "{verified} vs {document}"
            );
            Ok(())
        },
    )
    .await;
    step("5.4 the agent's log names every stage", async {
        let log = a.host.log_since(0);
        for stage in [
            "the master's attestation is verified",
            "staked",
            "registered; join token accepted",
            "local API serving",
        ] {
            ensure!(log.contains(stage), "no {stage:?} in:\n{log}");
        }
        Ok(())
    })
    .await;
}

/// Flow 8: the FAQ "seal token is not recognized".
async fn faq(stack: &Stack, curl: &Curl, user: &Console, user_seal: SealTokenId, opaque: &str) {
    let key = master_key(stack).await.unwrap();
    step(
        "8.1 token format: 64 hex digits; a malformed one is refused",
        async {
            ensure!(opaque.len() == 64, "{} characters", opaque.len());
            ensure!(opaque.bytes().all(|b| b.is_ascii_hexdigit()), "not hex");
            let url = format!("{}/api/v1/namespaces/default/pods", stack.master.url());
            let good = curl.call("GET", &url, key, Some(opaque)).await?;
            ensure!(good.status == 200, "{}: {}", good.status, good.body);
            for bad in [&opaque[..63], &format!("{}g", &opaque[..63])] {
                let answer = curl.call("GET", &url, key, Some(bad)).await?;
                ensure!(
                    answer.status == 401,
                    "{bad}: {} {}",
                    answer.status,
                    answer.body
                );
            }
            Ok(())
        },
    )
    .await;
    let before = step("8.2 look the token up on chain", async {
        let status = user.json(&["stake", "status"])?;
        let token = &status["tokens"][0];
        ensure!(seal_of(token)? == user_seal, "{status}");
        ensure!(token["state"]["state"] == "active", "{status}");
        token["expires_at_ms"].as_u64().context("no expiry")
    })
    .await;
    step(
        "8.3 reissue: refresh extends the seal token's expiry",
        async {
            // The devnet's clock moves with transactions: a day passes first.
            stack.devnet.advance_clock(24 * 3600 * 1000).await?;
            stack.devnet.fund(Address::new([9; 32])).await?;
            let seal = user_seal.to_string();
            let receipt = user.json(&["stake", "refresh", "--seal-token", &seal])?;
            ensure!(seal_of(&receipt)? == user_seal, "{receipt}");
            let after = receipt["until_ms"].as_u64().context("no new expiry")?;
            ensure!(after > before, "{after} <= {before}");
            let status = user.json(&["stake", "status"])?;
            ensure!(
                status["tokens"][0]["expires_at_ms"].as_u64() == Some(after),
                "{status}"
            );
            Ok(())
        },
    )
    .await;
}

/// The workload of the rolling update: two busybox `httpd` replicas
/// spread over the schedulable nodes (a cordoned node is no domain, so a
/// drained node's replica moves to the other), an HTTP readiness probe
/// every second, and a PodDisruptionBudget keeping one. The probe forgives
/// two slow answers: on a loaded machine a replica that flapped to not
/// ready could be evicted at once (the budget's default policy lets an
/// unready pod go while the budget it last saw was healthy), and the
/// rolling update would be blamed for the probe.
fn workload(image: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: seed-web, namespace: default}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: seed-web}}}}
  template:
    metadata: {{labels: {{app: seed-web}}}}
    spec:
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 1
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
        runAsGroup: 1000
        seccompProfile: {{type: RuntimeDefault}}
      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: kubernetes.io/hostname
        whenUnsatisfiable: DoNotSchedule
        nodeTaintsPolicy: Honor
        labelSelector: {{matchLabels: {{app: seed-web}}}}
      volumes: [{{name: www, emptyDir: {{}}}}]
      containers:
      - name: web
        image: {image}
        imagePullPolicy: Never
        command: [sh, -c, "echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"]
        volumeMounts: [{{name: www, mountPath: /www}}]
        readinessProbe:
          httpGet: {{path: /index.html, port: 8080}}
          periodSeconds: 1
          timeoutSeconds: 3
          failureThreshold: 3
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {{drop: [ALL]}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: seed-web, namespace: default}}
spec:
  minAvailable: 1
  selector: {{matchLabels: {{app: seed-web}}}}
"#
    )
}

/// Replicas of the workload that are Ready and not terminating, by node.
async fn serving(pods: &Api<Pod>) -> anyhow::Result<Vec<String>> {
    Ok(replicas(pods)
        .await?
        .into_iter()
        .filter(Replica::serving)
        .map(|r| r.node)
        .collect())
}

/// One replica of the workload as the API server shows it.
#[derive(Debug, PartialEq)]
struct Replica {
    name: String,
    node: String,
    ready: bool,
    terminating: bool,
    /// Why a replica that is not ready is not: the scheduler's or the
    /// kubelet's word.
    waiting: Option<String>,
}

impl Replica {
    fn serving(&self) -> bool {
        self.ready && !self.terminating
    }
}

impl std::fmt::Display for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let node = if self.node.is_empty() {
            "(unscheduled)"
        } else {
            &self.node
        };
        let ready = if self.ready { "ready" } else { "not ready" };
        let ending = if self.terminating {
            ", terminating"
        } else {
            ""
        };
        write!(f, "{} on {node}: {ready}{ending}", self.name)?;
        match &self.waiting {
            Some(why) => write!(f, " ({why})"),
            None => Ok(()),
        }
    }
}

/// The first reason the pod gives for not serving: the kubelet's (a pod it
/// failed, as node-pressure eviction does), an unmet scheduling condition,
/// a container waiting or terminated, or the Ready condition's.
fn waiting_reason(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    if let Some(reason) = &status.reason {
        return Some(format!(
            "{reason}: {}",
            status.message.as_deref().unwrap_or_default()
        ));
    }
    let conditions = status.conditions.as_deref().unwrap_or_default();
    let unmet = |kind: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == kind && c.status != "True")
            .map(|c| {
                let reason = c.reason.as_deref().unwrap_or(kind);
                format!("{reason}: {}", c.message.as_deref().unwrap_or_default())
            })
    };
    let container = || {
        status
            .container_statuses
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find_map(|c| {
                let state = c.state.as_ref()?;
                if let Some(w) = &state.waiting {
                    let reason = w.reason.as_deref().unwrap_or("waiting");
                    return Some(format!(
                        "{reason}: {}",
                        w.message.as_deref().unwrap_or_default()
                    ));
                }
                let t = state.terminated.as_ref()?;
                let reason = t.reason.as_deref().unwrap_or("terminated");
                Some(format!("{reason}, exit {}", t.exit_code))
            })
    };
    unmet("PodScheduled")
        .or_else(container)
        .or_else(|| unmet("Ready"))
}

async fn replicas(pods: &Api<Pod>) -> anyhow::Result<Vec<Replica>> {
    let list = pods
        .list(&ListParams::default().labels("app=seed-web"))
        .await?;
    let mut replicas: Vec<Replica> = list
        .items
        .into_iter()
        .map(|pod| {
            let ready = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            Replica {
                waiting: if ready { None } else { waiting_reason(&pod) },
                name: pod.metadata.name.unwrap_or_default(),
                terminating: pod.metadata.deletion_timestamp.is_some(),
                ready,
                node: pod.spec.and_then(|s| s.node_name).unwrap_or_default(),
            }
        })
        .collect();
    replicas.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(replicas)
}

/// Every Node in a word: its name, readiness, and what keeps pods off it
/// (cordon, taints, the kubelet's pressure conditions).
async fn node_states(nodes: &Api<Node>) -> anyhow::Result<Vec<String>> {
    let list = nodes.list(&ListParams::default()).await?;
    let mut states: Vec<String> = list
        .items
        .into_iter()
        .map(|node| {
            let mut words = Vec::new();
            let status = node.status.unwrap_or_default();
            for condition in status.conditions.unwrap_or_default() {
                match (condition.type_.as_str(), condition.status.as_str()) {
                    ("Ready", "True") => words.push("ready".to_owned()),
                    ("Ready", other) => words.push(format!("ready {other}")),
                    (kind, "True") => words.push(kind.to_owned()),
                    _ => {}
                }
            }
            let spec = node.spec.unwrap_or_default();
            if spec.unschedulable == Some(true) {
                words.push("cordoned".to_owned());
            }
            for taint in spec.taints.unwrap_or_default() {
                let key = taint.key.trim_start_matches("node.kubernetes.io/");
                words.push(format!("taint {key}:{}", taint.effect));
            }
            let name = node.metadata.name.unwrap_or_default();
            format!("{name}: {}", words.join(", "))
        })
        .collect();
    states.sort();
    Ok(states)
}

/// Samples the workload and the Nodes every 200 ms until stopped, keeping
/// every change of their states, so that a failure shows how it came about.
struct Prober {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<anyhow::Result<Probed>>,
}

/// What a [`Prober`] saw.
struct Probed {
    samples: usize,
    fewest: usize,
    timeline: Vec<String>,
}

impl Probed {
    /// Prints the timeline under the step.
    fn print_timeline(&self) {
        for change in &self.timeline {
            eprintln!("    {change}");
        }
    }
}

impl Prober {
    fn start(pods: Api<Pod>, nodes: Api<Node>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let stop = stop.clone();
            async move {
                let started = Instant::now();
                let mut probed = Probed {
                    samples: 0,
                    fewest: usize::MAX,
                    timeline: Vec::new(),
                };
                let mut last = (Vec::new(), Vec::new());
                while !stop.load(Ordering::SeqCst) {
                    let now = (replicas(&pods).await?, node_states(&nodes).await?);
                    let count = now.0.iter().filter(|r| r.serving()).count();
                    probed.fewest = probed.fewest.min(count);
                    probed.samples += 1;
                    if now != last {
                        let states: Vec<String> = now.0.iter().map(ToString::to_string).collect();
                        probed.timeline.push(format!(
                            "{:>6} ms, {count} serving: {}; nodes: {}",
                            started.elapsed().as_millis(),
                            states.join("; "),
                            now.1.join("; ")
                        ));
                        last = now;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Ok(probed)
            }
        });
        Self { stop, task }
    }

    async fn finish(self) -> anyhow::Result<Probed> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await?
    }
}

/// Flow 7: the zero-downtime worker rolling update.
async fn rolling_update(
    stack: &Stack,
    nodes: &Api<Node>,
    operator: &Console,
    user: &Console,
    a: &mut Worker,
    b: &mut Worker,
) {
    b.start(&[]).unwrap();
    step("7.1 a second worker joins: its Node Ready", async {
        b.logged(0, "registered; join token accepted", READY)
            .await?;
        let seal = b.state_seal()?;
        ready_and_bound(nodes, &b.node, seal).await
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(stack.cluster.client().await.unwrap(), "default");
    step(
        "7.2 a workload: two HTTP replicas, one per node, and a PodDisruptionBudget (kubectl as the admin user)",
        async {
            let binaries = NodeBinaries::locate()?;
            let image = image_reference(&binaries.busybox_image).await?;
            let dir = tempfile::tempdir()?;
            let manifest = dir.path().join("workload.yaml");
            std::fs::write(&manifest, workload(&image))?;
            let path = manifest.display().to_string();
            let output = user.kubectl(stack, &["apply", "-f", &path])?;
            ensure!(output.status.success(), "{}", stderr(&output));
            eventually("both replicas serving on both nodes", READY, || async {
                let mut on = serving(&pods).await?;
                on.sort();
                on.dedup();
                Ok((on.len() == 2).then_some(()))
            })
            .await
        },
    )
    .await;
    let prober = Prober::start(pods.clone(), nodes.clone());
    for worker in [a, b] {
        upgrade(stack, nodes, operator, &pods, worker).await;
    }
    step(
        "7.6 the workload stayed available throughout the update",
        async {
            let probed = prober.finish().await?;
            let (samples, fewest) = (probed.samples, probed.fewest);
            eprintln!("  {samples} samples, fewest replicas serving: {fewest}");
            probed.print_timeline();
            ensure!(samples >= 20, "only {samples} samples");
            ensure!(fewest >= 1, "at some sample no replica was serving");
            Ok(())
        },
    )
    .await;
}

/// Drain, upgrade the agent (a new configuration, the same identity),
/// uncordon: one worker of the rolling update.
async fn upgrade(
    stack: &Stack,
    nodes: &Api<Node>,
    operator: &Console,
    pods: &Api<Pod>,
    worker: &mut Worker,
) {
    let name = worker.node.clone();
    let seal = worker.state_seal().unwrap();
    step(
        &format!("7.3 drain {name} (PodDisruptionBudgets respected)"),
        async {
            let report = operator.json(&[
                "nodes",
                "drain",
                &name,
                "--ignore-daemonsets",
                "--delete-emptydir-data",
                "--drain-timeout",
                "180",
            ])?;
            ensure!(report["node"] == name.as_str(), "{report}");
            let on = serving(pods).await?;
            ensure!(!on.contains(&name), "still serving on {name}: {on:?}");
            ensure!(!on.is_empty(), "nothing serving after the drain");
            Ok(())
        },
    )
    .await;
    step(
        &format!(
            "7.4 upgrade {name}'s agent: stop, new configuration, start; same wallet and seal token"
        ),
        async {
            let code = worker.stop().await?;
            ensure!(
                code == Some(EXIT_STOPPED),
                "stopped with {code:?}: {}",
                worker.host.log_tail(20)
            );
            let config = std::fs::read_to_string(worker.host.config_path())?;
            let upgraded = config.replace("heartbeat_secs: 1", "heartbeat_secs: 2");
            ensure!(upgraded != config, "the configuration did not change");
            worker.host.write_config(&upgraded)?;
            let from = worker.host.log_len();
            worker.start(&[])?;
            worker
                .logged(from, "registered; join token accepted", READY)
                .await?;
            ensure!(
                !worker.host.log_since(from).contains("staking for the node"),
                "staked again"
            );
            ensure!(worker.state_seal()? == seal, "another seal token");
            let chain = stack.devnet.client()?;
            let record = chain
                .stake_record(seal)
                .await?
                .context("the stake is gone")?;
            ensure!(record.stake.get() >= 5_000_000_000, "{record:?}");
            ready_and_bound(nodes, &name, seal).await
        },
    )
    .await;
    step(&format!("7.5 uncordon {name}"), async {
        operator.run(&["nodes", "uncordon", &name])?;
        let found = node(nodes, &name).await?.context("no Node")?;
        let cordoned = found.spec.and_then(|s| s.unschedulable).unwrap_or(false);
        ensure!(!cordoned, "{name} is still cordoned");
        eventually("two replicas serving again", READY, || async {
            Ok((serving(pods).await?.len() == 2).then_some(()))
        })
        .await
    })
    .await;
}

/// Flow 6: unstake, and slashing recovery.
async fn unstake_and_slashing(
    stack: &Stack,
    nodes: &Api<Node>,
    curl: &Curl,
    operator: &Console,
    user: &Console,
    workers: [&mut Worker; 2],
    seals: [SealTokenId; 2],
) {
    let [a, b] = workers;
    let [old_seal, operator_seal] = seals;
    let key = master_key(stack).await.unwrap();
    step("6.1 unstake: the user's access ends at once", async {
        let opaque = user.run(&["seal-token", "issue"])?.trim().to_owned();
        let receipt = user.json(&["stake", "unstake"])?;
        ensure!(receipt["until_ms"].as_u64().is_some(), "{receipt}");
        let url = format!("{}/api/v1/namespaces/default/pods", stack.master.url());
        eventually("kubectl refused", SHORT, || async {
            let output = user.kubectl(stack, &["get", "pods"])?;
            Ok((!output.status.success()).then_some(()))
        })
        .await?;
        eventually("the opaque token refused", SHORT, || async {
            let answer = curl.call("GET", &url, key, Some(&opaque)).await?;
            Ok(matches!(answer.status, 401 | 403).then_some(()))
        })
        .await
    })
    .await;
    // The workload moves twice: off the slashed node, then off the worker
    // that leaves; its timeline explains a failure of the last step.
    let pods: Api<Pod> = Api::namespaced(stack.cluster.client().await.unwrap(), "default");
    let prober = Prober::start(pods.clone(), nodes.clone());
    let proposal = step(
        "6.2 slash: proposed against the node, approved by the SlasherCap holder",
        async {
            let proposed = operator.json(&[
                "slash",
                "propose",
                "--node",
                &a.node,
                "--reason",
                "seed flows: misbehaving worker",
            ])?;
            ensure!(seal_of(&proposed)? == old_seal, "{proposed}");
            let id = proposed["id"]
                .as_u64()
                .context("no proposal id")?
                .to_string();
            let decided = operator.json(&["slash", "approve", &id])?;
            ensure!(decided["outcome"] == "approved", "{decided}");
            Ok(id)
        },
    )
    .await;
    step(
        "6.3 check the slashing reason in the chain's events",
        async {
            let history = operator.json(&["slash", "list", "--history"])?;
            let text = history.to_string();
            ensure!(text.contains("seed flows: misbehaving worker"), "{history}");
            ensure!(text.contains(&old_seal.to_string()), "{history}");
            ensure!(text.contains(&proposal), "{history}");
            Ok(())
        },
    )
    .await;
    step(
        "6.4 the slashed agent stops its node and exits revoked; the master removes the Node",
        async {
            let code = a.exited().await?;
            ensure!(
                code == Some(EXIT_REVOKED),
                "exit {code:?}: {}",
                a.host.log_tail(20)
            );
            eventually("the Node removed", SHORT, || async {
                Ok(node(nodes, &a.node).await?.is_none().then_some(()))
            })
            .await
        },
    )
    .await;
    step(
        "6.5 fail closed: re-registering with the slashed token, or another's, is refused; nothing changes",
        async {
            for (seal, why) in [(old_seal, "slashed"), (operator_seal, "")] {
                let named = seal.to_string();
                let from = a.host.log_len();
                let code = a.run_to_end(&["--seal-token", &named]).await?;
                let log = a.host.log_since(from);
                ensure!(code == Some(EXIT_REVOKED), "{named}: exit {code:?}: {log}");
                ensure!(log.contains("cannot hold node") && log.contains(why), "{log}");
                ensure!(!log.contains("registered"), "{log}");
            }
            ensure!(a.state_seal()? == old_seal, "the state changed");
            ensure!(node(nodes, &a.node).await?.is_none(), "the Node came back");
            Ok(())
        },
    )
    .await;
    let owner = Console::with_key(stack, a.host.key()).unwrap();
    let new_seal = step("6.6 restake: a new worker seal token for the node (the slashed one is shown slashed, and more stake on it is refused)", async {
        let status = owner.json(&["stake", "status"])?;
        let old = status["tokens"]
            .as_array()
            .and_then(|tokens| tokens.iter().find(|t| t["seal_token"] == old_seal.to_string()))
            .with_context(|| format!("{old_seal} not listed: {status}"))?;
        ensure!(old["state"]["state"] == "slashed", "{old}");
        let topped = owner.run(&["stake", "add", "--amount", "1", "--seal-token", &old_seal.to_string()]);
        ensure!(
            topped.as_ref().is_err_and(|e| format!("{e:#}").contains("never admits its node again")),
            "{topped:?}"
        );
        let receipt = owner.json(&["stake", "--node", &a.node])?;
        let seal = seal_of(&receipt)?;
        ensure!(seal != old_seal, "{receipt}");
        Ok(seal)
    })
    .await;
    step(
        "6.7 re-register with the new seal token: daas-agent run --seal-token NEW",
        async {
            let from = a.host.log_len();
            let new = new_seal.to_string();
            a.start(&["--seal-token", &new])?;
            a.logged(from, "registered; join token accepted", READY)
                .await?;
            ensure!(
                !a.host.log_since(from).contains("staking for the node"),
                "staked again"
            );
            ensure!(
                a.state_seal()? == new_seal,
                "the state kept the old seal token"
            );
            ready_and_bound(nodes, &a.node, new_seal).await
        },
    )
    .await;
    step(
        "6.8 a worker unstakes: daas-agent unstake drains, unstakes, withdraws after unbonding",
        async {
            let from = b.host.log_len();
            let mut leaving = b.command("unstake", &[])?.spawn()?;
            b.logged(from, "unbonding", READY).await?;
            eventually("the Node removed", SHORT, || async {
                Ok(node(nodes, &b.node).await?.is_none().then_some(()))
            })
            .await?;
            // The devnet's clock moves with transactions: unbonding (7 days) passes.
            stack.devnet.advance_clock(UNBONDING_MS).await?;
            stack.devnet.fund(Address::new([7; 32])).await?;
            let code = tokio::time::timeout(SHORT, leaving.wait()).await??.code();
            ensure!(
                code == Some(EXIT_LEFT),
                "exit {code:?}: {}",
                b.host.log_tail(20)
            );
            let code = b.exited().await?;
            ensure!(code == Some(EXIT_LEFT), "the running agent: exit {code:?}");
            let owner = b.host.address().to_string();
            let status = operator.json(&["stake", "status", "--owner", &owner])?;
            let tokens = status["tokens"].as_array().context("no tokens")?;
            ensure!(
                tokens.iter().all(|t| t["state"]["state"] == "withdrawn"),
                "{status}"
            );
            let back = eventually("the workload back to two replicas", READY, || async {
                Ok((serving(&pods).await?.len() == 2).then_some(()))
            })
            .await;
            prober.finish().await?.print_timeline();
            back
        },
    )
    .await;
    step(
        "6.9 fail closed: --seal-token never overrides a stake of unknown outcome",
        async {
            let c = Worker::new(stack, &format!("{}-c", a.node)).await?;
            let mut crashed = c.command("run", &[])?;
            crashed.env(CRASH_AFTER_VAR, "stake-recorded");
            let code = crashed.spawn()?.wait().await?.code();
            ensure!(
                code == Some(CRASH_EXIT),
                "exit {code:?}: {}",
                c.host.log_tail(20)
            );
            let pending = c.host.state().context("no state")?["pending_stake"].clone();
            ensure!(pending.is_object(), "no pending stake recorded");
            let named = new_seal.to_string();
            let from = c.host.log_len();
            let code = c.run_to_end(&["--seal-token", &named]).await?;
            let log = c.host.log_since(from);
            ensure!(code == Some(1), "exit {code:?}: {log}");
            ensure!(log.contains("has no known outcome"), "{log}");
            let state = c.host.state().context("no state")?;
            ensure!(
                state["pending_stake"] == pending,
                "the pending stake was dropped"
            );
            ensure!(state["seal_token"].is_null(), "{state}");
            Ok(())
        },
    )
    .await;
}
