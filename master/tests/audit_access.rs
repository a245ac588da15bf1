//! Who may read the audit log: the proof endpoints against a real devnet
//! and the real API server's access service, called in process. Every
//! refusal fails closed: no token, an opaque token, a token for another
//! cluster or signed by another key, or no active stake is 401; below the
//! super tier, another identity's event is 403.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/access.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use daas_core::access::unix_now_secs;
use daas_core::api::audit::{AuditCheckpointList, AuditEventProof};
use daas_core::audit::parse_event_list;
use daas_core::package::Role;
use daas_e2e::devnet::Devnet;
use daas_e2e::k3s;
use daas_master::audit::http::router;
use daas_master::audit::{AuditLog, CheckpointPolicy};
use ed25519_dalek::SigningKey;
use sui_sdk_types::Address;
use support::{Master, SUI, User, bearer_request, call, error_of, settings};

/// An event of `user`, as the API server posts it.
fn event_of(audit_id: &str, user: &str) -> String {
    format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{{"auditID":"{audit_id}","stage":"ResponseComplete","verb":"get","user":{{"username":"{user}"}},"responseStatus":{{"code":200}}}}]}}"#
    )
}

/// A log holding one event of each of `users`, in one signed checkpoint.
fn log_with(dir: &std::path::Path, users: &[(&str, String)]) -> Arc<AuditLog> {
    let log = AuditLog::open(
        dir,
        SigningKey::from_bytes(&[7; 32]),
        CheckpointPolicy {
            events: 1000,
            interval: Duration::from_secs(60),
        },
    )
    .unwrap();
    log.bind(Address::new([0x0b; 32])).unwrap();
    for (id, user) in users {
        log.append(&parse_event_list(event_of(id, user).as_bytes()).unwrap())
            .unwrap();
    }
    log.sign_if_due(Instant::now(), true).unwrap().unwrap();
    Arc::new(log)
}

fn unauthenticated(uri: &str) -> Request<Body> {
    Request::builder()
        .method(Method::GET)
        .uri(uri)
        .body(Body::empty())
        .unwrap()
}

async fn status_of(app: &Router, request: Request<Body>) -> (StatusCode, String) {
    let (status, _, body) = call(app, request).await;
    let text = if status.is_success() {
        String::from_utf8_lossy(&body).into_owned()
    } else {
        error_of(&body)
    };
    (status, text)
}

#[tokio::test]
async fn audit_reads_need_a_staker_and_below_super_only_its_own_events() {
    let devnet = Devnet::start().await.unwrap();
    let cluster = k3s::shared().await.unwrap();
    let master = Master::start(&devnet, settings(cluster)).await;
    let alice = User::funded(&devnet, 0x81).await;
    let bob = User::funded(&devnet, 0x82).await;
    let root = User::funded(&devnet, 0x83).await;
    let stranger = User::funded(&devnet, 0x84).await;
    let alice_seal = alice.stake(&devnet, SUI, Role::User).await;
    let root_seal = root.stake(&devnet, 10 * SUI, Role::User).await;
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(
        dir.path(),
        &[
            ("alice-1", format!("sui:{}", alice.address())),
            ("bob-1", format!("sui:{}", bob.address())),
            ("admin-1", "system:admin".to_owned()),
        ],
    );
    let app = router(log, Arc::clone(&master.service));
    let event = |id: &str| format!("/api/v1/audit/events/{id}");

    // No token, an opaque seal token, a token of another cluster, one
    // signed by another key, one without any stake: 401 on every route.
    for uri in [
        event("alice-1"),
        "/api/v1/audit/checkpoints".to_owned(),
        "/api/v1/audit/consistency?from=1&to=3".to_owned(),
    ] {
        let (status, error) = status_of(&app, unauthenticated(&uri)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}: {error}");
        let opaque = "ab".repeat(32);
        let (status, error) = status_of(&app, bearer_request(Method::GET, &uri, &opaque)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}: {error}");
        assert!(error.contains("daas1"), "{error}");
        let elsewhere = alice.token_with(
            alice_seal,
            alice.address(),
            "https://elsewhere:6443",
            unix_now_secs(),
        );
        let (status, error) = status_of(&app, bearer_request(Method::GET, &uri, &elsewhere)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}: {error}");
        let forged = bob.token_claiming(alice_seal, alice.address());
        let (status, error) = status_of(&app, bearer_request(Method::GET, &uri, &forged)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}: {error}");
        // The stranger signs for alice's seal token as its own owner.
        let unstaked = stranger.token_claiming(alice_seal, stranger.address());
        let (status, error) = status_of(&app, bearer_request(Method::GET, &uri, &unstaked)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}: {error}");
    }

    // A viewer reads its own event, not bob's nor the cluster admin's.
    let token = alice.token(alice_seal);
    let (status, body) =
        status_of(&app, bearer_request(Method::GET, &event("alice-1"), &token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let proof: AuditEventProof = serde_json::from_str(&body).unwrap();
    assert_eq!(proof.event.user, format!("sui:{}", alice.address()));
    for other in ["bob-1", "admin-1"] {
        let (status, error) =
            status_of(&app, bearer_request(Method::GET, &event(other), &token)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{other}: {error}");
        assert!(error.contains("super tier"), "{error}");
    }
    // Checkpoints and consistency proofs: any staker.
    let (status, body) = status_of(
        &app,
        bearer_request(Method::GET, "/api/v1/audit/checkpoints", &token),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let list: AuditCheckpointList = serde_json::from_str(&body).unwrap();
    assert_eq!(list.stored, 3);
    let (status, body) = status_of(
        &app,
        bearer_request(Method::GET, "/api/v1/audit/consistency?from=1&to=3", &token),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The super tier reads every event.
    let token = root.token(root_seal);
    for id in ["alice-1", "bob-1", "admin-1"] {
        let (status, body) = status_of(&app, bearer_request(Method::GET, &event(id), &token)).await;
        assert_eq!(status, StatusCode::OK, "{id}: {body}");
    }
}
