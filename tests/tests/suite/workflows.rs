//! Workflows: definitions and their checks, runs of a DAG passing outputs along, retries with
//! backoff, timeouts, events, pause/resume/cancel, versions, the guard on `http` targets, task
//! steps, progress on the event log, workers shared fairly between users, run starts limited
//! per user, and (natively) a host killed mid-step.

use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use tui_blackbox::{HostProcess, Server, TEST_TICK_SECRET, User, realtime::Socket, sink::HttpSink};

async fn workflow(server: &Server, user: &User, project: &str, steps: Value) -> Value {
    let reply = server.post(&format!("/v1/projects/{project}/workflows"), Some(&user.token), json!({"name": "flow", "steps": steps})).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body
}

async fn start(server: &Server, user: &User, workflow: &str, input: Value) -> Value {
    let reply = server.post(&format!("/v1/workflows/{workflow}/runs"), Some(&user.token), json!({"input": input})).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    reply.body
}

async fn read(server: &Server, user: &User, run: &str) -> Value {
    let reply = server.get(&format!("/v1/runs/{run}"), Some(&user.token)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// The run once `done` holds of it, within `limit`.
async fn until(server: &Server, user: &User, run: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let body = read(server, user, run).await;
        if done(&body) {
            return body;
        }
        assert!(started.elapsed() < limit, "the run did not get there in {limit:?}: {body:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn finished(server: &Server, user: &User, run: &str, limit: Duration) -> Value {
    until(server, user, run, limit, |r| ["completed", "failed", "cancelled"].contains(&r["status"].as_str().unwrap_or_default())).await
}

fn step<'a>(run: &'a Value, key: &str) -> &'a Value {
    run["steps"].as_array().unwrap().iter().find(|s| s["key"] == key).unwrap_or_else(|| panic!("no step {key} in {run}"))
}

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_diamond_of_ten_steps_runs_to_the_end_passing_outputs_along() {
    let (server, sink) = (Server::start().await, HttpSink::start().await);
    let me = server.user().await;
    let project = server.project(&me, "diamond").await;
    let echo = format!("{}/echo", sink.url);
    let mut steps =
        vec![json!({"key": "build", "kind": "http", "input": {"url": echo, "body": {"artifact": "app.tar", "by": {"$input": "/who"}}}})];
    for i in 0..8 {
        steps.push(json!({
            "key": format!("test{i}"), "kind": "http", "needs": ["build"],
            "input": {"url": echo, "body": {"shard": i, "artifact": {"$step": "build", "path": "/body/body/artifact"}}}
        }));
    }
    let shards: Vec<Value> = (0..8).map(|i| json!({"$step": format!("test{i}"), "path": "/body/body/shard"})).collect();
    let needs: Vec<String> = (0..8).map(|i| format!("test{i}")).collect();
    steps.push(json!({"key": "release", "kind": "http", "needs": needs, "input": {"url": echo, "body": {"shards": shards}}}));
    let definition = workflow(&server, &me, &project, json!(steps)).await;
    let run = start(&server, &me, &id(&definition), json!({"who": "ada"})).await;
    assert_eq!(run["status"], "running");
    assert_eq!(run["steps"].as_array().unwrap().len(), 10);
    assert_eq!(step(&run, "release")["state"], "waiting");

    let run = finished(&server, &me, &id(&run), Duration::from_secs(30)).await;
    assert_eq!(run["status"], "completed", "{run:#}");
    assert!(run["finished_at"].is_string());
    assert_eq!(step(&run, "build")["output"]["body"]["body"], json!({"artifact": "app.tar", "by": "ada"}));
    assert_eq!(step(&run, "test3")["output"]["body"]["body"], json!({"shard": 3, "artifact": "app.tar"}));
    assert_eq!(step(&run, "release")["output"]["body"]["body"]["shards"], json!([0, 1, 2, 3, 4, 5, 6, 7]));
    for s in run["steps"].as_array().unwrap() {
        assert_eq!((s["state"].as_str(), s["attempt"].as_i64()), (Some("completed"), Some(1)), "{s}");
    }
    // Each step's call had its effect once, with its attempt's key.
    assert_eq!(sink.effects(&id(&run)), 10);
    assert_eq!(sink.calls(&format!("{}/release/1", id(&run))).len(), 1);
    let listed = server.get(&format!("/v1/workflows/{}/runs?status=completed", id(&definition)), Some(&me.token)).await;
    assert_eq!(listed.body["items"][0]["id"], run["id"], "{}", listed.body);
}

#[tokio::test]
async fn a_step_that_fails_twice_succeeds_on_its_third_attempt_after_growing_delays() {
    let (server, sink) = (Server::start().await, HttpSink::start().await);
    let me = server.user().await;
    let project = server.project(&me, "flaky").await;
    let steps = json!([{
        "key": "call", "kind": "http", "input": {"url": format!("{}/flaky/2", sink.url), "method": "POST", "body": {}},
        "retry": {"limit": 3, "backoff": "exponential", "delay_s": 0.5}
    }]);
    let definition = workflow(&server, &me, &project, steps).await;
    let run = start(&server, &me, &id(&definition), json!({})).await;
    let run = finished(&server, &me, &id(&run), Duration::from_secs(30)).await;
    assert_eq!(run["status"], "completed", "{run:#}");
    assert_eq!(step(&run, "call")["attempt"], 3);
    let calls = sink.calls(&id(&run));
    let keys: Vec<String> = calls.iter().map(|c| c.key.clone().unwrap()).collect();
    let prefix = format!("{}/call", id(&run));
    assert_eq!(keys, [format!("{prefix}/1"), format!("{prefix}/2"), format!("{prefix}/3")]);
    // 0.5 s then 1 s, each within the 15 % jitter, with slack for scheduling (a queue
    // consumer's batch wait on workerd).
    let first = calls[1].at - calls[0].at;
    let second = calls[2].at - calls[1].at;
    let slack = if Server::is_native() { 0.35 } else { 1.5 };
    assert!(first.as_secs_f64() >= 0.42 && first.as_secs_f64() <= 0.58 + slack, "first delay {first:?}");
    assert!(second.as_secs_f64() >= 0.85 && second.as_secs_f64() <= 1.15 + slack, "second delay {second:?}");
}

#[tokio::test]
async fn an_attempt_that_outlasts_its_timeout_fails_and_fails_the_run() {
    let (server, sink) = (Server::start().await, HttpSink::start().await);
    let me = server.user().await;
    let project = server.project(&me, "slow").await;
    let steps = json!([
        {"key": "slow", "kind": "http", "timeout_s": 1, "input": {"url": format!("{}/slow/5000", sink.url)}},
        {"key": "after", "kind": "sleep", "needs": ["slow"], "input": {"seconds": 0}},
    ]);
    let definition = workflow(&server, &me, &project, steps).await;
    let started = Instant::now();
    let run = start(&server, &me, &id(&definition), json!({})).await;
    let run = finished(&server, &me, &id(&run), Duration::from_secs(20)).await;
    assert!(started.elapsed() < Duration::from_secs(5), "the timeout took {:?}", started.elapsed());
    assert_eq!(run["status"], "failed");
    assert!(step(&run, "slow")["error"].as_str().unwrap().contains("timed out"), "{run:#}");
    assert_eq!(step(&run, "slow")["state"], "failed");
    assert_eq!(step(&run, "after")["state"], "cancelled");
    assert!(run["error"].as_str().unwrap().starts_with("step slow failed"), "{run:#}");
}

#[tokio::test]
async fn an_event_releases_a_waiting_step_and_a_wait_without_one_times_out() {
    let server = Server::start().await;
    let me = server.user().await;
    let project = server.project(&me, "approval").await;
    let steps = json!([
        {"key": "approve", "kind": "wait_event", "input": {"name": "approved"}},
        {"key": "ship", "kind": "sleep", "needs": ["approve"], "input": {"seconds": {"$step": "approve", "path": "/payload/wait"}}},
    ]);
    let definition = workflow(&server, &me, &project, steps).await;
    let run = id(&start(&server, &me, &id(&definition), json!({})).await);
    until(&server, &me, &run, Duration::from_secs(10), |r| step(r, "approve")["state"] == "running").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(read(&server, &me, &run).await["status"], "running");
    let other = server.post(&format!("/v1/runs/{run}/events"), Some(&me.token), json!({"name": "rejected"})).await;
    assert_eq!(other.status, 202, "{}", other.body);
    let approved =
        server.post(&format!("/v1/runs/{run}/events"), Some(&me.token), json!({"name": "approved", "payload": {"wait": 0.1}})).await;
    assert_eq!(approved.status, 202, "{}", approved.body);
    let done = finished(&server, &me, &run, Duration::from_secs(20)).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    assert_eq!(step(&done, "approve")["output"], json!({"name": "approved", "payload": {"wait": 0.1}}));
    assert_eq!(step(&done, "ship")["output"], json!({"slept_s": 0.1}));
    // A run that has ended takes no more events.
    server.post(&format!("/v1/runs/{run}/events"), Some(&me.token), json!({"name": "approved"})).await.problem(409, "conflict");

    let waits = json!([{"key": "wait", "kind": "wait_event", "timeout_s": 1, "input": {"name": "never"}}]);
    let lonely = workflow(&server, &me, &project, waits).await;
    let run = id(&start(&server, &me, &id(&lonely), json!({})).await);
    let done = finished(&server, &me, &run, Duration::from_secs(20)).await;
    assert_eq!(done["status"], "failed");
    assert!(step(&done, "wait")["error"].as_str().unwrap().contains("timed out"), "{done:#}");
}

#[tokio::test]
async fn a_run_carries_all_its_steps_which_a_definition_caps_at_a_thousand() {
    let server = Server::start().await;
    let me = server.user().await;
    let project = server.project(&me, "wide").await;
    let steps =
        |n: usize| Value::Array((0..n).map(|i| json!({"key": format!("s{i}"), "kind": "sleep", "input": {"seconds": 60}})).collect());
    let path = format!("/v1/projects/{project}/workflows");
    let reply = server.post(&path, Some(&me.token), json!({"name": "too wide", "steps": steps(1001)})).await;
    reply.problem(422, "validation_failed");
    assert_eq!(reply.field(), "steps");
    let definition = workflow(&server, &me, &project, steps(1000)).await;
    let run = id(&start(&server, &me, &id(&definition), json!({})).await);
    let read = read(&server, &me, &run).await;
    let keys: Vec<&str> = read["steps"].as_array().unwrap().iter().map(|s| s["key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), 1000);
    assert_eq!((keys[0], keys[999]), ("s0", "s999"));
    assert_eq!(server.post(&format!("/v1/runs/{run}/cancel"), Some(&me.token), json!({})).await.status, 200);
}

#[tokio::test]
async fn a_run_holds_at_most_a_thousand_events_even_when_they_arrive_at_once() {
    let server = Server::start().await;
    let me = server.user().await;
    let project = server.project(&me, "chatty").await;
    let definition = workflow(&server, &me, &project, json!([{"key": "wait", "kind": "wait_event", "input": {"name": "go"}}])).await;
    let run = id(&start(&server, &me, &id(&definition), json!({})).await);
    let path = format!("/v1/runs/{run}/events");
    let deliveries = futures::stream::iter(0..1010)
        .map(|i| server.post(&path, Some(&me.token), json!({"name": format!("noise-{i}")})))
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let accepted = deliveries.iter().filter(|reply| reply.status == 202).count();
    let full: Vec<_> = deliveries.iter().filter(|reply| reply.status != 202).collect();
    assert_eq!(accepted, 1000, "{:?}", full.first().map(|reply| &reply.body));
    for reply in &full {
        reply.problem(409, "conflict");
        assert!(reply.body["detail"].as_str().unwrap().contains("1000 events"), "{}", reply.body);
    }
    // The event the step waits for finds no room either: the run keeps waiting until steered.
    server.post(&path, Some(&me.token), json!({"name": "go"})).await.problem(409, "conflict");
    until(&server, &me, &run, Duration::from_secs(10), |r| step(r, "wait")["state"] == "running").await;
    assert_eq!(server.post(&format!("/v1/runs/{run}/cancel"), Some(&me.token), json!({})).await.status, 200);
    let ended = server.post(&path, Some(&me.token), json!({"name": "go"})).await;
    ended.problem(409, "conflict");
    assert_eq!(ended.body["detail"], "The run is cancelled.");
}

#[tokio::test]
async fn a_paused_run_starts_nothing_new_until_resumed_and_a_cancelled_one_stops() {
    let server = Server::start().await;
    let me = server.user().await;
    let project = server.project(&me, "steer").await;
    let steps = json!([
        {"key": "first", "kind": "sleep", "input": {"seconds": 1}},
        {"key": "second", "kind": "sleep", "needs": ["first"], "input": {"seconds": 0}},
    ]);
    let definition = workflow(&server, &me, &project, steps).await;
    let run = id(&start(&server, &me, &id(&definition), json!({})).await);
    until(&server, &me, &run, Duration::from_secs(10), |r| step(r, "first")["state"] == "running").await;
    let paused = server.post(&format!("/v1/runs/{run}/pause"), Some(&me.token), json!({})).await;
    assert_eq!((paused.status.as_u16(), paused.body["status"].as_str()), (200, Some("paused")), "{}", paused.body);
    server.post(&format!("/v1/runs/{run}/pause"), Some(&me.token), json!({})).await.problem(409, "conflict");
    // The running step finishes; the next one is ready but does not start.
    let held = until(&server, &me, &run, Duration::from_secs(10), |r| step(r, "first")["state"] == "completed").await;
    assert_eq!(step(&held, "second")["state"], "ready");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let held = read(&server, &me, &run).await;
    assert_eq!((held["status"].as_str(), step(&held, "second")["state"].as_str()), (Some("paused"), Some("ready")), "{held:#}");
    let resumed = server.post(&format!("/v1/runs/{run}/resume"), Some(&me.token), json!({})).await;
    assert_eq!(resumed.body["status"], "running", "{}", resumed.body);
    assert_eq!(finished(&server, &me, &run, Duration::from_secs(20)).await["status"], "completed");

    let waits = json!([
        {"key": "wait", "kind": "wait_event", "input": {"name": "go"}},
        {"key": "then", "kind": "sleep", "needs": ["wait"], "input": {"seconds": 0}},
    ]);
    let waiting = workflow(&server, &me, &project, waits).await;
    let run = id(&start(&server, &me, &id(&waiting), json!({})).await);
    let cancelled = server.post(&format!("/v1/runs/{run}/cancel"), Some(&me.token), json!({})).await;
    assert_eq!(cancelled.body["status"], "cancelled", "{}", cancelled.body);
    assert!(cancelled.body["steps"].as_array().unwrap().iter().all(|s| s["state"] == "cancelled"), "{}", cancelled.body);
    server.post(&format!("/v1/runs/{run}/cancel"), Some(&me.token), json!({})).await.problem(409, "conflict");
    server.post(&format!("/v1/runs/{run}/resume"), Some(&me.token), json!({})).await.problem(409, "conflict");
    let listed = server.get(&format!("/v1/workflows/{}/runs?status=cancelled", id(&waiting)), Some(&me.token)).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1, "{}", listed.body);
}

#[tokio::test]
async fn a_paused_run_makes_no_retry_until_resumed() {
    let (server, sink) = (Server::start().await, HttpSink::start().await);
    let me = server.user().await;
    let project = server.project(&me, "pause-retries").await;
    let steps = json!([{
        "key": "call", "kind": "http", "input": {"url": format!("{}/flaky/1", sink.url)},
        "retry": {"limit": 2, "backoff": "constant", "delay_s": 1}
    }]);
    let definition = workflow(&server, &me, &project, steps).await;
    let run = id(&start(&server, &me, &id(&definition), json!({})).await);
    until(&server, &me, &run, Duration::from_secs(10), |r| step(r, "call")["attempt"] == 2).await;
    server.post(&format!("/v1/runs/{run}/pause"), Some(&me.token), json!({})).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(sink.calls(&run).len(), 1, "a retry was made while paused");
    server.post(&format!("/v1/runs/{run}/resume"), Some(&me.token), json!({})).await;
    let done = finished(&server, &me, &run, Duration::from_secs(20)).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    assert_eq!(sink.calls(&run).len(), 2);
}

#[tokio::test]
async fn a_run_keeps_the_version_it_started_with_after_an_edit() {
    let (server, sink) = (Server::start().await, HttpSink::start().await);
    let me = server.user().await;
    let project = server.project(&me, "versions").await;
    let version = |n: u32| {
        json!([
            {"key": "gate", "kind": "wait_event", "input": {"name": "go"}},
            {"key": "call", "kind": "http", "needs": ["gate"], "input": {"url": format!("{}/echo", sink.url), "body": {"version": n}}},
        ])
    };
    let definition = workflow(&server, &me, &project, version(1)).await;
    let first = id(&start(&server, &me, &id(&definition), json!({})).await);
    let edited =
        server.call(Method::PUT, &format!("/v1/workflows/{}", id(&definition)), Some(&me.token), Some(json!({"steps": version(2)}))).await;
    assert_eq!((edited.status.as_u16(), edited.body["version"].as_i64()), (200, Some(2)), "{}", edited.body);
    let second = id(&start(&server, &me, &id(&definition), json!({})).await);
    for run in [&first, &second] {
        server.post(&format!("/v1/runs/{run}/events"), Some(&me.token), json!({"name": "go"})).await;
    }
    let first = finished(&server, &me, &first, Duration::from_secs(20)).await;
    let second = finished(&server, &me, &second, Duration::from_secs(20)).await;
    assert_eq!((first["version"].as_i64(), second["version"].as_i64()), (Some(1), Some(2)));
    assert_eq!(step(&first, "call")["output"]["body"]["body"], json!({"version": 1}));
    assert_eq!(step(&second, "call")["output"]["body"]["body"], json!({"version": 2}));
    // An edit meant for an older version is refused.
    let stale = server
        .raw(
            Method::PUT,
            &format!("/v1/workflows/{}", id(&definition)),
            &[("authorization", &format!("Bearer {}", me.token)), ("content-type", "application/json"), ("if-match", "\"1\"")],
            Some(json!({"steps": version(3)}).to_string().into_bytes()),
        )
        .await;
    stale.problem(412, "precondition_failed");
}

#[tokio::test]
async fn http_steps_may_not_reach_private_addresses() {
    let server = Server::start().await;
    let me = server.user().await;
    let project = server.project(&me, "ssrf").await;
    for url in [
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/",
        "http://[::1]:8080/",
        "http://2130706434/",
        "http://0.0.0.0:1/",
        "http://192.168.1.1/",
    ] {
        let steps = json!([{"key": "peek", "kind": "http", "input": {"url": url}}]);
        let reply = server.post(&format!("/v1/projects/{project}/workflows"), Some(&me.token), json!({"name": "x", "steps": steps})).await;
        reply.problem(422, "validation_failed");
        assert_eq!(reply.field(), "steps[0].input.url", "{url}: {}", reply.body);
    }
    // A URL that only the run's input names is checked when the step runs: the step fails
    // for good, without retries.
    let steps = json!([{"key": "peek", "kind": "http", "retry": {"limit": 3, "delay_s": 0}, "input": {"url": {"$input": "/target"}}}]);
    let definition = workflow(&server, &me, &project, steps).await;
    let run = id(&start(&server, &me, &id(&definition), json!({"target": "http://169.254.169.254/latest/meta-data"})).await);
    let run = finished(&server, &me, &run, Duration::from_secs(20)).await;
    assert_eq!(run["status"], "failed");
    assert_eq!(step(&run, "peek")["attempt"], 1);
    assert!(step(&run, "peek")["error"].as_str().unwrap().contains("169.254.169.254"), "{run:#}");
}

#[tokio::test]
async fn definitions_are_checked_and_roles_decide_who_defines_and_who_runs() {
    let server = Server::start().await;
    let (owner, contributor, viewer, outsider) = (server.user().await, server.user().await, server.user().await, server.user().await);
    let project = server.project(&owner, "roles").await;
    server.add_member(&owner, &project, &contributor, "contributor").await;
    server.add_member(&owner, &project, &viewer, "viewer").await;
    let create = |user: &User, steps: Value| {
        let (server, token) = (&server, user.token.clone());
        let path = format!("/v1/projects/{project}/workflows");
        async move { server.post(&path, Some(&token), json!({"name": "w", "steps": steps})).await }
    };
    let cycle = create(
        &owner,
        json!([
            {"key": "a", "kind": "sleep", "needs": ["c"], "input": {"seconds": 0}},
            {"key": "b", "kind": "sleep", "needs": ["a"], "input": {"seconds": 0}},
            {"key": "c", "kind": "sleep", "needs": ["b"], "input": {"seconds": 0}},
        ]),
    )
    .await;
    cycle.problem(409, "conflict");
    assert!(cycle.body["detail"].as_str().unwrap().contains("a -> c -> b -> a"), "{}", cycle.body);
    let unknown = create(&owner, json!([{"key": "a", "kind": "sleep", "needs": ["ghost"], "input": {"seconds": 0}}])).await;
    unknown.problem(422, "validation_failed");
    assert_eq!(unknown.field(), "steps[0].needs[0]");
    assert!(unknown.body["errors"][0]["message"].as_str().unwrap().contains("ghost"), "{}", unknown.body);
    let agent = create(&owner, json!([{"key": "a", "kind": "agent", "input": {"task": "no swarm named"}}])).await;
    agent.problem(422, "validation_failed");
    assert_eq!(agent.field(), "steps[0].input");
    let bad_input = create(&owner, json!([{"key": "a", "kind": "sleep", "input": {"minutes": 1}}])).await;
    assert_eq!(bad_input.field(), "steps[0].input");

    let steps = json!([{"key": "a", "kind": "sleep", "input": {"seconds": 0}}]);
    create(&contributor, steps.clone()).await.problem(403, "forbidden");
    create(&outsider, steps.clone()).await.problem(404, "not_found");
    let definition = id(&workflow(&server, &owner, &project, steps).await);
    server.post(&format!("/v1/workflows/{definition}/runs"), Some(&viewer.token), json!({})).await.problem(403, "forbidden");
    server.post(&format!("/v1/workflows/{definition}/runs"), Some(&outsider.token), json!({})).await.problem(404, "not_found");
    server.get(&format!("/v1/workflows/{definition}"), Some(&outsider.token)).await.problem(404, "not_found");
    let run = id(&start(&server, &contributor, &definition, json!({})).await);
    assert_eq!(read(&server, &viewer, &run).await["id"], run.as_str());
    server.get(&format!("/v1/runs/{run}"), Some(&outsider.token)).await.problem(404, "not_found");
    server.post(&format!("/v1/runs/{run}/cancel"), Some(&viewer.token), json!({})).await.problem(403, "forbidden");
    server.post(&format!("/v1/runs/{run}/events"), Some(&outsider.token), json!({"name": "x"})).await.problem(404, "not_found");
    server.call(Method::DELETE, &format!("/v1/workflows/{definition}"), Some(&contributor.token), None).await.problem(403, "forbidden");
    let deleted = server.call(Method::DELETE, &format!("/v1/workflows/{definition}"), Some(&owner.token), None).await;
    assert_eq!(deleted.status, 204);
    server.get(&format!("/v1/runs/{run}"), Some(&owner.token)).await.problem(404, "not_found");
}

#[tokio::test]
async fn a_task_step_creates_one_task_and_completes_when_it_does() {
    let server = Server::start().await;
    let me = server.user().await;
    let project = server.project(&me, "tasks").await;
    let steps = json!([{"key": "review", "kind": "task", "input": {"title": {"$input": "/title"}, "priority": "high"}}]);
    let definition = workflow(&server, &me, &project, steps).await;
    let run = id(&start(&server, &me, &id(&definition), json!({"title": "Review the release"})).await);
    let waiting = until(&server, &me, &run, Duration::from_secs(10), |r| step(r, "review")["task_id"].is_string()).await;
    let task = step(&waiting, "review")["task_id"].as_str().unwrap().to_owned();
    let read_task = server.get(&format!("/v1/tasks/{task}"), Some(&me.token)).await;
    assert_eq!((read_task.body["title"].as_str(), read_task.body["priority"].as_str()), (Some("Review the release"), Some("high")));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(read(&server, &me, &run).await["status"], "running");
    for to in ["running", "completed"] {
        let moved = server.post(&format!("/v1/tasks/{task}/transitions"), Some(&me.token), json!({"to": to})).await;
        assert_eq!(moved.status, 200, "{}", moved.body);
    }
    let done = finished(&server, &me, &run, Duration::from_secs(90)).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    assert_eq!(step(&done, "review")["output"], json!({"task_id": task, "status": "completed"}));
    let tasks = server.get(&format!("/v1/projects/{project}/tasks?label=workflow"), Some(&me.token)).await;
    assert_eq!(tasks.body["items"].as_array().unwrap().len(), 1, "{}", tasks.body);
}

#[tokio::test]
async fn a_run_stops_acting_when_its_creator_loses_their_role() {
    let server = Server::start().await;
    let (owner, contributor) = (server.user().await, server.user().await);
    let project = server.project(&owner, "authority").await;
    server.add_member(&owner, &project, &contributor, "contributor").await;
    let steps = json!([
        {"key": "wait", "kind": "wait_event", "input": {"name": "go"}},
        {"key": "file", "kind": "task", "needs": ["wait"], "input": {"title": "Filed by a run"}},
    ]);
    let definition = workflow(&server, &owner, &project, steps).await;
    let run = id(&start(&server, &contributor, &id(&definition), json!({})).await);
    until(&server, &owner, &run, Duration::from_secs(10), |r| step(r, "wait")["state"] == "running").await;
    let removed =
        server.call(Method::DELETE, &format!("/v1/projects/{project}/members/{}", contributor.id), Some(&owner.token), None).await;
    assert!(removed.status.is_success(), "{}", removed.body);
    server.post(&format!("/v1/runs/{run}/events"), Some(&owner.token), json!({"name": "go"})).await;
    let done = finished(&server, &owner, &run, Duration::from_secs(20)).await;
    assert_eq!(done["status"], "failed", "{done:#}");
    assert!(done["error"].as_str().unwrap().contains("no longer a contributor"), "{done:#}");
    let tasks = server.get(&format!("/v1/projects/{project}/tasks?label=workflow"), Some(&owner.token)).await;
    assert_eq!(tasks.body["items"], json!([]), "{}", tasks.body);
}

#[tokio::test]
async fn a_task_step_keeps_to_the_tasks_rules_for_titles() {
    let server = Server::start().await;
    let me = server.user().await;
    let project = server.project(&me, "escapes").await;
    let literal = json!([{"key": "t", "kind": "task", "input": {"title": "bad\u{1b}[2Jtitle"}}]);
    let reply = server.post(&format!("/v1/projects/{project}/workflows"), Some(&me.token), json!({"name": "x", "steps": literal})).await;
    reply.problem(422, "validation_failed");
    let steps = json!([{"key": "t", "kind": "task", "input": {"title": {"$input": "/title"}}}]);
    let definition = workflow(&server, &me, &project, steps).await;
    let run = id(&start(&server, &me, &id(&definition), json!({"title": "two\nlines"})).await);
    let done = finished(&server, &me, &run, Duration::from_secs(20)).await;
    assert_eq!(done["status"], "failed", "{done:#}");
    assert!(step(&done, "t")["error"].as_str().unwrap().starts_with("title"), "{done:#}");
    let big = json!({"blob": "x".repeat(70 * 1024)});
    server
        .post(&format!("/v1/workflows/{}/runs", id(&definition)), Some(&me.token), json!({"input": big}))
        .await
        .problem(422, "validation_failed");
}

#[tokio::test]
async fn progress_is_published_on_the_run_topic() {
    let server = Server::start().await;
    let me = server.user().await;
    let project = server.project(&me, "live").await;
    let steps = json!([{"key": "wait", "kind": "wait_event", "input": {"name": "go"}}]);
    let definition = workflow(&server, &me, &project, steps).await;
    let run = id(&start(&server, &me, &id(&definition), json!({})).await);
    let mut socket = Socket::open(&server, &me).await;
    socket.subscribe(&[&format!("run:{run}")], Some("0")).await;
    server.post(&format!("/v1/runs/{run}/events"), Some(&me.token), json!({"name": "go"})).await;
    let mut names = Vec::new();
    while names.last().map(String::as_str) != Some("run.completed") {
        let event = socket.next_of("event").await;
        assert_eq!(event["topic"], format!("run:{run}"));
        names.push(event["event"].as_str().unwrap().to_owned());
    }
    assert_eq!(names, ["run.started", "step.running", "step.completed", "run.completed"]);
}

#[tokio::test]
async fn definitions_are_published_on_the_project_topic() {
    let server = Server::start().await;
    let me = server.user().await;
    let project = server.project(&me, "defined").await;
    let steps = json!([{"key": "a", "kind": "sleep", "input": {"seconds": 0}}]);
    let definition = id(&workflow(&server, &me, &project, steps.clone()).await);
    let edited = server.call(Method::PUT, &format!("/v1/workflows/{definition}"), Some(&me.token), Some(json!({"steps": steps}))).await;
    assert_eq!(edited.status, 200, "{}", edited.body);
    server.call(Method::DELETE, &format!("/v1/workflows/{definition}"), Some(&me.token), None).await;
    let mut socket = Socket::open(&server, &me).await;
    socket.subscribe(&[&format!("project:{project}")], Some("0")).await;
    let mut names: Vec<String> = Vec::new();
    while names.last().map(String::as_str) != Some("workflow.deleted") {
        let event = socket.next_of("event").await;
        let name = event["event"].as_str().unwrap();
        if name.starts_with("workflow.") {
            names.push(name.to_owned());
        }
    }
    assert_eq!(names, ["workflow.created", "workflow.updated", "workflow.deleted"]);
}

#[tokio::test]
async fn one_user_with_slow_steps_in_many_projects_leaves_workers_to_the_others() {
    let (server, sink) = (Server::start().await, HttpSink::start().await);
    let (greedy, other) = (server.user().await, server.user().await);
    // Three projects of four calls that take 15 s each: twelve, more than the native host's
    // eight workers, and each project within its own share.
    let slow = format!("{}/slow/15000", sink.url);
    let mut runs = Vec::new();
    for p in 0..3 {
        let project = server.project(&greedy, &format!("slow {p}")).await;
        let steps: Vec<Value> =
            (0..4).map(|i| json!({"key": format!("s{i}"), "kind": "http", "timeout_s": 30, "input": {"url": slow}})).collect();
        let definition = workflow(&server, &greedy, &project, json!(steps)).await;
        runs.push(id(&start(&server, &greedy, &id(&definition), json!({})).await));
    }
    let under_way = || runs.iter().map(|run| sink.calls(run).len()).sum::<usize>();
    let waited = Instant::now();
    while under_way() < 3 {
        assert!(waited.elapsed() < Duration::from_secs(10), "the slow calls never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Time for any more of them to be claimed, if they could be.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Another user's short run (natively with a call of its own) completes meanwhile.
    let project = server.project(&other, "quick").await;
    let mut steps = vec![json!({"key": "nap", "kind": "sleep", "input": {"seconds": 0}})];
    if Server::is_native() {
        steps.push(json!({"key": "call", "kind": "http", "needs": ["nap"], "input": {"url": format!("{}/echo", sink.url)}}));
    }
    let definition = workflow(&server, &other, &project, json!(steps)).await;
    let began = Instant::now();
    let run = id(&start(&server, &other, &id(&definition), json!({})).await);
    let bound = Duration::from_secs(if Server::is_native() { 3 } else { 8 });
    let done = finished(&server, &other, &run, bound).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    assert!(began.elapsed() < bound, "took {:?}", began.elapsed());
    // The slow calls had not answered yet, so every one made was under way at once: no more
    // than one user's share of the workers (four), which the other user never had to wait for.
    for slow_run in &runs {
        assert_eq!(read(&server, &greedy, slow_run).await["status"], "running");
    }
    let most = under_way();
    assert!((1..=4).contains(&most), "{most} slow calls under way at once");
    for slow_run in &runs {
        assert_eq!(server.post(&format!("/v1/runs/{slow_run}/cancel"), Some(&greedy.token), json!({})).await.status, 200);
    }
}

#[tokio::test]
async fn cancelling_runs_of_slow_calls_does_not_let_one_user_keep_every_worker() {
    if !Server::is_native() {
        // The native host's pool is what is counted here: eight workers, six of them for calls.
        return;
    }
    let (server, sink) = (Server::start().await, HttpSink::start().await);
    let (greedy, other) = (server.user().await, server.user().await);
    let slow = format!("{}/slow/20000", sink.url);
    let steps: Vec<Value> =
        (0..4).map(|i| json!({"key": format!("s{i}"), "kind": "http", "timeout_s": 30, "input": {"url": slow}})).collect();
    // Two rounds of four slow calls, each run cancelled once its calls are under way: a cancelled
    // run's jobs are gone, so its calls no longer count as its user's claims.
    for round in 0..2 {
        let project = server.project(&greedy, &format!("slow {round}")).await;
        let definition = workflow(&server, &greedy, &project, json!(steps)).await;
        let run = id(&start(&server, &greedy, &id(&definition), json!({})).await);
        let waited = Instant::now();
        while sink.calls(&run).len() < 4 {
            assert!(waited.elapsed() < Duration::from_secs(10), "round {round}'s calls never all started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(server.post(&format!("/v1/runs/{run}/cancel"), Some(&greedy.token), json!({})).await.status, 200);
    }
    // Another user's call is made at once: the cancelled runs' calls were dropped, not left
    // holding the workers for calls until they time out.
    let project = server.project(&other, "quick").await;
    let definition =
        workflow(&server, &other, &project, json!([{"key": "call", "kind": "http", "input": {"url": format!("{}/echo", sink.url)}}])).await;
    let began = Instant::now();
    let run = id(&start(&server, &other, &id(&definition), json!({})).await);
    let done = finished(&server, &other, &run, Duration::from_secs(10)).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    assert!(began.elapsed() < Duration::from_secs(6), "took {:?}", began.elapsed());
}

#[tokio::test]
async fn run_starts_past_the_limit_per_user_are_refused_for_a_while() {
    let server = Server::start().await;
    let (me, colleague) = (server.user().await, server.user().await);
    let project = server.project(&me, "busy").await;
    server.add_member(&me, &project, &colleague, "contributor").await;
    let definition = workflow(&server, &me, &project, json!([{"key": "nap", "kind": "sleep", "input": {"seconds": 0}}])).await;
    let path = format!("/v1/workflows/{}/runs", id(&definition));
    let mut started = 0;
    let refused = loop {
        let reply = server.post(&path, Some(&me.token), json!({})).await;
        if reply.status != 202 {
            break reply;
        }
        started += 1;
        assert!(started <= 100, "a hundred runs started in a row");
    };
    refused.problem(429, "rate_limited");
    if Server::is_native() {
        assert_eq!(started, 30, "the default is 30 a minute");
    }
    assert_eq!(refused.header("ratelimit-limit"), Some(started.to_string().as_str()));
    assert_eq!(refused.header("ratelimit-remaining"), Some("0"));
    let retry: u64 = refused.header("retry-after").expect("a retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry), "retry after {retry} s");
    // Nothing was started by the refused request, and the limit is the user's, not the
    // workflow's or the project's.
    let listed = server.get(&format!("{path}?limit=100"), Some(&me.token)).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), started, "{}", listed.body);
    assert_eq!(server.post(&path, Some(&colleague.token), json!({})).await.status, 202);
}

#[tokio::test]
async fn the_tick_endpoint_needs_its_secret() {
    let server = Server::start().await;
    let me = server.user().await;
    server.raw(Method::POST, "/v1/internal/tick", &[], None).await.problem(401, "unauthorized");
    let bearer = format!("Bearer {}", me.token);
    server.raw(Method::POST, "/v1/internal/tick", &[("authorization", &bearer)], None).await.problem(401, "unauthorized");
    let secret = format!("Bearer {TEST_TICK_SECRET}");
    let ticked = server.raw(Method::POST, "/v1/internal/tick", &[("authorization", &secret)], None).await;
    assert_eq!(ticked.status, 200, "{}", ticked.body);
    assert!(ticked.body["ran"].is_u64(), "{}", ticked.body);
}

/// Serves as the host of `a_run_survives_its_host_being_killed_mid_step` in its child process.
#[tokio::test]
#[ignore = "the host process of a fault test, started by it"]
async fn host_process() {
    tui_blackbox::serve_as_child().await;
}

#[tokio::test]
async fn a_run_survives_its_host_being_killed_mid_step() {
    if !Server::is_native() {
        return;
    }
    let sink = HttpSink::start().await;
    let data = tempfile::tempdir().unwrap();
    let database = data.path().join("tui.db");
    let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let host = HostProcess::start("workflows::host_process", &database, listen, None).await;
    let me = host.server.user().await;
    let project = host.server.project(&me, "fault").await;
    let slow = format!("{}/slow/1500", sink.url);
    let mut steps = vec![];
    for i in 0..4 {
        let needs: Vec<String> = if i == 0 { vec![] } else { vec![format!("s{}", i - 1)] };
        steps.push(
            json!({"key": format!("s{i}"), "kind": "http", "needs": needs, "timeout_s": 3, "input": {"url": slow, "body": {"i": i}}}),
        );
    }
    let definition = workflow(&host.server, &me, &project, json!(steps)).await;
    let run = id(&start(&host.server, &me, &id(&definition), json!({})).await);
    // Killed while the second step's call is under way.
    let started = Instant::now();
    while sink.calls(&format!("{run}/s1/")).is_empty() {
        assert!(started.elapsed() < Duration::from_secs(20), "the second step never called");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    host.kill();
    let host = HostProcess::start("workflows::host_process", &database, listen, None).await;
    let done = finished(&host.server, &me, &run, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    for i in 0..4 {
        assert_eq!(sink.effects(&format!("{run}/s{i}/")), 1, "step s{i} had its effect once");
    }
    // The interrupted call was made again, with the same key: the sink saw it twice.
    assert!(sink.calls(&format!("{run}/s1/1")).len() >= 2, "{:?}", sink.calls(&run));
    assert_eq!(step(&done, "s1")["attempt"], 1);
}
