//! A fake Anthropic Messages API for the swarms tests. It checks the headers a real one needs,
//! answers plans when the `submit_plan` tool is forced and text otherwise, streams when asked,
//! and keeps every request. What it does is steered by directives in the task text, so that
//! concurrent tests (and the suite under wrangler dev, which shares one fake) each get their own
//! behaviour:
//!
//! - `[fake:kinds=code,test,docs]` the plan's subtasks, one per kind (default `code,test,docs`);
//! - `[fake:sections]` each subtask asks for a `Result` heading;
//! - `[fake:onlycoder]` only a coder's answer has its headings (and its JSON);
//! - `[fake:429x2#tag]`, `[fake:529x1#tag]`, `[fake:slowx1#tag]`, `[fake:malformedx1#tag]`,
//!   `[fake:badplanx1#tag]`: the first N calls of that tag answer 429 (with `retry-after: 1`),
//!   529, after 4 s, with a body that is not JSON, or with a plan that breaks the schema;
//! - `[fake:badplan]` every plan breaks the schema; `[fake:refuse]` every call is a 400;
//! - `[fake:delay=MS]` every answer comes after MS milliseconds.
//!
//! Every answer uses 100 input and 50 output tokens.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};

/// The key the fake accepts.
pub const KEY: &str = "sk-ant-fake-test-key";
pub const INPUT_TOKENS: u64 = 100;
pub const OUTPUT_TOKENS: u64 = 50;

#[derive(Default)]
struct Fake {
    requests: Vec<Value>,
    /// Failures handed out per directive and tag.
    spent: HashMap<String, u32>,
}

type Shared = Arc<Mutex<Fake>>;

/// Starts the fake on `port` (0 for any) and returns its base URL.
pub async fn start(port: u16) -> String {
    let fake: Shared = Arc::default();
    let app = Router::new().route("/v1/messages", post(messages)).route("/test/requests", get(requests)).with_state(fake);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The requests whose text contains `needle`, in order.
async fn requests(State(fake): State<Shared>, Query(query): Query<HashMap<String, String>>) -> Json<Value> {
    let needle = query.get("contains").cloned().unwrap_or_default();
    let fake = fake.lock().unwrap();
    Json(fake.requests.iter().filter(|r| r.to_string().contains(&needle)).cloned().collect())
}

/// The values of directive `name` in `text`: `[fake:name]` gives "", `[fake:name=v]` gives v,
/// `[fake:nameXN#tag]` gives "XN#tag".
fn directive<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let start = text.find(&format!("[fake:{name}"))? + 6 + name.len();
    let rest = &text[start..];
    let end = rest.find(']')?;
    Some(rest[..end].trim_start_matches('='))
}

/// Whether the first N calls of a `xN#tag` directive are still to be failed; counts this one.
fn spend(fake: &Shared, name: &str, value: &str) -> bool {
    let Some((n, tag)) = value.strip_prefix('x').and_then(|v| v.split_once('#')) else { return false };
    let n: u32 = n.parse().unwrap_or(0);
    let mut fake = fake.lock().unwrap();
    let spent = fake.spent.entry(format!("{name}#{tag}")).or_default();
    if *spent < n {
        *spent += 1;
        true
    } else {
        false
    }
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    (status, Json(json!({"type": "error", "error": {"type": kind, "message": message}}))).into_response()
}

async fn messages(State(fake): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(KEY) {
        return error(StatusCode::UNAUTHORIZED, "authentication_error", "invalid x-api-key");
    }
    if headers.get("anthropic-version").is_none() {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "anthropic-version is required");
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "not JSON");
    };
    if request["model"].as_str().is_none() || request["max_tokens"].as_u64().is_none() {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "model and max_tokens are required");
    }
    fake.lock().unwrap().requests.push(request.clone());
    let text = request["messages"].to_string();
    if let Some(ms) = directive(&text, "delay").and_then(|v| v.parse().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if directive(&text, "refuse").is_some() {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "refused by the fake");
    }
    if directive(&text, "429").is_some_and(|v| spend(&fake, "429", v)) {
        let mut response = error(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", "slow down");
        response.headers_mut().insert("retry-after", "1".parse().unwrap());
        return response;
    }
    if directive(&text, "529").is_some_and(|v| spend(&fake, "529", v)) {
        return error(StatusCode::from_u16(529).unwrap(), "overloaded_error", "Overloaded");
    }
    if directive(&text, "slow").is_some_and(|v| spend(&fake, "slow", v)) {
        tokio::time::sleep(Duration::from_secs(4)).await;
    }
    if directive(&text, "malformed").is_some_and(|v| spend(&fake, "malformed", v)) {
        return (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "{\"content\": [").into_response();
    }
    let content = if request["tool_choice"]["name"] == "submit_plan" {
        let bad = directive(&text, "badplan").is_some_and(|v| v.is_empty() || spend(&fake, "badplan", v));
        json!([{"type": "tool_use", "id": format!("toolu_{}", uuid::Uuid::new_v4().simple()), "name": "submit_plan", "input": plan(&text, bad)}])
    } else {
        json!([{"type": "text", "text": answer(&request, &text)}])
    };
    let message = json!({
        "id": format!("msg_{}", uuid::Uuid::new_v4().simple()), "type": "message", "role": "assistant",
        "model": request["model"], "content": content, "stop_reason": "end_turn",
        "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS},
    });
    if request["stream"] == true {
        return (StatusCode::OK, [(header::CONTENT_TYPE, "text/event-stream")], events(&message)).into_response();
    }
    Json(message).into_response()
}

fn plan(text: &str, bad: bool) -> Value {
    let kinds = directive(text, "kinds").unwrap_or("code,test,docs");
    let sections = directive(text, "sections").is_some();
    let subtasks: Vec<Value> = kinds
        .split(',')
        .enumerate()
        .map(|(i, kind)| {
            let title = match kind {
                "code" => format!("Implement the code of part {}", i + 1),
                "test" => format!("Write tests for part {}", i + 1),
                "docs" => format!("Document part {} in the README", i + 1),
                "research" => format!("Research options for part {}", i + 1),
                other => format!("Do {other} for part {}", i + 1),
            };
            let mut subtask = json!({"title": title, "description": format!("{title}, carefully."), "capability": kind});
            if sections {
                subtask["sections"] = json!(["Result"]);
            }
            if bad {
                subtask.as_object_mut().unwrap().remove("description");
            }
            subtask
        })
        .collect();
    json!({"subtasks": subtasks})
}

fn answer(request: &Value, text: &str) -> String {
    let system = request["system"].as_str().unwrap_or_default();
    let agent = system.split(" agent").next().and_then(|s| s.rsplit(' ').next()).unwrap_or("agent");
    let part = text.split("Your part: ").nth(1).and_then(|p| p.split("\\n").next()).unwrap_or("the task");
    if directive(text, "onlycoder").is_some() && agent != "coder" {
        return format!("I am a {agent} and did something else.");
    }
    if system.contains("one JSON object") {
        return json!({"by": agent, "part": part}).to_string();
    }
    format!("## Result\nDone by the {agent}: {part}.")
}

/// A message as the API streams it.
fn events(message: &Value) -> String {
    let mut start = message.clone();
    start["content"] = json!([]);
    start["usage"]["output_tokens"] = json!(1);
    let mut out = vec![json!({"type": "message_start", "message": start})];
    for (i, block) in message["content"].as_array().unwrap().iter().enumerate() {
        if block["type"] == "text" {
            out.push(json!({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}}));
            let text = block["text"].as_str().unwrap();
            let middle = text.char_indices().nth(text.chars().count() / 2).map_or(0, |(i, _)| i);
            for piece in [&text[..middle], &text[middle..]] {
                out.push(json!({"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": piece}}));
            }
        } else {
            let mut opened = block.clone();
            opened["input"] = json!({});
            out.push(json!({"type": "content_block_start", "index": i, "content_block": opened}));
            let input = block["input"].to_string();
            let middle = input.len() / 2;
            for piece in [&input[..middle], &input[middle..]] {
                out.push(json!({"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": piece}}));
            }
        }
        out.push(json!({"type": "content_block_stop", "index": i}));
    }
    out.push(json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": message["usage"]["output_tokens"]}}));
    out.push(json!({"type": "message_stop"}));
    out.iter().map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap())).collect()
}
