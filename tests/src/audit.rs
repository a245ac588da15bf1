//! Talking to a stack's audit log as the API server and as a reader do:
//! audit `EventList`s posted to the master's webhook with the API server's
//! client certificate, and the signed access token the audit reads need.

use std::time::Duration;

use anyhow::Context as _;
use daas_core::access::{AccessToken, Claims, unix_now_secs};
use daas_core::package::SealTokenId;
use daas_core::wallet::Keypair;
use serde_json::json;

use crate::stack::Stack;
use crate::webhook::WebhookKubeconfig;

/// An HTTP client holding the API server's audit webhook client
/// certificate (from the kubeconfig `daas-master webhook-files` wrote).
///
/// # Errors
/// The kubeconfig is unreadable or holds no client certificate.
pub fn webhook_client(stack: &Stack) -> anyhow::Result<reqwest::Client> {
    let kubeconfig = WebhookKubeconfig::read(&stack.master.audit_kubeconfig())?;
    let mut pem = kubeconfig.client_certificate_pem;
    pem.extend(kubeconfig.client_key_pem);
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .use_rustls_tls()
        .identity(reqwest::Identity::from_pem(&pem).context("the client certificate")?)
        .timeout(Duration::from_secs(5))
        .build()
        .context("building the webhook client")
}

/// An `audit.k8s.io/v1` `EventList` of one `list pods` by the cluster admin
/// per auditID.
pub fn event_list(ids: &[String]) -> serde_json::Value {
    let items: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| {
            json!({
                "level": "Metadata", "auditID": id, "stage": "ResponseComplete",
                "requestURI": "/api/v1/namespaces/default/pods", "verb": "list",
                "user": { "username": "system:admin", "groups": ["system:masters"] },
                "objectRef": { "resource": "pods", "namespace": "default", "apiVersion": "v1" },
                "responseStatus": { "code": 200 },
                "stageTimestamp": "2026-12-04T13:00:00.000000Z",
            })
        })
        .collect();
    json!({ "kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items })
}

/// A 10-minute access token of `key` for `seal` and the stack's cluster.
///
/// # Errors
/// The claims or the signature could not be made.
pub fn access_token(
    stack: &Stack,
    key: &Keypair,
    seal: SealTokenId,
) -> anyhow::Result<AccessToken> {
    let claims = Claims::new(
        seal,
        key.address(),
        stack.cluster.server(),
        unix_now_secs(),
        Duration::from_secs(600),
    )?;
    Ok(AccessToken::sign(key, &claims)?)
}
