//! Admission records: what the master admitted, written before it hands
//! out a join token, kept where only the master writes.
//!
//! One ConfigMap per admitted node, `node-<node name>` in
//! [`MASTER_NAMESPACE`], holds the node name, its worker seal token, the
//! token's owner, the id of the bootstrap token minted for it and when it
//! was admitted. It is:
//!
//! - the **binding** of a bootstrap token to a node name: the master
//!   approves a kubelet's client certificate request only for the node and
//!   token its record names ([`super::csr`]);
//! - the **claim** the reconciler judges against the chain: every Node
//!   without a record whose seal token still holds it is revoked;
//! - the **pending labelling**: a node that appears after a master restart
//!   is labelled from its record.
//!
//! A record is never trusted alone: its seal token, owner and node are
//! checked on chain ([`daas_core::access::worker`]) before anything is
//! kept or approved. Creating it is the atomic "this name is taken" step:
//! two seal tokens cannot both hold one node name.

use std::collections::BTreeMap;

use daas_core::access::NodeName;
use daas_core::access::worker::WorkerClaim;
use daas_core::package::SealTokenId;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams, Preconditions};
use sui_sdk_types::Address;
use tracing::{debug, info, instrument};

use super::{AdmissionError, WorkerNode, api_error};
use crate::labels::{
    COMPONENT_LABEL, MANAGED_BY, MANAGED_BY_LABEL, NODE_LABEL, SEAL_TOKEN_LABEL,
    seal_token_label_value,
};
use crate::namespaces::MASTER_NAMESPACE;
use crate::paged_list;

/// [`COMPONENT_LABEL`] of admission records.
pub const RECORD_COMPONENT: &str = "admission-record";
/// Prefix of a record's name; the node name follows.
pub const RECORD_NAME_PREFIX: &str = "node-";
/// Data key: the node name.
pub const KEY_NODE: &str = "node";
/// Data key: the worker seal token's id.
pub const KEY_SEAL_TOKEN: &str = "seal-token";
/// Data key: the seal token's owner.
pub const KEY_OWNER: &str = "owner";
/// Data key: the id of the bootstrap token minted for the node.
pub const KEY_BOOTSTRAP_TOKEN_ID: &str = "bootstrap-token-id";
/// Data key: when the node was (last) admitted, RFC 3339.
pub const KEY_ADMITTED_AT: &str = "admitted-at";

/// What the master admitted for one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionRecord {
    /// The node name.
    pub node: NodeName,
    /// The worker seal token that holds it.
    pub seal_token: SealTokenId,
    /// The seal token's owner.
    pub owner: Address,
    /// The bootstrap token minted for it at its latest registration.
    pub bootstrap_token_id: String,
    /// When it was admitted (latest registration).
    pub admitted_at: Timestamp,
}

/// A record as read, with what identifies its ConfigMap.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    /// The ConfigMap's name.
    pub name: String,
    /// The ConfigMap's uid (a delete is conditional on it).
    pub uid: Option<String>,
    /// The record, or why its ConfigMap is not one.
    pub record: Result<AdmissionRecord, String>,
}

/// The record name of `node`.
pub fn record_name(node: &NodeName) -> String {
    format!("{RECORD_NAME_PREFIX}{node}")
}

/// The label selector of every admission record.
pub fn records_selector() -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY},{COMPONENT_LABEL}={RECORD_COMPONENT}")
}

impl AdmissionRecord {
    /// What the record claims, for the worker rule.
    pub fn claim(&self) -> WorkerClaim {
        WorkerClaim {
            seal_token: self.seal_token,
            owner: self.owner,
            node: self.node.clone(),
        }
    }

    fn to_config_map(&self) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(record_name(&self.node)),
                namespace: Some(MASTER_NAMESPACE.to_owned()),
                labels: Some(BTreeMap::from([
                    (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
                    (COMPONENT_LABEL.to_owned(), RECORD_COMPONENT.to_owned()),
                    (NODE_LABEL.to_owned(), self.node.to_string()),
                    (
                        SEAL_TOKEN_LABEL.to_owned(),
                        seal_token_label_value(self.seal_token),
                    ),
                ])),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([
                (KEY_NODE.to_owned(), self.node.to_string()),
                (KEY_SEAL_TOKEN.to_owned(), self.seal_token.to_string()),
                (KEY_OWNER.to_owned(), self.owner.to_string()),
                (
                    KEY_BOOTSTRAP_TOKEN_ID.to_owned(),
                    self.bootstrap_token_id.clone(),
                ),
                (KEY_ADMITTED_AT.to_owned(), self.admitted_at.to_string()),
            ])),
            ..ConfigMap::default()
        }
    }

    /// Parses a record's ConfigMap; the error names the field.
    ///
    /// # Errors
    /// A field is missing or does not parse, or the node does not match
    /// the ConfigMap's name.
    pub fn from_config_map(config_map: &ConfigMap) -> Result<Self, String> {
        let data = config_map.data.as_ref();
        let field = |key: &str| {
            data.and_then(|d| d.get(key))
                .map(String::as_str)
                .ok_or_else(|| format!("no `{key}` field"))
        };
        let parse_error = |key: &str, error: &dyn std::fmt::Display| format!("`{key}`: {error}");
        let node: NodeName = field(KEY_NODE)?
            .parse()
            .map_err(|e| parse_error(KEY_NODE, &e))?;
        if config_map.metadata.name.as_deref() != Some(record_name(&node).as_str()) {
            return Err(format!(
                "the record of node {node} is not named {}",
                record_name(&node)
            ));
        }
        let record = Self {
            seal_token: field(KEY_SEAL_TOKEN)?
                .parse()
                .map_err(|e| parse_error(KEY_SEAL_TOKEN, &e))?,
            owner: field(KEY_OWNER)?
                .parse()
                .map_err(|e| parse_error(KEY_OWNER, &e))?,
            bootstrap_token_id: field(KEY_BOOTSTRAP_TOKEN_ID)?.to_owned(),
            admitted_at: field(KEY_ADMITTED_AT)?
                .parse()
                .map_err(|e| parse_error(KEY_ADMITTED_AT, &e))?,
            node,
        };
        Ok(record)
    }
}

impl From<&AdmissionRecord> for WorkerNode {
    fn from(record: &AdmissionRecord) -> Self {
        Self {
            name: record.node.clone(),
            seal_token: record.seal_token,
            owner: record.owner,
        }
    }
}

fn stored(config_map: &ConfigMap) -> StoredRecord {
    StoredRecord {
        name: config_map.metadata.name.clone().unwrap_or_default(),
        uid: config_map.metadata.uid.clone(),
        record: AdmissionRecord::from_config_map(config_map),
    }
}

fn api(client: &Client) -> Api<ConfigMap> {
    Api::namespaced(client.clone(), MASTER_NAMESPACE)
}

/// Writes `record`: creates it, or, when the node's record exists for the
/// same seal token and owner (a re-registration), replaces it.
///
/// # Errors
/// [`AdmissionError::NodeTaken`] when the node is recorded for another
/// seal token or owner (or its record is malformed);
/// [`AdmissionError::Api`] when the API server fails.
#[instrument(skip(client, record), fields(node = %record.node, seal_token = %record.seal_token))]
pub async fn write_record(client: &Client, record: &AdmissionRecord) -> Result<(), AdmissionError> {
    let api = api(client);
    let name = record_name(&record.node);
    let mut object = record.to_config_map();
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => {
            info!("admission record written");
            return Ok(());
        }
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(source) => return Err(api_error(format!("creating record {name}"))(source)),
    }
    let existing = api
        .get(&name)
        .await
        .map_err(api_error(format!("reading record {name}")))?;
    match AdmissionRecord::from_config_map(&existing) {
        Ok(old) if old.seal_token == record.seal_token && old.owner == record.owner => {}
        Ok(old) => {
            return Err(AdmissionError::NodeTaken {
                node: record.node.to_string(),
                holder: old.seal_token.to_string(),
            });
        }
        Err(reason) => {
            return Err(AdmissionError::NodeTaken {
                node: record.node.to_string(),
                holder: format!("a malformed record ({reason})"),
            });
        }
    }
    // Replace only the version read: a concurrent writer makes this fail
    // with 409, and the registration is refused rather than racing.
    object.metadata.resource_version = existing.metadata.resource_version;
    api.replace(&name, &PostParams::default(), &object)
        .await
        .map_err(|source| match &source {
            kube::Error::Api(status) if status.code == 409 => AdmissionError::NodeTaken {
                node: record.node.to_string(),
                holder: "a concurrent registration".to_owned(),
            },
            _ => api_error(format!("replacing record {name}"))(source),
        })?;
    info!("admission record renewed");
    Ok(())
}

/// The record of `node`, if there is one.
///
/// # Errors
/// [`AdmissionError::Api`] when the API server fails.
pub async fn read_record(
    client: &Client,
    node: &NodeName,
) -> Result<Option<StoredRecord>, AdmissionError> {
    let name = record_name(node);
    let found = api(client)
        .get_opt(&name)
        .await
        .map_err(api_error(format!("reading record {name}")))?;
    Ok(found.as_ref().map(stored))
}

/// Every record matching the label selector `selector` (which should
/// include [`records_selector`]).
///
/// # Errors
/// [`AdmissionError::Api`] when the API server fails.
pub async fn list_records(
    client: &Client,
    selector: &str,
) -> Result<Vec<StoredRecord>, AdmissionError> {
    paged_list::list(
        &api(client),
        &ListParams::default().labels(selector),
        |config_map| stored(&config_map),
    )
    .await
    .map_err(api_error("listing admission records"))
}

/// Deletes the record `name` if it still is the object `uid` (a record
/// written again since is kept); `false` when it was already gone or
/// replaced by a new object.
///
/// # Errors
/// [`AdmissionError::Api`] when the API server fails.
pub async fn delete_record(
    client: &Client,
    name: &str,
    uid: Option<&str>,
) -> Result<bool, AdmissionError> {
    let params = DeleteParams {
        preconditions: uid.map(|uid| Preconditions {
            uid: Some(uid.to_owned()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api(client).delete(name, &params).await {
        Ok(_) => {
            debug!(record = name, "admission record deleted");
            Ok(true)
        }
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => Ok(false),
        Err(source) => Err(api_error(format!("deleting record {name}"))(source)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn record() -> AdmissionRecord {
        AdmissionRecord {
            node: "worker-1".parse().unwrap(),
            seal_token: SealTokenId::new(Address::new([2; 32])),
            owner: Address::new([3; 32]),
            bootstrap_token_id: "abcdef".to_owned(),
            admitted_at: Timestamp::from_second(1_800_000_000).unwrap(),
        }
    }

    #[test]
    fn round_trips_through_its_config_map() {
        let record = record();
        let config_map = record.to_config_map();
        assert_eq!(config_map.metadata.name.as_deref(), Some("node-worker-1"));
        let labels = config_map.metadata.labels.clone().unwrap();
        assert_eq!(labels[NODE_LABEL], "worker-1");
        assert_eq!(labels[SEAL_TOKEN_LABEL], "02".repeat(16));
        assert_eq!(
            AdmissionRecord::from_config_map(&config_map).unwrap(),
            record
        );
        assert_eq!(record.claim().node, record.node);
    }

    #[test]
    fn malformed_records_name_the_field() {
        let edit = |key: &str, value: Option<&str>| {
            let mut config_map = record().to_config_map();
            let data = config_map.data.as_mut().unwrap();
            match value {
                Some(value) => data.insert(key.to_owned(), value.to_owned()),
                None => data.remove(key),
            };
            AdmissionRecord::from_config_map(&config_map).unwrap_err()
        };
        assert!(edit(KEY_OWNER, None).contains("no `owner`"));
        assert!(edit(KEY_SEAL_TOKEN, Some("0xzz")).contains("`seal-token`"));
        assert!(edit(KEY_NODE, Some("Bad_Name")).contains("`node`"));
        assert!(edit(KEY_ADMITTED_AT, Some("yesterday")).contains("`admitted-at`"));
        // A record under another node's name claims nothing.
        assert!(edit(KEY_NODE, Some("worker-2")).contains("not named"));
    }
}
