//! The RBAC that TLS bootstrapping needs, as K3s and kubeadm set it, minus
//! the one binding that would let any bootstrapper become any node.
//!
//! - `k3s-daas:node-bootstrapper`: the joining agents' group
//!   ([`NODE_BOOTSTRAP_GROUP`]) may create certificate signing requests
//!   (ClusterRole `system:node-bootstrapper`);
//! - `k3s-daas:node-client-renewal`: nodes may renew their own client
//!   certificates, which the controller manager approves
//!   (`…:selfnodeclient` for `system:nodes`).
//!
//! Not bound: `system:certificates.k8s.io:certificatesigningrequests:nodeclient`
//! for bootstrappers (kubeadm's `kubeadm:node-autoapprove-bootstrap`),
//! which makes the controller manager approve a bootstrapper's request for
//! any node name. The master approves those itself ([`super::csr`]);
//! [`unwanted_auto_approvals`] finds bindings that would bypass it.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use kube::Client;
use kube::api::{Api, ListParams, ObjectMeta, Patch, PatchParams};
use tracing::{debug, instrument};

use super::bootstrap_token::NODE_BOOTSTRAP_GROUP;
use crate::labels::{FIELD_MANAGER, MANAGED_BY, MANAGED_BY_LABEL};

/// ClusterRole letting its subjects create certificate signing requests.
pub const NODE_BOOTSTRAPPER_ROLE: &str = "system:node-bootstrapper";
/// ClusterRole whose holders' node client requests the controller manager
/// approves for any node name.
pub const NODE_CLIENT_APPROVAL_ROLE: &str =
    "system:certificates.k8s.io:certificatesigningrequests:nodeclient";
/// ClusterRole whose holders' renewals of their own node client
/// certificates the controller manager approves.
pub const SELF_NODE_CLIENT_APPROVAL_ROLE: &str =
    "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient";
/// The group of every node identity.
pub const NODES_GROUP: &str = "system:nodes";
/// The group of every bootstrap-token user.
pub const BOOTSTRAPPERS_GROUP: &str = "system:bootstrappers";

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The bindings: name, ClusterRole, group.
pub const BINDINGS: [(&str, &str, &str); 2] = [
    (
        "k3s-daas:node-bootstrapper",
        NODE_BOOTSTRAPPER_ROLE,
        NODE_BOOTSTRAP_GROUP,
    ),
    (
        "k3s-daas:node-client-renewal",
        SELF_NODE_CLIENT_APPROVAL_ROLE,
        NODES_GROUP,
    ),
];

/// Applies [`BINDINGS`] (server-side apply: running it again changes
/// nothing).
///
/// # Errors
/// The API server refused a write.
#[instrument(skip(client))]
pub async fn ensure_node_bootstrap_bindings(client: &Client) -> Result<(), kube::Error> {
    let api: Api<ClusterRoleBinding> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for (name, role, group) in BINDINGS {
        let binding = ClusterRoleBinding {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                labels: Some(BTreeMap::from([(
                    MANAGED_BY_LABEL.to_owned(),
                    MANAGED_BY.to_owned(),
                )])),
                ..ObjectMeta::default()
            },
            role_ref: RoleRef {
                api_group: Some(RBAC_GROUP.to_owned()),
                kind: "ClusterRole".to_owned(),
                name: role.to_owned(),
            },
            subjects: Some(vec![Subject {
                api_group: Some(RBAC_GROUP.to_owned()),
                kind: "Group".to_owned(),
                name: group.to_owned(),
                namespace: None,
            }]),
        };
        api.patch(name, &params, &Patch::Apply(&binding)).await?;
        debug!(
            binding = name,
            role, group, "node bootstrap binding applied"
        );
    }
    Ok(())
}

/// The ClusterRoleBindings that give bootstrappers the `nodeclient`
/// approval (so the controller manager would approve a bootstrapper's
/// request for any node name, around the master's check).
///
/// # Errors
/// The bindings cannot be listed.
pub async fn unwanted_auto_approvals(client: &Client) -> Result<Vec<String>, kube::Error> {
    let bindings = Api::<ClusterRoleBinding>::all(client.clone())
        .list(&ListParams::default())
        .await?;
    Ok(bindings
        .items
        .into_iter()
        .filter(|b| b.role_ref.name == NODE_CLIENT_APPROVAL_ROLE)
        .filter(|b| {
            b.subjects.iter().flatten().any(|s| {
                s.kind == "Group"
                    && (s.name == BOOTSTRAPPERS_GROUP
                        || s.name.starts_with(&format!("{BOOTSTRAPPERS_GROUP}:")))
            })
        })
        .filter_map(|b| b.metadata.name)
        .collect())
}
