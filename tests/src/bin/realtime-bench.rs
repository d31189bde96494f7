//! The real-time benchmark, against any host (scripts/bench.sh runs it natively and under
//! `wrangler dev`): SUBSCRIBERS WebSockets on one project (spread over members, 20 sockets each,
//! the default per-user limit), then one change at a time (a task renamed to its sequence
//! number), and for each event its arrival on every socket measured two ways: from the time the
//! change was logged with (the event's `ts`, the server's clock, the same as this one on one
//! machine; to the millisecond: publish to receipt), and from just before the write was sent
//! (the write's own time included). The write's answer is no mark: under `wrangler dev` the
//! events often arrive before it does. Reports p50/p95/p99 over all arrivals, how
//! many arrived, and with `--pid` the server's resident memory per connection (the difference
//! the sockets made, over their count).
//!
//! Usage: realtime-bench BASE_URL [SUBSCRIBERS, default 1000] [CHANGES, default 50] [--pid PID ...]

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tui_blackbox::bench::{fanout, post, register};

const PER_USER: usize = 20;

/// Resident memory of these processes together, in KiB.
fn rss_kib(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let base =
        args.first().expect("usage: realtime-bench BASE_URL [SUBSCRIBERS] [CHANGES] [--pid PID ...]").trim_end_matches('/').to_owned();
    let numbers: Vec<usize> = args.iter().skip(1).take_while(|a| *a != "--pid").filter_map(|a| a.parse().ok()).collect();
    let subscribers = numbers.first().copied().unwrap_or(1000);
    let changes = numbers.get(1).copied().unwrap_or(50);
    let pids: Vec<u32> = args.iter().skip_while(|a| *a != "--pid").skip(1).filter_map(|a| a.parse().ok()).collect();
    let http = reqwest::Client::new();

    let (_, owner) = register(&http, &base, "rt").await;
    let project =
        post(&http, format!("{base}/v1/projects"), Some(&owner), json!({"name": "fan-out"})).await["id"].as_str().unwrap().to_owned();
    let task = post(&http, format!("{base}/v1/projects/{project}/tasks"), Some(&owner), json!({"title": "0"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut members = Vec::new();
    for _ in 0..subscribers.div_ceil(PER_USER) {
        let (id, token) = register(&http, &base, "rt").await;
        let url = format!("{base}/v1/projects/{project}/members/{id}");
        let reply = http.put(url).bearer_auth(&owner).json(&json!({"role": "viewer"})).send().await.expect("answers");
        assert!(reply.status().is_success());
        members.push(token);
    }

    let before = rss_kib(&pids);
    let topic = format!("project:{project}");
    // When each change was sent, in microseconds since `start` (0: not yet): read on every
    // arrival, so kept lock-free.
    let start = Instant::now();
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..=changes).map(|_| AtomicU64::new(0)).collect());
    let (arrivals, mut arrived) = tokio::sync::mpsc::unbounded_channel::<fanout::Arrival>();
    let ws_base = base.replacen("http", "ws", 1);
    let mut readers = Vec::new();
    for n in 0..subscribers {
        let token = &members[n / PER_USER];
        let ticket = post(&http, format!("{base}/v1/realtime/ticket"), Some(token), json!({})).await["ticket"].as_str().unwrap().to_owned();
        let mut socket = fanout::open(&format!("{ws_base}/v1/realtime?ticket={ticket}")).await;
        socket
            .send(Message::Text(json!({"type": "subscribe", "topics": [&topic], "events": ["task.updated"]}).to_string().into()))
            .await
            .unwrap();
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) if text.contains(r#""type":"subscribed""#) => break,
                Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("no answer to subscribe on socket {n}: {other:?}"),
            }
        }
        readers.push(tokio::spawn(fanout::read(socket, start, sent.len(), arrivals.clone())));
    }
    drop(arrivals);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let connected = rss_kib(&pids);

    for seq in 1..=changes {
        sent[seq].store(u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX).max(1), Ordering::Release);
        let reply = http
            .patch(format!("{base}/v1/tasks/{task}"))
            .bearer_auth(&owner)
            .json(&json!({"title": seq.to_string()}))
            .send()
            .await
            .expect("answers");
        assert!(reply.status().is_success(), "{}", reply.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    for reader in &readers {
        reader.abort();
    }
    let (mut from_request, mut from_log) = (Vec::new(), Vec::new());
    while let Ok((seq, at, since_logged)) = arrived.try_recv() {
        from_request.push(at.saturating_sub(Duration::from_micros(sent[seq].load(Ordering::Acquire))));
        from_log.push(since_logged);
    }
    let expected = subscribers * changes;
    println!(
        "realtime {base}: {subscribers} subscribers on one project, {changes} changes, {} of {expected} events arrived",
        from_request.len()
    );
    fanout::report("publish->receive", &mut from_log);
    fanout::report("write sent->receive", &mut from_request);
    if !pids.is_empty() {
        let per = (connected.saturating_sub(before)) as f64 / subscribers as f64;
        println!("realtime server memory: {before} KiB before, {connected} KiB with the sockets: {per:.1} KiB per connection");
    }
}
