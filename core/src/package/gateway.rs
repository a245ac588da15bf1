//! `k3s_daas::gateway`: Kubernetes API requests recorded on chain with the
//! submitter's seal token, and their results signed by the enclave.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};
use sui_sdk_types::Address;

use super::staking::{SealTokenId, Tier, tier_code};

/// `MAX_PATH_LEN`: bytes of a request path.
pub const MAX_PATH_LEN: u64 = 2_048;
/// `MAX_NAME_LEN`: bytes of a namespace or resource type.
pub const MAX_NAME_LEN: u64 = 253;
/// `MAX_PAYLOAD_LEN`: bytes of a request payload.
pub const MAX_PAYLOAD_LEN: u64 = 8_192;
/// `RESULT_HASH_LEN`: bytes of a result hash.
pub const RESULT_HASH_LEN: u64 = 32;
/// `INTENT_K8S_RESULT`: intent scope of a signed Kubernetes result.
pub const INTENT_K8S_RESULT: u8 = 1;

/// The module's Move constants by name, as `u64`, for table checks.
pub const MOVE_CONSTANTS: &[(&str, u64)] = &[
    ("MAX_PATH_LEN", MAX_PATH_LEN),
    ("MAX_NAME_LEN", MAX_NAME_LEN),
    ("MAX_PAYLOAD_LEN", MAX_PAYLOAD_LEN),
    ("RESULT_HASH_LEN", RESULT_HASH_LEN),
    ("INTENT_K8S_RESULT", INTENT_K8S_RESULT as u64),
];

/// Entry function names of `k3s_daas::gateway`.
pub mod function {
    /// `submit_k8s_request(pool, token, method, path, namespace,
    /// resource_type, payload, clock)`.
    pub const SUBMIT_K8S_REQUEST: &str = "submit_k8s_request";
    /// `record_k8s_result(request, enclave, config, status_code, result_hash,
    /// timestamp_ms, signature, clock)`.
    pub const RECORD_K8S_RESULT: &str = "record_k8s_result";
    /// Every entry function of the module, in table order.
    pub const ALL: &[&str] = &[SUBMIT_K8S_REQUEST, RECORD_K8S_RESULT];
}

abort_codes! {
    /// Abort codes of `k3s_daas::gateway`.
    "gateway" => GatewayAbort {
        /// `EMethodInvalid`.
        MethodInvalid = 101, "EMethodInvalid", "method is not GET, POST, PUT, PATCH or DELETE";
        /// `EPathInvalid`.
        PathInvalid = 102, "EPathInvalid", "path is empty, does not start with / or is longer than MAX_PATH_LEN";
        /// `EFieldTooLong`.
        FieldTooLong = 103, "EFieldTooLong", "namespace or resource type longer than MAX_NAME_LEN";
        /// `EPayloadTooLarge`.
        PayloadTooLarge = 104, "EPayloadTooLarge", "payload longer than MAX_PAYLOAD_LEN";
        /// `EAlreadyRecorded`.
        AlreadyRecorded = 105, "EAlreadyRecorded", "the request already has a result";
        /// `EResultHashLength`.
        ResultHashLength = 106, "EResultHashLength", "result hash is not 32 bytes";
        /// `EInvalidSignature`.
        InvalidSignature = 107, "EInvalidSignature", "the enclave signature does not verify";
    }
}

/// The HTTP method of a gateway request. On chain a `String`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum HttpMethod {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

impl HttpMethod {
    /// The method as written on chain.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

impl fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HttpMethod {
    type Err = GatewayAbort;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "GET" => Ok(Self::Get),
            "POST" => Ok(Self::Post),
            "PUT" => Ok(Self::Put),
            "PATCH" => Ok(Self::Patch),
            "DELETE" => Ok(Self::Delete),
            _ => Err(GatewayAbort::MethodInvalid),
        }
    }
}

impl TryFrom<String> for HttpMethod {
    type Error = GatewayAbort;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<HttpMethod> for String {
    fn from(method: HttpMethod) -> Self {
        method.as_str().to_owned()
    }
}

/// Move's checks of `submit_k8s_request`'s request fields, in Move's order
/// (the seal token check comes first and is `staking`'s).
///
/// # Errors
/// The abort Move raises for the first bad field.
pub fn check_request(
    method: &str,
    path: &str,
    namespace: &str,
    resource_type: &str,
    payload: &[u8],
) -> Result<HttpMethod, GatewayAbort> {
    let method: HttpMethod = method.parse()?;
    let too_long = |s: &str, max: u64| u64::try_from(s.len()).map_or(true, |len| len > max);
    if path.is_empty() || !path.starts_with('/') || too_long(path, MAX_PATH_LEN) {
        return Err(GatewayAbort::PathInvalid);
    }
    if too_long(namespace, MAX_NAME_LEN) || too_long(resource_type, MAX_NAME_LEN) {
        return Err(GatewayAbort::FieldTooLong);
    }
    if u64::try_from(payload.len()).map_or(true, |len| len > MAX_PAYLOAD_LEN) {
        return Err(GatewayAbort::PayloadTooLarge);
    }
    Ok(method)
}

/// What a Kubernetes API path touches, as the API server reads it: the
/// request's `namespace` and `resource_type` fields must say the same
/// (the master refuses a request whose namespace differs; the console
/// fills both in from the path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiTarget<'a> {
    /// The namespace (`namespaces/<name>`), empty for cluster scope.
    pub namespace: &'a str,
    /// The resource type, e.g. `configmaps`; empty for a group's root.
    pub resource: &'a str,
}

/// A path the gateway does not send: not `/api/v1/…` or
/// `/apis/GROUP/VERSION/…`, or with an empty, `.` or `..` segment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("path {0:?} is not a Kubernetes API path (/api/v1/… or /apis/GROUP/VERSION/…)")]
pub struct NotAnApiPath(pub String);

/// What `path` (a query or fragment is ignored) touches.
///
/// # Errors
/// [`NotAnApiPath`].
pub fn api_target(path: &str) -> Result<ApiTarget<'_>, NotAnApiPath> {
    let bare = path.split(['?', '#']).next().unwrap_or_default();
    let refused = || NotAnApiPath(bare.to_owned());
    let segments: Vec<&str> = bare.trim_end_matches('/').split('/').collect();
    // The API server cleans `.`, `..` and empty segments away, and would
    // then touch what this reading did not see.
    if segments
        .iter()
        .skip(1)
        .any(|s| matches!(*s, "" | "." | ".."))
    {
        return Err(refused());
    }
    let rest = match segments.as_slice() {
        ["", "api", _, rest @ ..] | ["", "apis", _, _, rest @ ..] => rest,
        _ => return Err(refused()),
    };
    let (namespace, resource) = match rest {
        ["namespaces", namespace, resource, ..] => (*namespace, *resource),
        ["namespaces", namespace] => (*namespace, "namespaces"),
        [resource, ..] => ("", *resource),
        [] => ("", ""),
    };
    Ok(ApiTarget {
        namespace,
        resource,
    })
}

/// `payload_hash` of a request: SHA-256 of the payload
/// (Move `std::hash::sha2_256`).
pub fn payload_hash(payload: &[u8]) -> [u8; 32] {
    Sha256::digest(payload).into()
}

move_struct! {
    /// `K8sResult`: what the enclave recorded for a request.
    "gateway"::K8sResult {
        /// The enclave whose key signed it.
        enclave_id: Address => "ID",
        /// HTTP status of the Kubernetes API answer.
        status_code: u16 => "u16",
        /// 32-byte hash of the answer body.
        result_hash: Vec<u8> => "vector<u8>",
        /// When the enclave signed.
        timestamp_ms: u64 => "u64",
        /// When it was recorded on chain.
        recorded_at_ms: u64 => "u64",
    }
}

move_struct! {
    /// `K8sRequest`: a shared record of one Kubernetes API request.
    "gateway"::K8sRequest {
        /// The request's object id.
        id: Address => "UID",
        /// The pool of the submitter's token.
        pool_id: Address => "ID",
        /// The submitter's seal token.
        token_id: SealTokenId => "ID",
        /// The submitter.
        sender: Address => "address",
        /// The tier the submitter's stake bought at submission.
        #[serde(with = "tier_code")]
        tier: Option<Tier> => "u8",
        /// HTTP method.
        method: HttpMethod => "String",
        /// API path, e.g. `/api/v1/namespaces/default/pods`.
        path: String => "String",
        /// Namespace, empty for cluster-scoped requests.
        namespace: String => "String",
        /// Resource type, e.g. `pods`.
        resource_type: String => "String",
        /// SHA-256 of the payload (the payload is in the event).
        payload_hash: Vec<u8> => "vector<u8>",
        /// When it was submitted.
        submitted_at_ms: u64 => "u64",
        /// The result, once recorded.
        result: Option<K8sResult> => "Option<K8sResult>",
    }
}

move_struct! {
    /// `K8sResultPayload`: the data of the [`IntentMessage`] the enclave
    /// signs for a result (scope `INTENT_K8S_RESULT`).
    ///
    /// [`IntentMessage`]: super::enclave::IntentMessage
    "gateway"::K8sResultPayload {
        /// The request.
        request_id: Address => "ID",
        /// HTTP status.
        status_code: u16 => "u16",
        /// 32-byte hash of the answer body.
        result_hash: Vec<u8> => "vector<u8>",
    }
}

move_struct! {
    /// Event `K8sRequestSubmitted`.
    "gateway"::K8sRequestSubmitted {
        /// The new request object.
        request_id: Address => "ID",
        /// The pool.
        pool_id: Address => "ID",
        /// The submitter's seal token.
        token_id: SealTokenId => "ID",
        /// The submitter.
        sender: Address => "address",
        /// The submitter's tier.
        #[serde(with = "tier_code")]
        tier: Option<Tier> => "u8",
        /// HTTP method.
        method: HttpMethod => "String",
        /// API path.
        path: String => "String",
        /// Namespace.
        namespace: String => "String",
        /// Resource type.
        resource_type: String => "String",
        /// The payload itself.
        payload: Vec<u8> => "vector<u8>",
        /// SHA-256 of the payload.
        payload_hash: Vec<u8> => "vector<u8>",
        /// When.
        submitted_at_ms: u64 => "u64",
    }
}

move_struct! {
    /// Event `K8sResultRecorded`.
    "gateway"::K8sResultRecorded {
        /// The request.
        request_id: Address => "ID",
        /// The signing enclave.
        enclave_id: Address => "ID",
        /// HTTP status.
        status_code: u16 => "u16",
        /// 32-byte hash of the answer body.
        result_hash: Vec<u8> => "vector<u8>",
        /// When the enclave signed.
        timestamp_ms: u64 => "u64",
        /// When it was recorded.
        recorded_at_ms: u64 => "u64",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::enclave::{IntentMessage, IntentScope};

    #[test]
    fn api_paths_name_what_they_touch() {
        let target = |path| api_target(path).map(|t| (t.namespace, t.resource));
        assert_eq!(
            target("/api/v1/namespaces/a/configmaps"),
            Ok(("a", "configmaps"))
        );
        assert_eq!(
            target("/api/v1/namespaces/a/configmaps/x?dryRun=All"),
            Ok(("a", "configmaps"))
        );
        assert_eq!(
            target("/apis/apps/v1/namespaces/b/deployments/d/scale"),
            Ok(("b", "deployments"))
        );
        assert_eq!(target("/api/v1/namespaces/c"), Ok(("c", "namespaces")));
        assert_eq!(target("/api/v1/namespaces/"), Ok(("", "namespaces")));
        assert_eq!(target("/api/v1/nodes/n1"), Ok(("", "nodes")));
        assert_eq!(target("/apis/apps/v1"), Ok(("", "")));
        // The API server reads this as node `namespaces`' subresource.
        assert_eq!(target("/api/v1/nodes/namespaces/x"), Ok(("", "nodes")));
        for bad in [
            "/version",
            "/healthz/../api",
            "/api",
            "/apis/apps",
            "api/v1/pods",
            "",
            "/api/v1/namespaces/../namespaces/x/pods",
            "/api/v1//namespaces/x/pods",
            "/api/v1/./namespaces/x/pods",
        ] {
            assert_eq!(target(bad), Err(NotAnApiPath(bad.to_owned())), "{bad}");
        }
    }

    #[test]
    fn request_checks_follow_move_order() {
        assert_eq!(
            check_request("GET", "/api/v1/pods", "default", "pods", b""),
            Ok(HttpMethod::Get)
        );
        assert_eq!(
            check_request("get", "/x", "", "", b""),
            Err(GatewayAbort::MethodInvalid)
        );
        assert_eq!(
            check_request("HEAD", "", "", "", b""),
            Err(GatewayAbort::MethodInvalid)
        );
        assert_eq!(
            check_request("PUT", "", "", "", b""),
            Err(GatewayAbort::PathInvalid)
        );
        assert_eq!(
            check_request("PUT", "api", "", "", b""),
            Err(GatewayAbort::PathInvalid)
        );
        let long = format!("/{}", "a".repeat(2_048));
        assert_eq!(
            check_request("PUT", &long, "", "", b""),
            Err(GatewayAbort::PathInvalid)
        );
        assert_eq!(
            check_request("POST", "/x", &"n".repeat(254), "", b""),
            Err(GatewayAbort::FieldTooLong)
        );
        assert_eq!(
            check_request("POST", "/x", "", "", &[0; 8_193]),
            Err(GatewayAbort::PayloadTooLarge)
        );
        assert_eq!(
            check_request("DELETE", "/x", &"n".repeat(253), "", &[0; 8_192]),
            Ok(HttpMethod::Delete)
        );
    }

    #[test]
    fn payload_hash_is_sha256() {
        assert_eq!(
            hex::encode(payload_hash(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn golden_k8s_request() {
        let request = K8sRequest {
            id: Address::new([0x0a; 32]),
            pool_id: Address::new([0x01; 32]),
            token_id: SealTokenId::new(Address::new([0xaa; 32])),
            sender: Address::new([0x11; 32]),
            tier: Some(Tier::Viewer),
            method: HttpMethod::Get,
            path: "/api/v1/pods".to_owned(),
            namespace: String::new(),
            resource_type: "pods".to_owned(),
            payload_hash: vec![0xcd; 32],
            submitted_at_ms: 1,
            result: Some(K8sResult {
                enclave_id: Address::new([0xe0; 32]),
                status_code: 200,
                result_hash: vec![0xab; 32],
                timestamp_ms: 2,
                recorded_at_ms: 3,
            }),
        };
        let expected = [
            "0a".repeat(32),
            "01".repeat(32),
            "aa".repeat(32),
            "11".repeat(32),
            "01".to_owned(),                         // tier viewer
            "03474554".to_owned(),                   // "GET"
            "0c2f6170692f76312f706f6473".to_owned(), // "/api/v1/pods"
            "00".to_owned(),                         // ""
            "04706f6473".to_owned(),                 // "pods"
            format!("20{}", "cd".repeat(32)),
            "0100000000000000".to_owned(),
            "01".to_owned(), // Some
            "e0".repeat(32),
            "c800".to_owned(), // 200 as u16
            format!("20{}", "ab".repeat(32)),
            "0200000000000000".to_owned(),
            "0300000000000000".to_owned(),
        ]
        .concat();
        let bytes = bcs::to_bytes(&request).unwrap();
        assert_eq!(hex::encode(&bytes), expected);
        assert_eq!(bcs::from_bytes::<K8sRequest>(&bytes).unwrap(), request);

        // A method Move would never store is refused on decode.
        let mut bad = bytes;
        bad[32 * 4 + 1 + 1] = b'X';
        assert!(bcs::from_bytes::<K8sRequest>(&bad).is_err());
    }

    #[test]
    fn golden_result_intent_message() {
        let message = IntentMessage::new(
            IntentScope::K8sResult,
            1_744_038_900_000,
            K8sResultPayload {
                request_id: Address::new([0x0a; 32]),
                status_code: 404,
                result_hash: vec![0xab; 32],
            },
        );
        let expected = format!(
            "0120b1d11096010000{}9401 20{}",
            "0a".repeat(32),
            "ab".repeat(32)
        )
        .replace(' ', "");
        assert_eq!(hex::encode(message.signing_bytes().unwrap()), expected);
    }

    /// The id and signature of `record_signed_result` in
    /// `contracts/move/tests/gateway_tests.move`: the request is the first
    /// object of test_scenario's third transaction (digest = BCS of hint 2,
    /// zero-padded), signed by the enclave key of secret `[7; 32]`.
    #[test]
    fn golden_signed_result_shared_with_move() {
        let mut digest = [0; 32];
        digest[0] = 2;
        let request_id = Address::derive_id(sui_sdk_types::Digest::new(digest), 0);
        assert_eq!(
            hex::encode(request_id.as_bytes()),
            "dba72804cc9504a82bbaa13ed4a83a0e2c6219d7e45125cf57fd10cbab957a97"
        );
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let payload = K8sResultPayload {
            request_id,
            status_code: 201,
            result_hash: vec![0x99; 32],
        };
        let signed = crate::intent::sign_intent(
            &key,
            crate::intent::Scope::K8sResult,
            1_744_038_900_000,
            payload,
        )
        .unwrap();
        assert_eq!(
            signed.signature,
            "f375e835ea612747b4ebbfc5f4b149a63e9751dcb47dbc7bac8d9764dc95d21d\
             68ed27d7ca300bedae07ef75de64a2b2a362fcc39d33dff2cc2757b2f0291b08"
        );
    }
}
