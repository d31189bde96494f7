//! The workflows benchmark, against any host (scripts/bench.sh runs it natively and under
//! `wrangler dev`):
//!   - fan-out: one run of STEPS `sleep 0` steps that need nothing, so all are runnable at once;
//!     from the run's start (its 202) to the run's end as the host reports it (`finished_at`,
//!     the host's clock, which on one machine is this one's), in steps per second;
//!   - latency: one run of a chain of CHAIN `sleep 0` steps, each needing the one before; the
//!     time from one step's end to the next one's end (`finished_at`) is what the engine adds
//!     per step (claim, start, run, settle, queue the next), reported as p50 and the mean.
//!
//! Usage: workflows-bench BASE_URL [STEPS, default 1000] [CHAIN, default 50]

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tui_blackbox::bench::{call, register};

fn millis(text: &Value) -> i64 {
    tui_shared::time::to_unix_ms(tui_shared::time::parse(text.as_str().expect("a time")).expect("RFC 3339"))
}

/// Starts a run of `steps` and waits for its end; the run as it ended, and when it started.
async fn run(http: &reqwest::Client, base: &str, token: &str, project: &str, steps: Vec<Value>) -> (Value, i64) {
    let post = reqwest::Method::POST;
    let definition = call(
        http,
        post.clone(),
        format!("{base}/v1/projects/{project}/workflows"),
        Some(token),
        Some(json!({"name": "bench", "steps": steps})),
    )
    .await;
    let id = definition["id"].as_str().unwrap();
    let started = call(http, post, format!("{base}/v1/workflows/{id}/runs"), Some(token), Some(json!({}))).await;
    let run = started["id"].as_str().unwrap().to_owned();
    let began = millis(&started["created_at"]);
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let body = call(http, reqwest::Method::GET, format!("{base}/v1/runs/{run}"), Some(token), None).await;
        if body["status"] != "running" {
            assert_eq!(body["status"], "completed", "{body}");
            return (body, began);
        }
        assert!(Instant::now() < deadline, "the run did not end in 10 minutes");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let base = args.next().expect("usage: workflows-bench BASE_URL [STEPS] [CHAIN]").trim_end_matches('/').to_owned();
    let steps: usize = args.next().map_or(1000, |n| n.parse().expect("STEPS is a number"));
    let chain: usize = args.next().map_or(50, |n| n.parse().expect("CHAIN is a number"));
    let http = reqwest::Client::new();
    let (_, token) = register(&http, &base, "wf").await;
    let project = call(&http, reqwest::Method::POST, format!("{base}/v1/projects"), Some(&token), Some(json!({"name": "bench"}))).await;
    let project = project["id"].as_str().unwrap().to_owned();

    let fan: Vec<Value> = (0..steps).map(|i| json!({"key": format!("s{i}"), "kind": "sleep", "input": {"seconds": 0}})).collect();
    let (done, began) = run(&http, &base, &token, &project, fan).await;
    let took = (millis(&done["finished_at"]) - began).max(1) as f64 / 1000.0;
    println!("workflows, {steps}-step fan-out: {took:.2} s, {:.0} steps/s", steps as f64 / took);

    let line: Vec<Value> = (0..chain)
        .map(|i| {
            let needs: Vec<String> = if i == 0 { vec![] } else { vec![format!("s{}", i - 1)] };
            json!({"key": format!("s{i}"), "kind": "sleep", "needs": needs, "input": {"seconds": 0}})
        })
        .collect();
    let (done, began) = run(&http, &base, &token, &project, line).await;
    let mut ends: Vec<i64> = done["steps"].as_array().unwrap().iter().map(|s| millis(&s["finished_at"])).collect();
    ends.sort_unstable();
    let mut gaps: Vec<i64> = std::iter::once(ends[0] - began).chain(ends.windows(2).map(|w| w[1] - w[0])).collect();
    let mean = gaps.iter().sum::<i64>() as f64 / gaps.len() as f64;
    gaps.sort_unstable();
    println!("workflows, {chain}-step chain: per step p50 {} ms, mean {mean:.1} ms, max {} ms", gaps[gaps.len() / 2], gaps[gaps.len() - 1]);
}
