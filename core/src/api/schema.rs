//! JSON Schemas of the wire types for the OpenAPI 3.1 documents of the
//! master and the agent. They are derived from the types themselves
//! (`schemars`, honouring their serde attributes), so a document cannot
//! drift from what the code sends and accepts.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

/// Where the schemas live in an OpenAPI document.
const COMPONENTS_PATH: &str = "/components/schemas";

/// The schemas of a document's bodies, collected as its operations name
/// them, for `components.schemas`.
///
/// Requests are described as the server deserializes them (optional
/// fields with defaults, unknown fields refused where the type refuses
/// them), responses as it serializes them (every field it always writes
/// is required).
pub struct Components {
    requests: SchemaGenerator,
    responses: SchemaGenerator,
}

impl Default for Components {
    fn default() -> Self {
        let settings = || {
            SchemaSettings::draft2020_12().with(|settings| {
                settings.definitions_path = COMPONENTS_PATH.into();
                settings.meta_schema = None;
            })
        };
        Self {
            requests: settings().for_deserialize().into_generator(),
            responses: settings().for_serialize().into_generator(),
        }
    }
}

impl Components {
    /// A required JSON request body of type `T`.
    pub fn request_body<T: JsonSchema>(&mut self) -> Value {
        json!({ "required": true, "content": json_content(self.requests.subschema_for::<T>().to_value()) })
    }

    /// A JSON response of type `T`.
    pub fn response<T: JsonSchema>(&mut self, description: &str) -> Value {
        let schema = self.responses.subschema_for::<T>().to_value();
        json!({ "description": description, "content": json_content(schema) })
    }

    /// `components.schemas`: every schema named so far. A type used both
    /// ways keeps its response schema (the stricter about what is present).
    pub fn into_schemas(mut self) -> Value {
        let mut schemas: Map<String, Value> = self.responses.take_definitions(true);
        for (name, schema) in self.requests.take_definitions(true) {
            schemas.entry(name).or_insert(schema);
        }
        Value::Object(schemas)
    }
}

/// `content` of a JSON body with this schema.
pub fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

/// What is wrong with an OpenAPI document's bodies: each JSON body without
/// a schema and each `$ref` to a schema the document does not define, by
/// JSON pointer. Empty when every body is described.
pub fn undefined_bodies(document: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    check_bodies(document, document, String::new(), &mut problems);
    problems
}

fn check_bodies(document: &Value, value: &Value, at: String, problems: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                let target = reference
                    .strip_prefix('#')
                    .and_then(|p| document.pointer(p));
                if target.is_none() {
                    problems.push(format!("{at}: $ref {reference} is not defined"));
                }
            }
            if let Some(json) = map.get("content").and_then(|c| c.get("application/json"))
                && json.get("schema").is_none()
            {
                problems.push(format!("{at}: a JSON body without a schema"));
            }
            for (key, child) in map {
                let key = key.replace('~', "~0").replace('/', "~1");
                check_bodies(document, child, format!("{at}/{key}"), problems);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                check_bodies(document, child, format!("{at}/{index}"), problems);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ErrorBody;
    use crate::api::nodes::{HeartbeatRequest, NodeHealthList};

    #[test]
    fn requests_and_responses_are_described_by_their_types() {
        let mut components = Components::default();
        let request = components.request_body::<HeartbeatRequest>();
        let response = components.response::<NodeHealthList>("a page");
        let document = json!({
            "paths": { "/x": { "post": { "requestBody": request, "responses": { "200": response } } } },
            "components": { "schemas": components.into_schemas() }
        });
        assert_eq!(undefined_bodies(&document), Vec::<String>::new());
        let schemas = &document["components"]["schemas"];
        // deny_unknown_fields and the optional agent endpoint, as deserialized.
        assert_eq!(schemas["HeartbeatRequest"]["additionalProperties"], false);
        let required = schemas["HeartbeatRequest"]["required"].as_array().unwrap();
        assert!(!required.contains(&json!("agent_api")));
        assert!(required.contains(&json!("proof")));
        // `continue` is serialized only while more nodes follow.
        let required = schemas["NodeHealthList"]["required"].as_array().unwrap();
        assert!(required.contains(&json!("nodes")));
        assert!(!required.contains(&json!("continue")));
        assert!(
            schemas["NodeStatus"].is_object(),
            "nested types are defined"
        );
    }

    #[test]
    fn undefined_references_and_bare_json_bodies_are_named() {
        let mut components = Components::default();
        let error = components.response::<ErrorBody>("refused");
        let document = json!({
            "paths": { "/x": { "get": { "responses": {
                "200": { "description": "no schema", "content": { "application/json": {} } },
                "400": error,
                "404": { "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Missing" } } } },
            } } } },
            "components": { "schemas": {} }
        });
        let problems = undefined_bodies(&document);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].starts_with("/paths/~1x/get/responses/200"),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("ErrorBody")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("Missing")),
            "{problems:?}"
        );
    }
}
