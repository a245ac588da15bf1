//! The on-chain gateway: submit a Kubernetes API request on chain with the
//! wallet's seal token (the master executes it as the submitter and records
//! the result, signed by its enclave), list requests from the package's
//! events, and show one request object with its result.

use daas_core::chain::calls::K8sRequest as Submission;
use daas_core::chain::{EventFollower, MemoryCursorStore, StartAt};
use daas_core::package::gateway::{
    HttpMethod, K8sRequest, api_target, check_request, payload_hash,
};
use daas_core::package::{PackageEvent, SealTokenId, Tier};
use daas_core::wallet::Keypair;
use serde::Serialize;
use sui_sdk_types::{Address, Digest};

use super::{Context, OpsError};

/// A request as the submitter fills it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// API path, e.g. `/api/v1/namespaces/NS/configmaps`.
    pub path: String,
    /// Namespace; `None` for the path's (the master refuses another).
    pub namespace: Option<String>,
    /// Resource type, e.g. `configmaps`; `None` for the path's.
    pub resource_type: Option<String>,
    /// The body (JSON), may be empty.
    pub payload: Vec<u8>,
}

/// What a submission signs, for the confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The method.
    pub method: HttpMethod,
    /// The path.
    pub path: String,
    /// The namespace.
    pub namespace: String,
    /// The resource type.
    pub resource_type: String,
    /// Bytes of payload.
    pub payload_len: usize,
    /// SHA-256 of the payload (hex), as the chain will hold it.
    pub payload_hash: String,
}

impl Draft {
    /// Checks the draft as `gateway::submit_k8s_request` and the master
    /// would, with the namespace and resource type the path names unless
    /// given.
    ///
    /// # Errors
    /// [`OpsError::Invalid`] naming the first field the chain or the master
    /// would refuse.
    pub fn check(&self) -> Result<Summary, OpsError> {
        let invalid = |reason: String| OpsError::Invalid {
            what: "gateway request",
            value: format!("{} {}", self.method, self.path),
            reason,
        };
        let target = api_target(&self.path);
        let named = target
            .as_ref()
            .map_or(("", ""), |t| (t.namespace, t.resource));
        let namespace = self.namespace.as_deref().unwrap_or(named.0);
        let resource_type = self.resource_type.as_deref().unwrap_or(named.1);
        // The chain's checks first, then the master's.
        let method = check_request(
            &self.method,
            &self.path,
            namespace,
            resource_type,
            &self.payload,
        )
        .map_err(|abort| invalid(abort.to_string()))?;
        let target = target.map_err(|e| invalid(e.to_string()))?;
        if namespace != target.namespace {
            return Err(invalid(format!(
                "the path names namespace `{}`, not `{namespace}` (the master would refuse it)",
                target.namespace
            )));
        }
        Ok(Summary {
            method,
            path: self.path.clone(),
            namespace: namespace.to_owned(),
            resource_type: resource_type.to_owned(),
            payload_len: self.payload.len(),
            payload_hash: hex::encode(payload_hash(&self.payload)),
        })
    }
}

/// A submitted request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Submitted {
    /// The shared `K8sRequest` object.
    pub request: Address,
    /// The tier the stake bought at submission.
    #[serde(serialize_with = "super::json::tier")]
    pub tier: Option<Tier>,
    /// The transaction.
    pub digest: Digest,
}

/// Submits `draft` on chain with `token`, signed by `signer`.
///
/// # Errors
/// Read-only session; a field the chain would refuse (nothing sent); the
/// chain refused (e.g. an inactive seal token).
pub async fn submit(
    ctx: &Context,
    signer: &Keypair,
    token: SealTokenId,
    draft: &Draft,
) -> Result<Submitted, OpsError> {
    ctx.ensure_writable("submit a gateway request")?;
    let summary = draft.check()?;
    let called = ctx
        .chain()?
        .submit_k8s_request(
            signer,
            token,
            &Submission {
                method: summary.method,
                path: &summary.path,
                namespace: &summary.namespace,
                resource_type: &summary.resource_type,
                payload: &draft.payload,
            },
        )
        .await?;
    Ok(Submitted {
        request: called.event.request_id,
        tier: called.event.tier,
        digest: called.outcome.digest,
    })
}

/// A request's result as recorded on chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recorded {
    /// HTTP status.
    pub status_code: u16,
    /// SHA-256 of the answer (hex).
    pub result_hash: String,
    /// The enclave whose key signed it.
    pub enclave: Address,
    /// When it was recorded (ms).
    pub recorded_at_ms: u64,
}

/// One request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    /// The `K8sRequest` object.
    pub id: Address,
    /// Who submitted it.
    pub sender: Address,
    /// With which seal token.
    pub seal_token: SealTokenId,
    /// The tier paid at submission.
    #[serde(serialize_with = "super::json::tier")]
    pub tier: Option<Tier>,
    /// Method.
    pub method: HttpMethod,
    /// Path.
    pub path: String,
    /// Namespace.
    pub namespace: String,
    /// Resource type.
    pub resource_type: String,
    /// SHA-256 of the payload (hex).
    pub payload_hash: String,
    /// When (ms).
    pub submitted_at_ms: u64,
    /// The result, once recorded.
    pub result: Option<Recorded>,
}

impl From<K8sRequest> for Request {
    fn from(r: K8sRequest) -> Self {
        Self {
            id: r.id,
            sender: r.sender,
            seal_token: r.token_id,
            tier: r.tier,
            method: r.method,
            path: r.path,
            namespace: r.namespace,
            resource_type: r.resource_type,
            payload_hash: hex::encode(&r.payload_hash),
            submitted_at_ms: r.submitted_at_ms,
            result: r.result.map(|result| Recorded {
                status_code: result.status_code,
                result_hash: hex::encode(&result.result_hash),
                enclave: result.enclave_id,
                recorded_at_ms: result.recorded_at_ms,
            }),
        }
    }
}

/// The request object `id` with its result.
///
/// # Errors
/// The chain failed or holds no such request.
pub async fn show(ctx: &Context, id: Address) -> Result<Request, OpsError> {
    Ok(ctx.chain()?.k8s_request(id).await?.value.into())
}

/// Every request of the stake pool in chain order (from the package's
/// events), only `sender`'s if given, with results recorded so far.
///
/// # Errors
/// The chain failed.
pub async fn list(ctx: &Context, sender: Option<Address>) -> Result<Vec<Request>, OpsError> {
    let chain = ctx.chain()?;
    let package = chain.package_id();
    let pool = chain.stake_pool_id();
    let mut follower =
        EventFollower::new(chain, MemoryCursorStore::default()).with_start(StartAt::Genesis);
    let mut requests: Vec<Request> = Vec::new();
    while let Some(event) = follower.try_next().await? {
        match event.decode(package) {
            Ok(Some(PackageEvent::K8sRequestSubmitted(e)))
                if e.pool_id == pool && sender.is_none_or(|s| s == e.sender) =>
            {
                requests.push(Request {
                    id: e.request_id,
                    sender: e.sender,
                    seal_token: e.token_id,
                    tier: e.tier,
                    method: e.method,
                    path: e.path,
                    namespace: e.namespace,
                    resource_type: e.resource_type,
                    payload_hash: hex::encode(&e.payload_hash),
                    submitted_at_ms: e.submitted_at_ms,
                    result: None,
                });
            }
            Ok(Some(PackageEvent::K8sResultRecorded(e))) => {
                if let Some(request) = requests.iter_mut().find(|r| r.id == e.request_id) {
                    request.result = Some(Recorded {
                        status_code: e.status_code,
                        result_hash: hex::encode(&e.result_hash),
                        enclave: e.enclave_id,
                        recorded_at_ms: e.recorded_at_ms,
                    });
                }
            }
            _ => {}
        }
    }
    Ok(requests)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(method: &str, path: &str) -> Draft {
        Draft {
            method: method.to_owned(),
            path: path.to_owned(),
            namespace: None,
            resource_type: None,
            payload: b"{}".to_vec(),
        }
    }

    #[test]
    fn a_draft_is_checked_as_the_chain_checks_it() {
        let summary = draft("POST", "/api/v1/namespaces/ns/configmaps")
            .check()
            .unwrap();
        assert_eq!(summary.method, HttpMethod::Post);
        assert_eq!(summary.payload_len, 2);
        assert_eq!(summary.payload_hash, hex::encode(payload_hash(b"{}")));
        assert_eq!(
            (summary.namespace.as_str(), summary.resource_type.as_str()),
            ("ns", "configmaps"),
            "the path's, unless given"
        );
        let cluster = draft("GET", "/api/v1/nodes").check().unwrap();
        assert_eq!(
            (cluster.namespace.as_str(), cluster.resource_type.as_str()),
            ("", "nodes")
        );
        let other = Draft {
            namespace: Some("other".to_owned()),
            ..draft("POST", "/api/v1/namespaces/ns/configmaps")
        };
        let refused = other.check().unwrap_err().to_string();
        assert!(
            refused.contains("the path names namespace `ns`, not `other`"),
            "{refused}"
        );
        let refused = draft("GET", "/version").check().unwrap_err().to_string();
        assert!(refused.contains("not a Kubernetes API path"), "{refused}");
        let refused = draft("post", "/x").check().unwrap_err().to_string();
        assert!(refused.contains("method is not GET"), "{refused}");
        let refused = draft("GET", "api/v1").check().unwrap_err().to_string();
        assert!(
            refused.contains("path is empty, does not start with /"),
            "{refused}"
        );
    }
}
