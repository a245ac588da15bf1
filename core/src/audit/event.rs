//! The canonical leaf of an audit event.
//!
//! The API server posts `audit.k8s.io/v1` `EventList`s; the log keeps, per
//! event, only who did what: the user and groups (and whom they
//! impersonated), verb, resource, namespace, name, response code, the
//! `auditID` and the stage timestamp. Request and response bodies are never
//! read. The leaf bytes are the BCS encoding of [`AuditLeaf`] (version byte
//! first, then the fields in declaration order), so anyone can re-encode a
//! served event and recompute its leaf hash.

use serde::{Deserialize, Serialize};

use super::merkle::{Hash, leaf_hash};

/// Version byte of the leaf encoding.
pub const LEAF_VERSION: u8 = 1;
/// Longest `auditID` accepted (the API server makes UUIDs).
pub const MAX_AUDIT_ID_LEN: usize = 128;
/// Longest string field accepted.
pub const MAX_FIELD_LEN: usize = 4096;
/// Most groups accepted per user.
pub const MAX_GROUPS: usize = 256;

/// Why an audit event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditEventError {
    /// The body is not an `audit.k8s.io/v1` `EventList`.
    #[error("not an audit.k8s.io/v1 EventList: {0}")]
    NotAnEventList(String),
    /// The event has no `auditID`.
    #[error("event {index} has no auditID")]
    MissingAuditId {
        /// Position in the list.
        index: usize,
    },
    /// A field is too long or has too many items.
    #[error("event {audit_id}: {field} is too large")]
    TooLarge {
        /// The event.
        audit_id: String,
        /// The field.
        field: &'static str,
    },
    /// Leaf bytes do not decode.
    #[error("leaf bytes do not decode: {0}")]
    BadLeaf(String),
}

/// One audit event as the log keeps it (and serves it, as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditLeaf {
    /// [`LEAF_VERSION`].
    pub version: u8,
    /// The API server's `auditID`.
    pub audit_id: String,
    /// `stage` (`ResponseComplete`, `Panic`, ...).
    pub stage: String,
    /// `stageTimestamp`, as the API server wrote it (RFC 3339).
    pub stage_timestamp: String,
    /// `user.username`.
    pub user: String,
    /// `user.groups`.
    pub groups: Vec<String>,
    /// `impersonatedUser.username`, empty when none.
    pub impersonated_user: String,
    /// `verb`.
    pub verb: String,
    /// `objectRef.apiGroup`.
    pub api_group: String,
    /// `objectRef.resource`.
    pub resource: String,
    /// `objectRef.subresource`.
    pub subresource: String,
    /// `objectRef.namespace`.
    pub namespace: String,
    /// `objectRef.name`.
    pub name: String,
    /// `requestURI` (path and query; never a body).
    pub request_uri: String,
    /// `responseStatus.code`, 0 when absent.
    pub response_code: i32,
}

impl AuditLeaf {
    /// The canonical leaf bytes (BCS).
    pub fn to_bytes(&self) -> Vec<u8> {
        // BCS of strings, vectors and integers cannot fail.
        bcs::to_bytes(self).unwrap_or_default()
    }

    /// Decodes canonical leaf bytes.
    ///
    /// # Errors
    /// [`AuditEventError::BadLeaf`] if they are not one leaf.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AuditEventError> {
        let leaf: Self =
            bcs::from_bytes(bytes).map_err(|error| AuditEventError::BadLeaf(error.to_string()))?;
        if leaf.version != LEAF_VERSION {
            return Err(AuditEventError::BadLeaf(format!(
                "version {} is not {LEAF_VERSION}",
                leaf.version
            )));
        }
        Ok(leaf)
    }

    /// `SHA-256(0x00 ‖ leaf bytes)`.
    pub fn hash(&self) -> Hash {
        leaf_hash(&self.to_bytes())
    }
}

/// `audit.k8s.io/v1` `EventList`, only the parts the log keeps.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventList {
    kind: String,
    api_version: String,
    #[serde(default)]
    items: Vec<Event>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Event {
    #[serde(rename = "auditID")]
    audit_id: String,
    stage: String,
    stage_timestamp: String,
    #[serde(rename = "requestURI")]
    request_uri: String,
    verb: String,
    user: UserInfo,
    impersonated_user: Option<UserInfo>,
    object_ref: Option<ObjectRef>,
    response_status: Option<Status>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UserInfo {
    username: String,
    groups: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ObjectRef {
    api_group: String,
    resource: String,
    subresource: String,
    namespace: String,
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Status {
    code: i32,
}

/// Parses an `EventList` body into leaves, in list order.
///
/// # Errors
/// [`AuditEventError`] naming the first problem; nothing is returned for a
/// list with a bad event, so a batch is taken whole or not at all.
pub fn parse_event_list(body: &[u8]) -> Result<Vec<AuditLeaf>, AuditEventError> {
    let list: EventList = serde_json::from_slice(body)
        .map_err(|error| AuditEventError::NotAnEventList(error.to_string()))?;
    if list.kind != "EventList" || list.api_version != "audit.k8s.io/v1" {
        return Err(AuditEventError::NotAnEventList(format!(
            "kind {:?}, apiVersion {:?}",
            list.kind, list.api_version
        )));
    }
    list.items
        .into_iter()
        .enumerate()
        .map(|(index, event)| leaf_of(index, event))
        .collect()
}

fn leaf_of(index: usize, event: Event) -> Result<AuditLeaf, AuditEventError> {
    if event.audit_id.is_empty() {
        return Err(AuditEventError::MissingAuditId { index });
    }
    let object = event.object_ref.unwrap_or_default();
    let leaf = AuditLeaf {
        version: LEAF_VERSION,
        audit_id: event.audit_id,
        stage: event.stage,
        stage_timestamp: event.stage_timestamp,
        user: event.user.username,
        groups: event.user.groups,
        impersonated_user: event
            .impersonated_user
            .map(|user| user.username)
            .unwrap_or_default(),
        verb: event.verb,
        api_group: object.api_group,
        resource: object.resource,
        subresource: object.subresource,
        namespace: object.namespace,
        name: object.name,
        request_uri: event.request_uri,
        response_code: event.response_status.map_or(0, |status| status.code),
    };
    check_sizes(&leaf)?;
    Ok(leaf)
}

fn check_sizes(leaf: &AuditLeaf) -> Result<(), AuditEventError> {
    let too_large = |field| AuditEventError::TooLarge {
        audit_id: leaf.audit_id.chars().take(MAX_AUDIT_ID_LEN).collect(),
        field,
    };
    if leaf.audit_id.len() > MAX_AUDIT_ID_LEN {
        return Err(too_large("auditID"));
    }
    if leaf.groups.len() > MAX_GROUPS {
        return Err(too_large("user.groups"));
    }
    let fields: [(&'static str, &str); 11] = [
        ("stage", &leaf.stage),
        ("stageTimestamp", &leaf.stage_timestamp),
        ("user.username", &leaf.user),
        ("impersonatedUser.username", &leaf.impersonated_user),
        ("verb", &leaf.verb),
        ("objectRef.apiGroup", &leaf.api_group),
        ("objectRef.resource", &leaf.resource),
        ("objectRef.subresource", &leaf.subresource),
        ("objectRef.namespace", &leaf.namespace),
        ("objectRef.name", &leaf.name),
        ("requestURI", &leaf.request_uri),
    ];
    for (name, value) in fields {
        if value.len() > MAX_FIELD_LEN {
            return Err(too_large(name));
        }
    }
    if leaf.groups.iter().any(|group| group.len() > MAX_FIELD_LEN) {
        return Err(too_large("user.groups"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const LIST: &str = r#"{
      "kind": "EventList", "apiVersion": "audit.k8s.io/v1",
      "items": [{
        "level": "Metadata", "auditID": "4f8c6a1e-1111-2222-3333-444455556666",
        "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/dev/secrets/db",
        "verb": "get",
        "user": {"username": "sui:0xabc", "groups": ["daas:developer", "system:authenticated"]},
        "objectRef": {"resource": "secrets", "namespace": "dev", "name": "db", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
        "responseObject": {"data": {"password": "c2VjcmV0"}},
        "requestReceivedTimestamp": "2026-12-04T13:00:00.000000Z",
        "stageTimestamp": "2026-12-04T13:00:00.001000Z"
      }]
    }"#;

    #[test]
    fn an_event_list_becomes_leaves_without_bodies() {
        let leaves = parse_event_list(LIST.as_bytes()).unwrap();
        let [leaf] = leaves.as_slice() else {
            panic!("one leaf expected")
        };
        assert_eq!(leaf.user, "sui:0xabc");
        assert_eq!(leaf.groups, ["daas:developer", "system:authenticated"]);
        assert_eq!(leaf.resource, "secrets");
        assert_eq!(leaf.response_code, 200);
        let bytes = leaf.to_bytes();
        assert!(!String::from_utf8_lossy(&bytes).contains("c2VjcmV0"));
        assert_eq!(AuditLeaf::from_bytes(&bytes).unwrap(), *leaf);
    }

    #[test]
    fn the_leaf_encoding_is_golden() {
        let leaf = AuditLeaf {
            version: 1,
            audit_id: "a".into(),
            stage: "ResponseComplete".into(),
            stage_timestamp: "t".into(),
            user: "u".into(),
            groups: vec!["g".into()],
            impersonated_user: String::new(),
            verb: "get".into(),
            api_group: String::new(),
            resource: "pods".into(),
            subresource: String::new(),
            namespace: "ns".into(),
            name: "p".into(),
            request_uri: "/".into(),
            response_code: 200,
        };
        assert_eq!(
            hex::encode(leaf.to_bytes()),
            "01016110526573706f6e7365436f6d706c6574650174017501016700036765740004706f6473000\
             26e730170012fc8000000"
        );
    }

    #[test]
    fn bad_lists_are_refused_with_the_reason() {
        assert!(matches!(
            parse_event_list(b"not json"),
            Err(AuditEventError::NotAnEventList(_))
        ));
        assert!(matches!(
            parse_event_list(br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1"}"#),
            Err(AuditEventError::NotAnEventList(_))
        ));
        let missing =
            r#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"verb":"get"}]}"#;
        assert_eq!(
            parse_event_list(missing.as_bytes()),
            Err(AuditEventError::MissingAuditId { index: 0 })
        );
        let long = format!(
            r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{{"auditID":"x","verb":"{}"}}]}}"#,
            "v".repeat(MAX_FIELD_LEN + 1)
        );
        assert!(matches!(
            parse_event_list(long.as_bytes()),
            Err(AuditEventError::TooLarge { field: "verb", .. })
        ));
        assert!(AuditLeaf::from_bytes(&[2, 0]).is_err());
    }
}
