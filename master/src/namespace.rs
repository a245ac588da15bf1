//! The master's own namespace: where it keeps the records that only it may
//! write (worker admission records, register-proof nonces).
//!
//! No tier below super may write this namespace: the tier ClusterRoles
//! grant nothing here that a user could use to forge a record, and the
//! master, as the authorization webhook of every `sui:` user, denies writes
//! to it (`crate::access::authorize`). Whatever the master reads from here
//! it also checks against the chain before it relies on it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, ObjectMeta, Patch, PatchParams};
use tracing::instrument;

use crate::labels::{FIELD_MANAGER, MANAGED_BY, MANAGED_BY_LABEL};

/// The namespace of the master's records.
pub const MASTER_NAMESPACE: &str = "k3s-daas-system";

/// Creates [`MASTER_NAMESPACE`] if it is missing (a server-side apply, so
/// running it again changes nothing).
///
/// # Errors
/// The API server refused the apply.
#[instrument(skip(client))]
pub async fn ensure_master_namespace(client: &Client) -> Result<(), kube::Error> {
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
    Api::<Namespace>::all(client.clone())
        .patch(
            MASTER_NAMESPACE,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&namespace),
        )
        .await
        .map(drop)
}
