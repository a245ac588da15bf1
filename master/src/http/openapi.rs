//! `GET /openapi.json`: an OpenAPI 3.1 description of the master's API.
//!
//! Written by hand from the wire types in `daas_core::api` and the routers;
//! `tests/tests/master_access.rs` checks that the running master serves every
//! documented path.

use axum::routing::get;
use axum::{Json, Router};
use daas_core::api::audit::{AUDIT_CHECKPOINTS_PATH, AUDIT_CONSISTENCY_PATH, AUDIT_EVENTS_PATH};
use daas_core::api::nodes::{
    DRAIN_SEGMENT, HEARTBEAT_PATH, NODE_HEALTH_DEFAULT_LIMIT, NODE_HEALTH_MAX_LIMIT,
    NODE_HEALTH_PATH, NODES_PATH, REGISTER_WORKER_PATH, STAKING_STATUS_PATH,
};
use daas_core::api::{ATTESTATION_PATH, HEALTHZ_PATH, SECURITY_CONTEXT_PATH};
use serde_json::{Value, json};

use super::health::{METRICS_PATH, READYZ_PATH};
use crate::access::{KUBECTL_CONFIG_PATH, SEAL_TOKENS_PATH};

/// Path of the document.
pub const OPENAPI_PATH: &str = "/openapi.json";

/// The `/openapi.json` route.
pub fn router() -> Router {
    Router::new().route(OPENAPI_PATH, get(|| async { Json(document()) }))
}

/// The document.
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for (path, mut item) in path_items() {
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
            "schemas": {
                "Error": object(&[("error", "string")]),
            }
        }
    })
}

fn path_items() -> Vec<(String, Value)> {
    vec![
        (
            HEALTHZ_PATH.to_owned(),
            op("get", "Liveness", None, "Health", false),
        ),
        (
            READYZ_PATH.to_owned(),
            op(
                "get",
                "Readiness: chain, API server, event follower (503 names each failing check: \
                 `not checked yet`, `unreachable`, `setting up` or `behind`; details are logged)",
                None,
                "Readiness",
                false,
            ),
        ),
        (
            METRICS_PATH.to_owned(),
            op(
                "get",
                "Prometheus metrics (OpenMetrics text)",
                None,
                "text",
                false,
            ),
        ),
        (
            OPENAPI_PATH.to_owned(),
            op("get", "This document", None, "object", false),
        ),
        (
            ATTESTATION_PATH.to_owned(),
            op(
                "post",
                "A fresh attestation document bound to the client's nonce and the master's keys",
                Some("AttestationRequest {nonce: hex, 16-64 bytes}"),
                "AttestationResponse",
                false,
            ),
        ),
        (
            SECURITY_CONTEXT_PATH.to_owned(),
            op(
                "get",
                "TEE type, PCRs, keys and attestation age",
                None,
                "SecurityContext",
                false,
            ),
        ),
        (
            REGISTER_WORKER_PATH.to_owned(),
            op(
                "post",
                "Admit a worker: a signed single-use proof from its seal token's owner yields a K3s join token",
                Some(
                    "RegisterWorkerRequest {node_id, seal_token, ip_address, capacity, proof, agent_api?}",
                ),
                "RegisterWorkerResponse",
                false,
            ),
        ),
        (
            HEARTBEAT_PATH.to_owned(),
            op(
                "post",
                "A worker's status and metrics, with a signed heartbeat proof",
                Some("HeartbeatRequest {node_id, proof, status, metrics, agent_api?}"),
                "HeartbeatResponse",
                false,
            ),
        ),
        (NODE_HEALTH_PATH.to_owned(), node_health_list()),
        (
            format!("{NODE_HEALTH_PATH}/{{node}}"),
            op(
                "get",
                "Health of one node, shown as in the list (404 names an unknown node)",
                None,
                "NodeHealth",
                false,
            ),
        ),
        (
            format!("{NODES_PATH}/{{node}}/{DRAIN_SEGMENT}"),
            op(
                "post",
                "Cordon and drain a node at its owner's request before unstaking (a signed single-use drain proof); answers the pods still to go",
                Some("DrainRequest {proof}"),
                "DrainResponse",
                false,
            ),
        ),
        (
            STAKING_STATUS_PATH.to_owned(),
            op(
                "get",
                "Seal tokens, stake, tier and status as the master sees them; exactly one of ?owner=, ?node=, ?seal_token=",
                None,
                "StakingStatus",
                false,
            ),
        ),
        (
            SEAL_TOKENS_PATH.to_owned(),
            merged([
                op(
                    "post",
                    "Issue an opaque 64-hex seal token for the caller's seal token (stored hashed, \
                     tagged by the master); one per access token, 409 at the owner's cap \
                     (access.seal_tokens_per_owner); needs a `daas1.` access token",
                    None,
                    "IssuedSealToken {seal_token, id, expires_at, seal_token_id, owner} (201)",
                    true,
                ),
                op(
                    "get",
                    "The caller's live opaque seal tokens (ids, expiries) and the cap; needs a \
                     `daas1.` access token",
                    None,
                    "SealTokenList {cap, tokens: [{id, expires_at, seal_token_id}]}",
                    true,
                ),
            ]),
        ),
        (
            format!("{SEAL_TOKENS_PATH}/{{id}}"),
            op(
                "delete",
                "Revoke the caller's opaque seal token whose id (SHA-256, hex) starts with {id} \
                 (8 to 64 hex digits; 404 none, 409 several); every replica refuses it within \
                 5 s; needs a `daas1.` access token",
                None,
                "204 No Content",
                true,
            ),
        ),
        (
            KUBECTL_CONFIG_PATH.to_owned(),
            op(
                "get",
                "A kubeconfig whose user runs `daas-console credential` (?seal_token=0x…)",
                None,
                "application/yaml",
                false,
            ),
        ),
        (
            format!("{AUDIT_EVENTS_PATH}/{{audit_id}}"),
            op(
                "get",
                "An audit event (its canonical leaf), its leaf index, its RFC 9162 inclusion \
                 proof and the checkpoint it leads to (the first anchored one covering it, with \
                 its anchoring transaction); 404 unknown, 409 not yet in a checkpoint; needs a \
                 `daas1.` access token: the super tier reads any event, other tiers only events \
                 of their own identity (403)",
                None,
                "AuditEventProof",
                true,
            ),
        ),
        (
            AUDIT_CHECKPOINTS_PATH.to_owned(),
            op(
                "get",
                "The audit log's origin, events stored, and signed checkpoints (C2SP notes) \
                 with their anchors, oldest first; needs a `daas1.` access token (any tier)",
                None,
                "AuditCheckpointList",
                true,
            ),
        ),
        (
            AUDIT_CONSISTENCY_PATH.to_owned(),
            op(
                "get",
                "An RFC 9162 consistency proof between tree sizes ?from=&to= and both roots; \
                 needs a `daas1.` access token (any tier)",
                None,
                "AuditConsistency",
                true,
            ),
        ),
        ("/api/{path}".to_owned(), proxy()),
        ("/apis/{path}".to_owned(), proxy()),
    ]
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
fn node_health_list() -> Value {
    let mut item = op(
        "get",
        "One page of the admitted nodes, by name: names, status, heartbeats and metrics for \
         anyone; seal token, owner, address, capacity and agent endpoint for a node's owner \
         and the admin and super tiers (Bearer daas1 access token). The answer's `continue`, \
         present while more nodes follow, is passed back for the next page; 400 names a bad \
         `limit` or `continue`",
        None,
        "NodeHealthList {view, nodes, heartbeat_interval_secs, stale_after_secs, continue?}",
        false,
    );
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

fn op(method: &str, summary: &str, request: Option<&str>, response: &str, auth: bool) -> Value {
    let mut operation = json!({
        "summary": summary,
        "responses": {
            "200": { "description": response },
            "4XX": {
                "description": "Refused; the body names the problem",
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
            }
        }
    });
    if let Some(request) = request {
        operation["requestBody"] = json!({
            "required": true,
            "description": request,
            "content": { "application/json": { "schema": { "type": "object" } } }
        });
    }
    if auth {
        operation["security"] = json!([{ "daasToken": [] }]);
    }
    json!({ method: operation })
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

fn object(fields: &[(&str, &str)]) -> Value {
    let properties: serde_json::Map<String, Value> = fields
        .iter()
        .map(|(name, kind)| ((*name).to_owned(), json!({ "type": kind })))
        .collect();
    json!({ "type": "object", "properties": properties })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_every_endpoint_once() {
        let document = document();
        assert_eq!(document["openapi"], "3.1.0");
        let paths = document["paths"].as_object().unwrap();
        assert_eq!(paths.len(), path_items().len(), "a path is listed twice");
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
