//! A local HTTP service for workflow `http` steps to call, which keeps every call and honours
//! `Idempotency-Key` as a payment API does: the first call with a key has the effect, a repeat
//! gets the same answer and has none. Tests count effects per key to show that a step's effect
//! happened once, and calls per key to show that a call was indeed repeated.
//!
//! Paths: `/echo` answers the request (path, body, key); `/flaky/N` fails with 500 the first N
//! times a step calls it (counted per run and step, whatever the attempt); `/slow/MS` answers
//! after MS milliseconds. The effect of a call is recorded as it arrives, before any delay, so a
//! caller killed mid-call has had its effect.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::any,
};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Call {
    pub path: String,
    pub key: Option<String>,
    pub body: Value,
    pub at: Instant,
}

#[derive(Default)]
struct Log {
    calls: Vec<Call>,
    /// The answer given to each key's first successful call.
    answers: HashMap<String, (u16, Value)>,
    /// Failures handed out per run and step (the key without its attempt).
    failures: HashMap<String, u32>,
}

#[derive(Clone)]
pub struct HttpSink {
    pub url: String,
    log: Arc<Mutex<Log>>,
}

impl HttpSink {
    pub async fn start() -> Self {
        let log = Arc::new(Mutex::new(Log::default()));
        let app = Router::new().route("/{*path}", any(receive)).with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, log }
    }

    /// Every call whose key starts with `prefix` (a run id, or `run/step/`), in order.
    pub fn calls(&self, prefix: &str) -> Vec<Call> {
        let log = self.log.lock().expect("not poisoned");
        log.calls.iter().filter(|c| c.key.as_deref().is_some_and(|k| k.starts_with(prefix))).cloned().collect()
    }

    /// How many effects calls with keys starting `prefix` had: one per distinct key.
    pub fn effects(&self, prefix: &str) -> usize {
        let log = self.log.lock().expect("not poisoned");
        log.answers.keys().filter(|k| k.starts_with(prefix)).count()
    }
}

async fn receive(
    State(log): State<Arc<Mutex<Log>>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut delay = None;
    let answer = {
        let mut log = log.lock().expect("not poisoned");
        log.calls.push(Call { path: path.clone(), key: key.clone(), body: body.clone(), at: Instant::now() });
        let repeated = key.as_ref().and_then(|k| log.answers.get(k).cloned());
        match repeated {
            Some(answer) => answer,
            None => {
                let step = key.as_deref().and_then(|k| k.rsplit_once('/')).map(|(step, _)| step.to_owned()).unwrap_or_default();
                let answer = match path.split_once('/') {
                    Some(("flaky", n)) => {
                        let failed = log.failures.entry(step).or_default();
                        if *failed < n.parse().unwrap_or(0) {
                            *failed += 1;
                            (500, json!({"error": "flaky"}))
                        } else {
                            (200, json!({"ok": true}))
                        }
                    }
                    Some(("slow", ms)) => {
                        delay = Some(Duration::from_millis(ms.parse().unwrap_or(0)));
                        (200, json!({"ok": true, "slept_ms": ms}))
                    }
                    _ => (200, json!({"path": path, "body": body, "key": key})),
                };
                // A failure is no effect: the next attempt tries afresh.
                if let (Some(key), 200) = (&key, answer.0) {
                    log.answers.insert(key.clone(), answer.clone());
                }
                answer
            }
        }
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    (StatusCode::from_u16(answer.0).unwrap_or(StatusCode::OK), Json(answer.1))
}
