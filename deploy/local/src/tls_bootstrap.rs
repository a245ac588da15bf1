//! TLS bootstrapping of kubelets against a test [`Cluster`](crate::k3s::Cluster):
//! bootstrap tokens, the ClusterRoleBindings that K3s and kubeadm create for
//! joining nodes, and approving a joining kubelet's client certificate.
//!
//! Who approves a bootstrap CSR is the caller's choice: in the product the
//! master approves only the node name a token was minted for, so there is no
//! auto-approval binding there. A test either approves explicitly
//! ([`approve_bootstrap_csr`]) or opts in to the controller manager's
//! auto-approval ([`allow_bootstrap_auto_approval`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestCondition, CertificateSigningRequestStatus,
};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use rand::Rng as _;

/// The extra group K3s puts joining agents in (`k3s token create` default),
/// as the master's bootstrap tokens carry it.
pub const NODE_BOOTSTRAP_GROUP: &str = "system:bootstrappers:k3s:default-node-token";

/// The signer of kubelet client certificates.
pub const KUBELET_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";

/// A bootstrap token `<id>.<secret>` that exists in the cluster. Its `Debug`
/// shows the id only.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapToken {
    id: String,
    secret: String,
}

impl std::fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapToken")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Why a bootstrap token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a bootstrap token is a 6-character id, a dot and a 16-character secret, all of [a-z0-9]")]
pub struct BadBootstrapToken;

impl std::str::FromStr for BootstrapToken {
    type Err = BadBootstrapToken;

    /// Parses `<id>.<secret>`.
    fn from_str(token: &str) -> Result<Self, Self::Err> {
        let valid = |part: &str, len: usize| {
            part.len() == len
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        };
        match token.split_once('.') {
            Some((id, secret)) if valid(id, 6) && valid(secret, 16) => Ok(Self {
                id: id.to_owned(),
                secret: secret.to_owned(),
            }),
            _ => Err(BadBootstrapToken),
        }
    }
}

impl BootstrapToken {
    /// A random token (id of 6, secret of 16 characters of `[a-z0-9]`) that
    /// does not exist anywhere yet.
    pub fn generate() -> Self {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut rng = rand::thread_rng();
        let mut draw = |len: usize| -> String {
            (0..len)
                .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
                .collect()
        };
        Self {
            id: draw(6),
            secret: draw(16),
        }
    }

    /// The token id, public: the API server calls its holder
    /// `system:bootstrap:<id>`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The bearer token `<id>.<secret>`.
    pub fn bearer(&self) -> String {
        format!("{}.{}", self.id, self.secret)
    }

    /// The user name the API server gives this token's holder.
    pub fn user(&self) -> String {
        format!("system:bootstrap:{}", self.id)
    }
}

/// Creates the `bootstrap.kubernetes.io/token` Secret of a new token in
/// `kube-system`, usable for authentication, in [`NODE_BOOTSTRAP_GROUP`],
/// expiring after `ttl`, laid out as the master mints them.
pub async fn create_bootstrap_token(client: &Client, ttl: Duration) -> Result<BootstrapToken> {
    let token = BootstrapToken::generate();
    // Whole seconds: the API server parses RFC 3339.
    let expires = i64::try_from(ttl.as_secs())
        .ok()
        .and_then(|ttl| Timestamp::now().as_second().checked_add(ttl))
        .and_then(|secs| Timestamp::from_second(secs).ok())
        .with_context(|| format!("a bootstrap token TTL of {ttl:?} is out of range"))?;
    let string_data = BTreeMap::from([
        ("token-id".to_owned(), token.id.clone()),
        ("token-secret".to_owned(), token.secret.clone()),
        ("expiration".to_owned(), expires.to_string()),
        (
            "usage-bootstrap-authentication".to_owned(),
            "true".to_owned(),
        ),
        (
            "auth-extra-groups".to_owned(),
            NODE_BOOTSTRAP_GROUP.to_owned(),
        ),
        ("description".to_owned(), "daas-e2e node join".to_owned()),
    ]);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(format!("bootstrap-token-{}", token.id)),
            ..ObjectMeta::default()
        },
        type_: Some("bootstrap.kubernetes.io/token".to_owned()),
        string_data: Some(string_data),
        ..Secret::default()
    };
    Api::<Secret>::namespaced(client.clone(), "kube-system")
        .create(&PostParams::default(), &secret)
        .await
        .with_context(|| format!("creating bootstrap token {}", token.id))?;
    Ok(token)
}

/// Ensures the bindings every joining kubelet needs, as K3s and kubeadm set
/// them: members of [`NODE_BOOTSTRAP_GROUP`] may create CSRs
/// (`system:node-bootstrapper`), and nodes may renew their own client
/// certificates (`…:selfnodeclient` for `system:nodes`). Neither approves a
/// first certificate.
pub async fn allow_node_bootstrap(client: &Client) -> Result<()> {
    ensure_group_binding(
        client,
        "daas-e2e:kubelet-bootstrap",
        "system:node-bootstrapper",
        NODE_BOOTSTRAP_GROUP,
    )
    .await?;
    ensure_group_binding(
        client,
        "daas-e2e:node-autoapprove-certificate-rotation",
        "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
        "system:nodes",
    )
    .await
}

/// Test set-up only: lets the controller manager approve every bootstrap
/// CSR of [`NODE_BOOTSTRAP_GROUP`] for any node name (kubeadm's
/// `nodeclient` binding), which the product never does.
pub async fn allow_bootstrap_auto_approval(client: &Client) -> Result<()> {
    ensure_group_binding(
        client,
        "daas-e2e:node-autoapprove-bootstrap",
        "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
        NODE_BOOTSTRAP_GROUP,
    )
    .await
}

async fn ensure_group_binding(
    client: &Client,
    name: &str,
    cluster_role: &str,
    group: &str,
) -> Result<()> {
    let binding = ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            kind: "ClusterRole".to_owned(),
            name: cluster_role.to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: "Group".to_owned(),
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            name: group.to_owned(),
            namespace: None,
        }]),
    };
    match Api::<ClusterRoleBinding>::all(client.clone())
        .create(&PostParams::default(), &binding)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating ClusterRoleBinding {name}")),
    }
}

/// Waits (up to `timeout`) for the kubelet client CSR that the holder of
/// `token` submits, approves it as the admin `client`, and returns its name.
/// Only a CSR for [`KUBELET_CLIENT_SIGNER`] whose requester is the token's
/// user is approved.
pub async fn approve_bootstrap_csr(
    client: &Client,
    token: &BootstrapToken,
    timeout: Duration,
) -> Result<String> {
    decide_bootstrap_csr(client, token, Decision::Approved, timeout).await
}

/// Like [`approve_bootstrap_csr`], but denies the CSR: the kubelet then gets
/// no certificate and gives up.
pub async fn deny_bootstrap_csr(
    client: &Client,
    token: &BootstrapToken,
    timeout: Duration,
) -> Result<String> {
    decide_bootstrap_csr(client, token, Decision::Denied, timeout).await
}

/// The condition an approver adds to a CSR.
#[derive(Debug, Clone, Copy)]
enum Decision {
    Approved,
    Denied,
}

impl Decision {
    /// The condition type the API server knows.
    fn condition(self) -> &'static str {
        match self {
            Self::Approved => "Approved",
            Self::Denied => "Denied",
        }
    }
}

async fn decide_bootstrap_csr(
    client: &Client,
    token: &BootstrapToken,
    decision: Decision,
    timeout: Duration,
) -> Result<String> {
    let csrs: Api<CertificateSigningRequest> = Api::all(client.clone());
    let requester = token.user();
    let deadline = Instant::now() + timeout;
    let mut csr = loop {
        let pending = csrs
            .list(&ListParams::default())
            .await
            .context("listing CSRs")?
            .items
            .into_iter()
            .find(|csr| {
                csr.spec.username.as_deref() == Some(requester.as_str())
                    && csr.spec.signer_name == KUBELET_CLIENT_SIGNER
            });
        if let Some(csr) = pending {
            break csr;
        }
        if Instant::now() > deadline {
            bail!("no kubelet client CSR from {requester} within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let name = csr.metadata.name.clone().context("a CSR without a name")?;
    csr.status
        .get_or_insert_with(CertificateSigningRequestStatus::default)
        .conditions
        .get_or_insert_with(Vec::new)
        .push(CertificateSigningRequestCondition {
            type_: decision.condition().to_owned(),
            status: "True".to_owned(),
            reason: Some(format!("DaasE2e{}", decision.condition())),
            message: Some(format!(
                "{} by the test for {requester}",
                decision.condition()
            )),
            ..CertificateSigningRequestCondition::default()
        });
    csrs.replace_subresource("approval", &name, &PostParams::default(), &csr)
        .await
        .with_context(|| format!("marking CSR {name} {}", decision.condition()))?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_generated_token_parses_back() {
        let token = BootstrapToken::generate();
        assert_eq!(token.bearer().parse::<BootstrapToken>().unwrap(), token);
        assert_eq!(token.user(), format!("system:bootstrap:{}", token.id()));
        assert!(!format!("{token:?}").contains(&token.bearer()));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for bad in [
            "",
            "abcdef",
            "abcdef.",
            "abcde.0123456789abcdef",
            "abcdef.0123456789abcde",
            "ABCDEF.0123456789abcdef",
            "abcdef.0123456789abcdeF",
            "abcdef:0123456789abcdef",
            "abcdef.0123456789abcdef.x",
        ] {
            assert_eq!(
                bad.parse::<BootstrapToken>(),
                Err(BadBootstrapToken),
                "{bad:?}"
            );
        }
    }
}
