//! `daas-agent simulate` end to end with the devnet, the control plane,
//! kwok and `daas-master serve` as processes: 20 simulated agents, each
//! with its own faucet-funded wallet and stake, register with the master,
//! get kwok Nodes that the master labels with their seal tokens, and
//! heartbeat until the master shows all of them fresh.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use daas_core::api::MasterClient;
use daas_e2e::binaries;
use daas_e2e::kwok;
use daas_e2e::stack::{Stack, StackOptions};
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::ListParams;
use tokio::io::{AsyncBufReadExt as _, BufReader};

const COUNT: usize = 20;
const PREFIX: &str = "sim-e2e";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_simulated_agents_stake_register_join_and_heartbeat() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    kwok::ensure_running(&stack.cluster).await.unwrap();
    let agent = tokio::task::spawn_blocking(|| binaries::workspace_binary("daas-agent"))
        .await
        .unwrap()
        .unwrap();
    let dev_root = stack.master.state_dir().join("dev-root.pem");
    let mut child = tokio::process::Command::new(agent)
        .arg("simulate")
        .args(["--count", &COUNT.to_string(), "--prefix", PREFIX])
        .args(["--master", stack.master.url()])
        .args(["--chain", stack.devnet.url()])
        .arg("--kubeconfig")
        .arg(stack.cluster.kubeconfig_path())
        .arg("--dev-root")
        .arg(&dev_root)
        .args(["--audience", stack.cluster.server()])
        .args(["--heartbeat-secs", "2", "--duration-secs", "20"])
        .args(["--concurrency", "4", "--connections", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let banner = stderr.next_line().await.unwrap().unwrap();
    assert!(
        banner.starts_with("SIMULATION: 20 simulated agents"),
        "{banner}"
    );
    let stderr_log = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Ok(Some(line)) = stderr.next_line().await {
            all.push(line);
        }
        all.join("\n")
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let registered = tokio::time::timeout(Duration::from_secs(300), stdout.next_line())
        .await
        .expect("all registered within 5 minutes")
        .unwrap();
    let Some(registered) = registered else {
        panic!(
            "simulate exited early: {}",
            stderr_log.await.unwrap_or_default()
        );
    };
    let registered: serde_json::Value = serde_json::from_str(&registered).unwrap();
    assert_eq!(registered["simulation"], true);
    assert_eq!(registered["registered"], COUNT);

    // The master knows them all, fresh; the API server has their kwok
    // Nodes Ready and labelled by the master with their seal tokens.
    let master = MasterClient::new(stack.master.client().unwrap());
    let kube = stack.cluster.client().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let health = master.node_health().await.unwrap();
        let beating = health
            .nodes
            .iter()
            .filter(|n| n.node.starts_with(PREFIX))
            .filter(|n| n.last_heartbeat_age_secs.is_some() && !n.stale)
            .count();
        let nodes = Api::<Node>::all(kube.clone())
            .list(&ListParams::default().labels("kwok.x-k8s.io/node=fake"))
            .await
            .unwrap();
        let ready_and_labelled = nodes
            .items
            .iter()
            .filter(|n| n.metadata.name.as_deref().unwrap_or("").starts_with(PREFIX))
            .filter(|n| {
                let ready = n
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
                let sealed = n
                    .metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key("k3s-daas.io/seal-token"));
                ready && sealed
            })
            .count();
        if beating == COUNT && ready_and_labelled == COUNT {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{beating} heartbeating, {ready_and_labelled} Ready and labelled of {COUNT}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // It stops after its duration; no heartbeat was refused.
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    let summary: serde_json::Value =
        serde_json::from_str(&stdout.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(summary["refused"], 0, "{summary}");
    assert!(
        summary["heartbeats"].as_u64().unwrap() >= COUNT as u64,
        "{summary}"
    );
}
