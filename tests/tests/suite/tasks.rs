//! Tasks: creation one by one and in batches, the dependency graph and its cycles, readiness,
//! the state machine, history, lists with every filter, search, and optimistic concurrency.

use reqwest::Method;
use serde_json::{Value, json};
use tui_blackbox::{Server, User};

async fn task(server: &Server, user: &User, project: &str, body: Value) -> Value {
    let reply = server.post(&format!("/v1/projects/{project}/tasks"), Some(&user.token), body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body.clone()
}

async fn read(server: &Server, user: &User, id: &str) -> Value {
    let reply = server.get(&format!("/v1/tasks/{id}"), Some(&user.token)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body.clone()
}

async fn status(server: &Server, user: &User, id: &str) -> String {
    read(server, user, id).await["status"].as_str().unwrap().to_owned()
}

async fn mv(server: &Server, user: &User, id: &str, to: &str) -> tui_blackbox::Reply {
    server.post(&format!("/v1/tasks/{id}/transitions"), Some(&user.token), json!({"to": to})).await
}

async fn depend(server: &Server, user: &User, id: &str, on: &str, kind: &str) -> tui_blackbox::Reply {
    server.post(&format!("/v1/tasks/{id}/dependencies"), Some(&user.token), json!({"depends_on": on, "type": kind})).await
}

fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_task_is_created_ready_with_its_defaults_and_read_back() {
    let server = Server::start().await;
    let me = server.user().await;
    let project = server.project(&me, "work").await;
    let reply = server
        .post(
            &format!("/v1/projects/{project}/tasks"),
            Some(&me.token),
            json!({"title": " Write the parser ", "labels": ["parser", "backend", "parser"], "due_at": "2027-01-02T03:04:05+01:00"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let id = reply.body["id"].as_str().unwrap();
    assert_eq!(reply.header("location"), Some(format!("/v1/tasks/{id}").as_str()));
    assert_eq!(reply.header("etag"), Some("\"1\""));
    let body = &reply.body;
    assert_eq!(body["title"], "Write the parser");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["priority"], "medium");
    assert_eq!(body["labels"], json!(["backend", "parser"]));
    assert_eq!(body["due_at"], "2027-01-02T02:04:05.000Z");
    assert_eq!(body["progress"], 0);
    assert_eq!(body["depends_on"], json!([]));
    assert_eq!(body["project_id"], project.as_str());
    assert_eq!(body["created_by"], me.id.as_str());
    assert_eq!(read(&server, &me, id).await["title"], "Write the parser");

    let outsider = server.user().await;
    assert_eq!(server.get(&format!("/v1/tasks/{id}"), Some(&outsider.token)).await.status, 404);
    let history = server.get(&format!("/v1/tasks/{id}/history"), Some(&me.token)).await;
    assert_eq!(history.body["items"], json!([{"actor": me.id, "from": null, "to": "ready", "at": body["created_at"]}]));
}

/// A 50-task graph in one batch: 10 layers of 5, each task requiring every task of the layer
/// before it.
#[tokio::test]
async fn a_fifty_task_graph_is_built_by_one_batch() {
    let server = Server::start().await;
    let me = server.user().await;
    let project = server.project(&me, "graph").await;
    let mut tasks = Vec::new();
    for layer in 0..10 {
        for i in 0..5 {
            let depends_on: Vec<Value> =
                if layer == 0 { vec![] } else { (0..5).map(|j| json!({"key": format!("t{}-{j}", layer - 1)})).collect() };
            tasks.push(json!({"key": format!("t{layer}-{i}"), "title": format!("layer {layer} task {i}"), "depends_on": depends_on}));
        }
    }
    // Sent last layer first: the order of a batch does not have to follow its dependencies.
    tasks.reverse();
    let reply = server.post(&format!("/v1/projects/{project}/tasks/batch"), Some(&me.token), json!({"tasks": tasks})).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let items = reply.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 50);
    assert_eq!(items[0]["title"], "layer 9 task 4", "in the order sent");
    let ready = items.iter().filter(|t| t["status"] == "ready").count();
    assert_eq!(ready, 5, "only the first layer is ready");
    assert!(items.iter().all(|t| t["status"] == "ready" || (t["status"] == "pending" && t["waiting_on"] == 5)));

    let last = items[0]["id"].as_str().unwrap();
    let graph = server.get(&format!("/v1/tasks/{last}/graph"), Some(&me.token)).await;
    assert_eq!(graph.status, 200, "{}", graph.body);
    assert_eq!(graph.body["upstream"].as_array().unwrap().len(), 45);
    assert_eq!(graph.body["downstream"].as_array().unwrap().len(), 0);
    assert_eq!(graph.body["edges"].as_array().unwrap().len(), 9 * 25 - 20, "every edge above the last layer, and its five");
    let first = items[49]["id"].as_str().unwrap();
    let graph = server.get(&format!("/v1/tasks/{first}/graph"), Some(&me.token)).await;
    assert_eq!(graph.body["downstream"].as_array().unwrap().len(), 45);
}

#[tokio::test]
async fn a_batch_with_one_bad_task_leaves_nothing_behind() {
    let server = Server::start().await;
    let me = server.user().await;
    let project = server.project(&me, "atomic").await;
    let other = server.project(&me, "elsewhere").await;
    let foreign = task(&server, &me, &other, json!({"title": "not here"})).await;
    let path = format!("/v1/projects/{project}/tasks/batch");
    let good = json!({"key": "a", "title": "fine"});
    for (bad, field) in [
        (json!({"title": ""}), "tasks[1].title"),
        (json!({"title": "x", "progress": 101}), "tasks[1].progress"),
        (json!({"title": "x", "due_at": "tomorrow"}), "tasks[1].due_at"),
        (json!({"title": "x", "depends_on": [{"key": "nope"}]}), "tasks[1].depends_on[0].key"),
        (json!({"title": "x", "depends_on": [{"task_id": foreign["id"]}]}), "tasks[1].depends_on[0].task_id"),
        (json!({"title": "x", "depends_on": [{"key": "a", "task_id": foreign["id"]}]}), "tasks[1].depends_on[0]"),
        (json!({"key": "a", "title": "x"}), "tasks[1].key"),
        (json!({"title": "x", "assignee": server.user().await.id}), "tasks[1].assignee"),
    ] {
        let reply = server.post(&path, Some(&me.token), json!({"tasks": [good, bad]})).await;
        reply.problem(422, "validation_failed");
        assert_eq!(reply.field(), field, "{}", reply.body);
    }
    let cycle = json!({"tasks": [
        {"key": "a", "title": "a", "depends_on": [{"key": "c"}]},
        {"key": "b", "title": "b", "depends_on": [{"key": "a"}]},
        {"key": "c", "title": "c", "depends_on": [{"key": "b"}]},
    ]});
    let reply = server.post(&path, Some(&me.token), cycle).await;
    reply.problem(409, "conflict");
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(["a -> c -> b -> a", "b -> a -> c -> b", "c -> b -> a -> c"].iter().any(|c| detail.contains(c)), "{detail}");
    let too_many: Vec<Value> = (0..501).map(|i| json!({"title": format!("t{i}")})).collect();
    server.post(&path, Some(&me.token), json!({"tasks": too_many})).await.problem(422, "validation_failed");
    server.post(&path, Some(&me.token), json!({"tasks": []})).await.problem(422, "validation_failed");

    let list = server.get(&format!("/v1/projects/{project}/tasks"), Some(&me.token)).await;
    assert_eq!(list.body["items"], json!([]), "nothing was created");
}

#[tokio::test]
async fn a_dependency_that_closes_a_cycle_is_refused_with_the_cycle_in_order() {
    let server = Server::start().await;
    let me = server.user().await;
    let project = server.project(&me, "cycles").await;
    let a = task(&server, &me, &project, json!({"title": "a"})).await["id"].as_str().unwrap().to_owned();
    let b = task(&server, &me, &project, json!({"title": "b"})).await["id"].as_str().unwrap().to_owned();
    let c = task(&server, &me, &project, json!({"title": "c"})).await["id"].as_str().unwrap().to_owned();
    assert_eq!(depend(&server, &me, &b, &a, "requires").await.status, 201);
    assert_eq!(depend(&server, &me, &c, &b, "blocks").await.status, 201);
    let again = depend(&server, &me, &c, &b, "blocks").await;
    assert_eq!(again.status, 200, "adding it twice changes nothing: {}", again.body);
    depend(&server, &me, &c, &b, "requires").await.problem(409, "conflict");

    let refused = depend(&server, &me, &a, &c, "requires").await;
    refused.problem(409, "conflict");
    assert!(refused.body["detail"].as_str().unwrap().contains(&format!("{a} -> {c} -> {b} -> {a}")), "{}", refused.body);
    depend(&server, &me, &a, &a, "requires").await.problem(422, "validation_failed");
    let elsewhere = server.project(&me, "other").await;
    let foreign = task(&server, &me, &elsewhere, json!({"title": "x"})).await["id"].as_str().unwrap().to_owned();
    depend(&server, &me, &a, &foreign, "requires").await.problem(422, "validation_failed");
    assert_eq!(read(&server, &me, &a).await["depends_on"], json!([]), "nothing was added");

    let removed = server.call(Method::DELETE, &format!("/v1/tasks/{c}/dependencies/{b}"), Some(&me.token), None).await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert_eq!(depend(&server, &me, &a, &c, "requires").await.status, 201, "no cycle any more");
}

#[tokio::test]
async fn readiness_follows_the_upstream_tasks() {
    let server = Server::start().await;
    let me = server.user().await;
    let project = server.project(&me, "flow").await;
    let build = task(&server, &me, &project, json!({"title": "build"})).await["id"].as_str().unwrap().to_owned();
    let lint = task(&server, &me, &project, json!({"title": "lint"})).await["id"].as_str().unwrap().to_owned();
    let deploy = task(
        &server,
        &me,
        &project,
        json!({"title": "deploy", "depends_on": [{"task_id": build, "type": "requires"}, {"task_id": lint, "type": "blocks"}]}),
    )
    .await;
    assert_eq!(deploy["status"], "pending");
    assert_eq!(deploy["waiting_on"], 2);
    let deploy = deploy["id"].as_str().unwrap().to_owned();
    mv(&server, &me, &deploy, "running").await.problem(409, "conflict");

    // A failed `blocks` upstream no longer holds it back; a failed `requires` one still does.
    assert_eq!(mv(&server, &me, &lint, "running").await.status, 200);
    assert_eq!(mv(&server, &me, &lint, "failed").await.status, 200);
    assert_eq!(read(&server, &me, &deploy).await["waiting_on"], 1);
    assert_eq!(mv(&server, &me, &build, "running").await.status, 200);
    assert_eq!(mv(&server, &me, &build, "failed").await.status, 200);
    assert_eq!(status(&server, &me, &deploy).await, "pending");
    // The retry and the completion.
    let retried = mv(&server, &me, &build, "ready").await;
    assert_eq!(retried.body["status"], "ready", "{}", retried.body);
    assert_eq!(mv(&server, &me, &build, "running").await.status, 200);
    let done = mv(&server, &me, &build, "completed").await;
    assert_eq!(done.body["progress"], 100);
    assert_eq!(status(&server, &me, &deploy).await, "ready");
    // Retrying lint makes it an unfinished blocker again.
    assert_eq!(mv(&server, &me, &lint, "ready").await.status, 200);
    assert_eq!(status(&server, &me, &deploy).await, "pending");

    // Deleting a task others depend on needs force, and frees them.
    let gone = server.call(Method::DELETE, &format!("/v1/tasks/{lint}"), Some(&me.token), None).await;
    gone.problem(409, "conflict");
    let forced = server.call(Method::DELETE, &format!("/v1/tasks/{lint}?force=true"), Some(&me.token), None).await;
    assert_eq!(forced.status, 204, "{}", forced.body);
    let after = read(&server, &me, &deploy).await;
    assert_eq!((after["status"].as_str(), after["waiting_on"].as_i64()), (Some("ready"), Some(0)));
    assert_eq!(after["depends_on"], json!([{"task_id": build, "type": "requires"}]));

    let history = server.get(&format!("/v1/tasks/{deploy}/history"), Some(&me.token)).await;
    let moves: Vec<(Value, Value, Value)> =
        history.body["items"].as_array().unwrap().iter().map(|h| (h["from"].clone(), h["to"].clone(), h["actor"].clone())).collect();
    assert_eq!(
        moves,
        [
            (Value::Null, json!("pending"), json!(me.id)),
            (json!("pending"), json!("ready"), Value::Null),
            (json!("ready"), json!("pending"), Value::Null),
            (json!("pending"), json!("ready"), Value::Null),
        ]
    );
    let page = server.get(&format!("/v1/tasks/{deploy}/history?limit=3"), Some(&me.token)).await;
    let cursor = page.body["next_cursor"].as_str().expect("a second page");
    let rest = server.get(&format!("/v1/tasks/{deploy}/history?limit=3&cursor={cursor}"), Some(&me.token)).await;
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 1);
}

/// Brings a fresh task into `state` and returns its id.
async fn task_in(server: &Server, me: &User, project: &str, state: &str) -> String {
    if state == "pending" {
        let blocker = task(server, me, project, json!({"title": "blocker"})).await;
        let t = task(server, me, project, json!({"title": "waits", "depends_on": [{"task_id": blocker["id"]}]})).await;
        return t["id"].as_str().unwrap().to_owned();
    }
    let id = task(server, me, project, json!({"title": state})).await["id"].as_str().unwrap().to_owned();
    let path: &[&str] = match state {
        "ready" => &[],
        "running" => &["running"],
        "blocked" => &["running", "blocked"],
        "completed" => &["running", "completed"],
        "failed" => &["running", "failed"],
        "cancelled" => &["cancelled"],
        other => panic!("no way to {other}"),
    };
    for step in path {
        assert_eq!(mv(server, me, &id, step).await.status, 200);
    }
    id
}

#[tokio::test]
async fn every_illegal_transition_is_refused_with_the_legal_ones_listed() {
    let server = Server::start().await;
    let me = server.user().await;
    let project = server.project(&me, "machine").await;
    let states = ["pending", "ready", "running", "blocked", "completed", "failed", "cancelled"];
    let legal: &[(&str, &[&str])] = &[
        ("pending", &["blocked", "cancelled"]),
        ("ready", &["running", "blocked", "cancelled"]),
        ("running", &["completed", "failed", "blocked", "cancelled"]),
        ("blocked", &["running", "ready", "cancelled"]),
        ("completed", &[]),
        ("failed", &["ready", "cancelled"]),
        ("cancelled", &[]),
    ];
    for (from, allowed) in legal {
        let id = task_in(&server, &me, &project, from).await;
        for to in states.iter().filter(|to| !allowed.contains(to)) {
            let reply = mv(&server, &me, &id, to).await;
            reply.problem(409, "conflict");
            let detail = reply.body["detail"].as_str().unwrap();
            for legal in *allowed {
                assert!(detail.contains(legal), "{from} -> {to}: {detail}");
            }
            assert_eq!(status(&server, &me, &id).await, *from, "{from} -> {to} changed nothing");
        }
        for to in *allowed {
            let id = task_in(&server, &me, &project, from).await;
            let reply = mv(&server, &me, &id, to).await;
            assert_eq!(reply.status, 200, "{from} -> {to}: {}", reply.body);
        }
    }
    let unknown = mv(&server, &me, &task_in(&server, &me, &project, "ready").await, "done").await;
    unknown.problem(422, "validation_failed");
}

#[tokio::test]
async fn a_stale_if_match_is_refused_and_changes_nothing() {
    let server = Server::start().await;
    let me = server.user().await;
    let project = server.project(&me, "versions").await;
    let id = task(&server, &me, &project, json!({"title": "v1"})).await["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/tasks/{id}");
    let first = server
        .raw(
            Method::PATCH,
            &path,
            &[("authorization", &format!("Bearer {}", me.token)), ("if-match", "\"1\""), ("content-type", "application/json")],
            Some(br#"{"title": "v2", "assignee": null}"#.to_vec()),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.header("etag"), Some("\"2\""));
    let stale = server
        .raw(
            Method::PATCH,
            &path,
            &[("authorization", &format!("Bearer {}", me.token)), ("if-match", "\"1\""), ("content-type", "application/json")],
            Some(br#"{"title": "lost update"}"#.to_vec()),
        )
        .await;
    stale.problem(412, "precondition_failed");
    let moved = server
        .raw(
            Method::POST,
            &format!("{path}/transitions"),
            &[("authorization", &format!("Bearer {}", me.token)), ("if-match", "\"1\""), ("content-type", "application/json")],
            Some(br#"{"to": "running"}"#.to_vec()),
        )
        .await;
    moved.problem(412, "precondition_failed");
    let now = read(&server, &me, &id).await;
    assert_eq!((now["title"].as_str(), now["status"].as_str(), now["version"].as_i64()), (Some("v2"), Some("ready"), Some(2)));

    let cleared = server.call(Method::PATCH, &path, Some(&me.token), Some(json!({"due_at": "2030-01-01T00:00:00Z"}))).await;
    assert_eq!(cleared.body["due_at"], "2030-01-01T00:00:00.000Z");
    let cleared = server.call(Method::PATCH, &path, Some(&me.token), Some(json!({"due_at": null, "progress": 40}))).await;
    assert_eq!((cleared.body["due_at"].clone(), cleared.body["progress"].clone()), (Value::Null, json!(40)));
    server.call(Method::PATCH, &path, Some(&me.token), Some(json!({"status": "completed"}))).await.problem(422, "validation_failed");
    server.call(Method::PATCH, &path, Some(&me.token), Some(json!({}))).await.problem(422, "validation_failed");
}

#[tokio::test]
async fn lists_filter_sort_page_and_search() {
    let server = Server::start().await;
    let me = server.user().await;
    let mate = server.user().await;
    let project = server.project(&me, "seeded").await;
    server.add_member(&me, &project, &mate, "contributor").await;
    let seed = json!({"tasks": [
        {"key": "parser", "title": "Write the parser", "priority": "high", "labels": ["backend"], "due_at": "2027-03-01T00:00:00Z", "assignee": mate.id},
        {"key": "docs", "title": "Document the API", "description": "Deployment notes for operators", "priority": "low", "labels": ["docs"]},
        {"key": "deploy", "title": "Ship it", "priority": "critical", "labels": ["ops", "backend"], "due_at": "2027-02-01T00:00:00Z", "depends_on": [{"key": "parser"}]},
        {"key": "tests", "title": "Parser tests", "priority": "medium", "labels": ["backend", "quality"], "due_at": "2027-04-01T00:00:00Z", "assignee": mate.id},
    ]});
    let created = server.post(&format!("/v1/projects/{project}/tasks/batch"), Some(&me.token), seed).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id: std::collections::HashMap<String, String> = ["parser", "docs", "deploy", "tests"]
        .iter()
        .zip(created.body["items"].as_array().unwrap())
        .map(|(k, t)| (k.to_string(), t["id"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(mv(&server, &me, &id["tests"], "running").await.status, 200);
    task(&server, &me, &server.project(&me, "noise").await, json!({"title": "Write the parser elsewhere", "labels": ["backend"]})).await;

    let names = |list: &[&str]| list.iter().map(|k| id[*k].clone()).collect::<Vec<_>>();
    let list = |query: String| {
        let server = &server;
        let token = me.token.clone();
        let project = project.clone();
        async move {
            let reply = server.get(&format!("/v1/projects/{project}/tasks?{query}"), Some(&token)).await;
            assert_eq!(reply.status, 200, "{query}: {}", reply.body);
            reply.body.clone()
        }
    };
    for (query, expected) in [
        ("".to_owned(), names(&["parser", "docs", "deploy", "tests"])),
        ("status=pending".to_owned(), names(&["deploy"])),
        ("status=running".to_owned(), names(&["tests"])),
        ("priority=critical".to_owned(), names(&["deploy"])),
        (format!("assignee={}", mate.id), names(&["parser", "tests"])),
        ("label=backend".to_owned(), names(&["parser", "deploy", "tests"])),
        ("label=back".to_owned(), vec![]),
        ("due_before=2027-03-15T00:00:00Z".to_owned(), names(&["parser", "deploy"])),
        ("q=parser".to_owned(), names(&["parser", "tests"])),
        ("q=PARS".to_owned(), names(&["parser", "tests"])),
        ("q=deploy".to_owned(), names(&["docs"])),
        ("q=ops%20ship".to_owned(), names(&["deploy"])),
        ("q=quality".to_owned(), names(&["tests"])),
        // FTS5 syntax is only text: no error, and no word at all matches everything.
        ("q=%22%20*%20(%20-".to_owned(), names(&["parser", "docs", "deploy", "tests"])),
        ("q=parser%20OR%20title:nothing%20NEAR(".to_owned(), vec![]),
        ("q=parser&label=quality&status=running".to_owned(), names(&["tests"])),
        ("sort=priority".to_owned(), names(&["deploy", "parser", "tests", "docs"])),
        ("sort=-priority".to_owned(), names(&["docs", "tests", "parser", "deploy"])),
        ("sort=due_at".to_owned(), names(&["deploy", "parser", "tests", "docs"])),
        ("sort=-created_at".to_owned(), names(&["tests", "deploy", "docs", "parser"])),
    ] {
        assert_eq!(ids(&list(query.clone()).await), expected, "{query}");
    }
    // Pages of two, in every sort, together give the whole list once.
    for sort in ["priority", "-priority", "due_at", "-due_at", "created_at", "updated_at", "-updated_at"] {
        let whole = ids(&list(format!("sort={sort}")).await);
        let mut paged = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = list(format!("sort={sort}&limit=2{cursor}")).await;
            paged.extend(ids(&page));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => break,
            }
        }
        assert_eq!(paged, whole, "sort={sort}");
    }
    for (query, field) in [
        ("status=done", "status"),
        ("sort=title", "sort"),
        ("due_before=soon", "due_before"),
        ("limit=0", "limit"),
        ("cursor=bm9wZQ", "cursor"),
        ("label=two%20words", "label"),
        ("color=red", "color"),
    ] {
        let reply = server.get(&format!("/v1/projects/{project}/tasks?{query}"), Some(&me.token)).await;
        reply.problem(422, "validation_failed");
        assert_eq!(reply.field(), field, "{query}: {}", reply.body);
    }
    let outsider = server.user().await;
    server.get(&format!("/v1/projects/{project}/tasks"), Some(&outsider.token)).await.problem(404, "not_found");
}
