//! The tasks group's benchmark, over HTTP against any host (scripts/bench.sh runs it natively and
//! under `wrangler dev`). One client, one request at a time, so each figure is what a request
//! costs, not what a queue adds:
//!   - creating 1,000 tasks in batches of 100, each task requiring one or two earlier ones;
//!   - on a project of 10,000 tasks, filtered and sorted lists and full-text searches;
//!   - the cycle check on a 1,000-edge chain: a dependency that would close the cycle (refused,
//!     the whole chain walked and named) and one that would not (the whole chain walked).
//!
//! Usage: tasks-bench BASE_URL [ROUNDS, default 50]. Prints one line per figure.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the host answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, body) = self.send(reqwest::Method::POST, path, Some(body)).await;
        assert!(status < 300, "POST {path}: {status} {body}");
        body
    }

    /// Runs `call` `rounds` times and reports the median and the 95th percentile.
    async fn timed<F, Fut>(&self, what: &str, rounds: usize, mut call: F)
    where
        F: FnMut(usize) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let mut times = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let started = Instant::now();
            call(round).await;
            times.push(started.elapsed());
        }
        times.sort();
        let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).saturating_sub(1).min(times.len() - 1)];
        println!("{what}: p50 {:.1} ms, p95 {:.1} ms ({rounds} requests)", ms(at(0.5)), ms(at(0.95)));
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

const WORDS: &[&str] = &["parser", "deploy", "render", "cache", "schema", "router", "login", "backup", "metrics", "search"];
const LABELS: &[&str] = &["backend", "frontend", "ops", "docs", "bug", "perf"];
const PRIORITIES: &[&str] = &["low", "medium", "high", "critical"];

/// A batch of `n` tasks named from `start`, each requiring the one `lag` before it in the batch.
fn batch(start: usize, n: usize, lag: usize) -> Value {
    let tasks: Vec<Value> = (0..n)
        .map(|i| {
            let k = start + i;
            let mut task = json!({
                "key": format!("t{i}"),
                "title": format!("{} the {} module {k}", WORDS[k % WORDS.len()], WORDS[(k / 7) % WORDS.len()]),
                "description": format!("Step {k}: {} and {}", WORDS[(k / 3) % WORDS.len()], WORDS[(k / 11) % WORDS.len()]),
                "priority": PRIORITIES[k % PRIORITIES.len()],
                "labels": [LABELS[k % LABELS.len()], LABELS[(k / 5) % LABELS.len()]],
                "due_at": format!("2027-{:02}-{:02}T00:00:00Z", 1 + k % 12, 1 + k % 28),
            });
            if lag > 0 && i >= lag {
                task["depends_on"] = json!([{"key": format!("t{}", i - lag)}]);
            }
            task
        })
        .collect();
    json!({"tasks": tasks})
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let base = args.next().expect("usage: tasks-bench BASE_URL [ROUNDS]");
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(50);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().expect("a client");
    let name = format!("bench{}", uuid::Uuid::now_v7().simple());
    let registered = http
        .post(format!("{base}/v1/auth/register"))
        .json(&json!({"email": format!("{name}@example.com"), "username": &name[..32], "password": "violet-staple-orbit-42"}))
        .send()
        .await
        .expect("the host answers")
        .json::<Value>()
        .await
        .expect("tokens");
    let token = registered["tokens"]["access_token"].as_str().or(registered["access_token"].as_str()).expect("a token").to_owned();
    let client = Client { http, base, token };
    let project = |name: &'static str| {
        let client = &client;
        async move { client.post("/v1/projects", json!({"name": name})).await["id"].as_str().expect("an id").to_owned() }
    };

    let created = project("created").await;
    let started = Instant::now();
    client
        .timed("create 1,000 tasks in batches of 100, per batch", 10, |round| {
            let (client, path) = (&client, format!("/v1/projects/{created}/tasks/batch"));
            async move {
                client.post(&path, batch(round * 100, 100, 1)).await;
            }
        })
        .await;
    println!("create 1,000 tasks in batches of 100: {:.0} ms in all", ms(started.elapsed()));

    let big = project("ten thousand").await;
    let started = Instant::now();
    for round in 0..20 {
        client.post(&format!("/v1/projects/{big}/tasks/batch"), batch(round * 500, 500, 7)).await;
    }
    println!("seed 10,000 tasks in batches of 500: {:.0} ms in all", ms(started.elapsed()));
    let queries = [
        ("status=ready&sort=priority&limit=50", "list, status filter, by priority"),
        ("label=ops&priority=high&limit=50", "list, label and priority filters"),
        ("due_before=2027-03-01T00:00:00Z&sort=due_at&limit=50", "list, due before, by due date"),
        ("sort=-updated_at&limit=100", "list, newest changes first, 100"),
        ("q=parser&limit=50", "search, one word"),
        ("q=deploy%20cache&label=backend&sort=priority&limit=50", "search, two words and a label"),
    ];
    for (query, what) in queries {
        let path = format!("/v1/projects/{big}/tasks?{query}");
        client
            .timed(&format!("{what}, 10,000 tasks"), rounds, |_| {
                let (client, path) = (&client, path.clone());
                async move {
                    let (status, body) = client.send(reqwest::Method::GET, &path, None).await;
                    assert_eq!(status, 200, "{path}: {body}");
                }
            })
            .await;
    }

    // A chain of 1,001 tasks, each requiring the one before: 1,000 edges.
    let chain = project("chain").await;
    let mut ids: Vec<String> = Vec::new();
    for part in 0..3 {
        let size = if part < 2 { 500 } else { 1 };
        let mut body = batch(part * 500, size, 1);
        if let Some(last) = ids.last() {
            body["tasks"][0]["depends_on"] = json!([{"task_id": last}]);
        }
        let items = client.post(&format!("/v1/projects/{chain}/tasks/batch"), body).await;
        ids.extend(items["items"].as_array().expect("items").iter().map(|t| t["id"].as_str().expect("an id").to_owned()));
    }
    let (first, last) = (ids[0].clone(), ids[ids.len() - 1].clone());
    client
        .timed("cycle check on a 1,000-edge chain, refused (cycle named)", rounds, |_| {
            let (client, path, last) = (&client, format!("/v1/tasks/{first}/dependencies"), last.clone());
            async move {
                let (status, body) = client.send(reqwest::Method::POST, &path, Some(json!({"depends_on": last}))).await;
                assert_eq!(status, 409, "{body}");
            }
        })
        .await;
    let loose: Vec<Value> = (0..rounds).map(|i| json!({"title": format!("loose end {i}")})).collect();
    let loose = client.post(&format!("/v1/projects/{chain}/tasks/batch"), json!({"tasks": loose})).await;
    let loose: Vec<String> =
        loose["items"].as_array().expect("items").iter().map(|t| t["id"].as_str().expect("an id").to_owned()).collect();
    client
        .timed("cycle check on a 1,000-edge chain, accepted", rounds, |round| {
            let (client, path, last) = (&client, format!("/v1/tasks/{}/dependencies", loose[round]), last.clone());
            async move {
                let (status, body) = client.send(reqwest::Method::POST, &path, Some(json!({"depends_on": last}))).await;
                assert_eq!(status, 201, "{body}");
            }
        })
        .await;
}
