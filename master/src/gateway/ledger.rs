//! The gateway's execution ledger: one ConfigMap per request in the
//! master's namespace, written only by the master, so a request is sent to
//! the API server at most once across restarts and leader changes.
//!
//! The idempotency key is the submitting transaction's digest and the
//! event's index in it ([`IdempotencyKey`]); the ConfigMap is named after
//! its hash. Before sending, the gateway **creates** the entry in state
//! `executing` (a create is atomic: of two masters racing, one wins); after
//! the answer it writes `executed` with the status and result hash, tagged
//! with the master's record key ([`crate::record_key`]) so nobody else can
//! plant a result for the enclave to sign. An entry found `executing` is an
//! interrupted attempt: the gateway reads the target back before deciding
//! to send ([`super::request::applied`]). An `executed` entry whose tag does
//! not verify is treated the same way (fail closed: only what the master
//! observed is signed).
//!
//! Fencing: every write checks the leader's [`Fence`] first and stamps the
//! term's generation on the entry; an entry last written by a newer
//! generation is refused (a stale leader neither re-executes nor finishes
//! what its successor took over), and `finish` is a compare-and-swap on
//! the entry it read.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use sha2::{Digest as _, Sha256};
use sui_sdk_types::{Address, Digest};

use super::GatewayError;
use crate::labels::{FIELD_MANAGER, MANAGED_BY, MANAGED_BY_LABEL};
use crate::leader::{Fence, GENERATION_ANNOTATION, written_generation};
use crate::record_key::RecordKey;

/// Prefix of every ledger ConfigMap's name.
pub const LEDGER_PREFIX: &str = "k3s-daas-gw-";
/// Label on every ledger ConfigMap.
pub const LEDGER_LABEL: &str = "k3s-daas.io/gateway-ledger";
/// Record-key domain of an executed entry.
const TAG_DOMAIN: &str = "gateway-ledger-v1";

const STATE: &str = "state";
const EXECUTING: &str = "executing";
const EXECUTED: &str = "executed";

/// Which request: its transaction and the event's index in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdempotencyKey {
    /// Digest of the submitting transaction.
    pub transaction: Digest,
    /// Index of the `K8sRequestSubmitted` event in its transaction.
    pub event_index: u32,
}

impl IdempotencyKey {
    /// The ledger ConfigMap's name: the prefix and 40 hex digits of
    /// SHA-256 over `<digest>:<index>`.
    pub fn config_map_name(&self) -> String {
        let hash = Sha256::digest(format!("{}:{}", self.transaction, self.event_index));
        format!("{LEDGER_PREFIX}{}", &hex::encode(hash)[..40])
    }
}

/// What executing a request came to: what the enclave signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// HTTP status of the answer (or of the gateway's refusal).
    pub status: u16,
    /// SHA-256 of the answer body.
    pub result_hash: [u8; 32],
}

impl Outcome {
    fn fields(&self, request: Address) -> [Vec<u8>; 3] {
        [
            request.as_bytes().to_vec(),
            self.status.to_be_bytes().to_vec(),
            self.result_hash.to_vec(),
        ]
    }
}

/// What the ledger says of a request when the gateway starts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begun {
    /// Never started: the entry is now `executing`; send it.
    Fresh,
    /// Started and interrupted (or unverifiable): read the target back.
    Interrupted,
    /// Executed before with this outcome: only record it.
    Executed(Outcome),
}

/// The ledger in one namespace.
#[derive(Debug, Clone)]
pub struct Ledger {
    api: Api<ConfigMap>,
    namespace: String,
}

impl Ledger {
    /// The ledger in `namespace`.
    pub fn new(client: kube::Client, namespace: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
        }
    }

    fn api_error(&self, verb: &str, name: &str) -> impl FnOnce(kube::Error) -> GatewayError {
        let action = format!("{verb} ConfigMap {}/{name}", self.namespace);
        move |source| GatewayError::Api { action, source }
    }

    /// Starts `request` under `key`, or reports how far it got before.
    ///
    /// # Errors
    /// [`GatewayError::Api`] when the API server fails;
    /// [`GatewayError::Fenced`] when `fence`'s term no longer holds or a
    /// newer leader wrote the entry.
    pub async fn begin(
        &self,
        key: IdempotencyKey,
        request: Address,
        record_key: &RecordKey,
        fence: &Fence,
    ) -> Result<Begun, GatewayError> {
        fence.check().await?;
        let name = key.config_map_name();
        let entry = ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.namespace.clone()),
                labels: Some(BTreeMap::from([
                    (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
                    (LEDGER_LABEL.to_owned(), "true".to_owned()),
                ])),
                annotations: Some(BTreeMap::from([(
                    GENERATION_ANNOTATION.to_owned(),
                    fence.generation().to_string(),
                )])),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([
                ("request".to_owned(), request.to_string()),
                ("transaction".to_owned(), key.transaction.to_string()),
                ("event-index".to_owned(), key.event_index.to_string()),
                (STATE.to_owned(), EXECUTING.to_owned()),
            ])),
            ..ConfigMap::default()
        };
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PostParams::default()
        };
        match self.api.create(&params, &entry).await {
            Ok(_) => return Ok(Begun::Fresh),
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(source) => return Err(self.api_error("creating", &name)(source)),
        }
        let found = self
            .api
            .get(&name)
            .await
            .map_err(self.api_error("reading", &name))?;
        fence.admits_writer(&name, written_generation(&found.metadata))?;
        Ok(begun_of(
            found.data.unwrap_or_default(),
            request,
            record_key,
        ))
    }

    /// Records that `request` under `key` executed with `outcome`.
    ///
    /// # Errors
    /// [`GatewayError::Api`] when the API server fails (a 409: the entry
    /// changed since it was read); [`GatewayError::Fenced`] as for
    /// [`begin`](Self::begin).
    pub async fn finish(
        &self,
        key: IdempotencyKey,
        request: Address,
        outcome: &Outcome,
        record_key: &RecordKey,
        fence: &Fence,
    ) -> Result<(), GatewayError> {
        let name = key.config_map_name();
        fence.check().await?;
        let found = self
            .api
            .get(&name)
            .await
            .map_err(self.api_error("reading", &name))?;
        fence.admits_writer(&name, written_generation(&found.metadata))?;
        let fields = outcome.fields(request);
        let parts: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
        let tag = record_key.tag(TAG_DOMAIN, &parts);
        let patch = serde_json::json!({
            "metadata": {
                "resourceVersion": found.metadata.resource_version,
                "annotations": { GENERATION_ANNOTATION: fence.generation().to_string() },
            },
            "data": {
                STATE: EXECUTED,
                "status": outcome.status.to_string(),
                "result-hash": hex::encode(outcome.result_hash),
                "tag": hex::encode(tag),
            }
        });
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        self.api
            .patch(&name, &params, &Patch::Merge(&patch))
            .await
            .map(drop)
            .map_err(self.api_error("updating", &name))
    }
}

/// Reads an existing entry: `executed` with a valid tag is that outcome;
/// anything else is an interrupted attempt.
fn begun_of(data: BTreeMap<String, String>, request: Address, record_key: &RecordKey) -> Begun {
    let executed = (|| {
        if data.get(STATE)? != EXECUTED || data.get("request")? != &request.to_string() {
            return None;
        }
        let outcome = Outcome {
            status: data.get("status")?.parse().ok()?,
            result_hash: hex::decode(data.get("result-hash")?)
                .ok()?
                .try_into()
                .ok()?,
        };
        let tag = hex::decode(data.get("tag")?).ok()?;
        let fields = outcome.fields(request);
        let parts: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
        record_key
            .verify(TAG_DOMAIN, &parts, &tag)
            .then_some(outcome)
    })();
    executed.map_or(Begun::Interrupted, Begun::Executed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record_key::KEY_LEN;

    fn entry(key: &RecordKey, request: Address, outcome: &Outcome) -> BTreeMap<String, String> {
        let fields = outcome.fields(request);
        let parts: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
        BTreeMap::from([
            ("request".to_owned(), request.to_string()),
            (STATE.to_owned(), EXECUTED.to_owned()),
            ("status".to_owned(), outcome.status.to_string()),
            ("result-hash".to_owned(), hex::encode(outcome.result_hash)),
            ("tag".to_owned(), hex::encode(key.tag(TAG_DOMAIN, &parts))),
        ])
    }

    #[test]
    fn the_name_depends_on_digest_and_index_and_is_a_dns_label() {
        let key = |index| IdempotencyKey {
            transaction: Digest::new([7; 32]),
            event_index: index,
        };
        let name = key(0).config_map_name();
        assert_eq!(name.len(), LEDGER_PREFIX.len() + 40);
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        );
        assert_ne!(name, key(1).config_map_name());
        assert_eq!(name, key(0).config_map_name());
    }

    #[test]
    fn only_a_tagged_executed_entry_of_the_request_is_believed() {
        let key = RecordKey::from_bytes([3; KEY_LEN]);
        let request = Address::new([0x0a; 32]);
        let outcome = Outcome {
            status: 201,
            result_hash: [9; 32],
        };
        let good = entry(&key, request, &outcome);
        assert_eq!(
            begun_of(good.clone(), request, &key),
            Begun::Executed(outcome.clone())
        );

        // Planted by someone without the key, changed, for another
        // request, or still executing: read the target back instead.
        let other_key = RecordKey::from_bytes([4; KEY_LEN]);
        assert_eq!(
            begun_of(entry(&other_key, request, &outcome), request, &key),
            Begun::Interrupted
        );
        let mut changed = good.clone();
        changed.insert("status".to_owned(), "200".to_owned());
        assert_eq!(begun_of(changed, request, &key), Begun::Interrupted);
        assert_eq!(
            begun_of(good.clone(), Address::new([1; 32]), &key),
            Begun::Interrupted
        );
        let mut executing = good;
        executing.insert(STATE.to_owned(), EXECUTING.to_owned());
        assert_eq!(begun_of(executing, request, &key), Begun::Interrupted);
        assert_eq!(begun_of(BTreeMap::new(), request, &key), Begun::Interrupted);
    }
}
