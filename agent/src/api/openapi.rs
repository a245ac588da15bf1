//! `GET /openapi.json`: the local API described in OpenAPI 3.1.

use daas_core::api::agent::{
    HEALTH_PATH, METRICS_PATH, OPENAPI_PATH, PROMETHEUS_PATH, REGISTER_PATH, STAKING_PATH,
    UNSTAKE_PATH,
};
use serde_json::{Value, json};

/// The document.
pub fn document() -> Value {
    let order = |summary: &str, body: &str| {
        json!({
            "post": {
                "summary": summary,
                "security": [{ "ownerOrder": [] }],
                "requestBody": { "required": true, "content": { "application/json": {
                    "schema": { "$ref": format!("#/components/schemas/{body}") } } } },
                "responses": {
                    "200": json_response("ActionResponse"),
                    "401": error("no order, or it does not verify (signature, agent key, age)"),
                    "403": error("the order is not the owner's, or not for this node, route or body"),
                    "409": error("replayed order, or not possible now"),
                    "422": error("unacceptable parameters"),
                    "502": error("the chain or the master failed"),
                }
            }
        })
    };
    let read = |summary: &str, schema: &str| json!({ "get": { "summary": summary, "responses": { "200": json_response(schema) } } });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "daas-agent local API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "HTTPS (TLS 1.3) on the agent's own key, pinned by the SHA-256 of its SubjectPublicKeyInfo that the attested master relays. Mutating routes take an order signed by the node owner's wallet (a daasa1. agent request over the exact body, single use).",
        },
        "paths": {
            STAKING_PATH: order("Stake for the node", "StakingRequest"),
            REGISTER_PATH: order("Register the node with the master", "NodeRequest"),
            UNSTAKE_PATH: order("Drain the node and unstake", "NodeRequest"),
            METRICS_PATH: read("The node's metrics (seed fields)", "NodeMetrics"),
            HEALTH_PATH: read("Liveness", "AgentHealth"),
            PROMETHEUS_PATH: { "get": { "summary": "Prometheus text format",
                "responses": { "200": { "description": "text/plain; version=0.0.4" } } } },
            OPENAPI_PATH: { "get": { "summary": "This document",
                "responses": { "200": { "description": "OpenAPI 3.1" } } } },
        },
        "components": {
            "securitySchemes": { "ownerOrder": { "type": "http", "scheme": "bearer",
                "bearerFormat": "daasa1.<base64url(BCS payload)>.<base64url(Sui signature)>" } },
            "schemas": schemas(),
        }
    })
}

fn json_response(schema: &str) -> Value {
    json!({ "description": "OK", "content": { "application/json": {
        "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn error(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": {
        "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn schemas() -> Value {
    let string = json!({ "type": "string" });
    let number = json!({ "type": "number" });
    let integer = json!({ "type": "integer", "minimum": 0 });
    json!({
        "StakingRequest": { "type": "object", "required": ["node_id", "stake_amount"],
            "additionalProperties": false,
            "properties": { "node_id": string, "stake_amount": { "type": "string",
                "description": "MIST, decimal", "pattern": "^[0-9]{1,20}$" } } },
        "NodeRequest": { "type": "object", "required": ["node_id"], "additionalProperties": false,
            "properties": { "node_id": string } },
        "ActionResponse": { "type": "object", "required": ["success", "action", "message"],
            "properties": { "success": { "type": "boolean" }, "action": string,
                "message": string, "seal_token": string } },
        "NodeMetrics": { "type": "object",
            "required": ["cpu_usage", "memory_usage", "pod_count", "container_count",
                "network_rx", "network_tx", "timestamp"],
            "properties": { "cpu_usage": number, "memory_usage": number, "pod_count": integer,
                "container_count": integer, "network_rx": integer, "network_tx": integer,
                "timestamp": integer } },
        "AgentHealth": { "type": "object", "required": ["status", "node_id", "version"],
            "properties": { "status": string, "node_id": string, "version": string } },
        "Error": { "type": "object", "required": ["error"], "properties": { "error": string } },
    })
}
