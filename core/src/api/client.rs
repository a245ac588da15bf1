//! [`MasterClient`]: the master's HTTP API, typed, over the attested HTTPS
//! client. The agent (register, heartbeat) and the console (node health,
//! stake status, seal tokens, kubeconfigs) share it.

use std::sync::Arc;

use futures::{Stream, TryStreamExt as _, stream};
use sui_sdk_types::Address;
use zeroize::Zeroizing;

use super::access::{
    IssuedSealToken, KUBECTL_CONFIG_PATH, READYZ_PATH, Readiness, SEAL_TOKENS_PATH,
};
use super::attestation::SecurityContext;
use super::audit::{
    AUDIT_CHECKPOINTS_PATH, AUDIT_CONSISTENCY_PATH, AUDIT_EVENTS_PATH, AuditCheckpointList,
    AuditConsistency, AuditEventProof,
};
use super::nodes::{
    DRAIN_SEGMENT, DrainRequest, DrainResponse, HEARTBEAT_PATH, HeartbeatRequest,
    HeartbeatResponse, NODE_HEALTH_PATH, NODES_PATH, NodeHealth, NodeHealthList, NodeHealthQuery,
    REGISTER_WORKER_PATH, RegisterWorkerRequest, RegisterWorkerResponse, STAKING_STATUS_PATH,
    StakingStatus,
};
use super::{HEALTHZ_PATH, Health};
use crate::access::AccessToken;
use crate::attested::{AttestedClient, AttestedError, AttestedMaster, Method, Request};
use crate::package::SealTokenId;

/// Which seal tokens `GET /api/v1/staking/status` describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusQuery {
    /// Every seal token of an owner.
    Owner(Address),
    /// The seal token a node is admitted through.
    Node(String),
    /// One seal token.
    SealToken(SealTokenId),
}

impl StatusQuery {
    fn query_string(&self) -> String {
        match self {
            Self::Owner(owner) => format!("owner={owner}"),
            Self::Node(node) => format!("node={}", escape(node)),
            Self::SealToken(token) => format!("seal_token={token}"),
        }
    }
}

/// Where reading the pages of node health stands.
struct PageCursor {
    /// The next page's query.
    query: NodeHealthQuery,
    /// The last node name seen so far.
    last: Option<String>,
}

impl PageCursor {
    /// The cursor after `page` (`None` after the last page), once `page`
    /// is checked to come after what was read before, in name order.
    fn follow(self, page: &NodeHealthList) -> Result<Option<Self>, AttestedError> {
        let bad = |reason: String| AttestedError::BadResponse {
            url: NODE_HEALTH_PATH.to_owned(),
            reason,
        };
        let mut last = self.last;
        for health in &page.nodes {
            if last.as_ref().is_some_and(|last| *last >= health.node) {
                return Err(bad(format!(
                    "node {:?} is out of name order or repeated across pages",
                    health.node
                )));
            }
            last = Some(health.node.clone());
        }
        let Some(token) = &page.continue_token else {
            return Ok(None);
        };
        if page.nodes.is_empty() {
            return Err(bad("an empty page names a next page".to_owned()));
        }
        Ok(Some(Self {
            query: NodeHealthQuery {
                limit: self.query.limit,
                continue_token: Some(token.clone()),
            },
            last,
        }))
    }
}

/// The master's API. Every request goes over a connection pinned to the
/// attested TLS key; [`AttestedError`] names what failed (attestation,
/// transport, or the master's own error message and status).
#[derive(Debug, Clone)]
pub struct MasterClient {
    http: Arc<AttestedClient>,
}

impl MasterClient {
    /// A client over `http`.
    pub fn new(http: AttestedClient) -> Self {
        Self {
            http: Arc::new(http),
        }
    }

    /// The attested HTTPS client underneath.
    pub fn attested(&self) -> &AttestedClient {
        &self.http
    }

    /// The attested master, attesting first if needed.
    ///
    /// # Errors
    /// Why the master was refused.
    pub async fn master(&self) -> Result<Arc<AttestedMaster>, AttestedError> {
        self.http.master().await
    }

    /// `GET /healthz`.
    ///
    /// # Errors
    /// Attestation, transport or response errors.
    pub async fn health(&self) -> Result<Health, AttestedError> {
        self.http.get_json(HEALTHZ_PATH).await
    }

    /// `GET /readyz`: the checks, whether the master is ready (200) or not
    /// (503).
    ///
    /// # Errors
    /// Attestation or transport errors, or another status.
    pub async fn readiness(&self) -> Result<Readiness, AttestedError> {
        let response = self.http.send(&Request::get(READYZ_PATH)).await?;
        if response.status == 503 {
            return response.json();
        }
        response.success()?.json()
    }

    /// `GET /api/v1/security-context`.
    ///
    /// # Errors
    /// Attestation, transport or response errors.
    pub async fn security_context(&self) -> Result<SecurityContext, AttestedError> {
        self.http.security_context().await
    }

    /// `POST /api/v1/register-worker`.
    ///
    /// # Errors
    /// The master's refusal (e.g. a seal token that may not hold the node),
    /// or attestation and transport errors.
    pub async fn register_worker(
        &self,
        request: &RegisterWorkerRequest,
    ) -> Result<RegisterWorkerResponse, AttestedError> {
        self.http.post_json(REGISTER_WORKER_PATH, request).await
    }

    /// `POST /api/v1/nodes/heartbeat`.
    ///
    /// # Errors
    /// The master's refusal, or attestation and transport errors.
    pub async fn heartbeat(
        &self,
        request: &HeartbeatRequest,
    ) -> Result<HeartbeatResponse, AttestedError> {
        self.http.post_json(HEARTBEAT_PATH, request).await
    }

    /// `POST /api/v1/nodes/{node}/drain`: cordon and drain `node` at its
    /// owner's request; repeated, it reports how many pods are left.
    ///
    /// # Errors
    /// The master's refusal (a proof that is not the owner's, a node not
    /// admitted), or attestation and transport errors.
    pub async fn drain_node(
        &self,
        node: &str,
        request: &DrainRequest,
    ) -> Result<DrainResponse, AttestedError> {
        self.http
            .post_json(
                &format!("{NODES_PATH}/{}/{DRAIN_SEGMENT}", escape(node)),
                request,
            )
            .await
    }

    /// `GET /api/v1/node-health?limit=&continue=`: one page of nodes, by
    /// name.
    ///
    /// # Errors
    /// 400 naming a bad `limit` or `continue`; attestation, transport or
    /// response errors.
    pub async fn node_health_page(
        &self,
        query: &NodeHealthQuery,
    ) -> Result<NodeHealthList, AttestedError> {
        self.node_health_page_as(query, None).await
    }

    /// [`Self::node_health_page`], as the holder of `bearer` when given (see
    /// [`Self::node_health_as`]).
    async fn node_health_page_as(
        &self,
        query: &NodeHealthQuery,
        bearer: Option<&str>,
    ) -> Result<NodeHealthList, AttestedError> {
        let mut request = Request::get(query.path());
        if let Some(bearer) = bearer {
            request = request.bearer(bearer);
        }
        self.http.send(&request).await?.success()?.json()
    }

    /// Every page of node health in turn, `limit` nodes each (the master's
    /// default when `None`), each read when the stream is polled. A page
    /// that does not follow the previous one in name order (a master that
    /// repeats or loops) ends the stream with an error.
    pub fn node_health_pages(
        &self,
        limit: Option<u32>,
    ) -> impl Stream<Item = Result<NodeHealthList, AttestedError>> + Send + 'static {
        self.pages_as(limit, None)
    }

    /// Every page in turn, as [`Self::node_health_pages`], each asked with
    /// `bearer` when given.
    fn pages_as(
        &self,
        limit: Option<u32>,
        bearer: Option<Arc<Zeroizing<String>>>,
    ) -> impl Stream<Item = Result<NodeHealthList, AttestedError>> + Send + 'static {
        let start = PageCursor {
            query: NodeHealthQuery {
                limit,
                continue_token: None,
            },
            last: None,
        };
        let client = self.clone();
        stream::try_unfold(Some(start), move |cursor| {
            let (client, bearer) = (client.clone(), bearer.clone());
            async move {
                let Some(cursor) = cursor else {
                    return Ok(None);
                };
                let bearer = bearer.as_deref().map(|bearer| bearer.as_str());
                let page = client.node_health_page_as(&cursor.query, bearer).await?;
                let next = cursor.follow(&page)?;
                Ok(Some((page, next)))
            }
        })
    }

    /// `GET /api/v1/node-health`, every page: every node the master knows,
    /// by name, in one list.
    ///
    /// # Errors
    /// Attestation, transport or response errors of any page.
    pub async fn node_health(&self) -> Result<NodeHealthList, AttestedError> {
        self.all_pages_as(None).await
    }

    /// `GET /api/v1/node-health`, every page, as the holder of `bearer` (a
    /// `daas1.` access token): a node's owner sees their nodes in full, the
    /// admin and super tiers every node (the list's `view` says which).
    ///
    /// # Errors
    /// 401 for a credential the master refuses; attestation, transport or
    /// response errors of any page.
    pub async fn node_health_as(&self, bearer: &str) -> Result<NodeHealthList, AttestedError> {
        self.all_pages_as(Some(Arc::new(Zeroizing::new(bearer.to_owned()))))
            .await
    }

    async fn all_pages_as(
        &self,
        bearer: Option<Arc<Zeroizing<String>>>,
    ) -> Result<NodeHealthList, AttestedError> {
        let mut pages = std::pin::pin!(self.pages_as(None, bearer));
        let mut all: Option<NodeHealthList> = None;
        while let Some(page) = pages.try_next().await? {
            match &mut all {
                Some(all) => all.nodes.extend(page.nodes),
                None => all = Some(page),
            }
        }
        let mut all = all.ok_or_else(|| AttestedError::BadResponse {
            url: NODE_HEALTH_PATH.to_owned(),
            reason: "no page of node health".to_owned(),
        })?;
        all.continue_token = None;
        Ok(all)
    }

    /// `GET /api/v1/node-health/{node}`.
    ///
    /// # Errors
    /// 404 for a node the master does not know; attestation, transport or
    /// response errors.
    pub async fn node(&self, node: &str) -> Result<NodeHealth, AttestedError> {
        self.http
            .get_json(&format!("{NODE_HEALTH_PATH}/{}", escape(node)))
            .await
    }

    /// `GET /api/v1/node-health/{node}` as the holder of `bearer` (a
    /// `daas1.` access token): its owner, and the admin and super tiers,
    /// see the node in full (seal token, owner, address, capacity, agent
    /// endpoint).
    ///
    /// # Errors
    /// 401 for a credential the master refuses, 404 for an unknown node;
    /// attestation, transport or response errors.
    pub async fn node_as(&self, node: &str, bearer: &str) -> Result<NodeHealth, AttestedError> {
        let request = Request::get(format!("{NODE_HEALTH_PATH}/{}", escape(node))).bearer(bearer);
        self.http.send(&request).await?.success()?.json()
    }

    /// `GET /api/v1/staking/status?…`: seal tokens as the master sees them.
    ///
    /// # Errors
    /// Attestation, transport or response errors.
    pub async fn staking_status(
        &self,
        query: &StatusQuery,
    ) -> Result<StakingStatus, AttestedError> {
        self.http
            .get_json(&format!("{STAKING_STATUS_PATH}?{}", query.query_string()))
            .await
    }

    /// `POST /api/v1/seal-tokens`: an opaque seal token for the signer of
    /// `token` (the answer holds the secret; it is shown once).
    ///
    /// # Errors
    /// The master's refusal (401 for a token it does not accept), or
    /// attestation and transport errors.
    pub async fn issue_seal_token(
        &self,
        token: &AccessToken,
    ) -> Result<IssuedSealToken, AttestedError> {
        let request = Request::new(Method::POST, SEAL_TOKENS_PATH).bearer(token.as_str());
        self.http.send(&request).await?.success()?.json()
    }

    /// `GET /kubectl/config?seal_token=…`: the master's kubeconfig (YAML)
    /// for `seal_token`: the API server URL, its CA and the audience.
    ///
    /// # Errors
    /// Attestation, transport or response errors.
    pub async fn kubectl_config(&self, seal_token: SealTokenId) -> Result<String, AttestedError> {
        let request = Request::get(format!("{KUBECTL_CONFIG_PATH}?seal_token={seal_token}"));
        self.http.send(&request).await?.success()?.text()
    }

    /// `GET /api/v1/audit/events/{audit_id}` with the access token
    /// `token`: the event, its inclusion proof and the checkpoint it leads
    /// to.
    ///
    /// # Errors
    /// 401 without a valid token, 403 for another identity's event below
    /// the super tier, 404 for an event the log does not hold, 409 for one
    /// not yet in a checkpoint; attestation, transport or response errors.
    pub async fn audit_event(
        &self,
        audit_id: &str,
        token: &AccessToken,
    ) -> Result<AuditEventProof, AttestedError> {
        let path = format!("{AUDIT_EVENTS_PATH}/{}", escape(audit_id));
        self.get_authorized(path, token).await
    }

    /// `GET /api/v1/audit/checkpoints` with the access token `token`.
    ///
    /// # Errors
    /// 401 without a valid token; attestation, transport or response
    /// errors.
    pub async fn audit_checkpoints(
        &self,
        token: &AccessToken,
    ) -> Result<AuditCheckpointList, AttestedError> {
        self.get_authorized(AUDIT_CHECKPOINTS_PATH.to_owned(), token)
            .await
    }

    /// `GET /api/v1/audit/consistency?from=&to=` with the access token
    /// `token`.
    ///
    /// # Errors
    /// 401 without a valid token, 400 for sizes the log cannot prove;
    /// attestation, transport or response errors.
    pub async fn audit_consistency(
        &self,
        from: u64,
        to: u64,
        token: &AccessToken,
    ) -> Result<AuditConsistency, AttestedError> {
        let path = format!("{AUDIT_CONSISTENCY_PATH}?from={from}&to={to}");
        self.get_authorized(path, token).await
    }

    /// `GET path` with `Authorization: Bearer <token>`, answered with JSON.
    async fn get_authorized<T: serde::de::DeserializeOwned>(
        &self,
        path: String,
        token: &AccessToken,
    ) -> Result<T, AttestedError> {
        let request = Request::get(path).bearer(token.as_str());
        self.http.send(&request).await?.success()?.json()
    }
}

/// Percent-encodes everything but unreserved characters, so a name cannot
/// change the path or query it is put in.
pub(super) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            escaped.push(char::from(byte));
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::super::nodes::{HealthView, NodeStatus};
    use super::*;

    fn page(names: &[&str], token: Option<&str>) -> NodeHealthList {
        NodeHealthList {
            view: HealthView::Public,
            nodes: names
                .iter()
                .map(|name| NodeHealth {
                    node: (*name).to_owned(),
                    seal_token: None,
                    owner: None,
                    status: NodeStatus::Ready,
                    last_heartbeat_age_secs: None,
                    stale: false,
                    metrics: None,
                    ip_address: None,
                    capacity: None,
                    agent_api: None,
                })
                .collect(),
            heartbeat_interval_secs: 10,
            stale_after_secs: 30,
            continue_token: token.map(str::to_owned),
        }
    }

    fn start() -> PageCursor {
        PageCursor {
            query: NodeHealthQuery {
                limit: Some(2),
                continue_token: None,
            },
            last: None,
        }
    }

    #[test]
    fn pages_are_followed_in_name_order_and_loops_are_refused() {
        let next = start()
            .follow(&page(&["a", "b"], Some("t1")))
            .unwrap()
            .unwrap();
        assert_eq!(next.query.continue_token.as_deref(), Some("t1"));
        assert_eq!(next.query.limit, Some(2));
        let next = next.follow(&page(&["c"], Some("t2"))).unwrap().unwrap();
        assert!(next.follow(&page(&["d"], None)).unwrap().is_none());
        // A repeated or out-of-order node, and an empty page that names
        // another, end the listing with an error rather than a loop.
        let after_b = start()
            .follow(&page(&["a", "b"], Some("t")))
            .unwrap()
            .unwrap();
        for bad in [page(&["b"], None), page(&["a"], None), page(&[], Some("t"))] {
            let cursor = PageCursor {
                query: after_b.query.clone(),
                last: after_b.last.clone(),
            };
            assert!(matches!(
                cursor.follow(&bad),
                Err(AttestedError::BadResponse { .. })
            ));
        }
        assert!(start().follow(&page(&["b", "a"], None)).is_err());
        assert!(start().follow(&page(&[], None)).unwrap().is_none());
    }

    #[test]
    fn names_cannot_leave_their_path_segment() {
        assert_eq!(escape("worker-1.example"), "worker-1.example");
        assert_eq!(escape("a/../b?x=1&y"), "a%2F..%2Fb%3Fx%3D1%26y");
        assert_eq!(
            StatusQuery::Node("n&owner=0x1".to_owned()).query_string(),
            "node=n%26owner%3D0x1"
        );
    }
}
