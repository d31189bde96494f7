//! What the benchmark clients (`src/bin/*-bench.rs`) share: a call that must succeed, and a
//! fresh user.

use serde_json::{Value, json};

/// Sends a request, asserting a 2xx; the body as JSON (`null` if it is none).
pub async fn call(http: &reqwest::Client, method: reqwest::Method, url: String, token: Option<&str>, body: Option<Value>) -> Value {
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the host answers");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// `call` with POST and a body.
pub async fn post(http: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    call(http, reqwest::Method::POST, url, token, Some(body)).await
}

/// Registers a new user whose name starts with `prefix`: their id and access token.
pub async fn register(http: &reqwest::Client, base: &str, prefix: &str) -> (String, String) {
    let name = format!("{prefix}{}", &uuid::Uuid::now_v7().simple().to_string()[16..]);
    let body = json!({"email": format!("{name}@example.com"), "username": name, "password": crate::PASSWORD});
    let reply = post(http, format!("{base}/v1/auth/register"), None, body).await;
    (reply["user"]["id"].as_str().unwrap().to_owned(), reply["access_token"].as_str().unwrap().to_owned())
}
