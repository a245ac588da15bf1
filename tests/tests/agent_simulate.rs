//! `daas-agent simulate` end to end with the devnet, the control plane,
//! kwok and `daas-master serve` as processes: 20 simulated agents, each
//! with its own faucet-funded wallet and stake, register with the master,
//! get kwok Nodes that the master labels with their seal tokens, and
//! heartbeat until the master shows all of them fresh; node health is read
//! in pages smaller than the fleet, with no node missed or repeated, and
//! bad page parameters are refused by name. The chain is down when they
//! start: they wait for it rather than exit. One is slashed: the master
//! refuses its heartbeat, the chain confirms, and it stops, as a real
//! agent exits; the others go on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use std::collections::BTreeSet;

use daas_core::api::MasterClient;
use daas_core::api::nodes::{NODE_HEALTH_MAX_LIMIT, NODE_HEALTH_PATH, NodeHealthQuery};
use daas_core::attested::Request;
use daas_core::package::SealTokenId;
use daas_e2e::binaries;
use daas_e2e::kwok;
use daas_e2e::slasher::{slash, stack_with_slasher};
use daas_e2e::user::Account;
use futures::TryStreamExt as _;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::ListParams;
use sui_crypto::ed25519::Ed25519PrivateKey;
use tokio::io::{AsyncBufReadExt as _, BufReader};

const COUNT: usize = 20;
const PREFIX: &str = "sim-e2e";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_simulated_agents_stake_register_join_and_heartbeat() {
    let slasher = Ed25519PrivateKey::new([0x53; 32]);
    let mut stack = stack_with_slasher(&slasher, "").await.unwrap();
    kwok::ensure_running(&stack.cluster).await.unwrap();
    stack.devnet.stop().await.unwrap();
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
        .args(["--heartbeat-secs", "2", "--duration-secs", "30"])
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
    // Joining waits for the chain (and its faucet) to come back.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "simulate exited while the chain was down: {}",
        stderr_log.await.unwrap_or_default()
    );
    stack.devnet.restart().await.unwrap();
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
                // No real workload is scheduled where nothing runs.
                let tainted = n
                    .spec
                    .as_ref()
                    .and_then(|spec| spec.taints.as_ref())
                    .is_some_and(|taints| {
                        taints
                            .iter()
                            .any(|t| t.key == "kwok.x-k8s.io/node" && t.effect == "NoSchedule")
                    });
                ready && sealed && tainted
            })
            .count();
        if beating == COUNT && ready_and_labelled == COUNT {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{beating} heartbeating, {ready_and_labelled} Ready, labelled and tainted of {COUNT}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    pages_cover_every_node_once(&master).await;
    bad_page_parameters_are_refused(&master).await;

    // The first agent's stake is slashed below a worker's minimum.
    let slashed = format!("{PREFIX}-0");
    let seal: SealTokenId = Api::<Node>::all(kube.clone())
        .get(&slashed)
        .await
        .unwrap()
        .metadata
        .annotations
        .unwrap()["k3s-daas.io/seal-token"]
        .parse()
        .unwrap();
    let reporter = Account::funded(&stack.devnet, 0x54).await.unwrap();
    let chain = stack.devnet.client().unwrap();
    slash(
        &chain,
        &reporter.chain,
        &slasher,
        seal,
        "e2e: simulated misbehaviour",
    )
    .await
    .unwrap();

    // It stops after its duration. The slashed agent's one refused
    // heartbeat stopped it; no other heartbeat was refused.
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    let summary: serde_json::Value =
        serde_json::from_str(&stdout.next_line().await.unwrap().unwrap()).unwrap();
    let log = stderr_log.await.unwrap();
    assert_eq!(summary["revoked"], 1, "{summary}\n{log}");
    assert_eq!(summary["refused"], 1, "{summary}\n{log}");
    assert!(
        summary["heartbeats"].as_u64().unwrap() >= COUNT as u64,
        "{summary}"
    );
    let stopped: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("revoked: this simulated agent stops"))
        .collect();
    assert_eq!(stopped.len(), 1, "{log}");
    assert!(
        stopped[0].contains(&format!("node={slashed}")) && stopped[0].contains("slashed"),
        "{log}"
    );
}

/// Pages of 3 over the 20 nodes: each page at most 3, names in order, the
/// last page without a continue token, together exactly the whole list.
async fn pages_cover_every_node_once(master: &MasterClient) {
    let whole: Vec<String> = master
        .node_health()
        .await
        .unwrap()
        .nodes
        .into_iter()
        .map(|n| n.node)
        .collect();
    let pages: Vec<_> = master
        .node_health_pages(Some(3))
        .try_collect()
        .await
        .unwrap();
    assert!(pages.len() >= COUNT.div_ceil(3), "{} pages", pages.len());
    let (last, full) = pages.split_last().unwrap();
    assert!(last.continue_token.is_none());
    assert!(
        full.iter()
            .all(|p| p.nodes.len() == 3 && p.continue_token.is_some())
    );
    let paged: Vec<String> = pages
        .into_iter()
        .flat_map(|p| p.nodes)
        .map(|n| n.node)
        .collect();
    assert_eq!(paged, whole, "paged and whole lists differ");
    let unique: BTreeSet<&String> = paged.iter().collect();
    assert_eq!(unique.len(), paged.len(), "a node is listed twice");
    let simulated = paged.iter().filter(|n| n.starts_with(PREFIX)).count();
    assert_eq!(simulated, COUNT);
    // A page by hand, as a client that follows `continue` itself.
    let first = master
        .node_health_page(&NodeHealthQuery {
            limit: Some(1),
            continue_token: None,
        })
        .await
        .unwrap();
    let second = master
        .node_health_page(&NodeHealthQuery {
            limit: Some(1),
            continue_token: first.continue_token.clone(),
        })
        .await
        .unwrap();
    assert_eq!(first.nodes[0].node, whole[0]);
    assert_eq!(second.nodes[0].node, whole[1]);
}

/// Bad `limit` and `continue` values, and unknown parameters, answer 400
/// naming the parameter.
async fn bad_page_parameters_are_refused(master: &MasterClient) {
    let too_many = NODE_HEALTH_MAX_LIMIT + 1;
    for (query, needle) in [
        ("limit=0".to_owned(), "limit"),
        ("limit=ten".to_owned(), "limit"),
        ("limit=-3".to_owned(), "limit"),
        (format!("limit={too_many}"), "limit"),
        ("continue=garbage".to_owned(), "continue"),
        ("continue=n1.%2A%2A".to_owned(), "continue"),
        ("limit=2&continue=".to_owned(), "continue"),
        ("page=2".to_owned(), "page"),
    ] {
        let response = master
            .attested()
            .send(&Request::get(format!("{NODE_HEALTH_PATH}?{query}")))
            .await
            .unwrap();
        let body = String::from_utf8_lossy(&response.body);
        assert_eq!(response.status, 400, "{query}: {body}");
        assert!(body.contains(needle), "{query}: {body}");
    }
}
