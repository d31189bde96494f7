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

/// What the fan-out benchmarks (`realtime-bench`, and `fanout-floor`, its physical limit) share:
/// how a subscriber's socket is opened and read, and how arrivals are reported.
pub mod fanout {
    use std::time::{Duration, Instant};

    use futures::StreamExt;
    use tokio::{net::TcpStream, sync::mpsc::UnboundedSender};
    use tokio_tungstenite::{
        MaybeTlsStream, WebSocketStream,
        tungstenite::{Message, protocol::WebSocketConfig},
    };

    pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

    /// One event's arrival: its change's number, when it arrived (since the run's start) and how
    /// long after the time it was logged with.
    pub type Arrival = (usize, Duration, Duration);

    /// Opens a subscriber's socket. tungstenite zeroes its read buffer's spare room before every
    /// read (128 KiB by default): a cost of this client's, not of the server's, so the buffer is
    /// kept to the size of an event.
    pub async fn open(url: &str) -> Socket {
        let config = WebSocketConfig::default().read_buffer_size(4096);
        tokio_tungstenite::connect_async_with_config(url, Some(config), false).await.expect("a socket").0
    }

    /// Reads a socket's events until it ends, sending each arrival of a change numbered below
    /// `changes` (its task's title) to `arrivals`. Each is read without parsing its JSON, so that
    /// the client costs as little as it can beside the server on the same cores.
    pub async fn read(mut socket: Socket, start: Instant, changes: usize, arrivals: UnboundedSender<Arrival>) {
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else { continue };
            let now = start.elapsed();
            let wall = tui_shared::time::Timestamp::now_utc();
            let logged = text.split(r#""ts":""#).nth(1).and_then(|rest| rest.split('"').next()).and_then(tui_shared::time::parse);
            let since_logged = logged.map_or(Duration::ZERO, |at| Duration::try_from(wall - at).unwrap_or(Duration::ZERO));
            let Some(seq) = text.split(r#""title":""#).nth(1).and_then(|rest| rest.split('"').next()).and_then(|t| t.parse::<usize>().ok())
            else {
                continue;
            };
            if seq < changes {
                let _ = arrivals.send((seq, now, since_logged));
            }
        }
    }

    fn percentile(sorted: &[Duration], p: f64) -> Duration {
        sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
    }

    /// Prints p50/p95/p99 and the maximum of `latencies`, as `realtime WHAT: ...`.
    pub fn report(what: &str, latencies: &mut [Duration]) {
        if latencies.is_empty() {
            return;
        }
        latencies.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "realtime {what}: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            ms(percentile(latencies, 0.50)),
            ms(percentile(latencies, 0.95)),
            ms(percentile(latencies, 0.99)),
            ms(*latencies.last().unwrap())
        );
    }
}
