//! Real-time: events written with every change and fanned out over WebSockets and Server-Sent
//! Events: per-topic authorization, filters, revocation, replay without gaps or duplicates,
//! presence, limits, and slow consumers.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tui_blackbox::{
    Server, User,
    realtime::{Socket, Stream, ticket},
};

async fn task(server: &Server, user: &User, project: &str, title: &str) -> String {
    let reply = server.post(&format!("/v1/projects/{project}/tasks"), Some(&user.token), json!({"title": title})).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["id"].as_str().unwrap().to_owned()
}

async fn rename(server: &Server, user: &User, id: &str, title: &str) {
    let reply = server.call(Method::PATCH, &format!("/v1/tasks/{id}"), Some(&user.token), Some(json!({"title": title}))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

fn names(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["event"].as_str().unwrap()).collect()
}

fn id_of(event: &Value) -> i64 {
    event["id"].as_str().unwrap().parse().unwrap()
}

/// Every host under test carries real-time (WebSockets natively and on Workers).
async fn server() -> Option<Server> {
    Some(Server::start().await)
}

#[tokio::test]
async fn a_subscriber_gets_exactly_its_topics_events_in_order_and_filtered() {
    let Some(server) = server().await else { return };
    let owner = server.user().await;
    let (watched, other) = (server.project(&owner, "watched").await, server.project(&owner, "other").await);
    let mut socket = Socket::open(&server, &owner).await;
    socket.send(json!({"type": "subscribe", "topics": [format!("project:{watched}")], "events": ["task.created", "task.updated"]})).await;
    let subscribed = socket.next_of("subscribed").await;
    assert_eq!(subscribed["topics"], json!([format!("project:{watched}")]));

    let first = task(&server, &owner, &watched, "first").await;
    let second = task(&server, &owner, &watched, "second").await;
    task(&server, &owner, &other, "elsewhere").await;
    let dependency = server.post(&format!("/v1/tasks/{second}/dependencies"), Some(&owner.token), json!({"depends_on": first})).await;
    assert_eq!(dependency.status, 201, "{}", dependency.body);
    rename(&server, &owner, &first, "first, renamed").await;
    // A refused write changes nothing, so it logs nothing.
    let stale =
        server.call(Method::PATCH, &format!("/v1/tasks/{first}"), Some(&owner.token), Some(json!({"title": "x", "version": 1}))).await;
    assert_eq!(stale.status, 422, "{}", stale.body);

    let events = socket.events(4).await;
    assert_eq!(names(&events), ["task.created", "task.created", "task.updated", "task.updated"], "{events:?}");
    assert!(events.windows(2).all(|pair| id_of(&pair[0]) < id_of(&pair[1])), "ids increase: {events:?}");
    assert!(events.iter().all(|e| e["topic"] == format!("project:{watched}")));
    assert_eq!(events[0]["data"]["id"], first);
    assert_eq!(events[0]["data"]["title"], "first");
    assert_eq!(events[0]["actor"], owner.id);
    // The second task's readiness changed when it came to depend on the first, then the rename.
    assert_eq!(events[2]["data"]["id"], second);
    assert_eq!(events[3]["data"]["title"], "first, renamed");
    assert!(socket.quiet(Duration::from_millis(300)).await, "nothing more");

    socket.send(json!({"type": "ping"})).await;
    assert_eq!(socket.next_of("pong").await["type"], "pong");
}

#[tokio::test]
async fn an_outsider_is_refused_topic_by_topic() {
    let Some(server) = server().await else { return };
    let (owner, outsider) = (server.user().await, server.user().await);
    let project = server.project(&owner, "private").await;
    let secret = task(&server, &owner, &project, "secret").await;
    let mut socket = Socket::open(&server, &outsider).await;
    let run = uuid::Uuid::now_v7();
    let frames = socket
        .subscribe(
            &[
                &format!("project:{project}"),
                &format!("task:{secret}"),
                &format!("user:{}", owner.id),
                "user:me",
                "nonsense",
                &format!("swarm:{run}"),
                &format!("run:{run}"),
            ],
            None,
        )
        .await;
    let refusals: Vec<(String, String)> = frames
        .iter()
        .filter(|f| f["type"] == "error")
        .map(|f| (f["topic"].as_str().unwrap().to_owned(), f["code"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        refusals,
        [
            (format!("user:{}", owner.id), "forbidden".to_owned()),
            ("nonsense".to_owned(), "invalid_topic".to_owned()),
            (format!("project:{project}"), "forbidden".to_owned()),
            (format!("task:{secret}"), "forbidden".to_owned()),
            (format!("swarm:{run}"), "forbidden".to_owned()),
            (format!("run:{run}"), "forbidden".to_owned()),
        ]
    );
    assert_eq!(frames.last().unwrap()["topics"], json!([format!("user:{}", outsider.id)]));
    rename(&server, &owner, &secret, "still secret").await;
    assert!(socket.quiet(Duration::from_millis(300)).await);
}

#[tokio::test]
async fn a_member_removed_mid_stream_is_revoked_at_once() {
    let Some(server) = server().await else { return };
    let (owner, member) = (server.user().await, server.user().await);
    let project = server.project(&owner, "shared").await;
    let item = task(&server, &owner, &project, "item").await;
    server.add_member(&owner, &project, &member, "viewer").await;
    let mut socket = Socket::open(&server, &member).await;
    socket.subscribe(&[&format!("project:{project}"), &format!("task:{item}"), "user:me"], None).await;
    rename(&server, &owner, &item, "seen").await;
    assert_eq!(names(&socket.events(2).await), ["task.updated", "task.updated"]);
    // Leaving the user's own topic does not stop the removal from reaching the socket.
    socket.send(json!({"type": "unsubscribe", "topics": ["user:me"]})).await;
    assert_eq!(socket.next_of("unsubscribed").await["topics"], json!([format!("user:{}", member.id)]));

    let removed = server.call(Method::DELETE, &format!("/v1/projects/{project}/members/{}", member.id), Some(&owner.token), None).await;
    assert_eq!(removed.status, 204, "{}", removed.body);
    let mut revoked = Vec::new();
    while revoked.len() < 2 {
        let frame = socket.frame().await;
        match frame["type"].as_str() {
            Some("revoked") => revoked.push(frame["topic"].as_str().unwrap().to_owned()),
            Some("event") => assert_eq!(frame["event"], "member.removed", "only the removal itself: {frame}"),
            Some("unsubscribed") => {}
            Some("presence") => {}
            _ => panic!("unexpected {frame}"),
        }
    }
    revoked.sort();
    let mut expected = vec![format!("project:{project}"), format!("task:{item}")];
    expected.sort();
    assert_eq!(revoked, expected);
    rename(&server, &owner, &item, "unseen").await;
    assert!(socket.quiet(Duration::from_millis(300)).await, "a removed member hears nothing more");
}

#[tokio::test]
async fn reconnecting_with_the_last_event_id_misses_nothing_and_repeats_nothing() {
    let Some(server) = server().await else { return };
    let owner = server.user().await;
    let project = server.project(&owner, "resume").await;
    let topic = format!("project:{project}");
    let mut socket = Socket::open(&server, &owner).await;
    socket.subscribe(&[&topic], None).await;
    task(&server, &owner, &project, "one").await;
    let seen = socket.events(1).await;
    let last = seen[0]["id"].as_str().unwrap().to_owned();
    socket.close().await;

    let mut titles = Vec::new();
    for title in ["two", "three", "four"] {
        task(&server, &owner, &project, title).await;
        titles.push(title);
    }
    let mut socket = Socket::open(&server, &owner).await;
    let frames = socket.subscribe(&[&topic], Some(&last)).await;
    assert!(frames.iter().all(|f| f["type"] != "error"), "{frames:?}");
    let replayed = socket.events(3).await;
    assert_eq!(replayed.iter().map(|e| e["data"]["title"].as_str().unwrap()).collect::<Vec<_>>(), titles);
    task(&server, &owner, &project, "five").await;
    let live = socket.events(1).await;
    assert_eq!(live[0]["data"]["title"], "five");
    assert!(id_of(&live[0]) > id_of(&replayed[2]));
    assert!(socket.quiet(Duration::from_millis(300)).await, "no duplicates");

    // "0" replays the retained log from its start.
    let mut from_start = Socket::open(&server, &owner).await;
    from_start.subscribe(&[&topic], Some("0")).await;
    let all = from_start.events(7).await;
    assert_eq!(
        names(&all),
        ["project.created", "member.added", "task.created", "task.created", "task.created", "task.created", "task.created"]
    );
    assert_eq!(all[6]["data"]["title"], "five");
    from_start.send(json!({"type": "subscribe", "topics": [&topic], "last_event_id": "-1"})).await;
    assert_eq!(from_start.next_of("error").await["code"], "bad_message");
}

#[tokio::test]
async fn a_replay_from_before_what_retention_kept_reports_the_gap() {
    let Some(server) = server().await else { return };
    let Some(path) = server.database_path() else { return };
    let owner = server.user().await;
    let project = server.project(&owner, "pruned").await;
    let topic = format!("project:{project}");
    task(&server, &owner, &project, "old").await;
    // Retention as a week later would apply it.
    let options = tui_host::Options {
        listen: "127.0.0.1:0".parse().unwrap(),
        database: path.display().to_string(),
        database_token: None,
        data_dir: path.parent().unwrap().to_owned(),
        pool_size: 1,
        settings: Vec::new(),
    };
    let db = tui_host::open_database(&options).await.unwrap();
    let later = tui_shared::time::Timestamp::now_utc() + Duration::from_secs(8 * 24 * 3600);
    let retention = tui_shared::events::Retention { per_topic: 1000, age: Duration::from_secs(7 * 24 * 3600) };
    tui_shared::services::maintenance::prune(db.as_ref(), later, retention).await.unwrap();

    let mut socket = Socket::open(&server, &owner).await;
    let frames = socket.subscribe(&[&topic], Some("1")).await;
    assert_eq!(frames[0]["code"], "replay_gap", "{frames:?}");
    assert_eq!(frames[0]["topic"], topic);
    task(&server, &owner, &project, "new").await;
    assert_eq!(socket.events(1).await[0]["data"]["title"], "new", "live events follow the gap");
    let mut from_start = Socket::open(&server, &owner).await;
    let frames = from_start.subscribe(&[&topic], Some("0")).await;
    assert!(frames.iter().all(|f| f["type"] != "error"), "0 asks for what is retained: {frames:?}");
    assert_eq!(from_start.events(1).await[0]["data"]["title"], "new");
}

#[tokio::test]
async fn a_revoked_sessions_socket_closes_with_4001() {
    let Some(server) = server().await else { return };
    let user = server.user().await;
    let other = server.login(&user.email, &user.password).await;
    let other_token = other.body["access_token"].as_str().unwrap().to_owned();
    let mut socket = Socket::open(&server, &user).await;
    let mut bystander = Socket::open(&server, &User { token: other_token.clone(), ..user.clone() }).await;
    socket.subscribe(&["user:me"], None).await;
    let logout = server.post("/v1/auth/logout", Some(&user.token), json!({})).await;
    assert_eq!(logout.status, 204, "{}", logout.body);
    assert_eq!(socket.closed().await, Some((4001, "the session was revoked".to_owned())));
    bystander.send(json!({"type": "ping"})).await;
    assert_eq!(bystander.next_of("pong").await["type"], "pong", "another session's socket stays open");
}

#[tokio::test]
async fn tickets_are_single_use_bound_to_a_session_and_only_open_sockets() {
    let Some(server) = server().await else { return };
    let user = server.user().await;
    let ticket = ticket(&server, &user).await;
    // A plain GET is refused before the ticket is spent.
    server.get(&format!("/v1/realtime?ticket={ticket}"), None).await.problem(426, "upgrade_required");
    let socket = Socket::with_ticket(&server, &ticket).await.expect("the first use opens");
    assert!(Socket::with_ticket(&server, &ticket).await.is_err(), "a spent ticket opens nothing");
    assert!(Socket::with_ticket(&server, "rt_not-a-ticket-at-all-000000").await.is_err());
    socket.close().await;

    let key = server.post("/v1/auth/api-keys", Some(&user.token), json!({"name": "ci", "scopes": ["read", "write"]})).await;
    assert_eq!(key.status, 201, "{}", key.body);
    let key = key.body["key"].as_str().unwrap();
    server.post("/v1/realtime/ticket", Some(key), json!({})).await.problem(403, "forbidden");
    server.post("/v1/realtime/ticket", None, json!({})).await.problem(401, "unauthorized");

    // A session holds ten unspent tickets at most.
    let mut refused = None;
    for _ in 0..11 {
        let reply = server.post("/v1/realtime/ticket", Some(&user.token), json!({})).await;
        if reply.status != 200 {
            refused = Some(reply);
            break;
        }
    }
    refused.expect("the eleventh is refused").problem(429, "rate_limited");
}

#[tokio::test]
async fn server_sent_events_follow_the_same_topics_and_resume_after_the_last_event_id() {
    let Some(server) = server().await else { return };
    let (owner, outsider) = (server.user().await, server.user().await);
    let project = server.project(&owner, "streamed").await;
    let mut stream = Stream::open(&server, &owner, &format!("project:{project}"), None).await;
    let (_, subscribed) = stream.next().await;
    assert_eq!(subscribed["type"], "subscribed");
    task(&server, &owner, &project, "one").await;
    let (last, event) = stream.event().await;
    assert_eq!(event["data"]["title"], "one");
    drop(stream);

    task(&server, &owner, &project, "two").await;
    task(&server, &owner, &project, "three").await;
    let mut resumed = Stream::open(&server, &owner, &format!("project:{project}"), Some(&last)).await;
    assert_eq!(resumed.event().await.1["data"]["title"], "two");
    assert_eq!(resumed.event().await.1["data"]["title"], "three");
    task(&server, &owner, &project, "four").await;
    assert_eq!(resumed.event().await.1["data"]["title"], "four");

    let mut refused = Stream::open(&server, &outsider, &format!("project:{project}"), None).await;
    let (_, error) = refused.next().await;
    assert_eq!((error["type"].as_str(), error["code"].as_str()), (Some("error"), Some("forbidden")));
    let bad = server.get("/v1/realtime/sse?topics=", Some(&owner.token)).await;
    assert_eq!(bad.status, 422, "{}", bad.body);
}

#[tokio::test]
async fn presence_shows_who_is_on_a_project() {
    let Some(server) = server().await else { return };
    let (owner, member) = (server.user().await, server.user().await);
    let project = server.project(&owner, "together").await;
    server.add_member(&owner, &project, &member, "contributor").await;
    let topic = format!("project:{project}");
    let mut first = Socket::open(&server, &owner).await;
    first.subscribe(&[&topic], None).await;
    assert_eq!(first.next_of("presence").await["users"], json!([owner.id]));
    let mut second = Socket::open(&server, &member).await;
    second.subscribe(&[&topic], None).await;
    let mut here = vec![owner.id.clone(), member.id.clone()];
    here.sort();
    assert_eq!(second.next_of("presence").await["users"], json!(here));
    assert_eq!(first.frame().await, json!({"type": "presence", "topic": topic, "joined": member.id}));
    second.close().await;
    assert_eq!(first.frame().await, json!({"type": "presence", "topic": topic, "left": member.id}));
}

#[tokio::test]
async fn limits_are_refused_with_stable_codes() {
    let Some(server) = Server::native_with(&[
        ("REALTIME_SUBSCRIPTIONS_PER_CONNECTION", "2"),
        ("REALTIME_CONNECTIONS_PER_USER", "2"),
        ("REALTIME_SUBSCRIBES_PER_MINUTE", "1"),
    ])
    .await
    else {
        return;
    };
    let owner = server.user().await;
    let (a, b, c) = (server.project(&owner, "a").await, server.project(&owner, "b").await, server.project(&owner, "c").await);
    let mut socket = Socket::open(&server, &owner).await;
    let frames = socket.subscribe(&[&format!("project:{a}"), &format!("project:{b}"), &format!("project:{c}")], None).await;
    assert_eq!(frames[0]["code"], "too_many_subscriptions");
    assert_eq!(frames[0]["topic"], format!("project:{c}"));
    assert_eq!(frames.last().unwrap()["topics"].as_array().unwrap().len(), 2);

    socket.send_text("{not json".into()).await;
    assert_eq!(socket.next_of("error").await["code"], "bad_message");
    socket.send_text(format!(r#"{{"type":"unsubscribe","topics":["{}"]}}"#, "x".repeat(70_000))).await;
    assert_eq!(socket.next_of("error").await["code"], "message_too_large");
    // A burst of twenty, then one a minute.
    for _ in 0..25 {
        socket.send(json!({"type": "subscribe", "topics": [format!("project:{a}")]})).await;
    }
    let mut limited = false;
    while let Some(frame) = socket.try_frame(Duration::from_secs(2)).await {
        limited |= frame["code"] == "rate_limited";
    }
    assert!(limited, "subscribing is rate limited");

    let _second = Socket::open(&server, &owner).await;
    let mut third = Socket::open(&server, &owner).await;
    assert_eq!(third.frame().await["code"], "too_many_connections");
    assert_eq!(third.closed().await.map(|(code, _)| code), Some(1008));
}

#[tokio::test]
async fn a_slow_consumer_is_cut_off_with_1013() {
    let Some(server) = Server::native_with(&[("REALTIME_QUEUE", "16")]).await else { return };
    let owner = server.user().await;
    let project = server.project(&owner, "busy").await;
    let mut slow = Socket::open_slow(&server, &owner).await;
    slow.subscribe(&[&format!("project:{project}")], None).await;
    let description = "x".repeat(2000);
    for batch in 0..6 {
        let tasks: Vec<Value> = (0..500).map(|i| json!({"title": format!("t{batch}-{i}"), "description": description})).collect();
        let reply = server.post(&format!("/v1/projects/{project}/tasks/batch"), Some(&owner.token), json!({"tasks": tasks})).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    let closed = slow.closed().await;
    assert_eq!(closed.map(|(code, _)| code), Some(1013), "the slow consumer was cut off");
    // The host goes on serving everyone else.
    let mut fresh = Socket::open(&server, &owner).await;
    fresh.send(json!({"type": "ping"})).await;
    assert_eq!(fresh.next_of("pong").await["type"], "pong");
}
