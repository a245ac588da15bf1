//! End-to-end latency benchmarks on a real local stack (devnet, control
//! plane, master as processes). Run: `cargo bench -p daas-e2e --bench stack`.
//!
//! 1. **kubectl path**: the median latency of the same API request with a
//!    daas token (TokenReview + authorization webhooks, answers cached by
//!    the API server as configured) and with a static token of the same
//!    RBAC groups; both the HTTP request alone and whole `kubectl get`
//!    processes (the latter includes the credential plugin's process).
//!    Whole processes are also measured with the cheapest exec plugin
//!    there is (`cat` of an ExecCredential holding the static token): the
//!    floor any exec credential plugin pays over a static token; and with
//!    an opaque seal token (`kubectl --token`: a daas token, no plugin).
//!    And whole processes seconds apart, as a person types them.
//! 2. **Revocation**: from the unstake transaction's effects to the first
//!    denied request of that user.
//! 3. **Stake → join**: from submitting `stake_and_mint` for a worker to
//!    its bootstrap token being accepted by the API server.
//!
//! Prints the figures and writes them to `target/bench-results/stack.json`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use daas_core::access::worker_proof::{Purpose, WorkerClaims, WorkerProof};
use daas_core::access::{AccessToken, Claims, unix_now_secs};
use daas_core::api::MasterClient;
use daas_core::api::nodes::{
    Capacity, REGISTER_WORKER_PATH, RegisterWorkerRequest, RegisterWorkerResponse,
};
use daas_core::package::{Mist, Role, SealTokenId};
use daas_e2e::k3s::StaticToken;
use daas_e2e::stack::{Stack, StackOptions};
use daas_e2e::user::{Account, UserMachine};
use serde_json::json;

const SUI: u64 = 1_000_000_000;
const PATH_SAMPLES: usize = 1500;
const KUBECTL_SAMPLES: usize = 301;
const SPACED_SAMPLES: usize = 40;
/// Longer than the API server caches authorization answers
/// (`daas_master::webhooks::AUTHORIZATION_CACHE_TTL`, 250 ms).
const AUTHORIZATION_CACHE_GAP: Duration = Duration::from_millis(300);
/// A person's pause between two commands: longer than the API server's
/// authorization cache and the public listener's idle time (2 s), shorter
/// than the API server's token cache (10 s).
const USER_PAUSE: Duration = Duration::from_secs(3);
const PAUSED_SAMPLES: usize = 12;
const REVOCATIONS: usize = 12;
const JOINS: usize = 8;
const POD_LIST: &str = "/api/v1/namespaces/default/pods?limit=1";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let static_user = StaticToken::generate("static-admin", &["k3s-daas:admin"]);
    let stack = Stack::start(StackOptions {
        static_tokens: vec![static_user.clone()],
        ..StackOptions::default()
    })
    .await
    .unwrap();

    let path = kubectl_path(&stack, &static_user).await;
    let revocation = revocation(&stack).await;
    let join = stake_to_join(&stack).await;
    let results = json!({
        "kubectl_path": path,
        "revocation_ms": revocation,
        "stake_to_join_ms": join,
    });
    println!("{}", serde_json::to_string_pretty(&results).unwrap());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-results");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("stack.json"), results.to_string()).unwrap();
}

async fn staked(
    stack: &Stack,
    seed: u8,
    mist: u64,
    role: Role,
    node: &str,
) -> (Account, SealTokenId) {
    let account = Account::funded(&stack.devnet, seed).await.unwrap();
    let seal = stack
        .devnet
        .client()
        .unwrap()
        .stake_and_mint(&account.chain, Mist::new(mist), role, node)
        .await
        .unwrap()
        .token;
    (account, seal)
}

fn access_token(stack: &Stack, account: &Account, seal: SealTokenId) -> AccessToken {
    let claims = Claims::new(
        seal,
        account.address(),
        stack.cluster.server(),
        unix_now_secs(),
        Duration::from_secs(900),
    )
    .unwrap();
    AccessToken::sign(&account.wallet, &claims).unwrap()
}

/// GET `POD_LIST` with `client`; the status code.
async fn get(client: &kube::Client) -> u16 {
    let request = http::Request::get(POD_LIST).body(Vec::new()).unwrap();
    match client.request_text(request).await {
        Ok(_) => 200,
        Err(kube::Error::Api(status)) => status.code,
        Err(error) => panic!("request failed: {error}"),
    }
}

async fn kubectl_path(stack: &Stack, static_user: &StaticToken) -> serde_json::Value {
    let (account, seal) = staked(stack, 0x91, 5 * SUI, Role::User, "").await;
    let daas = stack
        .cluster
        .client_for_token(access_token(stack, &account, seal).as_str())
        .await
        .unwrap();
    let fixed = stack
        .cluster
        .client_for_token(&static_user.token)
        .await
        .unwrap();
    assert_eq!(get(&daas).await, 200);
    assert_eq!(get(&fixed).await, 200);
    let mut daas_ms = Vec::with_capacity(PATH_SAMPLES);
    let mut static_ms = Vec::with_capacity(PATH_SAMPLES);
    for _ in 0..PATH_SAMPLES {
        static_ms.push(timed(get(&fixed)).await);
        daas_ms.push(timed(get(&daas)).await);
    }

    // The same requests spaced past the API server's authorization cache
    // (250 ms, for the revocation target): each daas request then waits
    // for the master's authorization webhook, as a new kubectl's does.
    let mut daas_cold_ms = Vec::with_capacity(SPACED_SAMPLES);
    let mut static_cold_ms = Vec::with_capacity(SPACED_SAMPLES);
    for _ in 0..SPACED_SAMPLES {
        tokio::time::sleep(AUTHORIZATION_CACHE_GAP).await;
        static_cold_ms.push(timed(get(&fixed)).await);
        daas_cold_ms.push(timed(get(&daas)).await);
    }

    // Whole kubectl processes: the plugin's cached token vs a static token.
    let machine = UserMachine::with_key(&account.wallet).unwrap();
    machine
        .write_kubeconfig_with_chain(&stack.cluster, stack.devnet.url(), seal)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let static_kubeconfig = dir.path().join("static.kubeconfig");
    std::fs::write(
        &static_kubeconfig,
        stack.cluster.kubeconfig_for_token(&static_user.token),
    )
    .unwrap();
    let credential = dir.path().join("credential.json");
    std::fs::write(
        &credential,
        json!({
            "apiVersion": "client.authentication.k8s.io/v1",
            "kind": "ExecCredential",
            "status": { "token": static_user.token },
        })
        .to_string(),
    )
    .unwrap();
    let floor_kubeconfig = dir.path().join("floor.kubeconfig");
    std::fs::write(
        &floor_kubeconfig,
        stack.cluster.kubeconfig_for_exec("cat", &credential),
    )
    .unwrap();
    // An opaque seal token (`daas-console seal-token issue`), used as
    // `kubectl --token` is: a daas token with no plugin process.
    let opaque = MasterClient::new(stack.master.client().unwrap())
        .issue_seal_token(&access_token(stack, &account, seal))
        .await
        .unwrap()
        .seal_token;
    let opaque_kubeconfig = dir.path().join("opaque.kubeconfig");
    std::fs::write(
        &opaque_kubeconfig,
        stack.cluster.kubeconfig_for_token(&opaque),
    )
    .unwrap();
    let kubectl = &stack.cluster.binaries().kubectl;
    let args = ["get", "pods", "-n", "default"];
    let plain = |kubeconfig: &Path| {
        let start = Instant::now();
        let output = Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        ms(start.elapsed())
    };
    let daas = || {
        let start = Instant::now();
        let output = machine.kubectl(&stack.cluster, &args).unwrap();
        assert!(output.status.success(), "{output:?}");
        ms(start.elapsed())
    };
    // Warm each (discovery cache, the plugin's token and check).
    plain(&static_kubeconfig);
    plain(&floor_kubeconfig);
    plain(&opaque_kubeconfig);
    daas();
    // The plugin alone, from its cache (its chain check is recent), next
    // to `cat` of an ExecCredential.
    let mut plugin = machine.credential_plugin().unwrap();
    let plugin_linkage = linkage(Path::new(plugin.get_program()));
    let mut plugin_ms = Vec::new();
    let mut cat_ms = Vec::new();
    for _ in 0..KUBECTL_SAMPLES {
        let start = Instant::now();
        assert!(
            Command::new("cat")
                .arg(&credential)
                .output()
                .unwrap()
                .status
                .success()
        );
        cat_ms.push(ms(start.elapsed()));
        let start = Instant::now();
        let output = plugin.output().unwrap();
        assert!(output.status.success(), "{output:?}");
        assert!(output.stderr.is_empty(), "{output:?}");
        plugin_ms.push(ms(start.elapsed()));
    }
    let mut daas_kubectl = Vec::new();
    let mut static_kubectl = Vec::new();
    let mut floor_kubectl = Vec::new();
    let mut opaque_kubectl = Vec::new();
    for _ in 0..KUBECTL_SAMPLES {
        static_kubectl.push(plain(&static_kubeconfig));
        floor_kubectl.push(plain(&floor_kubeconfig));
        daas_kubectl.push(daas());
        opaque_kubectl.push(plain(&opaque_kubeconfig));
    }
    // Whole processes as a person types them, seconds apart: each daas
    // process then also waits for the authorization webhook, over the
    // API server's connection to the master if it is still open.
    let mut daas_paused = Vec::new();
    let mut static_paused = Vec::new();
    let mut opaque_paused = Vec::new();
    for _ in 0..PAUSED_SAMPLES {
        std::thread::sleep(USER_PAUSE);
        static_paused.push(plain(&static_kubeconfig));
        std::thread::sleep(USER_PAUSE);
        daas_paused.push(daas());
        std::thread::sleep(USER_PAUSE);
        opaque_paused.push(plain(&opaque_kubeconfig));
    }
    let request_ratio = median(&mut daas_ms) / median(&mut static_ms);
    // Each daas, floor and opaque process next to the static one just
    // before it: the median of these paired ratios does not drift with
    // the machine.
    let paired = |measured: &[f64]| {
        let mut ratios: Vec<f64> = measured
            .iter()
            .zip(&static_kubectl)
            .map(|(m, s)| m / s)
            .collect();
        median(&mut ratios)
    };
    let paired_ratio = paired(&daas_kubectl);
    let paired_floor_ratio = paired(&floor_kubectl);
    let paired_opaque_ratio = paired(&opaque_kubectl);
    let static_median = median(&mut static_kubectl);
    let process_ratio = median(&mut daas_kubectl) / static_median;
    let floor_ratio = median(&mut floor_kubectl) / static_median;
    let opaque_ratio = median(&mut opaque_kubectl) / static_median;
    json!({
        "request_median_ms": { "daas": median(&mut daas_ms), "static": median(&mut static_ms) },
        "request_p99_ms": { "daas": percentile(&mut daas_ms, 0.99), "static": percentile(&mut static_ms, 0.99) },
        "request_median_ratio": request_ratio,
        "request_past_authorization_cache_median_ms": {
            "daas": median(&mut daas_cold_ms),
            "static": median(&mut static_cold_ms),
        },
        "kubectl_median_ms": {
            "daas": median(&mut daas_kubectl),
            "static": static_median,
            "exec_floor": median(&mut floor_kubectl),
            "opaque_token": median(&mut opaque_kubectl),
        },
        "kubectl_median_ratio": process_ratio,
        "kubectl_after_pause_median_ms": {
            "daas": median(&mut daas_paused),
            "static": median(&mut static_paused),
            "opaque_token": median(&mut opaque_paused),
        },
        "exec_floor_median_ratio": floor_ratio,
        "opaque_token_median_ratio": opaque_ratio,
        "kubectl_paired_median_ratio": {
            "daas": paired_ratio,
            "exec_floor": paired_floor_ratio,
            "opaque_token": paired_opaque_ratio,
        },
        "plugin_alone_median_ms": { "plugin": median(&mut plugin_ms), "cat": median(&mut cat_ms) },
        "plugin_linkage": plugin_linkage,
        "samples": { "requests": PATH_SAMPLES, "kubectl": KUBECTL_SAMPLES, "kubectl_after_pause": PAUSED_SAMPLES },
    })
}

async fn revocation(stack: &Stack) -> serde_json::Value {
    let chain = stack.devnet.client().unwrap();
    let mut latencies = Vec::new();
    for i in 0..REVOCATIONS {
        let seed = 0xa0 + u8::try_from(i).unwrap();
        let (account, seal) = staked(stack, seed, SUI, Role::User, "").await;
        let client = stack
            .cluster
            .client_for_token(access_token(stack, &account, seal).as_str())
            .await
            .unwrap();
        assert_eq!(get(&client).await, 200);
        chain.request_unstake(&account.chain, seal).await.unwrap();
        let start = Instant::now();
        while get(&client).await == 200 {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "not revoked in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        latencies.push(ms(start.elapsed()));
    }
    summary(&mut latencies)
}

async fn stake_to_join(stack: &Stack) -> serde_json::Value {
    let master = stack.master.client().unwrap();
    let mut latencies = Vec::new();
    for i in 0..JOINS {
        let node = format!("bench-worker-{i}");
        let seed = 0xc0 + u8::try_from(i).unwrap();
        let account = Account::funded(&stack.devnet, seed).await.unwrap();
        let start = Instant::now();
        let seal = stack
            .devnet
            .client()
            .unwrap()
            .stake_and_mint(&account.chain, Mist::new(5 * SUI), Role::Worker, &node)
            .await
            .unwrap()
            .token;
        let claims = WorkerClaims::new(
            Purpose::Register,
            seal,
            account.address(),
            node.parse().unwrap(),
            stack.cluster.server(),
            unix_now_secs(),
        )
        .unwrap();
        let request = RegisterWorkerRequest {
            node_id: node.clone(),
            seal_token: seal.to_string(),
            ip_address: "10.0.2.1".to_owned(),
            capacity: Capacity {
                cpu: "2".to_owned(),
                memory: "4Gi".to_owned(),
                storage: "20Gi".to_owned(),
            },
            proof: WorkerProof::sign(&account.wallet, &claims)
                .unwrap()
                .into_string(),
            agent_api: None,
        };
        let joined: RegisterWorkerResponse = master
            .post_json(REGISTER_WORKER_PATH, &request)
            .await
            .unwrap();
        let bootstrap = joined.join_token.split_once("::").unwrap().1;
        let client = stack.cluster.client_for_token(bootstrap).await.unwrap();
        let review = http::Request::post("/apis/authentication.k8s.io/v1/selfsubjectreviews")
            .header("content-type", "application/json")
            .body(
                br#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#.to_vec(),
            )
            .unwrap();
        client.request_text(review).await.unwrap();
        latencies.push(ms(start.elapsed()));
    }
    summary(&mut latencies)
}

/// `"dynamic"` when the ELF executable at `path` names a program
/// interpreter (`PT_INTERP`), else `"static"` (as `cargo static-plugin`
/// links `daas-credential`).
fn linkage(path: &Path) -> &'static str {
    const PT_INTERP: u32 = 3;
    let elf = std::fs::read(path).unwrap();
    assert_eq!(
        &elf[..5],
        b"\x7fELF\x02",
        "{} is not a 64-bit ELF",
        path.display()
    );
    let le = |at: usize, len: usize| {
        let mut bytes = [0u8; 8];
        bytes[..len].copy_from_slice(&elf[at..at + len]);
        usize::try_from(u64::from_le_bytes(bytes)).unwrap()
    };
    let (table, entry_len, entries) = (le(0x20, 8), le(0x36, 2), le(0x38, 2));
    let interpreted = (0..entries).any(|i| le(table + i * entry_len, 4) == PT_INTERP as usize);
    if interpreted { "dynamic" } else { "static" }
}

async fn timed(request: impl std::future::Future<Output = u16>) -> f64 {
    let start = Instant::now();
    assert_eq!(request.await, 200);
    ms(start.elapsed())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn median(values: &mut [f64]) -> f64 {
    percentile(values, 0.5)
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = ((values.len() as f64 - 1.0) * p).round() as usize;
    values[rank.min(values.len() - 1)]
}

fn summary(values: &mut [f64]) -> serde_json::Value {
    json!({
        "n": values.len(),
        "p50": percentile(values, 0.5),
        "p99": percentile(values, 0.99),
        "max": percentile(values, 1.0),
    })
}
