//! The swarms benchmark, against any host whose Claude is the fake Messages API (scripts/bench.sh
//! starts `fake-claude` and points the hosts at it): what the coordinator and the engine add per
//! subtask, Claude's own time taken out.
//!
//! ROUNDS orchestrations of SUBTASKS subtasks in sequence (each waiting for the one before, so
//! every part is on the critical path) in a mesh swarm of eight agents. For each, from the start
//! of its plan step to its end as the host reports them, less the latency of every call to Claude
//! (recorded by the host), divided by its parts (plan, subtasks, synthesis): the overhead per
//! part, reported as p50 and mean over the rounds; and apart, how long the first step waited to
//! be picked up after the 202 (natively a wake of the worker pool, on Workers a queue message,
//! which the consumer receives in batches).
//!
//! Usage: swarms-bench BASE_URL [SUBTASKS, default 12] [ROUNDS, default 5]

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tui_blackbox::bench::{call, post, register};

fn millis(text: &Value) -> i64 {
    tui_shared::time::to_unix_ms(tui_shared::time::parse(text.as_str().expect("a time")).expect("RFC 3339"))
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let base = args.next().expect("usage: swarms-bench BASE_URL [SUBTASKS] [ROUNDS]").trim_end_matches('/').to_owned();
    let subtasks: usize = args.next().map_or(12, |n| n.parse().expect("SUBTASKS is a number"));
    let rounds: usize = args.next().map_or(5, |n| n.parse().expect("ROUNDS is a number"));
    let http = reqwest::Client::new();
    let (_, token) = register(&http, &base, "sw").await;
    let project = post(&http, format!("{base}/v1/projects"), Some(&token), json!({"name": "bench"})).await;
    let body = json!({"project_id": project["id"], "topology": "mesh", "max_agents": 8});
    let swarm = post(&http, format!("{base}/v1/swarms"), Some(&token), body).await;
    let swarm = swarm["id"].as_str().unwrap().to_owned();
    post(&http, format!("{base}/v1/swarms/{swarm}/scale"), Some(&token), json!({"target_size": 8})).await;
    let kinds = vec!["code"; subtasks].join(",");
    let (mut per_part, mut pickup) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let task = format!("Benchmark round {round} [fake:kinds={kinds}] {}", uuid::Uuid::now_v7());
        let started =
            post(&http, format!("{base}/v1/swarms/{swarm}/orchestrate"), Some(&token), json!({"task": task, "strategy": "sequential"}))
                .await;
        let id = started["id"].as_str().unwrap().to_owned();
        let deadline = Instant::now() + Duration::from_secs(600);
        let done = loop {
            let body = call(&http, reqwest::Method::GET, format!("{base}/v1/orchestrations/{id}"), Some(&token), None).await;
            if ["completed", "failed", "cancelled"].contains(&body["status"].as_str().unwrap_or_default()) {
                assert_eq!(body["status"], "completed", "{body}");
                break body;
            }
            assert!(Instant::now() < deadline, "the orchestration did not end in 10 minutes");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let run = call(&http, reqwest::Method::GET, format!("{base}/v1/runs/{id}"), Some(&token), None).await;
        let plan = run["steps"].as_array().unwrap().iter().find(|s| s["key"] == "plan").expect("a plan step");
        let began = millis(&plan["started_at"]);
        pickup.push(began - millis(&done["created_at"]));
        let took = millis(&done["finished_at"]) - began;
        let claude: i64 = done["calls"].as_array().unwrap().iter().map(|c| c["latency_ms"].as_i64().unwrap()).sum();
        let parts = done["subtasks"].as_array().unwrap().len() + 1;
        per_part.push((took - claude) as f64 / parts as f64);
    }
    pickup.sort_unstable();
    let mean = per_part.iter().sum::<f64>() / per_part.len() as f64;
    per_part.sort_by(f64::total_cmp);
    println!(
        "swarms, {subtasks} subtasks in sequence: overhead per part p50 {:.1} ms, mean {mean:.1} ms (Claude's time taken out); \
         first step picked up after p50 {} ms",
        per_part[per_part.len() / 2],
        pickup[pickup.len() / 2]
    );
}
