//! `GET /openapi.json`: an OpenAPI 3.1 description of the master's API.
//!
//! The routes are listed by hand from the routers; every request, response
//! and error body's schema is derived from its wire type in
//! `daas_core::api` (see [`Components`]), so it cannot drift from the code.
//! `tests/tests/master_access.rs` checks that the running master serves
//! every documented path, `tests/tests/api_schema.rs` that its answers
//! match their schemas.

use axum::routing::get;
use axum::{Json, Router};
use daas_core::api::access::{IssuedSealToken, Readiness};
use daas_core::api::attestation::{AttestationRequest, AttestationResponse, SecurityContext};
use daas_core::api::audit::{
    AUDIT_CHECKPOINTS_PATH, AUDIT_CONSISTENCY_PATH, AUDIT_EVENTS_PATH, AuditCheckpointList,
    AuditConsistency, AuditEventProof,
};
use daas_core::api::nodes::{
    DRAIN_SEGMENT, DrainRequest, DrainResponse, HEARTBEAT_PATH, HeartbeatRequest,
    HeartbeatResponse, NODE_HEALTH_DEFAULT_LIMIT, NODE_HEALTH_MAX_LIMIT, NODE_HEALTH_PATH,
    NODES_PATH, NodeHealth, NodeHealthList, REGISTER_WORKER_PATH, RegisterWorkerRequest,
    RegisterWorkerResponse, STAKING_STATUS_PATH, StakingStatus,
};
use daas_core::api::schema::Components;
use daas_core::api::{ATTESTATION_PATH, ErrorBody, HEALTHZ_PATH, Health, SECURITY_CONTEXT_PATH};
use serde_json::{Value, json};

use super::health::{METRICS_PATH, READYZ_PATH};
use crate::access::seal_tokens::SealTokenList;
use crate::access::{KUBECTL_CONFIG_PATH, SEAL_TOKENS_PATH};

/// Path of the document.
pub const OPENAPI_PATH: &str = "/openapi.json";

/// The `/openapi.json` route.
pub fn router() -> Router {
    Router::new().route(OPENAPI_PATH, get(|| async { Json(document()) }))
}

/// The document.
pub fn document() -> Value {
    let mut components = Components::default();
    let mut paths = serde_json::Map::new();
    for (path, mut item) in path_items(&mut components) {
        declare_path_parameters(&path, &mut item);
        paths.insert(path, item);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "K3s-DaaS master API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Served over TLS 1.3 pinned to the attested key: verify \
                `POST /api/v1/attestation` first. Errors are `{\"error\": \"…\"}` \
                naming the problem. The TokenReview and SubjectAccessReview webhooks \
                (`/authenticate`, `/authorize`) are served on the internal webhook \
                listener only."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "daasToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A wallet-signed `daas1.` access token (docs/access-token.md) \
                        or an opaque 64-hex seal token from `POST /api/v1/seal-tokens`."
                }
            },
            "schemas": components.into_schemas(),
        }
    })
}

/// One operation: its summary, request body, success answers and whether it
/// needs a `daasToken`; every operation may also answer a 4XX or 5XX
/// [`ErrorBody`].
struct Op {
    method: &'static str,
    summary: &'static str,
    request: Option<Value>,
    responses: Vec<(&'static str, Value)>,
    auth: bool,
}

impl Op {
    fn get(summary: &'static str, status: &'static str, response: Value) -> Self {
        Self {
            method: "get",
            summary,
            request: None,
            responses: vec![(status, response)],
            auth: false,
        }
    }

    fn post(summary: &'static str, request: Option<Value>, response: Value) -> Self {
        Self {
            method: "post",
            summary,
            request,
            responses: vec![("200", response)],
            auth: false,
        }
    }

    fn answering(mut self, status: &'static str, response: Value) -> Self {
        self.responses.push((status, response));
        self
    }

    fn authenticated(mut self) -> Self {
        self.auth = true;
        self
    }

    /// The operation as a one-method path item.
    fn item(self, components: &mut Components) -> Value {
        let mut responses = serde_json::Map::new();
        for (status, response) in self.responses {
            responses.insert(status.to_owned(), response);
        }
        responses.insert(
            "4XX".to_owned(),
            components.response::<ErrorBody>("Refused; the body names the problem"),
        );
        responses
            .entry("5XX")
            .or_insert_with(|| components.response::<ErrorBody>("Server fault or unavailable"));
        let mut operation = json!({ "summary": self.summary, "responses": responses });
        if let Some(request) = self.request {
            operation["requestBody"] = request;
        }
        if self.auth {
            operation["security"] = json!([{ "daasToken": [] }]);
        }
        json!({ self.method: operation })
    }
}

fn path_items(c: &mut Components) -> Vec<(String, Value)> {
    let mut items = vec![
        (
            HEALTHZ_PATH.to_owned(),
            Op::get("Liveness", "200", c.response::<Health>("Serving")).item(c),
        ),
        (
            READYZ_PATH.to_owned(),
            Op::get(
                "Readiness: chain, API server, event follower (503 names each failing check: \
                 `not checked yet`, `unreachable`, `setting up` or `behind`; details are logged)",
                "200",
                c.response::<Readiness>("Ready"),
            )
            .answering("503", c.response::<Readiness>("Not ready"))
            .item(c),
        ),
        (
            METRICS_PATH.to_owned(),
            Op::get(
                "Prometheus metrics",
                "200",
                text("OpenMetrics text", "application/openmetrics-text"),
            )
            .item(c),
        ),
        (
            OPENAPI_PATH.to_owned(),
            Op::get(
                "This document",
                "200",
                json!({ "description": "OpenAPI 3.1", "content": { "application/json": {
                    "schema": { "type": "object", "required": ["openapi", "paths"] } } } }),
            )
            .item(c),
        ),
        (
            ATTESTATION_PATH.to_owned(),
            Op::post(
                "A fresh attestation document bound to the client's nonce (hex, 16-64 bytes) \
                 and the master's keys",
                Some(c.request_body::<AttestationRequest>()),
                c.response::<AttestationResponse>("The document and fields derived from it"),
            )
            .item(c),
        ),
        (
            SECURITY_CONTEXT_PATH.to_owned(),
            Op::get(
                "TEE type, PCRs, keys and attestation age",
                "200",
                c.response::<SecurityContext>("The security context"),
            )
            .item(c),
        ),
        (
            REGISTER_WORKER_PATH.to_owned(),
            Op::post(
                "Admit a worker: a signed single-use proof from its seal token's owner yields a \
                 K3s join token",
                Some(c.request_body::<RegisterWorkerRequest>()),
                c.response::<RegisterWorkerResponse>("Admitted"),
            )
            .item(c),
        ),
        (
            HEARTBEAT_PATH.to_owned(),
            Op::post(
                "A worker's status and metrics, with a signed heartbeat proof",
                Some(c.request_body::<HeartbeatRequest>()),
                c.response::<HeartbeatResponse>("Recorded"),
            )
            .item(c),
        ),
        (NODE_HEALTH_PATH.to_owned(), node_health_list(c)),
        (
            format!("{NODE_HEALTH_PATH}/{{node}}"),
            Op::get(
                "Health of one node, shown as in the list (404 names an unknown node)",
                "200",
                c.response::<NodeHealth>("The node's health"),
            )
            .item(c),
        ),
        (
            format!("{NODES_PATH}/{{node}}/{DRAIN_SEGMENT}"),
            Op::post(
                "Cordon and drain a node at its owner's request before unstaking (a signed \
                 single-use drain proof); answers the pods still to go",
                Some(c.request_body::<DrainRequest>()),
                c.response::<DrainResponse>("Cordoned; pods still to go"),
            )
            .item(c),
        ),
        (
            STAKING_STATUS_PATH.to_owned(),
            Op::get(
                "Seal tokens, stake, tier and status as the master sees them; exactly one of \
                 ?owner=, ?node=, ?seal_token=",
                "200",
                c.response::<StakingStatus>("The matching seal tokens"),
            )
            .item(c),
        ),
        (SEAL_TOKENS_PATH.to_owned(), seal_tokens(c)),
        (
            format!("{SEAL_TOKENS_PATH}/{{id}}"),
            Op {
                method: "delete",
                summary: "Revoke the caller's opaque seal token whose id (SHA-256, hex) starts \
                          with {id} (8 to 64 hex digits; 404 none, 409 several); every replica \
                          refuses it within 5 s; needs a `daas1.` access token",
                request: None,
                responses: vec![("204", json!({ "description": "Revoked" }))],
                auth: true,
            }
            .item(c),
        ),
        (
            KUBECTL_CONFIG_PATH.to_owned(),
            Op::get(
                "A kubeconfig whose user runs `daas-console credential` (?seal_token=0x…)",
                "200",
                kubeconfig(),
            )
            .item(c),
        ),
        (
            format!("{AUDIT_EVENTS_PATH}/{{audit_id}}"),
            Op::get(
                "An audit event (its canonical leaf), its leaf index, its RFC 9162 inclusion \
                 proof and the checkpoint it leads to (the first anchored one covering it, with \
                 its anchoring transaction); 404 unknown, 409 not yet in a checkpoint; needs a \
                 `daas1.` access token: the super tier reads any event, other tiers only events \
                 of their own identity (403)",
                "200",
                c.response::<AuditEventProof>("The event and its proof"),
            )
            .authenticated()
            .item(c),
        ),
        (
            AUDIT_CHECKPOINTS_PATH.to_owned(),
            Op::get(
                "The audit log's origin, events stored, and signed checkpoints (C2SP notes) \
                 with their anchors, oldest first; needs a `daas1.` access token (any tier)",
                "200",
                c.response::<AuditCheckpointList>("The checkpoints"),
            )
            .authenticated()
            .item(c),
        ),
        (
            AUDIT_CONSISTENCY_PATH.to_owned(),
            Op::get(
                "An RFC 9162 consistency proof between tree sizes ?from=&to= and both roots; \
                 needs a `daas1.` access token (any tier)",
                "200",
                c.response::<AuditConsistency>("The proof"),
            )
            .authenticated()
            .item(c),
        ),
    ];
    items.push(("/api/{path}".to_owned(), proxy()));
    items.push(("/apis/{path}".to_owned(), proxy()));
    items
}

/// `POST` (issue) and `GET` (list) of the caller's opaque seal tokens.
fn seal_tokens(c: &mut Components) -> Value {
    let issue = Op {
        method: "post",
        summary: "Issue an opaque 64-hex seal token for the caller's seal token (stored hashed, \
                  tagged by the master); one per access token, 409 at the owner's cap \
                  (access.seal_tokens_per_owner); needs a `daas1.` access token",
        request: None,
        responses: vec![(
            "201",
            c.response::<IssuedSealToken>("Issued; shown only this once"),
        )],
        auth: true,
    };
    let list = Op::get(
        "The caller's live opaque seal tokens (ids, expiries) and the cap; needs a `daas1.` \
         access token",
        "200",
        c.response::<SealTokenList>("The caller's tokens"),
    )
    .authenticated();
    merged([issue.item(c), list.item(c)])
}

/// The kubeconfig answer: YAML of the shape `kubeconfig::KubeconfigEntry`
/// writes (a JSON value built by hand, so its schema is too).
fn kubeconfig() -> Value {
    let named = json!({ "type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["name"], "properties": { "name": { "type": "string" } } } });
    json!({ "description": "The kubeconfig", "content": { "application/yaml": { "schema": {
        "type": "object",
        "required": ["apiVersion", "kind", "clusters", "users", "contexts", "current-context"],
        "properties": {
            "apiVersion": { "const": "v1" },
            "kind": { "const": "Config" },
            "clusters": named,
            "users": named,
            "contexts": named,
            "current-context": { "type": "string" }
        }
    } } } })
}

/// A text answer of this media type.
fn text(description: &str, media_type: &str) -> Value {
    json!({ "description": description, "content": { media_type: { "schema": { "type": "string" } } } })
}

/// Declares every `{name}` of `path` as a required string parameter of
/// each of the item's operations that does not declare it already.
fn declare_path_parameters(path: &str, item: &mut Value) {
    let names: Vec<&str> = path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .collect();
    let Value::Object(operations) = item else {
        return;
    };
    if names.is_empty() {
        return;
    }
    for operation in operations.values_mut() {
        let parameters = operation
            .as_object_mut()
            .map(|operation| operation.entry("parameters").or_insert_with(|| json!([])));
        let Some(Value::Array(parameters)) = parameters else {
            continue;
        };
        for name in &names {
            if !parameters
                .iter()
                .any(|p| p["name"] == *name && p["in"] == "path")
            {
                parameters.push(json!({
                    "name": name, "in": "path", "required": true, "schema": { "type": "string" }
                }));
            }
        }
    }
}

/// The paged node-health list, with its `limit` and `continue` parameters.
fn node_health_list(c: &mut Components) -> Value {
    let mut item = Op::get(
        "One page of the admitted nodes, by name: names, status, heartbeats and metrics for \
         anyone; seal token, owner, address, capacity and agent endpoint for a node's owner \
         and the admin and super tiers (Bearer daas1 access token). The answer's `continue`, \
         present while more nodes follow, is passed back for the next page; 400 names a bad \
         `limit` or `continue`",
        "200",
        c.response::<NodeHealthList>("One page of nodes"),
    )
    .item(c);
    item["get"]["parameters"] = json!([
        {
            "name": "limit",
            "in": "query",
            "required": false,
            "description": format!("Nodes per page (default {NODE_HEALTH_DEFAULT_LIMIT})"),
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": NODE_HEALTH_MAX_LIMIT,
                "default": NODE_HEALTH_DEFAULT_LIMIT
            }
        },
        {
            "name": "continue",
            "in": "query",
            "required": false,
            "description": "The previous page's opaque `continue` token",
            "schema": { "type": "string" }
        }
    ]);
    item
}

/// One path item of several operations.
fn merged<const N: usize>(operations: [Value; N]) -> Value {
    let mut item = serde_json::Map::new();
    for operation in operations {
        if let Value::Object(map) = operation {
            item.extend(map);
        }
    }
    Value::Object(item)
}

fn proxy() -> Value {
    let operation = json!({
        "summary": "Kubernetes API proxy: forwarded with impersonation of the caller's \
            `sui:<address>` identity and tier groups; 429 with Retry-After beyond the rate limit",
        "security": [{ "daasToken": [] }],
        "parameters": [{ "name": "path", "in": "path", "required": true, "schema": { "type": "string" } }],
        "responses": { "default": { "description": "The API server's answer" } }
    });
    let mut item = serde_json::Map::new();
    for method in ["get", "put", "post", "delete", "patch"] {
        item.insert(method.to_owned(), operation.clone());
    }
    Value::Object(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_every_endpoint_once() {
        let document = document();
        assert_eq!(document["openapi"], "3.1.0");
        assert_eq!(
            daas_core::api::schema::undefined_bodies(&document),
            Vec::<String>::new()
        );
        let schemas = document["components"]["schemas"].as_object().unwrap();
        for name in [
            "RegisterWorkerRequest",
            "NodeHealthList",
            "SealTokenList",
            "ErrorBody",
        ] {
            assert!(schemas.contains_key(name), "{name} is not defined");
        }
        let paths = document["paths"].as_object().unwrap();
        assert_eq!(
            paths.len(),
            path_items(&mut Components::default()).len(),
            "a path is listed twice"
        );
        let seal_tokens = paths[SEAL_TOKENS_PATH].as_object().unwrap();
        assert!(seal_tokens.contains_key("post") && seal_tokens.contains_key("get"));
        assert!(paths[&format!("{SEAL_TOKENS_PATH}/{{id}}")]["delete"].is_object());
        for (path, item) in paths {
            for (method, operation) in item.as_object().unwrap() {
                for name in path.split('/').filter_map(|s| s.strip_prefix('{')) {
                    let name = name.trim_end_matches('}');
                    let declared = operation["parameters"].as_array().is_some_and(|ps| {
                        ps.iter().any(|p| {
                            p["name"] == name && p["in"] == "path" && p["required"] == true
                        })
                    });
                    assert!(declared, "{method} {path} does not declare {{{name}}}");
                }
            }
        }
        let parameters = paths[NODE_HEALTH_PATH]["get"]["parameters"]
            .as_array()
            .unwrap();
        let names: Vec<&str> = parameters
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["limit", "continue"]);
        assert_eq!(parameters[0]["schema"]["maximum"], NODE_HEALTH_MAX_LIMIT);
        for path in [
            REGISTER_WORKER_PATH,
            HEARTBEAT_PATH,
            STAKING_STATUS_PATH,
            KUBECTL_CONFIG_PATH,
            SEAL_TOKENS_PATH,
            ATTESTATION_PATH,
            READYZ_PATH,
            METRICS_PATH,
            AUDIT_CHECKPOINTS_PATH,
            AUDIT_CONSISTENCY_PATH,
        ] {
            assert!(paths.contains_key(path), "{path} is not documented");
        }
    }
}
