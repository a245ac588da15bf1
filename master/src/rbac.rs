//! What each stake tier may do in the cluster, as RBAC objects.
//!
//! The master's TokenReview answers put a user in the group of their tier,
//! `k3s-daas:<tier>` ([`daas_core::access::review::tier_group`]), and names
//! them `sui:<address>`. This module keeps the bindings those groups and
//! users need (ARCHITECTURE.md, "Who may do what"):
//!
//! | tier | binding |
//! |---|---|
//! | viewer | ClusterRoleBinding `k3s-daas:viewer` → ClusterRole `view` |
//! | developer | ClusterRoleBinding `k3s-daas:developer` → `view` (read everywhere), and a RoleBinding `k3s-daas:developer` → `edit` for the user alone in their own namespace |
//! | admin | ClusterRoleBinding `k3s-daas:admin` → `admin` (in every namespace) |
//! | super | ClusterRoleBinding `k3s-daas:super` → `cluster-admin` |
//!
//! These are the grants; what a tier may not do although its role would
//! allow it (system namespaces, RBAC, impersonation, …) is refused by the
//! master's authorization webhook, per the tier table ([`crate::tiers`]).
//!
//! The developer's namespace binding names the *user*, not the group (or
//! every developer could edit every developer's namespace). A user keeps
//! their name when their tier changes, so [`ensure_user_access`] must be run
//! again when a user's tier changes: it removes the namespace binding of a
//! user who is no longer a developer. The namespace itself and its contents
//! are kept.
//!
//! The namespace is `daas-u-<first 16 hex digits of the address>`
//! ([`user_namespace`], one rule with the console's): 64 bits, so nobody
//! can grind an address that lands in someone else's namespace; the full
//! address is in the namespace's [`OWNER_ANNOTATION`], and a namespace
//! owned by another address is never handed out
//! ([`RbacError::NamespaceOwnedByOther`]).
//!
//! Every write is a server-side apply with the field manager
//! [`FIELD_MANAGER`], so running any function again changes nothing.

use std::collections::BTreeMap;

use daas_core::access::review::{USERNAME_PREFIX, tier_group, user_namespace};
use daas_core::package::Tier;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding, RoleRef, Subject};
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams};
use kube::{Client, Resource};
use serde::Serialize;
use sui_sdk_types::Address;
use tracing::{debug, info, instrument};

use crate::labels::{FIELD_MANAGER, MANAGED_BY, MANAGED_BY_LABEL, OWNER_ANNOTATION};
use crate::pod_security;

/// Label marking a namespace as a K3s-DaaS user's own.
pub const USER_NAMESPACE_LABEL: &str = "k3s-daas.io/user-namespace";

/// Name of the developer's RoleBinding in their namespace.
pub const DEVELOPER_ROLE_BINDING: &str = "k3s-daas:developer";

/// The ClusterRole a developer gets in their own namespace.
pub const DEVELOPER_NAMESPACE_ROLE: &str = "edit";

/// API group of RBAC subjects and role references.
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Errors of the RBAC reconciliation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RbacError {
    /// The API server refused or failed a request.
    #[error("{action} failed")]
    Api {
        /// What was being done, e.g. `applying ClusterRoleBinding k3s-daas:viewer`.
        action: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// The user's namespace exists but belongs to another address (or to
    /// nobody the master knows).
    #[error(
        "namespace {namespace} is not owned by {address} (its {OWNER_ANNOTATION} annotation is {found:?})"
    )]
    NamespaceOwnedByOther {
        /// The namespace.
        namespace: String,
        /// The user asking for it.
        address: Address,
        /// The owner annotation found on it, if any.
        found: Option<String>,
    },
}

fn api_error(action: impl Into<String>) -> impl FnOnce(kube::Error) -> RbacError {
    let action = action.into();
    move |source| RbacError::Api { action, source }
}

/// The Kubernetes user name of an address, as the TokenReview answers it:
/// `sui:0x<64 hex digits>`.
pub fn username(address: Address) -> String {
    format!("{USERNAME_PREFIX}{address}")
}

/// The ClusterRoleBindings of the tier groups: name, ClusterRole, group.
pub fn tier_cluster_bindings() -> Vec<(String, &'static str, String)> {
    vec![
        (tier_group(Tier::Viewer), "view", tier_group(Tier::Viewer)),
        (
            tier_group(Tier::Developer),
            "view",
            tier_group(Tier::Developer),
        ),
        (tier_group(Tier::Admin), "admin", tier_group(Tier::Admin)),
        (
            tier_group(Tier::Super),
            "cluster-admin",
            tier_group(Tier::Super),
        ),
    ]
}

fn managed_labels() -> BTreeMap<String, String> {
    BTreeMap::from([(MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned())])
}

fn cluster_role_ref(name: &str) -> RoleRef {
    RoleRef {
        api_group: Some(RBAC_GROUP.to_owned()),
        kind: "ClusterRole".to_owned(),
        name: name.to_owned(),
    }
}

fn subject(kind: &str, name: String) -> Subject {
    Subject {
        api_group: Some(RBAC_GROUP.to_owned()),
        kind: kind.to_owned(),
        name,
        namespace: None,
    }
}

/// Server-side applies `object` as [`FIELD_MANAGER`], taking over fields
/// another manager set (the master owns these objects).
async fn apply<K>(api: &Api<K>, name: &str, object: &K) -> Result<K, RbacError>
where
    K: Resource + Clone + Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
{
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(name, &params, &Patch::Apply(object))
        .await
        .map_err(api_error(format!(
            "applying {} {name}",
            K::kind(&K::DynamicType::default())
        )))
}

/// Applies the ClusterRoleBindings of every tier group
/// ([`tier_cluster_bindings`]). Run at start-up by the leader.
///
/// # Errors
/// [`RbacError::Api`] when the API server refuses a write.
#[instrument(skip(client))]
pub async fn ensure_tier_bindings(client: &Client) -> Result<(), RbacError> {
    let api: Api<ClusterRoleBinding> = Api::all(client.clone());
    for (name, role, group) in tier_cluster_bindings() {
        let binding = ClusterRoleBinding {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(managed_labels()),
                ..ObjectMeta::default()
            },
            role_ref: cluster_role_ref(role),
            subjects: Some(vec![subject("Group", group)]),
        };
        apply(&api, &name, &binding).await?;
        debug!(binding = %name, role, "tier binding applied");
    }
    Ok(())
}

/// Checks that the ClusterRoles the tiers are bound to have rules. `view`,
/// `edit` and `admin` are aggregated by the controller manager, so on a
/// cluster that just started they exist but grant nothing for a moment; a
/// master that answered then would deny users their tier.
///
/// # Errors
/// A role that is missing or has no rules yet, or an API failure.
pub async fn tier_roles_ready(client: &Client) -> Result<(), String> {
    let api: Api<ClusterRole> = Api::all(client.clone());
    let mut roles: Vec<&str> = tier_cluster_bindings()
        .iter()
        .map(|(_, role, _)| *role)
        .chain([DEVELOPER_NAMESPACE_ROLE])
        .collect();
    roles.sort_unstable();
    roles.dedup();
    for role in roles {
        let found = api
            .get_opt(role)
            .await
            .map_err(|error| format!("cannot read ClusterRole {role}: {error}"))?;
        let has_rules = found
            .and_then(|role| role.rules)
            .is_some_and(|rules| !rules.is_empty());
        if !has_rules {
            return Err(format!(
                "ClusterRole {role} has no rules yet (aggregation pending)"
            ));
        }
    }
    Ok(())
}

/// Makes the user's namespace-scoped access match `tier`: a developer gets
/// their namespace (created on demand) with `edit` bound to them; any other
/// tier, or none, loses that binding (the namespace stays). Returns the
/// namespace when the user is a developer.
///
/// # Errors
/// [`RbacError::NamespaceOwnedByOther`] when the namespace name is taken by
/// another owner; [`RbacError::Api`] when the API server refuses a request.
#[instrument(skip(client), fields(address = %address))]
pub async fn ensure_user_access(
    client: &Client,
    address: Address,
    tier: Option<Tier>,
) -> Result<Option<String>, RbacError> {
    if tier == Some(Tier::Developer) {
        let namespace = ensure_user_namespace(client, address).await?;
        bind_developer(client, address, &namespace).await?;
        info!(namespace = %namespace, "developer access ensured");
        Ok(Some(namespace))
    } else {
        revoke_user_access(client, address).await?;
        Ok(None)
    }
}

/// Removes the developer binding of `address` from their namespace, if any.
/// The namespace and its contents are kept.
///
/// # Errors
/// [`RbacError::Api`] when the API server refuses the delete (a binding
/// that is already gone is not an error).
#[instrument(skip(client), fields(address = %address))]
pub async fn revoke_user_access(client: &Client, address: Address) -> Result<(), RbacError> {
    let namespace = user_namespace(address);
    let api: Api<RoleBinding> = Api::namespaced(client.clone(), &namespace);
    match api
        .delete(DEVELOPER_ROLE_BINDING, &DeleteParams::default())
        .await
    {
        Ok(_) => {
            info!(namespace = %namespace, "developer binding removed");
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(RbacError::Api {
            action: format!("deleting RoleBinding {namespace}/{DEVELOPER_ROLE_BINDING}"),
            source,
        }),
    }
}

/// Creates (or confirms) the user's namespace, annotated with the owner's
/// address and labelled to enforce Pod Security `restricted` (re-applied
/// every time, so a change is undone).
///
/// # Errors
/// [`RbacError::NamespaceOwnedByOther`] when it exists for another owner.
pub async fn ensure_user_namespace(client: &Client, address: Address) -> Result<String, RbacError> {
    let name = user_namespace(address);
    let api: Api<Namespace> = Api::all(client.clone());
    let existing = api
        .get_opt(&name)
        .await
        .map_err(api_error(format!("reading namespace {name}")))?;
    if let Some(namespace) = existing {
        check_owner(&namespace, &name, address)?;
    }
    let mut labels = managed_labels();
    labels.insert(USER_NAMESPACE_LABEL.to_owned(), "true".to_owned());
    labels.extend(pod_security::namespace_labels());
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                OWNER_ANNOTATION.to_owned(),
                address.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    apply(&api, &name, &namespace).await?;
    Ok(name)
}

fn check_owner(namespace: &Namespace, name: &str, address: Address) -> Result<(), RbacError> {
    let found = namespace
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(OWNER_ANNOTATION))
        .cloned();
    if found.as_deref() == Some(address.to_string().as_str()) {
        Ok(())
    } else {
        Err(RbacError::NamespaceOwnedByOther {
            namespace: name.to_owned(),
            address,
            found,
        })
    }
}

async fn bind_developer(
    client: &Client,
    address: Address,
    namespace: &str,
) -> Result<(), RbacError> {
    let api: Api<RoleBinding> = Api::namespaced(client.clone(), namespace);
    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some(DEVELOPER_ROLE_BINDING.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(managed_labels()),
            annotations: Some(BTreeMap::from([(
                OWNER_ANNOTATION.to_owned(),
                address.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        role_ref: cluster_role_ref(DEVELOPER_NAMESPACE_ROLE),
        subjects: Some(vec![subject("User", username(address))]),
    };
    apply(&api, DEVELOPER_ROLE_BINDING, &binding).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_matches_token_review() {
        let address = Address::new([0xa0; 32]);
        assert_eq!(username(address), format!("sui:0x{}", "a0".repeat(32)));
    }

    #[test]
    fn every_tier_has_a_cluster_binding() {
        let bindings = tier_cluster_bindings();
        for tier in Tier::ALL {
            assert!(
                bindings
                    .iter()
                    .any(|(_, _, group)| *group == tier_group(tier))
            );
        }
    }
}
