//! The node endpoints end to end: a real devnet for stake, the shared real
//! API server for bootstrap tokens and Node objects, and the master's node
//! router called in-process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/nodes.rs"]
mod support;
// The TypeScript SDK runner the core cross-checks use.
#[path = "../../core/tests/support/node.rs"]
mod typescript;

use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use daas_core::access::unix_now_secs;
use daas_core::access::worker_proof::{Purpose, WorkerClaims, WorkerProof, signing_bytes};
use daas_core::api::nodes::{
    HEARTBEAT_PATH, NODE_HEALTH_PATH, REGISTER_WORKER_PATH, RegisterWorkerResponse,
    STAKING_STATUS_PATH,
};
use daas_core::package::{Mist, Role, SLASHER_CAP_ID, SealTokenId};
use daas_master::admission::JoinToken;
use daas_master::admission::bootstrap_token::{
    KUBE_SYSTEM, NODE_BOOTSTRAP_GROUP, node_token_selector,
};
use daas_master::admission::record::read_record;
use daas_master::labels;
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::{Node, Secret};
use kube::api::{Api, ListParams, PostParams};
use serde_json::{Value, json};
use sui_sdk_types::Address;
use support::{
    AUDIENCE, Harness, SLASHER_SEED, access_token, call, error_of, heartbeat_body, key, node_name,
    proof, proof_for, register_body, register_proof,
};

/// Waits until the Node `name` carries `seal`'s annotation.
async fn wait_labelled(harness: &Harness, name: &str, seal: SealTokenId) {
    let nodes = Api::<Node>::all(harness.kube.clone());
    for _ in 0..120 {
        let node = nodes.get(name).await.unwrap();
        let annotations = node.metadata.annotations.unwrap_or_default();
        if annotations.get(labels::SEAL_TOKEN_ANNOTATION) == Some(&seal.to_string()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("node {name} was not labelled");
}

fn status_path(query: &str) -> String {
    format!("{STAKING_STATUS_PATH}?{query}")
}

#[tokio::test]
async fn a_registered_worker_joins_heartbeats_and_shows_in_health_and_status() {
    let harness = Harness::start().await;
    let owner = harness.funded(0x31).await;
    let name = node_name("nodes-ok");
    let seal = harness.stake(&owner, 5, Role::Worker, &name).await;

    // Register: the join token's bootstrap token authenticates as a K3s
    // bootstrapper.
    let proof_text = register_proof(&owner, seal, &name);
    let (status, json) = harness
        .post(
            REGISTER_WORKER_PATH,
            &register_body(seal, &name, &proof_text),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let answer: RegisterWorkerResponse = serde_json::from_value(json).unwrap();
    assert!(answer.success);
    assert_eq!(answer.node_name, name);
    assert_eq!(answer.api_server, harness.cluster.server());
    assert_eq!(
        BASE64.decode(&answer.ca_cert).unwrap(),
        harness.cluster.ca_pem().as_bytes()
    );
    assert!(answer.expires_at > i64::try_from(unix_now_secs()).unwrap());
    let join: JoinToken = answer.join_token.parse().unwrap();
    let bearer = join.bootstrap().bearer();
    let kubeconfig = String::from_utf8(BASE64.decode(&answer.kubeconfig).unwrap()).unwrap();
    assert!(kubeconfig.contains(bearer.as_str()), "{kubeconfig}");
    assert!(
        kubeconfig.contains(harness.cluster.server()),
        "{kubeconfig}"
    );
    let client = harness.cluster.client_for_token(&bearer).await.unwrap();
    let review = Api::<SelfSubjectReview>::all(client)
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .unwrap();
    let user = review.status.unwrap().user_info.unwrap();
    assert_eq!(
        user.username.unwrap(),
        format!("system:bootstrap:{}", join.bootstrap().id())
    );
    assert!(
        user.groups
            .unwrap()
            .iter()
            .any(|g| g == NODE_BOOTSTRAP_GROUP)
    );

    // The admission record binds the bootstrap token to the node.
    let record = read_record(&harness.kube, &name.parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .record
        .unwrap();
    assert_eq!(record.bootstrap_token_id, join.bootstrap().id());
    assert_eq!(record.seal_token, seal);
    assert_eq!(record.owner, owner.address());

    // The same proof again is a replay, to this master and to another one
    // (or this one restarted): no second bootstrap token either way.
    let tokens = || async {
        Api::<Secret>::namespaced(harness.kube.clone(), KUBE_SYSTEM)
            .list_metadata(&ListParams::default().labels(&node_token_selector(&name)))
            .await
            .unwrap()
            .items
            .len()
    };
    assert_eq!(tokens().await, 1);
    let (status, json) = harness
        .post(
            REGISTER_WORKER_PATH,
            &register_body(seal, &name, &proof_text),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{json}");
    assert!(error_of(&json).contains("replayed"), "{json}");
    let (status, json) = call(
        &harness.fresh_router(1000),
        "POST",
        REGISTER_WORKER_PATH,
        Some("application/json"),
        register_body(seal, &name, &proof_text).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{json}");
    assert!(error_of(&json).contains("replayed"), "{json}");
    assert_eq!(tokens().await, 1);

    // The node registers and is labelled in the background.
    Api::<Node>::all(harness.kube.clone())
        .create(&PostParams::default(), &daas_e2e::kwok::fake_node(&name))
        .await
        .unwrap();
    wait_labelled(&harness, &name, seal).await;

    // Health before and after a heartbeat.
    let (status, json) = harness.get(&format!("{NODE_HEALTH_PATH}/{name}")).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["status"], "registered");
    assert_eq!(json["last_heartbeat_age_secs"], Value::Null);
    assert_eq!(
        json.get("owner"),
        None,
        "anonymous callers see no owner: {json}"
    );
    let now = unix_now_secs();
    let beat = proof(&owner, Purpose::Heartbeat, seal, &name, now);
    let (status, json) = harness
        .post(HEARTBEAT_PATH, &heartbeat_body(&name, &beat, 25))
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["next_heartbeat_secs"], 10);
    let health_of = |json: &Value| {
        json["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|node| node["node"] == name.as_str())
            .unwrap()
            .clone()
    };
    // Anyone sees names, status, heartbeats and metrics; only the owner
    // sees who runs the node and where.
    let (status, json) = harness.get(NODE_HEALTH_PATH).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["view"], "public");
    let public = health_of(&json);
    assert_eq!(public["status"], "ready");
    assert_eq!(public["metrics"]["pod_count"], 25);
    assert_eq!(public["last_heartbeat_age_secs"], 0);
    assert_eq!(public["stale"], false);
    for hidden in ["seal_token", "owner", "ip_address", "capacity"] {
        assert_eq!(public.get(hidden), None, "{hidden}: {public}");
    }
    assert_eq!(json["stale_after_secs"], 30);
    let (status, json) = harness
        .get_as(NODE_HEALTH_PATH, &access_token(&owner, seal))
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["view"], "owner");
    let mine = health_of(&json);
    assert_eq!(mine["seal_token"], seal.to_string());
    assert_eq!(mine["owner"], owner.address().to_string());
    assert_eq!(mine["ip_address"], "10.0.1.5");
    assert_eq!(mine["capacity"]["memory"], "16Gi");

    // Replayed and out-of-order heartbeats are refused.
    let (status, json) = harness
        .post(HEARTBEAT_PATH, &heartbeat_body(&name, &beat, 26))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{json}");
    assert!(error_of(&json).contains("not newer"), "{json}");
    let older = proof(&owner, Purpose::Heartbeat, seal, &name, now - 1);
    let (status, _) = harness
        .post(HEARTBEAT_PATH, &heartbeat_body(&name, &older, 26))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // A register proof is not a heartbeat proof.
    let wrong = register_proof(&owner, seal, &name);
    let (status, json) = harness
        .post(HEARTBEAT_PATH, &heartbeat_body(&name, &wrong, 26))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{json}");
    assert!(
        error_of(&json).contains("needs a heartbeat proof"),
        "{json}"
    );

    // A restarted master learns the node from its annotations and the chain.
    let restarted = harness.fresh_router(1000);
    let later = proof(&owner, Purpose::Heartbeat, seal, &name, now + 1);
    let (status, json) = call(
        &restarted,
        "POST",
        HEARTBEAT_PATH,
        Some("application/json"),
        heartbeat_body(&name, &later, 27).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    // Another owner's key cannot heartbeat for the node.
    let stranger = key(0x32);
    let theirs = proof(&stranger, Purpose::Heartbeat, seal, &name, now + 2);
    let (status, json) = harness
        .post(HEARTBEAT_PATH, &heartbeat_body(&name, &theirs, 1))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{json}");

    // Staking status by node, seal token and owner.
    let owner_query = format!("owner={}", owner.address());
    for query in [
        format!("node={name}"),
        format!("seal_token={seal}"),
        owner_query,
    ] {
        let (status, json) = harness.get(&status_path(&query)).await;
        assert_eq!(status, StatusCode::OK, "{query}: {json}");
        let tokens = json["seal_tokens"].as_array().unwrap();
        assert_eq!(tokens.len(), 1, "{query}: {json}");
        let token = &tokens[0];
        assert_eq!(token["seal_token"], seal.to_string());
        assert_eq!(token["owner"], owner.address().to_string());
        assert_eq!(token["role"], "worker");
        assert_eq!(token["node_id"], name.as_str());
        assert_eq!(token["stake_mist"], 5_000_000_000u64);
        assert_eq!(token["stake_sui"], "5 SUI");
        assert_eq!(token["tier"], Value::Null, "a worker's stake buys no tier");
        assert_eq!(token["status"]["state"], "active");
        assert_eq!(token["admitted_node"], name.as_str());
    }

    // A fresh proof re-registers the same node through the same token.
    let (status, json) = harness
        .post(
            REGISTER_WORKER_PATH,
            &register_body(seal, &name, &register_proof(&owner, seal, &name)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");

    // Unstake: once the reconciler invalidates the seal token, the next
    // heartbeat re-checks the chain, is refused and the node is forgotten.
    harness.chain.request_unstake(&owner, seal).await.unwrap();
    let cached = proof(&owner, Purpose::Heartbeat, seal, &name, now + 3);
    let (status, _) = harness
        .post(HEARTBEAT_PATH, &heartbeat_body(&name, &cached, 1))
        .await;
    assert_eq!(status, StatusCode::OK, "no chain read before invalidation");
    harness.service.invalidate_seal_token(seal);
    let after = proof(&owner, Purpose::Heartbeat, seal, &name, now + 4);
    let (status, json) = harness
        .post(HEARTBEAT_PATH, &heartbeat_body(&name, &after, 1))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{json}");
    assert!(error_of(&json).contains("unbonding"), "{json}");
    let (status, _) = harness.get(&format!("{NODE_HEALTH_PATH}/{name}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_quiet_node_the_chain_no_longer_admits_leaves_node_health() {
    let mut harness = Harness::start().await;
    let owner = harness.funded(0x33).await;
    let gone = node_name("nodes-quiet-gone");
    let kept = node_name("nodes-quiet-kept");
    let mut seals = Vec::new();
    for name in [&gone, &kept] {
        let seal = harness.stake(&owner, 5, Role::Worker, name).await;
        let body = register_body(seal, name, &register_proof(&owner, seal, name));
        let (status, json) = harness.post(REGISTER_WORKER_PATH, &body).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        seals.push(seal);
    }
    let (seal_gone, seal_kept) = (seals[0], seals[1]);

    // One node is unstaked and its agent stops; the other's seal token
    // changes on chain (more stake) and still admits it. Both admissions
    // are invalidated, as the chain events do.
    harness
        .chain
        .request_unstake(&owner, seal_gone)
        .await
        .unwrap();
    harness
        .chain
        .add_stake(&owner, seal_kept, Mist::new(1_000_000_000))
        .await
        .unwrap();
    harness.service.invalidate_seal_token(seal_gone);
    harness.service.invalidate_seal_token(seal_kept);

    // Neither has been quiet for an hour: nothing is re-checked.
    let forgotten = harness
        .service
        .recheck_quiet_nodes(Duration::from_secs(3600))
        .await;
    assert!(forgotten.is_empty(), "{forgotten:?}");
    let (status, _) = harness.get(&format!("{NODE_HEALTH_PATH}/{gone}")).await;
    assert_eq!(status, StatusCode::OK, "still listed before the sweep");

    // The chain cannot be asked: nothing is forgotten, both wait.
    harness.devnet.stop().await.unwrap();
    let forgotten = harness.service.recheck_quiet_nodes(Duration::ZERO).await;
    assert!(forgotten.is_empty(), "{forgotten:?}");
    let (status, _) = harness.get(&format!("{NODE_HEALTH_PATH}/{gone}")).await;
    assert_eq!(status, StatusCode::OK, "forgotten without the chain");
    harness.devnet.restart().await.unwrap();

    let forgotten = harness.service.recheck_quiet_nodes(Duration::ZERO).await;
    let forgotten: Vec<String> = forgotten.iter().map(ToString::to_string).collect();
    assert_eq!(forgotten, std::slice::from_ref(&gone));
    let (status, _) = harness.get(&format!("{NODE_HEALTH_PATH}/{gone}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The other was admitted again: its next heartbeat needs no re-check.
    let (status, _) = harness.get(&format!("{NODE_HEALTH_PATH}/{kept}")).await;
    assert_eq!(status, StatusCode::OK);
    let beat = proof(
        &owner,
        Purpose::Heartbeat,
        seal_kept,
        &kept,
        unix_now_secs(),
    );
    let (status, json) = harness
        .post(HEARTBEAT_PATH, &heartbeat_body(&kept, &beat, 1))
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert!(
        harness
            .service
            .recheck_quiet_nodes(Duration::ZERO)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn node_health_shows_owners_their_nodes_and_operators_every_node() {
    let harness = Harness::start().await;
    let alice = harness.funded(0x61).await;
    let bob = harness.funded(0x62).await;
    let admin = harness.funded(0x63).await;
    let developer = harness.funded(0x64).await;
    let mut nodes = Vec::new();
    for (owner, prefix) in [(&alice, "health-a"), (&bob, "health-b")] {
        let name = node_name(prefix);
        let seal = harness.stake(owner, 5, Role::Worker, &name).await;
        let (status, json) = harness
            .post(
                REGISTER_WORKER_PATH,
                &register_body(seal, &name, &register_proof(owner, seal, &name)),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{json}");
        nodes.push((name, seal, owner.address()));
    }
    let admin_seal = harness.stake(&admin, 5, Role::User, "").await;
    let developer_seal = harness.stake(&developer, 2, Role::User, "").await;
    let (alice_node, alice_seal, _) = &nodes[0];
    let (bob_node, _, _) = &nodes[1];
    let shown = |json: &Value, node: &str| {
        json["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["node"] == node)
            .unwrap_or_else(|| panic!("{node} missing: {json}"))
            .clone()
    };
    let full = |health: &Value| health.get("owner").is_some() && health.get("seal_token").is_some();

    // Alice, with an access token naming her worker seal token: her node
    // in full, Bob's redacted.
    let (status, json) = harness
        .get_as(NODE_HEALTH_PATH, &access_token(&alice, *alice_seal))
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["view"], "owner");
    assert!(full(&shown(&json, alice_node)), "{json}");
    assert!(!full(&shown(&json, bob_node)), "{json}");
    let (status, one) = harness
        .get_as(
            &format!("{NODE_HEALTH_PATH}/{bob_node}"),
            &access_token(&alice, *alice_seal),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert!(!full(&one), "{one}");

    // A developer-tier user owns no node: everything redacted.
    let (status, json) = harness
        .get_as(NODE_HEALTH_PATH, &access_token(&developer, developer_seal))
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["view"], "owner");
    assert!(!full(&shown(&json, alice_node)) && !full(&shown(&json, bob_node)));

    // The admin tier sees every node in full.
    let (status, json) = harness
        .get_as(NODE_HEALTH_PATH, &access_token(&admin, admin_seal))
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["view"], "operator");
    for (node, seal, owner) in &nodes {
        let health = shown(&json, node);
        assert_eq!(health["seal_token"], seal.to_string());
        assert_eq!(health["owner"], owner.to_string());
        assert_eq!(health["ip_address"], "10.0.1.5");
    }

    // A credential that does not verify is refused, not shown less.
    let foreign = support::proof_for(
        &alice,
        Purpose::Register,
        *alice_seal,
        alice_node,
        AUDIENCE,
        unix_now_secs(),
    );
    for (token, needle) in [
        ("daas1.x.y".to_owned(), "access token refused"),
        (foreign, "not a K3s-DaaS token"),
        ("0".repeat(64), "opaque seal token is unknown"),
    ] {
        let (status, json) = harness.get_as(NODE_HEALTH_PATH, &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{needle}: {json}");
        assert!(error_of(&json).contains(needle), "{needle}: {json}");
    }
}

/// Registers `body` and expects `expected` with `needle` in the error.
async fn refused(harness: &Harness, body: &Value, expected: StatusCode, needle: &str) {
    let (status, json) = harness.post(REGISTER_WORKER_PATH, body).await;
    assert_eq!(status, expected, "{needle}: {json}");
    assert!(error_of(&json).contains(needle), "{needle}: {json}");
}

#[tokio::test]
async fn registrations_without_a_valid_worker_stake_are_refused_naming_why() {
    let mut harness = Harness::start().await;
    let alice = harness.funded(0x41).await;
    let bob = harness.funded(0x42).await;
    let node_a = node_name("nodes-a");
    let seal_a = harness.stake(&alice, 5, Role::Worker, &node_a).await;

    // A user-role token.
    let user_seal = harness.stake(&alice, 5, Role::User, "").await;
    let user_node = node_name("nodes-user");
    let body = register_body(
        user_seal,
        &user_node,
        &register_proof(&alice, user_seal, &user_node),
    );
    refused(&harness, &body, StatusCode::FORBIDDEN, "user seal token").await;

    // Another owner's token: Bob signs for Alice's seal token.
    let body = register_body(seal_a, &node_a, &register_proof(&bob, seal_a, &node_a));
    refused(&harness, &body, StatusCode::FORBIDDEN, "not by the signer").await;

    // The token is for another node.
    let other = node_name("nodes-other");
    let body = register_body(seal_a, &other, &register_proof(&alice, seal_a, &other));
    refused(&harness, &body, StatusCode::FORBIDDEN, "is for node").await;

    // A seal token that does not exist.
    let ghost = SealTokenId::new(Address::new([0x99; 32]));
    let body = register_body(ghost, &node_a, &register_proof(&alice, ghost, &node_a));
    refused(&harness, &body, StatusCode::FORBIDDEN, "does not exist").await;

    // Stale, future and foreign-audience proofs.
    let now = unix_now_secs();
    let stale = proof(&alice, Purpose::Register, seal_a, &node_a, now - 120);
    refused(
        &harness,
        &register_body(seal_a, &node_a, &stale),
        StatusCode::UNAUTHORIZED,
        "stale",
    )
    .await;
    let future = proof(&alice, Purpose::Register, seal_a, &node_a, now + 600);
    refused(
        &harness,
        &register_body(seal_a, &node_a, &future),
        StatusCode::UNAUTHORIZED,
        "future",
    )
    .await;
    let foreign = proof_for(
        &alice,
        Purpose::Register,
        seal_a,
        &node_a,
        "https://other:6443",
        now,
    );
    refused(
        &harness,
        &register_body(seal_a, &node_a, &foreign),
        StatusCode::UNAUTHORIZED,
        "audience",
    )
    .await;

    // The body and the proof disagree.
    let body = register_body(user_seal, &node_a, &register_proof(&alice, seal_a, &node_a));
    refused(
        &harness,
        &body,
        StatusCode::BAD_REQUEST,
        "the request names",
    )
    .await;

    // Two worker tokens for one node name: the second cannot take it.
    let bob_seal = harness.stake(&bob, 5, Role::Worker, &node_a).await;
    let (status, json) = harness
        .post(
            REGISTER_WORKER_PATH,
            &register_body(seal_a, &node_a, &register_proof(&alice, seal_a, &node_a)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let body = register_body(bob_seal, &node_a, &register_proof(&bob, bob_seal, &node_a));
    refused(
        &harness,
        &body,
        StatusCode::CONFLICT,
        "already admitted through seal token",
    )
    .await;
    // Another master (or this one restarted) knows it from the record.
    let body = register_body(bob_seal, &node_a, &register_proof(&bob, bob_seal, &node_a));
    let (status, json) = call(
        &harness.fresh_router(1000),
        "POST",
        REGISTER_WORKER_PATH,
        Some("application/json"),
        body.to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{json}");
    assert!(
        error_of(&json).contains(&format!("already admitted through seal token {seal_a}")),
        "{json}"
    );

    // A name outside staking (the server's own node) is never admitted.
    let exempt_seal = harness
        .stake(&alice, 5, Role::Worker, "exempt-server")
        .await;
    let body = register_body(
        exempt_seal,
        "exempt-server",
        &register_proof(&alice, exempt_seal, "exempt-server"),
    );
    refused(&harness, &body, StatusCode::CONFLICT, "reserved").await;

    // Unstaked.
    let node_u = node_name("nodes-unstaked");
    let seal_u = harness.stake(&alice, 5, Role::Worker, &node_u).await;
    harness.chain.request_unstake(&alice, seal_u).await.unwrap();
    let body = register_body(seal_u, &node_u, &register_proof(&alice, seal_u, &node_u));
    refused(&harness, &body, StatusCode::FORBIDDEN, "unbonding").await;

    // Slashed (10 % of 5 SUI, which is also below the worker minimum): a
    // slashed worker token never rejoins.
    let node_s = node_name("nodes-slashed");
    let seal_s = harness.stake(&alice, 5, Role::Worker, &node_s).await;
    let slasher = key(SLASHER_SEED);
    let proposed = harness
        .chain
        .propose_slash(&slasher, seal_s, &[7; 32], "test")
        .await
        .unwrap();
    harness
        .chain
        .approve_slash(&slasher, SLASHER_CAP_ID, proposed.event.proposal_id)
        .await
        .unwrap();
    let body = register_body(seal_s, &node_s, &register_proof(&alice, seal_s, &node_s));
    refused(&harness, &body, StatusCode::FORBIDDEN, "was slashed").await;
    let (status, json) = harness
        .get(&status_path(&format!("seal_token={seal_s}")))
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["seal_tokens"][0]["status"]["state"], "understaked");
    assert_eq!(json["seal_tokens"][0]["admitted_node"], Value::Null);

    // The API server cannot record the proof's nonce: 503, and no token
    // is minted (single use cannot be guaranteed, so nothing is admitted).
    let node_n = node_name("nodes-no-ledger");
    let seal_n = harness.stake(&alice, 5, Role::Worker, &node_n).await;
    let body = register_body(seal_n, &node_n, &register_proof(&alice, seal_n, &node_n));
    let (status, json) = call(
        &harness.router_without_api_server(),
        "POST",
        REGISTER_WORKER_PATH,
        Some("application/json"),
        body.to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{json}");
    assert!(
        error_of(&json).contains("cannot record the proof's nonce"),
        "{json}"
    );
    let minted = Api::<Secret>::namespaced(harness.kube.clone(), KUBE_SYSTEM)
        .list_metadata(&ListParams::default().labels(&node_token_selector(&node_n)))
        .await
        .unwrap();
    assert!(minted.items.is_empty());

    // The chain is down: 503, and nothing is admitted.
    let node_d = node_name("nodes-down");
    let seal_d = harness.stake(&alice, 5, Role::Worker, &node_d).await;
    let down = harness.router_with_chain(harness.devnet.chain_config());
    harness.devnet.stop().await.unwrap();
    let body = register_body(seal_d, &node_d, &register_proof(&alice, seal_d, &node_d));
    let (status, json) = call(
        &down,
        "POST",
        REGISTER_WORKER_PATH,
        Some("application/json"),
        body.to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{json}");
    assert!(error_of(&json).contains("try again later"), "{json}");
}

#[tokio::test]
async fn bad_input_is_4xx_naming_the_problem() {
    let harness = Harness::start().await;
    let owner = harness.funded(0x51 + 1).await;
    let name = node_name("nodes-bad");
    let seal = harness.stake(&owner, 5, Role::Worker, &name).await;
    let good = register_body(seal, &name, &register_proof(&owner, seal, &name));
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body.to_string()
    };
    let mut unknown = good.clone();
    unknown["extra"] = json!(1);
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("proof");
    let cases: Vec<(String, StatusCode, &str)> = vec![
        ("{".to_owned(), StatusCode::BAD_REQUEST, "EOF"),
        (
            missing.to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing field `proof`",
        ),
        (
            unknown.to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown field `extra`",
        ),
        (
            with("proof", json!("daasw1.xx")),
            StatusCode::BAD_REQUEST,
            "bad proof",
        ),
        (
            with("proof", json!("daas1.a.b")),
            StatusCode::BAD_REQUEST,
            "does not start",
        ),
        (
            with("ip_address", json!("10.0.1")),
            StatusCode::BAD_REQUEST,
            "ip_address",
        ),
        (
            with("node_id", json!("Bad_Name")),
            StatusCode::BAD_REQUEST,
            "node_id",
        ),
        (
            with("seal_token", json!("0xzz")),
            StatusCode::BAD_REQUEST,
            "seal_token",
        ),
        (
            with(
                "capacity",
                json!({"cpu": "", "memory": "1", "storage": "1"}),
            ),
            StatusCode::BAD_REQUEST,
            "capacity.cpu",
        ),
        (
            with("capacity", json!({"cpu": "1"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing field",
        ),
        (
            format!("{{\"pad\":\"{}\"}}", "x".repeat(32 * 1024)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than",
        ),
    ];
    for (body, expected, needle) in cases {
        let (status, json) = call(
            &harness.router,
            "POST",
            REGISTER_WORKER_PATH,
            Some("application/json"),
            body.clone(),
        )
        .await;
        assert_eq!(status, expected, "{body:.80}: {json}");
        assert!(error_of(&json).contains(needle), "{body:.80}: {json}");
    }
    let (status, json) = call(
        &harness.router,
        "POST",
        REGISTER_WORKER_PATH,
        Some("text/plain"),
        good.to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{json}");
    assert!(error_of(&json).contains("Content-Type"), "{json}");

    // Heartbeats: an unknown node, bad status, body and proof disagree.
    let ghost = node_name("nodes-ghost");
    let beat = proof(&owner, Purpose::Heartbeat, seal, &ghost, unix_now_secs());
    let (status, json) = harness
        .post(HEARTBEAT_PATH, &heartbeat_body(&ghost, &beat, 0))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{json}");
    assert!(error_of(&json).contains(&ghost), "{json}");
    let mut registered = heartbeat_body(&ghost, &beat, 0);
    registered["status"] = json!("registered");
    let (status, json) = harness.post(HEARTBEAT_PATH, &registered).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    let mut bogus = heartbeat_body(&ghost, &beat, 0);
    bogus["status"] = json!("sleepy");
    let (status, json) = harness.post(HEARTBEAT_PATH, &bogus).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{json}");
    assert!(error_of(&json).contains("unknown variant"), "{json}");
    let (status, json) = harness
        .post(HEARTBEAT_PATH, &heartbeat_body(&name, &beat, 0))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert!(error_of(&json).contains("the request names"), "{json}");

    // Health of an unknown node.
    let (status, json) = harness.get(&format!("{NODE_HEALTH_PATH}/{ghost}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{json}");
    assert!(error_of(&json).contains(&ghost), "{json}");

    // Staking status queries.
    let ghost_seal = SealTokenId::new(Address::new([0x98; 32]));
    let queries: Vec<(String, StatusCode, &str)> = vec![
        (String::new(), StatusCode::BAD_REQUEST, "exactly one"),
        (
            format!("node={name}&seal_token={seal}"),
            StatusCode::BAD_REQUEST,
            "exactly one",
        ),
        (
            "owner=0x12345g".to_owned(),
            StatusCode::BAD_REQUEST,
            "not a Sui address",
        ),
        ("node=Bad_Name".to_owned(), StatusCode::BAD_REQUEST, "node"),
        (
            "colour=red".to_owned(),
            StatusCode::BAD_REQUEST,
            "unknown field",
        ),
        (
            format!("seal_token={ghost_seal}"),
            StatusCode::NOT_FOUND,
            "does not exist",
        ),
        (
            format!("node={ghost}"),
            StatusCode::NOT_FOUND,
            "not admitted",
        ),
    ];
    for (query, expected, needle) in queries {
        let (status, json) = harness.get(&status_path(&query)).await;
        assert_eq!(status, expected, "{query}: {json}");
        assert!(error_of(&json).contains(needle), "{query}: {json}");
    }
    // An owner with no seal tokens has an empty list.
    let (status, json) = harness
        .get(&status_path(&format!("owner={}", key(0x77).address())))
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["seal_tokens"], json!([]));

    // The rate limit per client answers 429 with Retry-After's wait.
    let limited = harness.fresh_router(2);
    let path = status_path(&format!("seal_token={seal}"));
    for _ in 0..2 {
        let (status, _) = call(&limited, "GET", &path, None, String::new()).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, json) = call(&limited, "GET", &path, None, String::new()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{json}");
    assert!(error_of(&json).contains("retry after"), "{json}");
}

#[test]
fn worker_proof_bytes_match_the_typescript_sdk() {
    let owner = key(0x21);
    let seal = SealTokenId::new(Address::new([0x5e; 32]));
    let mut claims = WorkerClaims::new(
        Purpose::Heartbeat,
        seal,
        owner.address(),
        "worker-7".parse().unwrap(),
        AUDIENCE,
        1_800_000_123,
    )
    .unwrap();
    claims.nonce = [0xc3; 16];
    let rust = WorkerProof::sign(&owner, &claims).unwrap();
    let input = json!({
        "make": [{
            "secret": hex::encode([0x21u8; 32]),
            "claims": {
                "purpose": "heartbeat", "seal_token": seal.to_string(), "node_id": "worker-7",
                "audience": AUDIENCE, "issued_at": 1_800_000_123u64, "nonce": hex::encode([0xc3u8; 16]),
            },
        }],
        "verify": [rust.as_str()],
    });
    let output = typescript::run_script("worker_proof.mjs", &input);
    let made = &output["made"][0];
    assert_eq!(
        made["payload"],
        hex::encode(signing_bytes(&claims).unwrap())
    );
    // Ed25519 is deterministic: the SDK's signature is ours, byte for byte.
    let (_, signature) = rust.as_str().rsplit_once('.').unwrap();
    let ours = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .unwrap();
    assert_eq!(made["signature"], BASE64.encode(ours));
    let verified = &output["verified"][0];
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["node_id"], "worker-7");
    assert_eq!(verified["purpose"], 1);
    // And the SDK-made proof verifies in Rust.
    let sdk_signature = BASE64.decode(made["signature"].as_str().unwrap()).unwrap();
    let payload = hex::decode(made["payload"].as_str().unwrap()).unwrap();
    let wire = format!(
        "daasw1.{}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sdk_signature)
    );
    let verified = WorkerProof::parse(&wire)
        .unwrap()
        .verify(
            AUDIENCE,
            1_800_000_130,
            Duration::from_secs(60),
            Duration::ZERO,
        )
        .unwrap();
    assert_eq!(verified.claims(), &claims);
}

#[tokio::test]
async fn only_the_owner_drains_its_node_and_each_drain_proof_is_used_once() {
    let harness = Harness::start().await;
    let owner = harness.funded(0x3a).await;
    let stranger = harness.funded(0x3b).await;
    let name = node_name("nodes-drain");
    let seal = harness.stake(&owner, 5, Role::Worker, &name).await;
    let path = format!("/api/v1/nodes/{name}/drain");
    let drain_body = |key: &daas_core::wallet::Keypair, purpose: Purpose| json!({ "proof": proof(key, purpose, seal, &name, unix_now_secs()) });

    // Not admitted yet: nothing to drain.
    let (status, json) = harness
        .post(&path, &drain_body(&owner, Purpose::Drain))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{json}");

    let (status, json) = harness
        .post(
            REGISTER_WORKER_PATH,
            &register_body(seal, &name, &register_proof(&owner, seal, &name)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    Api::<Node>::all(harness.kube.clone())
        .create(&PostParams::default(), &daas_e2e::kwok::fake_node(&name))
        .await
        .unwrap();

    // Refused: a stranger's proof (signed for the owner's token), a proof
    // for another purpose, a proof for another node.
    let (status, json) = harness
        .post(&path, &drain_body(&stranger, Purpose::Drain))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{json}");
    let (status, json) = harness
        .post(&path, &drain_body(&owner, Purpose::Heartbeat))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{json}");
    let other =
        json!({ "proof": proof(&owner, Purpose::Drain, seal, "other-node", unix_now_secs()) });
    let (status, json) = harness.post(&path, &other).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    let node = Api::<Node>::all(harness.kube.clone())
        .get(&name)
        .await
        .unwrap();
    assert_ne!(node.spec.unwrap().unschedulable, Some(true));

    // The owner's proof cordons the node; the same proof again is a replay.
    let body = drain_body(&owner, Purpose::Drain);
    let (status, json) = harness.post(&path, &body).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json, json!({ "cordoned": true, "pods_remaining": 0 }));
    let node = Api::<Node>::all(harness.kube.clone())
        .get(&name)
        .await
        .unwrap();
    assert_eq!(node.spec.unwrap().unschedulable, Some(true));
    let (status, json) = harness.post(&path, &body).await;
    assert_eq!(status, StatusCode::CONFLICT, "{json}");
    assert!(error_of(&json).contains("replayed"), "{json}");
}
