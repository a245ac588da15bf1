//! The namespaces the tier model protects: the cluster's own system
//! namespaces and the master's, where it keeps the records it trusts.
//!
//! No tier below super may write in a system namespace or read its Secrets
//! (the tier table, [`crate::tiers`]), so records kept in
//! [`MASTER_NAMESPACE`] (the opaque seal tokens and the key that
//! authenticates them, worker admission records, register-proof nonces) can
//! be changed only by the master and by super, and the master still checks
//! what it reads there ([`crate::record_key`], and the chain for admission
//! records).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ObjectMeta, Patch, PatchParams};

use crate::labels::{FIELD_MANAGER, MANAGED_BY, MANAGED_BY_LABEL};

/// The master's own namespace.
pub const MASTER_NAMESPACE: &str = "k3s-daas-system";

/// Every system namespace: Kubernetes' three and the master's.
pub const SYSTEM_NAMESPACES: [&str; 4] = [
    "kube-system",
    "kube-public",
    "kube-node-lease",
    MASTER_NAMESPACE,
];

/// Whether `namespace` is a system namespace.
pub fn is_system_namespace(namespace: &str) -> bool {
    SYSTEM_NAMESPACES.contains(&namespace)
}

/// Creates [`MASTER_NAMESPACE`] unless it exists (a server-side apply: any
/// replica may run it at any time).
///
/// # Errors
/// The API server refused the apply.
pub async fn ensure_master_namespace(client: &kube::Client) -> Result<(), kube::Error> {
    let api: Api<Namespace> = Api::all(client.clone());
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(MASTER_NAMESPACE.to_owned()),
            labels: Some(BTreeMap::from([(
                MANAGED_BY_LABEL.to_owned(),
                MANAGED_BY.to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(MASTER_NAMESPACE, &params, &Patch::Apply(&namespace))
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_namespaces_are_exactly_the_four() {
        for namespace in SYSTEM_NAMESPACES {
            assert!(is_system_namespace(namespace));
        }
        for namespace in ["default", "daas-u-0123456789abcdef", "kube-systemx", ""] {
            assert!(!is_system_namespace(namespace), "{namespace}");
        }
    }
}
