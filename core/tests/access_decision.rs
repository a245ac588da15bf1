//! The access decision over decoded chain objects, the TokenReview wire
//! types and the kubeconfig builder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use daas_core::access::kubeconfig::{
    self, ExecPlugin, KubeconfigEntry, ServerTrust, credential_args,
};
use daas_core::access::tokenreview::TokenReview;
use daas_core::access::{AccessToken, Claims, Decision, DenyReason, VerifiedToken, decide};
use daas_core::package::staking::PoolParams;
use daas_core::package::staking::{SealToken, StakePool, StakeRecord};
use daas_core::package::{Mist, MoveTable, Role, SealTokenId, Tier};
use daas_core::wallet::{Keypair, Scheme};
use serde_json::json;
use sui_sdk_types::Address;

const SUI: u64 = 1_000_000_000;
const NOW_S: u64 = 1_800_000_000;
const NOW_MS: u64 = NOW_S * 1000;
const AUDIENCE: &str = "https://k3s.example:6443";

struct World {
    key: Keypair,
    token: VerifiedToken,
    seal: SealToken,
    record: StakeRecord,
    pool: StakePool,
}

fn pool_id() -> Address {
    Address::new([0xaa; 32])
}

fn world(stake_sui_tenths: u64) -> World {
    let key = Keypair::generate(Scheme::Ed25519);
    let seal_id = SealTokenId::new(Address::new([0x5e; 32]));
    let claims = Claims::new(
        seal_id,
        key.address(),
        AUDIENCE,
        NOW_S,
        Duration::from_secs(600),
    )
    .unwrap();
    let token = AccessToken::parse(AccessToken::sign(&key, &claims).unwrap().as_str())
        .unwrap()
        .verify(AUDIENCE, NOW_S, Duration::from_secs(30))
        .unwrap();
    let seal = SealToken {
        id: seal_id,
        pool_id: pool_id(),
        owner: key.address(),
        role: Role::User,
        node_id: Vec::new(),
        created_at_ms: NOW_MS - 1000,
    };
    let record = StakeRecord {
        owner: key.address(),
        role: Role::User,
        node_id: Vec::new(),
        stake: Mist::new(stake_sui_tenths * SUI / 10),
        created_at_ms: NOW_MS - 1000,
        expires_at_ms: NOW_MS + 30 * 24 * 3600 * 1000,
        unbonding_until_ms: None,
        slashed_total: Mist::ZERO,
    };
    let pool = StakePool {
        id: pool_id(),
        params: PoolParams::default(),
        paused: false,
        total_staked: record.stake,
        treasury: Mist::ZERO,
        records: MoveTable {
            id: Address::new([0x01; 32]),
            size: 1,
        },
        proposals: MoveTable {
            id: Address::new([0x02; 32]),
            size: 0,
        },
        next_proposal_id: 0,
    };
    World {
        key,
        token,
        seal,
        record,
        pool,
    }
}

impl World {
    fn decide(&self) -> Decision {
        decide(
            &self.token,
            &self.seal,
            Some(self.key.address()),
            Some(&self.record),
            &self.pool,
            NOW_MS,
        )
    }

    fn denied(&self) -> DenyReason {
        match self.decide() {
            Decision::Denied(reason) => reason,
            Decision::Allowed(grant) => panic!("expected a denial, got {grant:?}"),
        }
    }
}

#[test]
fn tiers_map_to_groups() {
    for (tenths, tier) in [
        (5, Tier::Viewer),
        (19, Tier::Viewer),
        (20, Tier::Developer),
        (50, Tier::Admin),
        (99, Tier::Admin),
        (100, Tier::Super),
        (1000, Tier::Super),
    ] {
        let w = world(tenths);
        let Decision::Allowed(grant) = w.decide() else {
            panic!("{tenths} tenths of SUI denied: {:?}", w.decide());
        };
        assert_eq!(grant.tier, tier);
        assert_eq!(grant.username, format!("sui:{}", w.key.address()));
        assert_eq!(
            grant.groups,
            vec![format!("k3s-daas:{tier}"), "k3s-daas:users".to_owned()]
        );
        assert_eq!(
            grant.extra["k3s-daas.io/seal-token-id"],
            vec![w.seal.id.to_string()]
        );
        assert_eq!(
            grant.extra["k3s-daas.io/stake-mist"],
            vec![(tenths * SUI / 10).to_string()]
        );
        assert_eq!(grant.stake, w.record.stake);
    }
}

#[test]
fn below_the_user_minimum_is_denied() {
    let w = world(4);
    assert_eq!(
        w.denied(),
        DenyReason::UnderStaked {
            stake: Mist::new(400_000_000),
            required: Mist::new(500_000_000),
        }
    );
}

#[test]
fn worker_tokens_do_not_authenticate_users() {
    let mut w = world(60);
    w.seal.role = Role::Worker;
    w.seal.node_id = b"node-1".to_vec();
    assert_eq!(w.denied(), DenyReason::WorkerToken);
    let mut w = world(60);
    w.record.role = Role::Worker;
    assert_eq!(w.denied(), DenyReason::WorkerToken);
}

#[test]
fn unbonding_is_denied() {
    let mut w = world(20);
    w.record.unbonding_until_ms = Some(NOW_MS + 7 * 24 * 3600 * 1000);
    assert_eq!(
        w.denied(),
        DenyReason::Unbonding {
            until_ms: NOW_MS + 7 * 24 * 3600 * 1000
        }
    );
}

#[test]
fn expired_seal_token_is_denied() {
    let mut w = world(20);
    w.record.expires_at_ms = NOW_MS;
    assert_eq!(w.denied(), DenyReason::SealTokenExpired { at_ms: NOW_MS });
    w.record.expires_at_ms = NOW_MS + 1;
    assert!(w.decide().is_allowed());
}

#[test]
fn missing_record_is_denied() {
    let w = world(20);
    let decision = decide(
        &w.token,
        &w.seal,
        Some(w.key.address()),
        None,
        &w.pool,
        NOW_MS,
    );
    assert_eq!(decision, Decision::Denied(DenyReason::NoStakeRecord));
}

#[test]
fn owners_must_all_be_the_signer() {
    let stranger = Address::new([0x77; 32]);
    // The object is owned by someone else.
    let w = world(20);
    let decision = decide(
        &w.token,
        &w.seal,
        Some(stranger),
        Some(&w.record),
        &w.pool,
        NOW_MS,
    );
    assert_eq!(
        decision,
        Decision::Denied(DenyReason::NotOwnedBySigner {
            signer: w.key.address(),
            object_owner: Some(stranger),
        })
    );
    // Shared or wrapped: no address owner.
    let decision = decide(&w.token, &w.seal, None, Some(&w.record), &w.pool, NOW_MS);
    assert!(matches!(
        decision,
        Decision::Denied(DenyReason::NotOwnedBySigner {
            object_owner: None,
            ..
        })
    ));
    // The token's owner field.
    let mut w = world(20);
    w.seal.owner = stranger;
    assert_eq!(
        w.denied(),
        DenyReason::OwnerMismatch {
            signer: w.key.address(),
            owner: stranger
        }
    );
    // The record's owner.
    let mut w = world(20);
    w.record.owner = stranger;
    assert_eq!(
        w.denied(),
        DenyReason::OwnerMismatch {
            signer: w.key.address(),
            owner: stranger
        }
    );
}

#[test]
fn foreign_pool_and_other_token_are_denied() {
    let mut w = world(20);
    w.seal.pool_id = Address::new([0xbb; 32]);
    assert!(matches!(w.denied(), DenyReason::ForeignPool { .. }));
    let mut w = world(20);
    w.seal.id = SealTokenId::new(Address::new([0x99; 32]));
    assert!(matches!(w.denied(), DenyReason::SealTokenMismatch { .. }));
}

#[test]
fn slashed_below_minimum_is_denied_even_if_thresholds_move() {
    let mut w = world(20);
    w.record.stake = Mist::new(450_000_000);
    w.record.slashed_total = Mist::new(50_000_000);
    assert!(matches!(w.denied(), DenyReason::UnderStaked { .. }));
    // A pool whose viewer threshold is above its minimum: a stake between
    // them is active but buys no tier.
    let mut w = world(6);
    w.pool.params.tiers.viewer = Mist::new(SUI);
    assert_eq!(
        w.denied(),
        DenyReason::NoTier {
            stake: Mist::new(600_000_000)
        }
    );
}

#[test]
fn deny_reasons_read_well() {
    let w = world(4);
    assert_eq!(
        w.denied().to_string(),
        "stake 0.4 SUI is below the required 0.5 SUI"
    );
}

#[test]
fn tokenreview_request_and_answers_match_the_kubernetes_schema() {
    let request: TokenReview = serde_json::from_value(json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {
            "token": "daas1.abc.def",
            "audiences": ["https://kubernetes.default.svc.cluster.local", "k3s"]
        }
    }))
    .unwrap();
    assert_eq!(request.spec.token, "daas1.abc.def");
    assert!(!format!("{request:?}").contains("daas1.abc.def"));

    let w = world(50);
    // Asked for the API server's audiences, the answer names none of them
    // (the API server then applies its own): a daas token is for the
    // cluster, never for whatever audience a reviewer names.
    let allowed = serde_json::to_value(request.answer(&w.decide(), "k3s-daas-test")).unwrap();
    assert_eq!(
        allowed,
        json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {},
            "status": {
                "authenticated": true,
                "user": {
                    "username": format!("sui:{}", w.key.address()),
                    "uid": format!("sui:{}", w.key.address()),
                    "groups": ["k3s-daas:admin", "k3s-daas:users"],
                    "extra": {
                        "k3s-daas.io/seal-token-id": [w.seal.id.to_string()],
                        "k3s-daas.io/stake-mist": ["5000000000"],
                        "k3s-daas.io/tier": ["admin"]
                    }
                }
            }
        })
    );
    // Asked for the configured audience among others, it names that one.
    let ours = request.answer(&w.decide(), "k3s").status.unwrap();
    assert_eq!(ours.audiences, ["k3s"]);
    // Asked only for another service's audience, it names none (and the
    // API server, intersecting with its own, refuses).
    let vault = TokenReview::request("daas1.abc.def", vec!["vault".to_owned()]);
    let status = vault.answer(&w.decide(), "k3s").status.unwrap();
    assert!(
        status.authenticated && status.audiences.is_empty(),
        "{status:?}"
    );

    let denied = serde_json::to_value(request.answer(&world(4).decide(), "k3s")).unwrap();
    assert_eq!(
        denied,
        json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {},
            "status": {
                "authenticated": false,
                "error": "stake 0.4 SUI is below the required 0.5 SUI"
            }
        })
    );
    let rejected = serde_json::to_value(request.reject("malformed access token")).unwrap();
    assert_eq!(rejected["status"]["authenticated"], json!(false));
    assert_eq!(rejected["status"]["error"], json!("malformed access token"));

    // Exactly what kube-apiserver sends: null metadata fields and an empty
    // user in the status.
    let from_apiserver: TokenReview = serde_json::from_str(
        r#"{"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1","metadata":{"creationTimestamp":null},"spec":{"token":"daas1.a.b","audiences":["https://kubernetes.default.svc.cluster.local","k3s"]},"status":{"user":{}}}"#,
    )
    .unwrap();
    assert_eq!(from_apiserver.spec.token, "daas1.a.b");

    // A v1beta1 request gets a v1beta1 answer; a request without audiences parses.
    let beta: TokenReview = serde_json::from_value(json!({
        "apiVersion": "authentication.k8s.io/v1beta1",
        "kind": "TokenReview",
        "spec": { "token": "x" }
    }))
    .unwrap();
    assert_eq!(
        beta.reject("no").api_version,
        "authentication.k8s.io/v1beta1"
    );
}

fn entry(name: &str) -> KubeconfigEntry {
    let seal = SealTokenId::new(Address::new([0x5e; 32]));
    KubeconfigEntry {
        cluster: name.to_owned(),
        server: "https://127.0.0.1:6443".to_owned(),
        trust: ServerTrust::CaPem(
            b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".to_vec(),
        ),
        user: format!("{name}-user"),
        context: name.to_owned(),
        namespace: None,
        exec: ExecPlugin {
            command: "/usr/local/bin/daas-console".to_owned(),
            args: credential_args(seal, "https://127.0.0.1:6443", Some("0x01"), None),
            env: Vec::new(),
        },
    }
}

#[test]
fn kubeconfig_yaml_round_trips_with_quoted_hex_and_exec_section() {
    let config = entry("daas").to_config();
    let yaml = kubeconfig::to_yaml(&config).unwrap();
    // Hex addresses must stay strings for Go's YAML parser too.
    assert!(!yaml.contains("- 0x"), "{yaml}");
    let back = kubeconfig::from_yaml(&yaml).unwrap();
    assert_eq!(back, config);
    let exec = &back["users"][0]["user"]["exec"];
    assert_eq!(exec["apiVersion"], json!("client.authentication.k8s.io/v1"));
    assert_eq!(exec["interactiveMode"], json!("IfAvailable"));
    assert_eq!(
        exec["args"],
        json!([
            "credential",
            "--seal-token",
            SealTokenId::new(Address::new([0x5e; 32])).to_string(),
            "--audience",
            "https://127.0.0.1:6443",
            "--key",
            "0x01"
        ])
    );
    assert_eq!(back["current-context"], json!("daas"));
}

#[test]
fn kubeconfig_merge_keeps_other_entries() {
    let existing = kubeconfig::from_yaml(
        r"
apiVersion: v1
kind: Config
clusters:
- name: other
  cluster:
    server: https://other:6443
- name: daas
  cluster:
    server: https://stale:6443
users:
- name: other-user
  user:
    token: abc
contexts:
- name: other
  context:
    cluster: other
    user: other-user
current-context: other
preferences: {}
extensions:
- name: keep-me
  extension: {a: 1}
",
    )
    .unwrap();
    let merged = kubeconfig::merge(existing.clone(), &entry("daas"), false).unwrap();
    assert_eq!(merged["clusters"].as_array().unwrap().len(), 2);
    assert_eq!(merged["clusters"][0], existing["clusters"][0]);
    assert_eq!(
        merged["clusters"][1]["cluster"]["server"],
        json!("https://127.0.0.1:6443")
    );
    assert_eq!(merged["users"].as_array().unwrap().len(), 2);
    assert_eq!(merged["users"][0], existing["users"][0]);
    assert_eq!(merged["contexts"].as_array().unwrap().len(), 2);
    assert_eq!(merged["extensions"], existing["extensions"]);
    assert_eq!(merged["current-context"], json!("other"));
    let switched = kubeconfig::merge(existing, &entry("daas"), true).unwrap();
    assert_eq!(switched["current-context"], json!("daas"));
    // Merging twice changes nothing.
    let again = kubeconfig::merge(merged.clone(), &entry("daas"), false).unwrap();
    assert_eq!(again, merged);
    // Empty files and nulls are empty kubeconfigs; non-mappings are refused.
    assert!(
        kubeconfig::from_yaml("")
            .unwrap()
            .as_object()
            .unwrap()
            .is_empty()
    );
    assert!(kubeconfig::from_yaml("[1, 2]").is_err());
    assert!(kubeconfig::from_yaml("clusters: [").is_err());
    assert!(kubeconfig::merge(json!({"clusters": 3}), &entry("x"), false).is_err());
}
