//! The on-chain gateway (ARCHITECTURE.md, "The on-chain package",
//! `gateway`): Kubernetes API requests submitted on chain with a seal token
//! are executed by the leader and their results recorded on chain, signed
//! by the enclave key.
//!
//! - **Following.** The leader follows `K8sRequestSubmitted` events of its
//!   stake pool from a cursor of its own (ConfigMap
//!   `kube-system/k3s-daas-gateway-cursor`, separate from the revocation
//!   cursor so neither holds the other up), with a checkpoint-level cursor
//!   so a restart does not re-read quiet checkpoints. It starts only once
//!   an `Enclave` holding this master's key is registered
//!   ([`enclave::EnclaveWatch`]): a result it could not sign would be
//!   executed for nothing.
//! - **The body.** The event carries the payload itself; the shared
//!   `K8sRequest` object carries its SHA-256. The gateway reads the object
//!   and executes only what it holds: method, path, namespace, sender and
//!   tier from the object, the payload from the event checked against the
//!   object's hash. Putting the payload in the event keeps the object small
//!   (no 8 KiB stored forever) while the chain still commits to it.
//! - **Who.** The request is sent with the master's client impersonating
//!   `sui:<sender>` with exactly the groups and extras the master's
//!   TokenReview would answer for the submitter's seal token **now**
//!   ([`AccessService::user`], which also ensures the tier's RBAC objects,
//!   such as a developer's namespace), capped at the tier paid
//!   at submission. So RBAC and the master's authorization webhook decide
//!   as for `kubectl`: a developer writes only in their own namespace. A
//!   token that no longer grants access, or bought no tier, is refused
//!   with 403 and the refusal recorded.
//! - **Exactly once.** [`ledger`]: an entry keyed by transaction digest
//!   and event index is created before sending; an interrupted attempt
//!   reads the target back ([`request::applied`]) instead of sending again;
//!   the chain refuses a second result (`EAlreadyRecorded`), and a request
//!   whose result is on chain is skipped before anything else.
//! - **Results.** Status code and SHA-256 of the answer body (or of the
//!   gateway's own refusal, a Kubernetes `Status`), signed as
//!   `IntentMessage<K8sResultPayload>` and recorded with
//!   `record_k8s_result`, paid by the enclave key's address.

pub mod enclave;
pub mod ledger;
pub mod request;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, Method, header};
use daas_core::access::{Claimant, Grant};
use daas_core::chain::ptb::K8sResultArgs;
use daas_core::chain::{
    ChainClient, ChainError, ChainEvent, CursorStore, EventCursor, EventFollower,
};
use daas_core::package::enclave::EnclaveAbort;
use daas_core::package::gateway::{GatewayAbort, K8sRequest, K8sRequestSubmitted, payload_hash};
use daas_core::package::{PackageAbort, PackageEvent};
use http_body_util::BodyExt as _;
use sha2::{Digest as _, Sha256};
use sui_sdk_types::Address;
use tracing::{info, instrument, warn};

use self::enclave::EnclaveWatch;
use self::ledger::{Begun, IdempotencyKey, Ledger, Outcome};
use self::request::Outgoing;
use crate::access::AccessService;
use crate::access::authenticator::AuthError;
use crate::access::kube_proxy::impersonate;
use crate::admission::bootstrap_token::KUBE_SYSTEM;
use crate::cursor::KubeCursorStore;
use crate::leader::{Fence, FenceError};
use crate::namespaces::MASTER_NAMESPACE;
use crate::reconcile::backoff::Backoff;
use crate::record_key::{RecordKeyError, SharedRecordKey};
use daas_core::error_chain::one_line;

/// Default name of the gateway's event cursor ConfigMap in `kube-system`.
pub const GATEWAY_CURSOR_CONFIG_MAP: &str = "k3s-daas-gateway-cursor";
/// Largest answer body read (the hash covers all of it).
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;
/// Waits before sending again after a 403. Authorization refuses before
/// anything takes effect, so a 403 may be retried; the user's RBAC objects
/// may have been made just now (their first request), and the API
/// server's authorizer sees them only once its informers have.
const RBAC_SETTLE: [Duration; 3] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_millis(1000),
];
/// How long one request to the API server may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Errors of the gateway; each is retried (the request stays pending).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The API server refused or failed a request.
    #[error("{action} failed")]
    Api {
        /// What was being done.
        action: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// The chain could not be read or written.
    #[error("{action} failed")]
    Chain {
        /// What was being done.
        action: String,
        /// The chain client's error.
        #[source]
        source: ChainError,
    },
    /// The submitter's access could not be decided.
    #[error("cannot decide who the submitter is")]
    Access(#[from] AuthError),
    /// The record key could not be had.
    #[error("the master's record key is unavailable")]
    RecordKey(#[from] RecordKeyError),
    /// The API server did not answer in time.
    #[error("the API server did not answer {0} within the timeout")]
    Timeout(String),
    /// This replica is not (or no longer) the leader: nothing was written.
    #[error("not written: leadership does not hold")]
    Fenced(#[from] FenceError),
    /// Something could not be encoded.
    #[error("cannot encode {0}")]
    Encode(String),
    /// The API server's answer could not be read whole.
    #[error("cannot read {0}")]
    Answer(String),
    /// The chain refused this master's enclave (stale, or signature
    /// refused): it waits for a new registration.
    #[error("the chain refused enclave {enclave}: {abort}")]
    EnclaveRefused {
        /// The enclave.
        enclave: Address,
        /// The abort.
        abort: PackageAbort,
    },
}

impl GatewayError {
    fn chain(action: impl Into<String>) -> impl FnOnce(ChainError) -> Self {
        let action = action.into();
        move |source| Self::Chain { action, source }
    }
}

/// How the gateway runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewaySettings {
    /// Namespace of the event cursor's ConfigMap.
    pub cursor_namespace: String,
    /// Name of the event cursor's ConfigMap.
    pub cursor_name: String,
    /// Namespace of the execution ledger.
    pub ledger_namespace: String,
    /// How often to ask for new checkpoints when caught up.
    pub poll_interval: Duration,
    /// How often, at most, the cursor moves past event-free checkpoints.
    pub checkpoint_cursor_interval: Duration,
    /// First wait after a failure; doubles per failure.
    pub initial_backoff: Duration,
    /// Longest wait after failures.
    pub max_backoff: Duration,
}

impl Default for GatewaySettings {
    /// The cursor at `kube-system/k3s-daas-gateway-cursor`, the ledger in
    /// the master's namespace, polling every 200 ms, the checkpoint cursor
    /// every 5 s, backing off from 200 ms to 30 s.
    fn default() -> Self {
        Self {
            cursor_namespace: KUBE_SYSTEM.to_owned(),
            cursor_name: GATEWAY_CURSOR_CONFIG_MAP.to_owned(),
            ledger_namespace: MASTER_NAMESPACE.to_owned(),
            poll_interval: Duration::from_millis(200),
            checkpoint_cursor_interval: Duration::from_secs(5),
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// The gateway of one replica: every replica [observes](Gateway::observe)
/// enclave registrations; the leader runs [`Gateway::lead`].
pub struct Gateway {
    settings: GatewaySettings,
    chain: ChainClient,
    kube: kube::Client,
    access: Arc<AccessService>,
    enclave: EnclaveWatch,
    ledger: Ledger,
    record_key: SharedRecordKey,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("settings", &self.settings)
            .field("enclave", &self.enclave)
            .finish_non_exhaustive()
    }
}

/// The request a `K8sRequestSubmitted` event announces, as the gateway
/// executes it.
#[derive(Debug, Clone)]
struct Pending {
    request: K8sRequest,
    payload: Vec<u8>,
}

impl Gateway {
    /// A gateway that reads `chain`, acts through `kube` as the users
    /// `access` says submitters are, and signs with the enclave key
    /// `enclave`.
    pub fn new(
        settings: GatewaySettings,
        chain: ChainClient,
        kube: kube::Client,
        access: Arc<AccessService>,
        enclave: EnclaveWatch,
    ) -> Self {
        Self {
            access,
            ledger: Ledger::new(kube.clone(), &settings.ledger_namespace),
            record_key: SharedRecordKey::new(kube.clone()),
            settings,
            chain,
            kube,
            enclave,
        }
    }

    /// Notes what a package event says about this master's enclave (every
    /// replica calls it from its event follower).
    pub fn observe(&self, event: &PackageEvent) {
        self.enclave.observe(event);
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(self.settings.initial_backoff, self.settings.max_backoff)
    }

    /// Executes requests until dropped (the leader runs it while it leads;
    /// every write checks `fence`).
    pub async fn lead(&self, fence: Fence) {
        let mut backoff = self.backoff();
        loop {
            let Err(error) = self.follow(&mut backoff, &fence).await;
            let wait = backoff.next_wait();
            warn!(error = %one_line(&error), ?wait, "gateway follower failed; resuming from the stored cursor");
            tokio::time::sleep(wait).await;
        }
    }

    async fn follow(
        &self,
        backoff: &mut Backoff,
        fence: &Fence,
    ) -> Result<Infallible, GatewayError> {
        let settings = &self.settings;
        let store = KubeCursorStore::new(
            self.kube.clone(),
            &settings.cursor_namespace,
            &settings.cursor_name,
        )
        .with_fence(fence.clone());
        // Before waiting for the enclave: requests submitted meanwhile wait
        // for it instead of being skipped.
        self.start_cursor(&store).await?;
        if self.enclave.current().is_none() {
            info!(
                public_key = %hex::encode(self.enclave.public_key()),
                gas_address = %self.enclave.gas_address(),
                "gateway waits for an Enclave holding this master's key (daas-console enclave register)"
            );
        }
        let enclave = self.enclave.registered().await;
        info!(enclave = %enclave.enclave, gas_address = %self.enclave.gas_address(), "gateway executing on-chain requests");
        let mut follower = EventFollower::new(self.chain.clone(), store)
            .with_poll_interval(settings.poll_interval)
            .with_checkpoint_cursor(settings.checkpoint_cursor_interval);
        loop {
            let next = follower
                .try_next()
                .await
                .map_err(GatewayError::chain("reading chain events"))?;
            backoff.reset();
            match next {
                Some(event) => {
                    self.handle(&event, fence).await;
                    follower
                        .ack(&event)
                        .await
                        .map_err(GatewayError::chain("storing the gateway cursor"))?;
                }
                None => follower.wait(settings.poll_interval).await,
            }
        }
    }

    /// Stores a cursor at the chain head if none is stored: requests
    /// submitted before the gateway first ran are not executed.
    async fn start_cursor(&self, store: &KubeCursorStore) -> Result<(), GatewayError> {
        let stored = store
            .load()
            .await
            .map_err(GatewayError::chain("reading the gateway cursor"))?;
        if stored.is_some() {
            return Ok(());
        }
        let head = self
            .chain
            .service_info()
            .await
            .map_err(GatewayError::chain("reading the chain height"))?
            .checkpoint_height;
        let cursor = EventCursor::after_checkpoint(head);
        store
            .store(cursor)
            .await
            .map_err(GatewayError::chain("storing the first gateway cursor"))?;
        info!(%cursor, "no gateway cursor stored; executing requests from the chain head");
        Ok(())
    }

    /// Handles one event, retrying until its request is settled.
    #[instrument(skip_all, fields(cursor = %event.cursor, digest = %event.transaction_digest))]
    async fn handle(&self, event: &ChainEvent, fence: &Fence) {
        let submitted = match event.decode(self.chain.package_id()) {
            Ok(Some(PackageEvent::K8sRequestSubmitted(submitted))) => submitted,
            Ok(_) => return,
            Err(error) => {
                warn!(error = %one_line(&error), "undecodable package event; no request executed for it");
                return;
            }
        };
        if submitted.pool_id != self.chain.stake_pool_id() {
            return;
        }
        let key = IdempotencyKey {
            transaction: event.transaction_digest,
            event_index: event.cursor.event_index,
        };
        let mut backoff = self.backoff();
        while let Err(error) = self.settle(key, &submitted, fence).await {
            if let GatewayError::EnclaveRefused { enclave, .. } = &error {
                self.enclave.forget(*enclave);
            }
            let wait = backoff.next_wait();
            warn!(request = %submitted.request_id, error = %one_line(&error), ?wait, "gateway request not settled; retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// Executes (at most once) and records the request of `submitted`.
    #[instrument(skip_all, fields(request = %submitted.request_id))]
    async fn settle(
        &self,
        key: IdempotencyKey,
        submitted: &K8sRequestSubmitted,
        fence: &Fence,
    ) -> Result<(), GatewayError> {
        let request = self
            .chain
            .k8s_request(submitted.request_id)
            .await
            .map_err(GatewayError::chain("reading the K8sRequest"))?
            .value;
        if request.result.is_some() {
            info!("result already on chain; nothing to do");
            return Ok(());
        }
        if let Some(mismatch) = mismatch(submitted, &request) {
            warn!(
                mismatch,
                "the event does not match the K8sRequest object; not executed"
            );
            return Ok(());
        }
        let pending = Pending {
            request,
            payload: submitted.payload.clone(),
        };
        let record_key = self.record_key.get().await?;
        let id = pending.request.id;
        let outcome = match self.ledger.begin(key, id, record_key, fence).await? {
            Begun::Executed(outcome) => outcome,
            begun => {
                let outcome = self
                    .execute(&pending, begun == Begun::Interrupted, fence)
                    .await?;
                self.ledger
                    .finish(key, id, &outcome, record_key, fence)
                    .await?;
                outcome
            }
        };
        fence.check().await?;
        self.record(id, &outcome).await
    }

    /// Sends the request as its submitter (after checking, when an attempt
    /// was interrupted, that it did not take effect).
    async fn execute(
        &self,
        pending: &Pending,
        interrupted: bool,
        fence: &Fence,
    ) -> Result<Outcome, GatewayError> {
        let request = &pending.request;
        let outgoing = match request::outgoing(
            request.id,
            request.method,
            &request.path,
            &request.namespace,
            &pending.payload,
        ) {
            Ok(outgoing) => outgoing,
            Err(refusal) => return Ok(refused(400, "BadRequest", &refusal.to_string())),
        };
        if interrupted && let Some(outcome) = self.already_applied(request, &outgoing).await? {
            info!(
                status = outcome.status,
                "the interrupted attempt took effect; not sent again"
            );
            return Ok(outcome);
        }
        let grant = match self.grant(request).await? {
            Ok(grant) => grant,
            Err(reason) => return Ok(refused(403, "Forbidden", &reason)),
        };
        // The last check before the request takes effect: a leader that
        // lost its term since `begin` sends nothing.
        fence.check().await?;
        let mut answer = self.send(&outgoing, Some(&grant)).await?;
        for wait in RBAC_SETTLE {
            if answer.0 != 403 {
                break;
            }
            tokio::time::sleep(wait).await;
            fence.check().await?;
            answer = self.send(&outgoing, Some(&grant)).await?;
        }
        let (status, body) = answer;
        info!(status, user = %grant.username, tier = %grant.tier, "gateway request executed");
        Ok(Outcome {
            status,
            result_hash: Sha256::digest(&body).into(),
        })
    }

    /// Whether an interrupted attempt of `request` took effect, read as the
    /// master itself.
    async fn already_applied(
        &self,
        request: &K8sRequest,
        outgoing: &Outgoing,
    ) -> Result<Option<Outcome>, GatewayError> {
        let Some(target) = &outgoing.target else {
            return Ok(None);
        };
        let probe = Outgoing {
            method: Method::GET,
            path: target.clone(),
            body: None,
            content_type: None,
            target: None,
        };
        let (status, body) = self.send(&probe, None).await?;
        Ok(
            request::applied(request.method, request.id, status, &body).map(|status| Outcome {
                status,
                result_hash: Sha256::digest(&body).into(),
            }),
        )
    }

    /// Who the submitter is now, as the TokenReview would answer, capped
    /// at the tier paid at submission; `Err(reason)` when denied.
    async fn grant(&self, request: &K8sRequest) -> Result<Result<Grant, String>, GatewayError> {
        let Some(paid) = request.tier else {
            return Ok(Err(
                "the seal token bought no tier when the request was submitted".to_owned(),
            ));
        };
        let claimant = Claimant {
            seal_token: request.token_id,
            owner: request.sender,
        };
        Ok(match self.access.user(&claimant).await? {
            Ok(grant) => Ok(grant.capped_at(paid)),
            Err(reason) => Err(format!("access denied: {reason}")),
        })
    }

    /// Sends `outgoing`, impersonating `grant` if given, and reads the
    /// whole answer.
    async fn send(
        &self,
        outgoing: &Outgoing,
        grant: Option<&Grant>,
    ) -> Result<(u16, Vec<u8>), GatewayError> {
        let what = format!("{} {}", outgoing.method, outgoing.path);
        let mut builder = axum::http::Request::builder()
            .method(outgoing.method.clone())
            .uri(&outgoing.path)
            .header(header::ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(content_type) = outgoing.content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        let mut http = builder
            .body(kube::client::Body::from(
                outgoing.body.clone().unwrap_or_default(),
            ))
            .map_err(|e| GatewayError::Encode(format!("{what}: {e}")))?;
        if let Some(grant) = grant {
            impersonate(http.headers_mut(), grant)
                .map_err(|e| GatewayError::Encode(format!("impersonation: {}", e.message())))?;
        }
        let exchange = async {
            let response = self
                .kube
                .send(http)
                .await
                .map_err(|source| GatewayError::Api {
                    action: what.clone(),
                    source,
                })?;
            let status = response.status().as_u16();
            let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| GatewayError::Answer(format!("the answer to {what}: {e}")))?
                .to_bytes();
            Ok::<_, GatewayError>((status, body.to_vec()))
        };
        tokio::time::timeout(SEND_TIMEOUT, exchange)
            .await
            .map_err(|_| GatewayError::Timeout(what.clone()))?
    }

    /// Signs `outcome` and records it on chain; a result already there is
    /// success.
    async fn record(&self, request: Address, outcome: &Outcome) -> Result<(), GatewayError> {
        let enclave = self.enclave.registered().await;
        let timestamp_ms = u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap_or(0);
        let signature = self.enclave.sign_result(request, outcome, timestamp_ms)?;
        let args = K8sResultArgs {
            status_code: outcome.status,
            result_hash: &outcome.result_hash,
            timestamp_ms,
            signature: &signature,
        };
        let signer = self.enclave.gas_signer();
        let recorded = self
            .chain
            .record_k8s_result(&signer, request, enclave.enclave, enclave.config, &args)
            .await;
        match recorded {
            Ok(called) => {
                info!(status = outcome.status, digest = %called.outcome.digest, "gateway result recorded on chain");
                Ok(())
            }
            Err(error) => match error.package_abort() {
                Some(PackageAbort::Gateway(GatewayAbort::AlreadyRecorded)) => {
                    info!("result already recorded on chain");
                    Ok(())
                }
                Some(
                    abort @ (PackageAbort::Gateway(GatewayAbort::InvalidSignature)
                    | PackageAbort::Enclave(
                        EnclaveAbort::StaleEnclave | EnclaveAbort::WrongConfig,
                    )),
                ) => Err(GatewayError::EnclaveRefused {
                    enclave: enclave.enclave,
                    abort,
                }),
                _ => Err(GatewayError::Chain {
                    action: format!(
                        "recording the result (gas paid by {})",
                        self.enclave.gas_address()
                    ),
                    source: error,
                }),
            },
        }
    }
}

/// What differs between the event and the object it announces, if
/// anything (the object is the authority; a mismatch is not executed).
fn mismatch(event: &K8sRequestSubmitted, request: &K8sRequest) -> Option<&'static str> {
    if event.request_id != request.id {
        Some("request id")
    } else if event.sender != request.sender || event.token_id != request.token_id {
        Some("submitter")
    } else if event.method != request.method
        || event.path != request.path
        || event.namespace != request.namespace
        || event.resource_type != request.resource_type
    {
        Some("request line")
    } else if payload_hash(&event.payload).as_slice() != request.payload_hash.as_slice() {
        Some("payload hash")
    } else if event.tier != request.tier {
        Some("tier")
    } else {
        None
    }
}

/// The gateway's own refusal, as a Kubernetes `Status`.
fn refused(code: u16, reason: &str, message: &str) -> Outcome {
    let body = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": format!("k3s-daas gateway: {message}"),
        "reason": reason,
        "code": code,
    });
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    warn!(code, message, "gateway request refused");
    Outcome {
        status: code,
        result_hash: Sha256::digest(bytes).into(),
    }
}

#[cfg(test)]
mod tests {
    use daas_core::package::gateway::HttpMethod;
    use daas_core::package::{SealTokenId, Tier};

    use super::*;

    fn pair() -> (K8sRequestSubmitted, K8sRequest) {
        let payload = br#"{"metadata":{"name":"cm"}}"#.to_vec();
        let hash = payload_hash(&payload).to_vec();
        let common = (
            Address::new([0x0a; 32]),
            SealTokenId::new(Address::new([0xaa; 32])),
            Address::new([0x11; 32]),
        );
        let event = K8sRequestSubmitted {
            request_id: common.0,
            pool_id: Address::new([1; 32]),
            token_id: common.1,
            sender: common.2,
            tier: Some(Tier::Developer),
            method: HttpMethod::Post,
            path: "/api/v1/namespaces/a/configmaps".to_owned(),
            namespace: "a".to_owned(),
            resource_type: "configmaps".to_owned(),
            payload,
            payload_hash: hash.clone(),
            submitted_at_ms: 1,
        };
        let request = K8sRequest {
            id: common.0,
            pool_id: Address::new([1; 32]),
            token_id: common.1,
            sender: common.2,
            tier: Some(Tier::Developer),
            method: HttpMethod::Post,
            path: event.path.clone(),
            namespace: "a".to_owned(),
            resource_type: "configmaps".to_owned(),
            payload_hash: hash,
            submitted_at_ms: 1,
            result: None,
        };
        (event, request)
    }

    #[test]
    fn the_event_must_match_the_object() {
        let (event, request) = pair();
        assert_eq!(mismatch(&event, &request), None);
        let mut other = event.clone();
        other.payload = b"{}".to_vec();
        assert_eq!(mismatch(&other, &request), Some("payload hash"));
        let mut other = event.clone();
        other.namespace = "b".to_owned();
        assert_eq!(mismatch(&other, &request), Some("request line"));
        let mut other = event.clone();
        other.tier = Some(Tier::Super);
        assert_eq!(mismatch(&other, &request), Some("tier"));
        let mut other = event;
        other.sender = Address::new([2; 32]);
        assert_eq!(mismatch(&other, &request), Some("submitter"));
    }

    #[test]
    fn a_refusal_is_a_status_with_its_code() {
        let outcome = refused(403, "Forbidden", "no");
        assert_eq!(outcome.status, 403);
        assert_ne!(
            outcome.result_hash,
            refused(403, "Forbidden", "other").result_hash
        );
    }
}
