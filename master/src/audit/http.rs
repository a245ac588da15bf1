//! The audit endpoints: `POST /audit` for the API server's webhook (on the
//! webhook listener), and the proofs on the attested API.
//!
//! The proofs tell who did what, so reading them takes the signed access
//! token the console sends for other master calls (`Authorization: Bearer
//! daas1.…`, checked like every access token: signature by the seal
//! token's owner, audience, expiry, and active stake on chain). The rule
//! ([`may_read`]):
//!
//! | what | who |
//! |---|---|
//! | an event (`GET /api/v1/audit/events/{id}`) | the super tier: any; every other tier: events whose user, or impersonated user, is its own `sui:<address>` |
//! | checkpoints, consistency proofs | any tier (sizes, roots and signatures: no who-did-what) |
//!
//! No token, an opaque seal token, an invalid token or one without
//! active stake is 401; another identity's event below super is 403;
//! a chain the master cannot read is 503 (it fails closed).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::routing::{get, post};
use daas_core::api::audit::{
    AUDIT_CHECKPOINTS_PATH, AUDIT_CONSISTENCY_PATH, AUDIT_EVENTS_PATH, AuditCheckpointList,
    AuditConsistency, AuditEventProof,
};
use daas_core::audit::{AuditLeaf, parse_event_list};
use daas_core::package::Tier;
use serde::Deserialize;
use tracing::{debug, instrument};

use super::AuditLog;
use crate::access::AccessService;
use crate::access::seal_tokens::wallet_user;
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

/// The proof endpoints' state: the log, and the access service that
/// says who asks.
#[derive(Clone)]
struct AuditApi {
    log: Arc<AuditLog>,
    access: Arc<AccessService>,
}

/// The proof endpoints, for the attested API; readers authenticate with
/// `access` (see the module's rule).
pub fn router(log: Arc<AuditLog>, access: Arc<AccessService>) -> Router {
    Router::new()
        .route(&format!("{AUDIT_EVENTS_PATH}/{{audit_id}}"), get(event))
        .route(AUDIT_CHECKPOINTS_PATH, get(checkpoints))
        .route(AUDIT_CONSISTENCY_PATH, get(consistency))
        .with_state(AuditApi { log, access })
}

/// Who reads: the Kubernetes user name and tier of a valid signed access
/// token with active stake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    /// `sui:<address>`.
    pub username: String,
    /// The tier the stake buys now.
    pub tier: Tier,
}

async fn reader(access: &AccessService, headers: &HeaderMap) -> Result<Reader, ApiError> {
    let user = wallet_user(access, headers).await?;
    let reader = Reader {
        username: user.grant.username.clone(),
        tier: user.grant.tier,
    };
    tracing::Span::current().record("reader", tracing::field::display(&reader.username));
    Ok(reader)
}

/// Whether `reader` may read `event`: the super tier reads every event,
/// any other tier the events of its own identity (as the user, or as the
/// user someone impersonated).
pub fn may_read(reader: &Reader, event: &AuditLeaf) -> bool {
    reader.tier == Tier::Super
        || event.user == reader.username
        || event.impersonated_user == reader.username
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

/// `GET /api/v1/audit/events/{audit_id}`, for its user or the super tier.
#[instrument(skip(api, headers), fields(reader))]
async fn event(
    State(api): State<AuditApi>,
    headers: HeaderMap,
    Path(audit_id): Path<String>,
) -> Result<Json<AuditEventProof>, ApiError> {
    let reader = reader(&api.access, &headers).await?;
    let log = api.log;
    let proof = tokio::task::spawn_blocking(move || event_proof(&log, &audit_id))
        .await
        .map_err(|error| ApiError::internal("the audit read task failed", &error))??;
    if !may_read(&reader, &proof.event) {
        return Err(ApiError::forbidden(format!(
            "audit event {:?} is not about {}: below the super tier, a staker reads only \
             the events of its own identity",
            proof.event.audit_id, reader.username
        )));
    }
    Ok(Json(proof))
}

/// Event `audit_id` with its inclusion proof in the checkpoint covering it.
///
/// # Errors
/// 404 for an event the log does not hold, 409 for one not yet in a
/// checkpoint, 500 for a log that cannot be read.
pub fn event_proof(log: &AuditLog, audit_id: &str) -> Result<AuditEventProof, ApiError> {
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
            .ok_or_else(|| {
                let missing = MissingEvent(audit_id.to_owned());
                ApiError::internal("an indexed audit event is missing", &missing)
            })?;
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
/// oldest first, for any tier.
#[instrument(skip_all, fields(reader))]
async fn checkpoints(
    State(api): State<AuditApi>,
    headers: HeaderMap,
) -> Result<Json<AuditCheckpointList>, ApiError> {
    reader(&api.access, &headers).await?;
    Ok(Json(checkpoint_list(&api.log)))
}

/// The newest [`CHECKPOINTS_LISTED`] checkpoints, oldest first, under
/// this boot's origin (empty until the log is created on chain; earlier
/// checkpoints name their own log in their note and anchor).
pub fn checkpoint_list(log: &AuditLog) -> AuditCheckpointList {
    let origin = log.origin().unwrap_or_default().to_owned();
    log.with_state(|state| {
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
    })
}

/// The query of `GET /api/v1/audit/consistency`.
#[derive(Debug, Deserialize)]
struct Sizes {
    from: u64,
    to: u64,
}

/// `GET /api/v1/audit/consistency?from=&to=`, for any tier.
#[instrument(skip_all, fields(reader))]
async fn consistency(
    State(api): State<AuditApi>,
    headers: HeaderMap,
    query: Result<Query<Sizes>, QueryRejection>,
) -> Result<Json<AuditConsistency>, ApiError> {
    reader(&api.access, &headers).await?;
    let Query(Sizes { from, to }) = query.map_err(|rejection| {
        ApiError::bad_request(format!(
            "expected ?from=<tree size>&to=<tree size>: {rejection}"
        ))
    })?;
    consistency_proof(&api.log, from, to).map(Json)
}

/// A consistency proof between tree sizes `from` and `to`.
///
/// # Errors
/// 400 for sizes the log cannot prove.
pub fn consistency_proof(log: &AuditLog, from: u64, to: u64) -> Result<AuditConsistency, ApiError> {
    log.with_state(|state| {
        let tree = state.leaves.tree();
        let bad = |error: daas_core::audit::ProofError| ApiError::bad_request(error.to_string());
        let proof = tree.consistency_proof(from, to).map_err(bad)?;
        Ok(AuditConsistency {
            from,
            to,
            from_root: hex::encode(tree.root_at(from).map_err(bad)?),
            to_root: hex::encode(tree.root_at(to).map_err(bad)?),
            proof: proof.iter().map(hex::encode).collect(),
        })
    })
}

/// An event the index names that the log does not hold: a fault of the
/// master's own store.
#[derive(Debug, thiserror::Error)]
#[error("audit event {0} is indexed but not in the log")]
struct MissingEvent(String);

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
        let log = AuditLog::open(
            dir,
            SigningKey::from_bytes(&[7; 32]),
            CheckpointPolicy {
                events: 1000,
                interval: Duration::from_secs(1),
            },
        )
        .unwrap();
        log.bind(Address::new([0x0b; 32])).unwrap();
        Arc::new(log)
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
        let (status, _) = call(webhook.clone(), "POST", "/audit", list(&["a", "b"])).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = call(webhook, "POST", "/audit", list(&["b", "c"])).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(log.size(), 3);

        fn code_of<T>(result: Result<T, ApiError>) -> StatusCode {
            result.map(drop).unwrap_err().status()
        }
        assert_eq!(code_of(event_proof(&log, "b")), StatusCode::CONFLICT);
        log.sign_if_due(Instant::now(), true).unwrap().unwrap();
        let proof = event_proof(&log, "b").unwrap();
        assert_eq!((proof.leaf_index, proof.checkpoint.tree_size), (1, 3));
        assert_eq!(code_of(event_proof(&log, "zzz")), StatusCode::NOT_FOUND);

        assert_eq!(consistency_proof(&log, 1, 3).unwrap().proof.len(), 2);
        assert_eq!(
            code_of(consistency_proof(&log, 3, 9)),
            StatusCode::BAD_REQUEST
        );
        let listed = checkpoint_list(&log);
        assert_eq!((listed.stored, listed.checkpoints.len()), (3, 1));
        assert_eq!(listed.origin, log.origin().unwrap());
    }

    #[test]
    fn below_super_a_reader_sees_only_its_own_identity() {
        let mut event = daas_core::audit::parse_event_list(list(&["a"]).as_bytes())
            .unwrap()
            .remove(0);
        event.user = "sui:0xa11ce".to_owned();
        let reader = |name: &str, tier| Reader {
            username: name.to_owned(),
            tier,
        };
        for tier in [Tier::Viewer, Tier::Developer, Tier::Admin] {
            assert!(may_read(&reader("sui:0xa11ce", tier), &event));
            assert!(!may_read(&reader("sui:0xb0b", tier), &event));
        }
        assert!(may_read(&reader("sui:0xb0b", Tier::Super), &event));
        // Whom a request impersonated reads it too.
        event.impersonated_user = "sui:0xb0b".to_owned();
        assert!(may_read(&reader("sui:0xb0b", Tier::Viewer), &event));
        assert!(!may_read(&reader("sui:0xc4a", Tier::Admin), &event));
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
