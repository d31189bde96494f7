//! The native host over a remote database (Turso's protocol, Hrana over HTTP): one round trip
//! per statement, nothing broken by a server that expires idle streams, and a server restart
//! under load that loses no acknowledged write and leaves no request hanging.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tui_blackbox::{HRANA_TOKEN, Server, hrana::HranaServer};

#[tokio::test]
async fn a_project_read_costs_one_round_trip_per_statement() {
    let Some(server) = Server::native_over(HranaServer::start(HRANA_TOKEN).await, &[]).await else { return };
    let user = server.user().await;
    let project = server.project(&user, "remote").await;
    // What a write wakes in the background (the real-time hub's read of the log, the workflow
    // pool's look for due jobs) is over before the count starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hrana = server.hrana.as_ref().unwrap();
    let before = hrana.pipelines();
    assert_eq!(server.get(&format!("/v1/projects/{project}"), Some(&user.token)).await.status, 200);
    // The project read checks the session in its own statement: one statement, one round trip.
    assert_eq!(hrana.pipelines() - before, 1);
    let before = hrana.pipelines();
    assert_eq!(server.get("/v1/projects", Some(&user.token)).await.status, 200);
    // The list: the session check, then the page.
    assert_eq!(hrana.pipelines() - before, 2);
    let ready = server.get("/v1/health/ready", None).await;
    assert_eq!(ready.body["checks"]["database"]["kind"], "remote", "{}", ready.body);
}

#[tokio::test]
async fn every_kind_of_request_works_after_the_server_expired_idle_streams() {
    let hrana = HranaServer::start_with(HRANA_TOKEN, Duration::from_millis(300)).await;
    let Some(server) = Server::native_over(hrana, &[]).await else { return };
    let user = server.user().await;
    let project = server.project(&user, "idle").await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(server.get("/v1/health/ready", None).await.status, 200);
    assert_eq!(server.get("/v1/auth/me", Some(&user.token)).await.status, 200);
    assert_eq!(server.get(&format!("/v1/projects/{project}"), Some(&user.token)).await.status, 200);
    let patch = server.call(Method::PATCH, &format!("/v1/projects/{project}"), Some(&user.token), Some(json!({"name": "renamed"}))).await;
    assert_eq!(patch.status, 200, "{}", patch.body);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(server.post("/v1/auth/refresh", None, json!({"refresh_token": user.refresh_token})).await.status, 200);
    assert_eq!(server.login(&user.email, &user.password).await.status, 200);
    server.project(&user, "after the quiet").await;
}

#[tokio::test]
async fn a_restart_under_load_loses_no_acknowledged_write_and_reads_recover() {
    let Some(server) = Server::native_over(HranaServer::start(HRANA_TOKEN).await, &[]).await else { return };
    let user = server.user().await;
    let deadline = Instant::now() + Duration::from_millis(2_500);
    let writer = |n: usize| {
        let (server, token) = (&server, user.token.clone());
        async move {
            let mut acknowledged = Vec::new();
            let mut refused = 0;
            let mut i = 0;
            while Instant::now() < deadline {
                i += 1;
                let started = Instant::now();
                let reply = server.post("/v1/projects", Some(&token), json!({"name": format!("w{n}-{i}")})).await;
                assert!(started.elapsed() < Duration::from_secs(10), "a request hung for {:?}", started.elapsed());
                match reply.status.as_u16() {
                    201 => acknowledged.push(reply.body["id"].as_str().unwrap().to_owned()),
                    503 => {
                        assert!(reply.header("retry-after").is_some(), "a 503 says when to retry");
                        refused += 1;
                    }
                    other => panic!("unexpected {other}: {}", reply.body),
                }
            }
            (acknowledged, refused)
        }
    };
    let restart = async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        let hrana = server.hrana.as_ref().unwrap();
        hrana.stop().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        hrana.start_again().await;
    };
    let (results, ()) = tokio::join!(futures::future::join_all((0..4).map(writer)), restart);
    let acknowledged: Vec<String> = results.iter().flat_map(|(ids, _)| ids.clone()).collect();
    let refused: usize = results.iter().map(|(_, refused)| refused).sum();
    assert!(refused > 0, "the outage was seen");
    assert!(acknowledged.len() > 10, "writes went on after the restart: {}", acknowledged.len());
    for id in &acknowledged {
        let read = server.get(&format!("/v1/projects/{id}"), Some(&user.token)).await;
        assert_eq!(read.status, 200, "acknowledged project {id} was lost: {}", read.body);
    }
    let ready = server.get("/v1/health/ready", None).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert!(ready.body["checks"]["database"]["last_error"].is_string(), "readiness tells of the outage: {}", ready.body);
}
