//! Scale benchmark with `daas-agent simulate` on a real local stack
//! (devnet, control plane, kwok, master as processes), one fresh stack per
//! size. Run: `cargo bench -p daas-e2e --bench simulate`.
//!
//! For each size N (`DAAS_SIM_COUNTS`, default `1000,10000`):
//!
//! 1. **time until all are registered**: from starting `daas-agent
//!    simulate --count N` (faucet, stake, register-worker, kwok Node per
//!    agent) to its "registered" line;
//! 2. **the master while they heartbeat** (every 10 s, spread evenly):
//!    after one interval to settle, the master's CPU share of one core and
//!    its peak RSS over `DAAS_SIM_SECS` (default 60), read from
//!    `/proc/<pid>`; and how many nodes the master shows fresh.
//!
//! The simulated agents run on the same machine and share its cores.
//! Every agent comes from 127.0.0.1, so the master's per-client limits are
//! raised for the run. Prints the figures and writes them to
//! `target/bench-results/simulate.json`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use daas_core::api::MasterClient;
use daas_e2e::binaries;
use daas_e2e::kwok;
use daas_e2e::stack::{Stack, StackOptions};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};

/// Every agent shares one client address: no per-client limit may bind.
const MASTER_CONFIG: &str = "access:\n  rate_limit_per_minute: 10000000\napi:\n  \
    client_rate_limit_per_minute: 100000000\n  max_connections: 8192\n";
const HEARTBEAT_SECS: u64 = 10;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let counts: Vec<usize> = std::env::var("DAAS_SIM_COUNTS")
        .unwrap_or_else(|_| "1000,10000".to_owned())
        .split(',')
        .map(|n| n.trim().parse().expect("DAAS_SIM_COUNTS: numbers"))
        .collect();
    let secs: u64 = std::env::var("DAAS_SIM_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let mut results = Vec::new();
    for count in counts {
        let result = run(count, secs).await;
        println!("{}", serde_json::to_string_pretty(&result).unwrap());
        results.push(result);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-results");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("simulate.json"), Value::from(results).to_string()).unwrap();
}

async fn run(count: usize, secs: u64) -> Value {
    let stack = Stack::start(StackOptions {
        master_config: MASTER_CONFIG.to_owned(),
        ..StackOptions::default()
    })
    .await
    .unwrap();
    kwok::ensure_running(&stack.cluster).await.unwrap();
    let agent = tokio::task::spawn_blocking(|| binaries::workspace_binary("daas-agent"))
        .await
        .unwrap()
        .unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-results");
    std::fs::create_dir_all(&dir).unwrap();
    let log_path = dir.join(format!("simulate-{count}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let started = Instant::now();
    let mut child = tokio::process::Command::new(agent)
        .arg("simulate")
        .args(["--count", &count.to_string(), "--prefix", "sim"])
        .args(["--master", stack.master.url()])
        .args(["--chain", stack.devnet.url()])
        .arg("--kubeconfig")
        .arg(stack.cluster.kubeconfig_path())
        .arg("--dev-root")
        .arg(stack.master.state_dir().join("dev-root.pem"))
        .args(["--audience", stack.cluster.server()])
        .args(["--heartbeat-secs", &HEARTBEAT_SECS.to_string()])
        .args(["--concurrency", "64", "--connections", "16"])
        .stdout(Stdio::piped())
        .env("RUST_LOG", "warn")
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let Some(line) = stdout.next_line().await.unwrap() else {
        panic!(
            "simulate exited before all were registered; its log ({}):\n{}",
            log_path.display(),
            daas_e2e::k3s::log_tail(&log_path, 20)
        );
    };
    let registered_secs = started.elapsed().as_secs_f64();
    let registered: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(registered["registered"], count);

    tokio::time::sleep(Duration::from_secs(HEARTBEAT_SECS)).await;
    let pid = stack.master.pid().expect("the master runs");
    let (cpu_share, peak_rss_mb) = sample(pid, Duration::from_secs(secs)).await;
    eprintln!(
        "{count} agents: registered in {registered_secs:.1} s; master {:.1} % of a core, peak RSS {peak_rss_mb:.1} MB",
        cpu_share * 100.0
    );
    // Read in pages: the whole list exceeds what the attested client reads
    // in one answer (1 MiB) at 10,000 nodes.
    let master = MasterClient::new(stack.master.client().unwrap());
    let fresh = match master.node_health().await {
        Ok(health) => Value::from(
            health
                .nodes
                .iter()
                .filter(|n| n.last_heartbeat_age_secs.is_some() && !n.stale)
                .count(),
        ),
        Err(error) => Value::from(format!("node health unreadable: {error}")),
    };
    child.kill().await.unwrap();
    json!({
        "agents": count,
        "registered_secs": registered_secs,
        "heartbeat_secs": HEARTBEAT_SECS,
        "measured_secs": secs,
        "master_cpu_percent_of_a_core": cpu_share * 100.0,
        "master_peak_rss_mb": peak_rss_mb,
        "nodes_fresh": fresh,
    })
}

/// The process's CPU share of one core over `window`, and its peak RSS
/// (MB), sampled every second.
async fn sample(pid: u32, window: Duration) -> (f64, f64) {
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    let before = cpu_ticks(pid);
    let start = Instant::now();
    let mut peak = rss_mb(pid);
    while start.elapsed() < window {
        tokio::time::sleep(Duration::from_secs(1)).await;
        peak = peak.max(rss_mb(pid));
    }
    let used = (cpu_ticks(pid) - before) / ticks_per_sec;
    (used / start.elapsed().as_secs_f64(), peak)
}

/// utime + stime of `/proc/<pid>/stat`, in clock ticks.
fn cpu_ticks(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command (which may hold spaces) start after ')'.
    let after = stat.rsplit_once(')').unwrap().1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: 12 and 13 here.
    fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()
}

/// VmRSS of `/proc/<pid>/status`, in MB.
fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}
