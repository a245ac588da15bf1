//! The audit endpoints: `POST /audit` for the API server's webhook (on the
//! webhook listener), and the proofs on the attested API.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use daas_core::api::audit::{
    AUDIT_CHECKPOINTS_PATH, AUDIT_CONSISTENCY_PATH, AUDIT_EVENTS_PATH, AuditCheckpointList,
    AuditConsistency, AuditEventProof,
};
use daas_core::audit::parse_event_list;
use serde::Deserialize;
use tracing::{debug, instrument};

use super::AuditLog;
use crate::http::ApiError;

/// Path of the audit webhook on the webhook listener.
pub const AUDIT_WEBHOOK_PATH: &str = "/audit";
/// Largest `EventList` accepted: 400 events (the webhook's default batch)
/// of metadata-level events fit many times over.
const WEBHOOK_BODY_LIMIT: usize = 32 << 20;

/// `POST /audit`, for the webhook listener.
pub fn webhook_router(log: Arc<AuditLog>) -> Router {
    Router::new()
        .route(AUDIT_WEBHOOK_PATH, post(ingest))
        .layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT))
        .with_state(log)
}

/// The proof endpoints, for the attested API.
pub fn router(log: Arc<AuditLog>) -> Router {
    Router::new()
        .route(&format!("{AUDIT_EVENTS_PATH}/{{audit_id}}"), get(event))
        .route(AUDIT_CHECKPOINTS_PATH, get(checkpoints))
        .route(AUDIT_CONSISTENCY_PATH, get(consistency))
        .with_state(log)
}

/// Stores an `EventList` durably, then answers 200. A list with a bad
/// event is refused whole (400), so the API server's retry or its log
/// shows the problem; a storage failure is a 503 and nothing of the batch
/// is acknowledged.
#[instrument(skip_all, fields(bytes = body.len()))]
async fn ingest(State(log): State<Arc<AuditLog>>, body: Bytes) -> Result<StatusCode, ApiError> {
    let leaves =
        parse_event_list(&body).map_err(|error| ApiError::bad_request(error.to_string()))?;
    let outcome = tokio::task::spawn_blocking(move || log.append(&leaves))
        .await
        .map_err(|error| ApiError::internal("the audit append task failed", &error))?
        .map_err(|error| ApiError::unavailable("cannot store audit events", &error))?;
    debug!(
        added = outcome.added,
        duplicates = outcome.duplicates,
        "audit events stored"
    );
    Ok(StatusCode::OK)
}

/// `GET /api/v1/audit/events/{audit_id}`.
#[instrument(skip(log))]
async fn event(
    State(log): State<Arc<AuditLog>>,
    Path(audit_id): Path<String>,
) -> Result<Json<AuditEventProof>, ApiError> {
    tokio::task::spawn_blocking(move || event_proof(&log, &audit_id))
        .await
        .map_err(|error| ApiError::internal("the audit read task failed", &error))?
        .map(Json)
}

fn event_proof(log: &AuditLog, audit_id: &str) -> Result<AuditEventProof, ApiError> {
    log.with_state(|state| {
        let index = state.leaves.find(audit_id).ok_or_else(|| {
            ApiError::not_found(format!("the audit log holds no event {audit_id:?}"))
        })?;
        let checkpoint = state.checkpoints.covering(index).cloned().ok_or_else(|| {
            ApiError::conflict(format!(
                "event {audit_id:?} is stored but not yet in a signed checkpoint; retry shortly"
            ))
        })?;
        let event = state
            .leaves
            .leaf(index)
            .map_err(|error| ApiError::internal("cannot read an audit event", &error))?
            .ok_or_else(|| ApiError::internal("an indexed audit event is missing", &audit_id))?;
        let proof = state
            .leaves
            .tree()
            .inclusion_proof(index, checkpoint.tree_size)
            .map_err(|error| ApiError::internal("cannot prove an audit event", &error))?;
        Ok(AuditEventProof {
            event,
            leaf_index: index,
            inclusion_proof: proof.iter().map(hex::encode).collect(),
            checkpoint,
        })
    })
}

/// Most checkpoints one answer lists (the newest).
pub const CHECKPOINTS_LISTED: usize = 1000;

/// `GET /api/v1/audit/checkpoints`: the newest [`CHECKPOINTS_LISTED`],
/// oldest first.
async fn checkpoints(State(log): State<Arc<AuditLog>>) -> Json<AuditCheckpointList> {
    let origin = log.origin().to_owned();
    Json(log.with_state(|state| {
        let mut newest: Vec<_> = state
            .checkpoints
            .all()
            .rev()
            .take(CHECKPOINTS_LISTED)
            .cloned()
            .collect();
        newest.reverse();
        AuditCheckpointList {
            origin,
            stored: state.leaves.size(),
            checkpoints: newest,
        }
    }))
}

/// The query of `GET /api/v1/audit/consistency`.
#[derive(Debug, Deserialize)]
struct Sizes {
    from: u64,
    to: u64,
}

/// `GET /api/v1/audit/consistency?from=&to=`.
#[instrument(skip_all)]
async fn consistency(
    State(log): State<Arc<AuditLog>>,
    query: Result<Query<Sizes>, QueryRejection>,
) -> Result<Json<AuditConsistency>, ApiError> {
    let Query(Sizes { from, to }) = query.map_err(|rejection| {
        ApiError::bad_request(format!(
            "expected ?from=<tree size>&to=<tree size>: {rejection}"
        ))
    })?;
    log.with_state(|state| {
        let tree = state.leaves.tree();
        let bad = |error: daas_core::audit::ProofError| ApiError::bad_request(error.to_string());
        let proof = tree.consistency_proof(from, to).map_err(bad)?;
        Ok(Json(AuditConsistency {
            from,
            to,
            from_root: hex::encode(tree.root_at(from).map_err(bad)?),
            to_root: hex::encode(tree.root_at(to).map_err(bad)?),
            proof: proof.iter().map(hex::encode).collect(),
        }))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::{Duration, Instant};

    use axum::body::Body;
    use axum::http::Request;
    use ed25519_dalek::SigningKey;
    use sui_sdk_types::Address;
    use tower::ServiceExt as _;

    use super::*;
    use crate::audit::CheckpointPolicy;

    fn log(dir: &std::path::Path) -> Arc<AuditLog> {
        Arc::new(
            AuditLog::open(
                dir,
                Address::new([0x0b; 32]),
                SigningKey::from_bytes(&[7; 32]),
                CheckpointPolicy {
                    events: 1000,
                    interval: Duration::from_secs(1),
                },
            )
            .unwrap(),
        )
    }

    fn list(ids: &[&str]) -> String {
        let items: Vec<String> = ids
            .iter()
            .map(|id| {
                format!(
                    r#"{{"auditID":"{id}","stage":"ResponseComplete","verb":"get","user":{{"username":"u"}},"responseStatus":{{"code":200}}}}"#
                )
            })
            .collect();
        format!(
            r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{}]}}"#,
            items.join(",")
        )
    }

    async fn call(app: Router, method: &str, uri: &str, body: String) -> (StatusCode, String) {
        let response = app
            .oneshot(
                Request::builder()
                    .method(method)
                    .uri(uri)
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn events_are_stored_once_and_proved_after_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let log = log(dir.path());
        let webhook = webhook_router(Arc::clone(&log));
        let api = crate::http::app(router(Arc::clone(&log)));
        let (status, _) = call(webhook.clone(), "POST", "/audit", list(&["a", "b"])).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = call(webhook, "POST", "/audit", list(&["b", "c"])).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(log.size(), 3);

        let (status, body) =
            call(api.clone(), "GET", "/api/v1/audit/events/b", String::new()).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        log.sign_if_due(Instant::now(), true).unwrap().unwrap();
        let (status, body) =
            call(api.clone(), "GET", "/api/v1/audit/events/b", String::new()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let proof: AuditEventProof = serde_json::from_str(&body).unwrap();
        assert_eq!((proof.leaf_index, proof.checkpoint.tree_size), (1, 3));
        let (status, _) = call(
            api.clone(),
            "GET",
            "/api/v1/audit/events/zzz",
            String::new(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let (status, body) = call(
            api.clone(),
            "GET",
            "/api/v1/audit/consistency?from=1&to=3",
            String::new(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = call(
            api.clone(),
            "GET",
            "/api/v1/audit/consistency?from=3&to=9",
            String::new(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, _) = call(
            api,
            "GET",
            "/api/v1/audit/consistency?from=x",
            String::new(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn a_bad_event_list_is_refused_whole() {
        let dir = tempfile::tempdir().unwrap();
        let log = log(dir.path());
        let webhook = webhook_router(Arc::clone(&log));
        for body in [
            "{".to_owned(),
            r#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a"},{"verb":"get"}]}"#.to_owned(),
        ] {
            let (status, reply) = call(webhook.clone(), "POST", "/audit", body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
        }
        assert_eq!(log.size(), 0);
    }
}
