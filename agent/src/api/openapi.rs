//! `GET /openapi.json`: the local API described in OpenAPI 3.1. Every
//! body's schema is derived from its wire type in `daas_core::api`
//! (see [`Components`]), so it cannot drift from the code.

use daas_core::api::ErrorBody;
use daas_core::api::agent::{
    ActionResponse, AgentHealth, HEALTH_PATH, METRICS_PATH, NodeRequest, OPENAPI_PATH,
    PROMETHEUS_PATH, REGISTER_PATH, STAKING_PATH, StakingRequest, UNSTAKE_PATH,
};
use daas_core::api::nodes::NodeMetrics;
use daas_core::api::schema::{Components, json_content};
use schemars::JsonSchema;
use serde_json::{Value, json};

/// The document.
pub fn document() -> Value {
    let mut c = Components::default();
    let paths = json!({
        STAKING_PATH: order::<StakingRequest>(&mut c, "Stake for the node"),
        REGISTER_PATH: order::<NodeRequest>(&mut c, "Register the node with the master"),
        UNSTAKE_PATH: order::<NodeRequest>(&mut c, "Drain the node and unstake"),
        METRICS_PATH: { "get": { "summary": "The node's metrics (seed fields)", "responses": {
            "200": c.response::<NodeMetrics>("The node's metrics"),
            "503": c.response::<ErrorBody>("the metrics are unreadable"),
        } } },
        HEALTH_PATH: { "get": { "summary": "Liveness", "responses": {
            "200": c.response::<AgentHealth>("Serving"),
        } } },
        PROMETHEUS_PATH: { "get": { "summary": "Prometheus text format", "responses": {
            "200": { "description": "Prometheus text format 0.0.4",
                "content": { "text/plain": { "schema": { "type": "string" } } } },
            "503": c.response::<ErrorBody>("the metrics are unreadable"),
        } } },
        OPENAPI_PATH: { "get": { "summary": "This document", "responses": {
            "200": { "description": "OpenAPI 3.1", "content": json_content(
                json!({ "type": "object", "required": ["openapi", "paths"] })) },
        } } },
    });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "daas-agent local API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "HTTPS (TLS 1.3) on the agent's own key, pinned by the SHA-256 of its SubjectPublicKeyInfo that the attested master relays. Mutating routes take an order signed by the node owner's wallet (a daasa1. agent request over the exact body, single use).",
        },
        "paths": paths,
        "components": {
            "securitySchemes": { "ownerOrder": { "type": "http", "scheme": "bearer",
                "bearerFormat": "daasa1.<base64url(BCS payload)>.<base64url(Sui signature)>" } },
            "schemas": c.into_schemas(),
        }
    })
}

/// A mutating route: an owner's order with a `T` body.
fn order<T: JsonSchema>(c: &mut Components, summary: &str) -> Value {
    let mut error = |description: &str| c.response::<ErrorBody>(description);
    let responses = json!({
        "400": error("the body is not a valid order body"),
        "401": error("no order, or it does not verify (signature, agent key, age)"),
        "403": error("the order is not the owner's, or not for this node, route or body"),
        "409": error("replayed order, or not possible now"),
        "422": error("unacceptable parameters"),
        "429": error("too many orders"),
        "502": error("the chain or the master failed"),
        "503": error("the agent cannot act now"),
    });
    let mut responses = responses;
    responses["200"] = c.response::<ActionResponse>("Done");
    json!({ "post": {
        "summary": summary,
        "security": [{ "ownerOrder": [] }],
        "requestBody": c.request_body::<T>(),
        "responses": responses,
    } })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every JSON body of the document names a schema it defines.
    #[test]
    fn every_body_has_a_defined_schema() {
        let document = document();
        let schemas = document["components"]["schemas"].as_object().unwrap();
        for name in [
            "StakingRequest",
            "NodeRequest",
            "ActionResponse",
            "NodeMetrics",
            "AgentHealth",
            "ErrorBody",
        ] {
            assert!(schemas.contains_key(name), "{name} is not defined");
        }
        assert_eq!(schemas["StakingRequest"]["additionalProperties"], false);
        assert_eq!(
            daas_core::api::schema::undefined_bodies(&document),
            Vec::<String>::new()
        );
    }
}
