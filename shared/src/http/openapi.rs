//! What every operation of the OpenAPI document shares, written once: the path parameters its
//! template names, and the errors the shared conventions can answer with, each as RFC 9457
//! problem details. Handlers document their own successes and the errors particular to them;
//! this fills in what the extractors and the middleware make true of all of them, so that the
//! document cannot forget an answer a route gives. A PATCH body must change something
//! (`minProperties: 1`), as every PATCH handler requires.

use serde_json::{Map, Value, json};

/// The problem details schema every error response refers to.
fn problem_schema() -> Value {
    json!({
        "type": "object",
        "description": "RFC 9457 problem details.",
        "required": ["type", "title", "status", "code", "detail"],
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "code": {"type": "string", "description": "Stable, machine-readable: `validation_failed`, `unauthorized`, `session_revoked`, ..."},
            "detail": {"type": "string"},
            "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
            "request_id": {"type": "string"}
        }
    })
}

fn describe(status: u16) -> &'static str {
    match status {
        400 => "The body is not valid JSON",
        401 => "No valid credential, or its session has ended (`session_revoked`)",
        403 => "Not allowed to the caller (a role, an API key's scope, a session-only operation)",
        404 => "No such resource, or not visible to the caller",
        405 => "Method not allowed",
        409 => "In conflict with the current state",
        412 => "`If-Match` names a version that is no longer current",
        413 => "The body is over 1 MiB",
        415 => "The body is not application/json",
        422 => "A field or parameter is invalid (`errors` names it)",
        423 => "Locked after repeated failed password checks (see `retry-after`)",
        429 => "Rate limited (see `retry-after` and the `ratelimit-*` headers)",
        500 => "Internal error; the request id identifies it",
        _ => "A service this depends on is unavailable (see `retry-after`)",
    }
}

/// The schema of a path parameter, by its name.
fn path_parameter(name: &str) -> Value {
    let schema = match name {
        "role" => json!({"$ref": "#/components/schemas/Role"}),
        "provider" => json!({"type": "string", "pattern": "^[a-z0-9-]+$", "maxLength": 64}),
        _ => json!({"type": "string", "format": "uuid"}),
    };
    json!({"name": name, "in": "path", "required": true, "schema": schema})
}

/// Operations that check a password and so can answer 423.
const CHECK_PASSWORDS: &[&str] = &["login", "create_api_key", "update_user", "change_password"];

/// Completes `document` (as utoipa serialised it) in place.
pub fn complete(document: &mut Value) {
    let schemas = &mut document["components"]["schemas"];
    if let Some(schemas) = schemas.as_object_mut() {
        schemas.insert("Problem".into(), problem_schema());
    }
    patch_bodies_change_something(document);
    add_links(document);
    optional_any_is_any(document);
    let Some(paths) = document["paths"].as_object_mut() else { return };
    for (template, item) in paths.iter_mut() {
        let names: Vec<String> = template.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}').map(str::to_owned)).collect();
        let Some(item) = item.as_object_mut() else { continue };
        for (method, operation) in item.iter_mut() {
            if let Some(operation) = operation.as_object_mut() {
                complete_operation(method, operation, &names, template);
            }
        }
    }
}

/// utoipa writes an optional JSON value (`Option<serde_json::Value>`) as "null, or any value";
/// any value includes null, so a validator finds null matching both and refuses it. Such a
/// schema is written as the one it is: any value.
fn optional_any_is_any(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            let collapsed = fields.get("oneOf").and_then(Value::as_array).and_then(|branches| match branches.as_slice() {
                [null, any] if *null == json!({"type": "null"}) && any["$ref"] == "#/components/schemas/Value" => Some(any.clone()),
                _ => None,
            });
            if let Some(Value::Object(any)) = collapsed {
                fields.remove("oneOf");
                fields.extend(any);
            }
            fields.values_mut().for_each(optional_any_is_any);
        }
        Value::Array(items) => items.iter_mut().for_each(optional_any_is_any),
        _ => {}
    }
}

fn complete_operation(method: &str, operation: &mut Map<String, Value>, path_names: &[String], template: &str) {
    let parameters = operation.entry("parameters").or_insert_with(|| json!([]));
    if let Some(parameters) = parameters.as_array_mut() {
        // An optional header is left out, never sent as the text "null".
        for parameter in parameters.iter_mut().filter(|p| p["in"] == "header") {
            if let Some(types) = parameter["schema"]["type"].as_array().filter(|t| t.contains(&json!("null"))) {
                let kind = types.iter().find(|t| **t != json!("null")).cloned().unwrap_or_default();
                parameter["schema"]["type"] = kind;
            }
        }
        for name in path_names {
            let declared = parameters.iter().any(|p| p["in"] == "path" && p["name"] == name.as_str());
            if !declared {
                parameters.push(path_parameter(name));
            }
        }
    }
    let has_query = operation["parameters"].as_array().is_some_and(|p| p.iter().any(|p| p["in"] == "query"));
    let has_if_match = operation["parameters"].as_array().is_some_and(|p| p.iter().any(|p| p["in"] == "header" && p["name"] == "If-Match"));
    if operation["parameters"].as_array().is_some_and(Vec::is_empty) {
        operation.remove("parameters");
    }
    let secured = operation.contains_key("security");
    let has_body = operation.contains_key("requestBody");
    let health = template.starts_with("/v1/health") || template == "/v1/openapi.json";
    let mut statuses: Vec<u16> = vec![500, 503];
    if !health {
        statuses.push(429);
    }
    if secured {
        statuses.extend([401, 403]);
    }
    if !path_names.is_empty() {
        statuses.push(404);
    }
    if has_body {
        statuses.extend([400, 413, 415, 422]);
    }
    if has_query || !path_names.is_empty() {
        statuses.push(422);
    }
    if method != "get" && !health {
        statuses.push(409);
    }
    if has_if_match {
        statuses.push(412);
    }
    if operation.get("operationId").and_then(Value::as_str).is_some_and(|id| CHECK_PASSWORDS.contains(&id)) {
        statuses.push(423);
    }
    let responses = operation.entry("responses").or_insert_with(|| json!({}));
    let Some(responses) = responses.as_object_mut() else { return };
    for status in statuses {
        responses.entry(status.to_string()).or_insert_with(|| json!({"description": describe(status)}));
    }
    // Every error may come as problem details, beside whatever body a handler documents for it
    // (RFC 8628's `{"error"}` for a device poll, say): the shared conventions answer that way.
    for (status, response) in responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if is_error {
            let content = response.as_object_mut().map(|r| r.entry("content").or_insert_with(|| json!({})));
            if let Some(content) = content.and_then(Value::as_object_mut) {
                content.entry("application/problem+json").or_insert_with(|| problem_for(status));
            }
        }
    }
}

/// Where one answer feeds the next request (OpenAPI links), so that a client, and schemathesis'
/// stateful phase, can follow a created resource: (operation, status, target operation, the
/// target's parameter, where its value comes from).
const LINKS: &[(&str, &str, &str, &str, &str)] = &[
    ("create_project", "201", "get_project", "id", "$response.body#/id"),
    ("create_project", "201", "update_project", "id", "$response.body#/id"),
    ("create_project", "201", "delete_project", "id", "$response.body#/id"),
    ("create_project", "201", "list_members", "id", "$response.body#/id"),
    ("create_project", "201", "get_member", "id", "$response.body#/id"),
    ("create_api_key", "201", "revoke_api_key", "id", "$response.body#/id"),
    ("register", "201", "get_user", "id", "$response.body#/user/id"),
    ("register", "201", "update_user", "id", "$response.body#/user/id"),
];

fn add_links(document: &mut Value) {
    let Some(paths) = document["paths"].as_object_mut() else { return };
    let operations: Vec<&mut Value> =
        paths.values_mut().flat_map(|item| item.as_object_mut().into_iter().flat_map(|i| i.values_mut())).collect();
    let ids: Vec<String> = operations.iter().filter_map(|o| o["operationId"].as_str().map(str::to_owned)).collect();
    for operation in operations {
        let Some(id) = operation["operationId"].as_str().map(str::to_owned) else { continue };
        for (from, status, to, parameter, source) in LINKS.iter().filter(|link| link.0 == id) {
            if !ids.iter().any(|known| known == to) {
                continue;
            }
            let Some(response) = operation["responses"][*status].as_object_mut() else { continue };
            let links = response.entry("links").or_insert_with(|| json!({}));
            let name: String = to.split('_').map(|w| w[..1].to_uppercase() + &w[1..]).collect();
            links[name] = json!({"operationId": to, "parameters": {*parameter: source}, "description": format!("From {from}")});
        }
    }
}

/// The problem details of one status, with the `code`s it can carry (stable: one code a status,
/// but 401, which is `unauthorized` or `session_revoked`).
fn problem_for(status: &str) -> Value {
    let codes: &[&str] = match status {
        "400" => &["invalid_json"],
        "401" => &["unauthorized", "session_revoked"],
        "403" => &["forbidden"],
        "404" => &["not_found"],
        "405" => &["method_not_allowed"],
        "409" => &["conflict"],
        "412" => &["precondition_failed"],
        "413" => &["payload_too_large"],
        "415" => &["unsupported_media_type"],
        "422" => &["validation_failed"],
        "423" => &["account_locked"],
        "426" => &["upgrade_required"],
        "429" => &["rate_limited"],
        "500" => &["internal"],
        "502" | "503" | "504" => &["upstream_unavailable"],
        _ => return json!({"schema": {"$ref": "#/components/schemas/Problem"}}),
    };
    json!({"schema": {"allOf": [{"$ref": "#/components/schemas/Problem"}, {"type": "object", "properties": {"code": {"enum": codes}}}]}})
}

/// A PATCH must change something: its body's schema names at least one property.
fn patch_bodies_change_something(document: &mut Value) {
    let mut names = Vec::new();
    for item in document["paths"].as_object().into_iter().flat_map(|paths| paths.values()) {
        if let Some(reference) = item["patch"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str() {
            names.extend(reference.strip_prefix("#/components/schemas/").map(str::to_owned));
        }
    }
    for name in names {
        if let Some(schema) = document["components"]["schemas"][name.as_str()].as_object_mut() {
            schema.insert("minProperties".into(), json!(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_optional_any_value_is_any_value() {
        let mut document = json!({"components": {"schemas": {"Thing": {"properties": {
            "output": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Value", "description": "d"}]},
            "name": {"oneOf": [{"type": "null"}, {"type": "string"}]},
        }}}}});
        optional_any_is_any(&mut document);
        let thing = &document["components"]["schemas"]["Thing"]["properties"];
        assert_eq!(thing["output"], json!({"$ref": "#/components/schemas/Value", "description": "d"}));
        assert_eq!(thing["name"]["oneOf"][1], json!({"type": "string"}));
    }

    #[test]
    fn path_parameters_and_shared_errors_are_filled_in() {
        let mut document = json!({
            "components": {"schemas": {}},
            "paths": {"/v1/things/{id}": {"patch": {
                "operationId": "update_thing",
                "security": [{"bearer": []}],
                "requestBody": {},
                "responses": {"200": {"description": "ok"}, "404": {"description": "mine"}}
            }}}
        });
        complete(&mut document);
        let operation = &document["paths"]["/v1/things/{id}"]["patch"];
        assert_eq!(operation["parameters"][0]["name"], "id");
        assert_eq!(operation["parameters"][0]["schema"]["format"], "uuid");
        for status in ["401", "403", "404", "409", "413", "415", "422", "429", "500", "503"] {
            let schema = &operation["responses"][status]["content"]["application/problem+json"]["schema"];
            assert_eq!(schema["allOf"][0]["$ref"], "#/components/schemas/Problem", "{status}");
        }
        assert_eq!(operation["responses"]["404"]["description"], "mine", "a handler's own words stay");
        assert!(operation["responses"].get("412").is_none());
        let codes =
            &operation["responses"]["401"]["content"]["application/problem+json"]["schema"]["allOf"][1]["properties"]["code"]["enum"];
        assert_eq!(codes, &json!(["unauthorized", "session_revoked"]));
        assert!(document["components"]["schemas"]["Problem"].is_object());
    }
}
