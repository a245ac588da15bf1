//! What the gateway sends for an on-chain request, and how it tells whether
//! an interrupted attempt already took effect. Pure functions only.
//!
//! - The path must be a Kubernetes API path (`/api/…` or `/apis/…`), and
//!   its `namespaces/<name>` segment, if any, must be the request's
//!   `namespace` field (and the field empty without one): what the chain
//!   says the request touches is what it touches.
//! - A body (POST, PUT, PATCH) is a JSON object; the gateway marks it with
//!   the annotation [`REQUEST_ANNOTATION`] = the request's object id, so
//!   the object it creates or changes names the request that did it. A
//!   POST must name its object (`metadata.name`): with `generateName` a
//!   repeat could not be told apart. PATCH is sent as a JSON merge patch.
//! - After a restart mid-request, [`applied`] reads the target object: the
//!   annotation present (or, for DELETE, the object gone) means the first
//!   attempt took effect and is not repeated.

use axum::http::Method;
use daas_core::package::gateway::{HttpMethod, NotAnApiPath, api_target};
use serde_json::{Map, Value};
use sui_sdk_types::Address;

/// Annotation naming the gateway request (its object id) that last wrote
/// an object.
pub const REQUEST_ANNOTATION: &str = "k3s-daas.io/gateway-request";

/// Why the gateway refuses a request without sending it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The path is not a Kubernetes API path.
    #[error(transparent)]
    NotApiPath(#[from] NotAnApiPath),
    /// The path's namespace is not the request's namespace field.
    #[error("path namespace {path:?} differs from the request's namespace {field:?}")]
    NamespaceMismatch {
        /// The namespace in the path (empty: none).
        path: String,
        /// The request's namespace field.
        field: String,
    },
    /// The payload is not a JSON object.
    #[error("the payload is not a JSON object: {0}")]
    PayloadNotJson(String),
    /// A POST payload without `metadata.name`.
    #[error("a POST payload must name its object (metadata.name): a repeat must be detectable")]
    PostWithoutName,
    /// A GET or DELETE with a payload.
    #[error("a {0} request takes no payload")]
    UnexpectedPayload(&'static str),
}

/// The HTTP request the gateway sends (before impersonation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The method.
    pub method: Method,
    /// Path and query, as submitted.
    pub path: String,
    /// The marked body, if any.
    pub body: Option<Vec<u8>>,
    /// Its content type.
    pub content_type: Option<&'static str>,
    /// Where the object the request writes can be read back (no query);
    /// `None` for GET, which writes nothing.
    pub target: Option<String>,
}

/// Builds the request for `method path` in `namespace` with `payload`,
/// marked with `request_id`.
///
/// # Errors
/// [`Refusal`] naming what is wrong.
pub fn outgoing(
    request_id: Address,
    method: HttpMethod,
    path: &str,
    namespace: &str,
    payload: &[u8],
) -> Result<Outgoing, Refusal> {
    let bare = path.split(['?', '#']).next().unwrap_or_default();
    check_path(bare, namespace)?;
    let (body, name) = match method {
        HttpMethod::Get | HttpMethod::Delete if !payload.is_empty() => {
            return Err(Refusal::UnexpectedPayload(method.as_str()));
        }
        HttpMethod::Get | HttpMethod::Delete => (None, None),
        HttpMethod::Post | HttpMethod::Put | HttpMethod::Patch => {
            let (body, name) = marked(payload, request_id)?;
            (Some(body), name)
        }
    };
    let bare = bare.trim_end_matches('/');
    let target = match method {
        HttpMethod::Get => None,
        HttpMethod::Post => Some(format!("{bare}/{}", name.ok_or(Refusal::PostWithoutName)?)),
        HttpMethod::Put | HttpMethod::Patch | HttpMethod::Delete => Some(bare.to_owned()),
    };
    let content_type = match method {
        HttpMethod::Get | HttpMethod::Delete => None,
        HttpMethod::Patch => Some("application/merge-patch+json"),
        HttpMethod::Post | HttpMethod::Put => Some("application/json"),
    };
    Ok(Outgoing {
        method: http_method(method),
        path: path.to_owned(),
        body,
        content_type,
        target,
    })
}

fn http_method(method: HttpMethod) -> Method {
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Delete => Method::DELETE,
    }
}

/// Checks that `path` (without query) is an API path whose namespace, if
/// any, is `namespace`.
fn check_path(path: &str, namespace: &str) -> Result<(), Refusal> {
    let in_path = api_target(path)?.namespace;
    if in_path != namespace {
        return Err(Refusal::NamespaceMismatch {
            path: in_path.to_owned(),
            field: namespace.to_owned(),
        });
    }
    Ok(())
}

/// The payload with the request annotation, and the object's name.
fn marked(payload: &[u8], request_id: Address) -> Result<(Vec<u8>, Option<String>), Refusal> {
    let mut object: Map<String, Value> =
        serde_json::from_slice(payload).map_err(|e| Refusal::PayloadNotJson(e.to_string()))?;
    let metadata = object
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| Refusal::PayloadNotJson("metadata is not an object".to_owned()))?;
    let name = metadata
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    let annotations = metadata
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| {
            Refusal::PayloadNotJson("metadata.annotations is not an object".to_owned())
        })?;
    annotations.insert(
        REQUEST_ANNOTATION.to_owned(),
        Value::String(request_id.to_string()),
    );
    let body = serde_json::to_vec(&object).map_err(|e| Refusal::PayloadNotJson(e.to_string()))?;
    Ok((body, name))
}

/// What reading the target back after an interrupted attempt says: the
/// status to record when the attempt took effect, `None` when it did not
/// (it must be sent).
pub fn applied(
    method: HttpMethod,
    request_id: Address,
    probe_status: u16,
    probe_body: &[u8],
) -> Option<u16> {
    match method {
        HttpMethod::Get => None,
        HttpMethod::Delete => (probe_status == 404).then_some(200),
        HttpMethod::Post | HttpMethod::Put | HttpMethod::Patch => {
            if probe_status != 200 {
                return None;
            }
            let object: Value = serde_json::from_slice(probe_body).ok()?;
            let marked = object
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(REQUEST_ANNOTATION))
                .and_then(Value::as_str)
                == Some(request_id.to_string().as_str());
            marked.then_some(if method == HttpMethod::Post { 201 } else { 200 })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: Address = Address::new([0x0a; 32]);

    fn configmap(name: &str) -> Vec<u8> {
        format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}},"data":{{"k":"v"}}}}"#).into_bytes()
    }

    #[test]
    fn a_post_is_marked_and_its_object_is_the_target() {
        let out = outgoing(
            ID,
            HttpMethod::Post,
            "/api/v1/namespaces/dev/configmaps?fieldManager=x",
            "dev",
            &configmap("cm"),
        )
        .unwrap();
        assert_eq!(out.method, Method::POST);
        assert_eq!(out.path, "/api/v1/namespaces/dev/configmaps?fieldManager=x");
        assert_eq!(
            out.target.as_deref(),
            Some("/api/v1/namespaces/dev/configmaps/cm")
        );
        assert_eq!(out.content_type, Some("application/json"));
        let body: Value = serde_json::from_slice(out.body.as_deref().unwrap()).unwrap();
        assert_eq!(
            body["metadata"]["annotations"][REQUEST_ANNOTATION],
            ID.to_string()
        );
        assert_eq!(body["data"]["k"], "v");
    }

    #[test]
    fn paths_and_namespaces_must_agree() {
        let refused =
            |path: &str, ns: &str| outgoing(ID, HttpMethod::Get, path, ns, b"").unwrap_err();
        assert!(matches!(refused("/version", ""), Refusal::NotApiPath(_)));
        assert!(matches!(
            refused("/healthz/../api", ""),
            Refusal::NotApiPath(_)
        ));
        assert!(matches!(
            refused("/api/v1/namespaces/../namespaces/x/pods", "x"),
            Refusal::NotApiPath(_)
        ));
        assert_eq!(
            refused("/api/v1/namespaces/other/configmaps", "mine"),
            Refusal::NamespaceMismatch {
                path: "other".into(),
                field: "mine".into()
            }
        );
        assert!(matches!(
            refused("/api/v1/pods", "mine"),
            Refusal::NamespaceMismatch { .. }
        ));
        assert!(matches!(
            refused("/api/v1/namespaces/x/pods", ""),
            Refusal::NamespaceMismatch { .. }
        ));
        assert!(outgoing(ID, HttpMethod::Get, "/api/v1/pods", "", b"").is_ok());
        assert!(
            outgoing(
                ID,
                HttpMethod::Get,
                "/apis/apps/v1/namespaces/a/deployments",
                "a",
                b""
            )
            .is_ok()
        );
    }

    #[test]
    fn bad_payloads_are_refused_by_name() {
        let path = "/api/v1/namespaces/a/configmaps";
        assert!(matches!(
            outgoing(ID, HttpMethod::Post, path, "a", b"kind: ConfigMap").unwrap_err(),
            Refusal::PayloadNotJson(_)
        ));
        assert!(matches!(
            outgoing(ID, HttpMethod::Post, path, "a", b"[1]").unwrap_err(),
            Refusal::PayloadNotJson(_)
        ));
        assert!(matches!(
            outgoing(ID, HttpMethod::Post, path, "a", br#"{"metadata":7}"#).unwrap_err(),
            Refusal::PayloadNotJson(_)
        ));
        assert_eq!(
            outgoing(
                ID,
                HttpMethod::Post,
                path,
                "a",
                br#"{"metadata":{"generateName":"x-"}}"#
            )
            .unwrap_err(),
            Refusal::PostWithoutName
        );
        assert_eq!(
            outgoing(ID, HttpMethod::Delete, &format!("{path}/x"), "a", b"{}").unwrap_err(),
            Refusal::UnexpectedPayload("DELETE")
        );
        let patch = outgoing(ID, HttpMethod::Patch, &format!("{path}/x"), "a", b"{}").unwrap();
        assert_eq!(patch.content_type, Some("application/merge-patch+json"));
        assert_eq!(
            patch.target.as_deref(),
            Some("/api/v1/namespaces/a/configmaps/x")
        );
    }

    #[test]
    fn a_repeat_is_detected_by_the_annotation_or_the_absence() {
        let marked = format!(
            r#"{{"metadata":{{"name":"cm","annotations":{{"{REQUEST_ANNOTATION}":"{ID}"}}}}}}"#
        );
        let other = marked.replace(&ID.to_string(), &Address::new([1; 32]).to_string());
        assert_eq!(
            applied(HttpMethod::Post, ID, 200, marked.as_bytes()),
            Some(201)
        );
        assert_eq!(
            applied(HttpMethod::Put, ID, 200, marked.as_bytes()),
            Some(200)
        );
        assert_eq!(applied(HttpMethod::Post, ID, 200, other.as_bytes()), None);
        assert_eq!(applied(HttpMethod::Post, ID, 404, b"{}"), None);
        assert_eq!(applied(HttpMethod::Patch, ID, 200, b"not json"), None);
        assert_eq!(applied(HttpMethod::Delete, ID, 404, b""), Some(200));
        assert_eq!(
            applied(HttpMethod::Delete, ID, 200, marked.as_bytes()),
            None
        );
        assert_eq!(applied(HttpMethod::Get, ID, 200, marked.as_bytes()), None);
    }
}
