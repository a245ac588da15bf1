//! 5,000 nodes heartbeating every 10 s against the master's node router
//! served over TLS 1.3 in a separate process; prints the server process's
//! CPU share and RSS (target: ≤ 25 % of a core, ≤ 150 MB).
//!
//! ```sh
//! cargo bench -p daas-master --bench heartbeat            # 5,000 nodes, 60 s
//! DAAS_BENCH_NODES=1000 DAAS_BENCH_SECS=30 cargo bench -p daas-master --bench heartbeat
//! DAAS_BENCH_POOL=50 cargo bench -p daas-master --bench heartbeat   # 50 shared clients
//! ```
//!
//! The bench re-runs itself as the server (`DAAS_BENCH_SERVE=<nodes>`):
//! the node router of a real `NodeService`, behind the per-client limit
//! and `serve::serve_tls` (default connection limits) with the master's
//! attested-style TLS identity. The nodes are loaded with
//! `NodeService::restore_admitted` (registering 5,000 workers on a devnet
//! would measure the devnet); every heartbeat still carries a fresh proof
//! signed by the node's owner key, verified by the server. The server's
//! chain and API-server endpoints point at a closed port: a heartbeat that
//! needed either would fail, so the run also shows that heartbeats read
//! neither. Each simulated node keeps its own HTTPS connection (HTTP/1.1
//! keep-alive), as an agent does, unless `DAAS_BENCH_POOL=<n>` shares `n`
//! clients among them (which shows the per-connection share of the RSS). CPU is the server's `utime + stime` from
//! `/proc/<pid>/stat` over the measured window; RSS is `VmRSS` at its end
//! and `VmHWM` (peak).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Write as _};
use std::num::NonZeroU32;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use daas_core::access::worker_proof::{Purpose, WorkerClaims, WorkerProof};
use daas_core::access::{NodeName, unix_now_secs};
use daas_core::api::nodes::{HEARTBEAT_PATH, NODE_HEALTH_PATH, NodeHealthList};
use daas_core::chain::{ChainClient, ChainConfig};
use daas_core::package::SealTokenId;
use daas_core::wallet::{Keypair, Scheme};
use daas_master::endpoint::{Endpoint, Listener};
use daas_master::http::client_limit::limit_by_client;
use daas_master::identity::MasterIdentity;
use daas_master::nodes::{self, AdmittedNode, NodeService, NodeSettings};
use daas_master::ratelimit::RateLimiter;
use daas_master::serve::ServeOptions;
use serde_json::json;
use sui_sdk_types::Address;

const AUDIENCE: &str = "https://bench-cluster:6443";
const INTERVAL: Duration = Duration::from_secs(10);
/// Warm-up before measuring: every node connects and beats at least once.
const WARM_UP: Duration = Duration::from_secs(15);

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The owner key of node `i`.
fn key(i: u64) -> Keypair {
    let mut seed = [0x42u8; 32];
    seed[..8].copy_from_slice(&i.to_le_bytes());
    Keypair::from_bytes(Scheme::Ed25519, &seed).unwrap()
}

fn seal(i: u64) -> SealTokenId {
    let mut id = [0x5eu8; 32];
    id[..8].copy_from_slice(&i.to_le_bytes());
    SealTokenId::new(Address::new(id))
}

fn node_name(i: u64) -> String {
    format!("bench-node-{i}")
}

fn main() {
    if let Ok(nodes) = std::env::var("DAAS_BENCH_SERVE") {
        serve(nodes.parse().expect("DAAS_BENCH_SERVE is a node count"));
    } else {
        drive();
    }
}

/// Server mode: serves the node router with `nodes` admitted nodes and
/// prints its port; exits when stdin closes.
fn serve(nodes: u64) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let service = service(nodes).await;
        let identity = MasterIdentity::generate().unwrap();
        let tls = identity.server_config().unwrap();
        let listener = Listener::bind(&Endpoint::Tcp("127.0.0.1:0".to_owned()))
            .await
            .unwrap();
        let port = listener.tcp_addr().unwrap().port();
        println!("{port}");
        std::io::stdout().flush().unwrap();
        // As the master serves it: every request is first counted against
        // its client's address (all nodes here share 127.0.0.1, so the
        // budget is the whole load's).
        let limiter = Arc::new(RateLimiter::per_minute(NonZeroU32::new(1_000_000).unwrap()));
        let app = limit_by_client(daas_master::http::app(nodes::router(service)), limiter);
        let stdin_closed = async {
            tokio::task::spawn_blocking(|| {
                let mut line = String::new();
                while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {}
            })
            .await
            .unwrap();
        };
        let options = ServeOptions::new("public");
        daas_master::serve::serve_tls(listener, tls, app, options, stdin_closed)
            .await
            .unwrap();
    });
}

async fn service(nodes: u64) -> Arc<NodeService> {
    let closed = "http://127.0.0.1:9";
    let chain = ChainClient::new(ChainConfig::devnet(closed)).unwrap();
    let kube = kube::Client::try_from(kube::Config::new(closed.parse().unwrap())).unwrap();
    let settings = NodeSettings {
        api_server_url: "https://127.0.0.1:6443".to_owned(),
        cluster_ca_pem: String::new(),
        audience: AUDIENCE.to_owned(),
        bootstrap_token_ttl: Duration::from_secs(600),
        proof_max_age: Duration::from_secs(60),
        clock_skew: Duration::from_secs(30),
        rate_limit_per_minute: NonZeroU32::new(100).unwrap(),
        exempt: BTreeSet::new(),
    };
    let mut registry = prometheus_client::registry::Registry::default();
    let service = Arc::new(NodeService::new(settings, chain, kube, &mut registry));
    service.restore_admitted((0..nodes).map(|i| AdmittedNode {
        name: node_name(i).parse().unwrap(),
        seal_token: seal(i),
        owner: key(i).address(),
        ip_address: Some("10.0.0.1".to_owned()),
        capacity: None,
        agent_api: None,
    }));
    service
}

/// Driver mode: starts the server, runs the nodes, prints the figures.
fn drive() {
    let nodes = env_u64("DAAS_BENCH_NODES", 5_000);
    let secs = env_u64("DAAS_BENCH_SECS", 60);
    let pool_size = env_u64("DAAS_BENCH_POOL", 0);
    let exe = std::env::current_exe().unwrap();
    let mut server = Command::new(exe)
        .env("DAAS_BENCH_SERVE", nodes.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().expect("the server prints its port");
    let pid = server.id();
    let connections = if pool_size == 0 {
        "one connection per node".to_owned()
    } else {
        format!("{pool_size} shared connection pools")
    };
    println!(
        "heartbeat bench: {nodes} nodes every {INTERVAL:?} ({connections}), server pid {pid}, port {port}"
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let counts = Arc::new(Counts::default());
    let failed = runtime.block_on(async {
        let url = format!("https://127.0.0.1:{port}");
        // One client per node (its own connection), or a shared pool.
        let pool: Vec<reqwest::Client> = (0..pool_size).map(|_| client()).collect();
        for i in 0..nodes {
            let client = match usize::try_from(i)
                .ok()
                .and_then(|i| pool.get(i % pool.len().max(1)))
            {
                Some(shared) => shared.clone(),
                None => client(),
            };
            tokio::spawn(run_node(i, nodes, client, url.clone(), Arc::clone(&counts)));
        }
        tokio::time::sleep(WARM_UP).await;
        let before = cpu_ticks(pid);
        let accepted_before = counts.ok.load(Ordering::Relaxed);
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let elapsed = started.elapsed();
        let ticks = cpu_ticks(pid) - before;
        let beats = counts.ok.load(Ordering::Relaxed) - accepted_before;
        report(pid, ticks, elapsed, beats, &counts);
        check_health(&url, nodes).await;
        counts.failed.load(Ordering::Relaxed)
    });
    // Stop the nodes before the server, so no heartbeat fails on shutdown.
    runtime.shutdown_background();
    drop(server.stdin.take());
    let _ = server.wait();
    assert_eq!(failed, 0, "no heartbeat may fail");
}

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    failed: AtomicU64,
}

/// An HTTPS client that accepts the server's self-made certificate.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .http1_only()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// One node: a heartbeat every interval through `client`, starting at its
/// slot in the first interval.
async fn run_node(i: u64, nodes: u64, client: reqwest::Client, url: String, counts: Arc<Counts>) {
    let key = key(i);
    let name = node_name(i);
    let node: NodeName = name.parse().unwrap();
    let offset = INTERVAL.mul_f64(i as f64 / nodes as f64);
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + offset, INTERVAL);
    let mut last_issued = 0;
    loop {
        ticker.tick().await;
        let issued_at = unix_now_secs().max(last_issued + 1);
        last_issued = issued_at;
        let claims = WorkerClaims::new(
            Purpose::Heartbeat,
            seal(i),
            key.address(),
            node.clone(),
            AUDIENCE,
            issued_at,
        )
        .unwrap();
        let proof = WorkerProof::sign(&key, &claims).unwrap();
        let body = json!({
            "node_id": name,
            "proof": proof.as_str(),
            "status": "ready",
            "metrics": {
                "cpu_usage": 12.5, "memory_usage": 40.0, "pod_count": 7, "container_count": 9,
                "network_rx": 1000, "network_tx": 2000, "timestamp": issued_at,
            },
        });
        let response = client
            .post(format!("{url}{HEARTBEAT_PATH}"))
            .json(&body)
            .send()
            .await;
        match response {
            Ok(response) if response.status().is_success() => {
                counts.ok.fetch_add(1, Ordering::Relaxed);
            }
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                eprintln!("node {i}: {status} {text}");
                counts.failed.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                eprintln!("node {i}: {error}");
                counts.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The server's `utime + stime` in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command: state is field 3, utime 14.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// A `/proc/<pid>/status` field in kB.
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .unwrap()
}

fn report(pid: u32, ticks: u64, elapsed: Duration, beats: u64, counts: &Counts) {
    // /proc reports times in USER_HZ, 100 per second on Linux.
    let ticks_per_sec = 100.0;
    let cpu_share = ticks as f64 / ticks_per_sec / elapsed.as_secs_f64() * 100.0;
    let rss_mb = status_kb(pid, "VmRSS:") as f64 / 1024.0;
    let peak_mb = status_kb(pid, "VmHWM:") as f64 / 1024.0;
    println!("measured over {:.1} s", elapsed.as_secs_f64());
    println!(
        "heartbeats accepted: {beats} ({:.0}/s), failed in total: {}",
        beats as f64 / elapsed.as_secs_f64(),
        counts.failed.load(Ordering::Relaxed)
    );
    println!("MASTER CPU: {cpu_share:.1} % of one core (target <= 25 %)");
    println!("MASTER RSS: {rss_mb:.1} MB now, {peak_mb:.1} MB peak (target <= 150 MB)");
}

/// Every node is visible, fresh, in `/api/v1/node-health`.
async fn check_health(url: &str, nodes: u64) {
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let list: NodeHealthList = client
        .get(format!("{url}{NODE_HEALTH_PATH}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fresh = list
        .nodes
        .iter()
        .filter(|n| !n.stale && n.metrics.is_some())
        .count();
    println!(
        "node-health: {} nodes, {fresh} fresh with metrics",
        list.nodes.len()
    );
    assert_eq!(
        u64::try_from(fresh).unwrap(),
        nodes,
        "every node heartbeats"
    );
}
