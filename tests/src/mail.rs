//! A local HTTP sink standing in for the mail API: it keeps what it is sent. Natively it runs
//! in the test process; against wrangler dev, scripts/mail-sink.py runs it and the tests read
//! the file it writes (`TUI_TEST_MAIL_LOG`).

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
};

use axum::{Json, Router, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use serde_json::Value;

/// The API key the hosts under test are given; the sink refuses mail without it.
pub const KEY: &str = "test-mail-key";

#[derive(Clone)]
enum Received {
    Memory(Arc<Mutex<Vec<Value>>>),
    File(PathBuf),
}

#[derive(Clone)]
pub struct Sink {
    pub url: String,
    received: Received,
}

impl Sink {
    pub async fn start() -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new().route("/mail", post(receive)).with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let url = format!("http://{}/mail", listener.local_addr().expect("an address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, received: Received::Memory(received) }
    }

    /// The sink another process runs, if the test command started one.
    pub fn external() -> Option<Self> {
        let path = std::env::var_os("TUI_TEST_MAIL_LOG")?;
        Some(Self { url: String::new(), received: Received::File(path.into()) })
    }

    /// The mail sent to `to` whose subject mentions `topic`, oldest first.
    pub fn about(&self, to: &str, topic: &str) -> Vec<Value> {
        self.to(to).into_iter().filter(|m| m["subject"].as_str().is_some_and(|s| s.contains(topic))).collect()
    }

    /// Every mail sent to `to`, oldest first.
    pub fn to(&self, to: &str) -> Vec<Value> {
        let all: Vec<Value> = match &self.received {
            Received::Memory(received) => received.lock().expect("not poisoned").clone(),
            Received::File(path) => {
                std::fs::read_to_string(path).unwrap_or_default().lines().filter_map(|line| serde_json::from_str(line).ok()).collect()
            }
        };
        all.into_iter().filter(|m| m["to"][0] == to).collect()
    }
}

async fn receive(State(received): State<Arc<Mutex<Vec<Value>>>>, headers: HeaderMap, Json(mail): Json<Value>) -> StatusCode {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {KEY}")) {
        return StatusCode::UNAUTHORIZED;
    }
    received.lock().expect("not poisoned").push(mail);
    StatusCode::ACCEPTED
}
