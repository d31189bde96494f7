//! The authorization matrix: every protected route of the auth, projects and tasks groups, called as
//! each kind of caller, with the expected status from one table. Every row, and every call that
//! changes something, runs against fresh users and a fresh project, so that no call decides
//! what another gets.

use reqwest::Method;
use serde_json::{Value, json};
use tui_blackbox::{Server, User};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Caller {
    Anonymous,
    Member,
    Viewer,
    Contributor,
    Maintainer,
    Owner,
    Moderator,
    Admin,
}

use Caller::*;

const CALLERS: [Caller; 8] = [Anonymous, Member, Viewer, Contributor, Maintainer, Owner, Moderator, Admin];

/// Method, path and body of a route; `{p}` is the project, `{owner}` its owner, `{c}` its
/// contributor, `{t}` a bystander user, `{ts}` one of the bystander's sessions and `{tk}` one of
/// the bystander's API keys. Expected statuses are in the order of `CALLERS`.
const TABLE: &[(&str, &str, Option<&str>, [u16; 8])] = &[
    // Accounts and sessions: anyone signed in, for themselves only.
    ("GET", "/v1/auth/me", None, [401, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/auth/sessions", None, [401, 200, 200, 200, 200, 200, 200, 200]),
    ("DELETE", "/v1/auth/sessions/{ts}", None, [401, 404, 404, 404, 404, 404, 404, 404]),
    ("POST", "/v1/auth/logout", None, [401, 204, 204, 204, 204, 204, 204, 204]),
    ("POST", "/v1/auth/logout-all", None, [401, 204, 204, 204, 204, 204, 204, 204]),
    (
        "POST",
        "/v1/auth/password",
        Some(r#"{"current_password": "not it", "new_password": "quartz-meadow-signal-31"}"#),
        [401, 422, 422, 422, 422, 422, 422, 422],
    ),
    ("POST", "/v1/auth/api-keys", Some(r#"{"name": "k", "scopes": ["read"]}"#), [401, 201, 201, 201, 201, 201, 201, 201]),
    ("GET", "/v1/auth/api-keys", None, [401, 200, 200, 200, 200, 200, 200, 200]),
    ("DELETE", "/v1/auth/api-keys/{tk}", None, [401, 404, 404, 404, 404, 404, 404, 404]),
    ("POST", "/v1/auth/device/approve", Some(r#"{"user_code": "BCDF-GHJK", "approve": true}"#), [401, 422, 422, 422, 422, 422, 422, 422]),
    // Users: themselves or an admin; roles, unlocking and the audit log: admins only.
    ("GET", "/v1/users", None, [401, 403, 403, 403, 403, 403, 403, 200]),
    ("GET", "/v1/users/{t}", None, [401, 404, 404, 404, 404, 404, 404, 200]),
    ("PATCH", "/v1/users/{t}", Some(r#"{"username": "renamed-{t8}"}"#), [401, 404, 404, 404, 404, 404, 404, 200]),
    ("PUT", "/v1/users/{t}/roles/moderator", None, [401, 403, 403, 403, 403, 403, 403, 200]),
    ("DELETE", "/v1/users/{t}/roles/moderator", None, [401, 403, 403, 403, 403, 403, 403, 200]),
    ("POST", "/v1/users/{t}/unlock", None, [401, 403, 403, 403, 403, 403, 403, 204]),
    ("GET", "/v1/audit", None, [401, 403, 403, 403, 403, 403, 403, 200]),
    // Projects: members by role; a project is invisible (404) to everyone else, admins included.
    ("POST", "/v1/projects", Some(r#"{"name": "new"}"#), [401, 201, 201, 201, 201, 201, 201, 201]),
    ("GET", "/v1/projects", None, [401, 200, 200, 200, 200, 200, 200, 200]),
    ("GET", "/v1/projects/{p}", None, [401, 404, 200, 200, 200, 200, 404, 404]),
    ("PATCH", "/v1/projects/{p}", Some(r#"{"name": "renamed"}"#), [401, 404, 403, 403, 200, 200, 404, 404]),
    ("DELETE", "/v1/projects/{p}", None, [401, 404, 403, 403, 403, 204, 404, 404]),
    ("GET", "/v1/projects/{p}/members", None, [401, 404, 200, 200, 200, 200, 404, 404]),
    ("GET", "/v1/projects/{p}/members/{owner}", None, [401, 404, 200, 200, 200, 200, 404, 404]),
    ("PUT", "/v1/projects/{p}/members/{t}", Some(r#"{"role": "viewer"}"#), [401, 404, 403, 403, 200, 200, 404, 404]),
    ("PUT", "/v1/projects/{p}/members/{t}", Some(r#"{"role": "owner"}"#), [401, 404, 403, 403, 403, 200, 404, 404]),
    // The contributor removing the contributor is leaving, which anyone may do.
    ("DELETE", "/v1/projects/{p}/members/{c}", None, [401, 404, 403, 204, 204, 204, 404, 404]),
    // Tasks: viewers read, contributors write, maintainers delete; invisible to non-members.
    ("POST", "/v1/projects/{p}/tasks", Some(r#"{"title": "t"}"#), [401, 404, 403, 201, 201, 201, 404, 404]),
    ("POST", "/v1/projects/{p}/tasks/batch", Some(r#"{"tasks": [{"title": "t"}]}"#), [401, 404, 403, 201, 201, 201, 404, 404]),
    ("GET", "/v1/projects/{p}/tasks", None, [401, 404, 200, 200, 200, 200, 404, 404]),
    ("GET", "/v1/tasks/{task}", None, [401, 404, 200, 200, 200, 200, 404, 404]),
    ("PATCH", "/v1/tasks/{task}", Some(r#"{"title": "renamed"}"#), [401, 404, 403, 200, 200, 200, 404, 404]),
    ("POST", "/v1/tasks/{task}/transitions", Some(r#"{"to": "running"}"#), [401, 404, 403, 200, 200, 200, 404, 404]),
    ("POST", "/v1/tasks/{task}/dependencies", Some(r#"{"depends_on": "{task2}"}"#), [401, 404, 403, 201, 201, 201, 404, 404]),
    ("DELETE", "/v1/tasks/{task3}/dependencies/{task2}", None, [401, 404, 403, 200, 200, 200, 404, 404]),
    ("GET", "/v1/tasks/{task}/graph", None, [401, 404, 200, 200, 200, 200, 404, 404]),
    ("GET", "/v1/tasks/{task}/history", None, [401, 404, 200, 200, 200, 200, 404, 404]),
    ("DELETE", "/v1/tasks/{task}", None, [401, 404, 403, 403, 204, 204, 404, 404]),
];

/// One row's world: a user of every kind, a project with a member of every role and three
/// tasks (the third depending on the second), a bystander.
struct Cast {
    users: Vec<(Caller, User)>,
    project: String,
    tasks: Vec<String>,
    bystander: User,
    bystander_session: String,
    bystander_key: String,
}

async fn cast(server: &Server, admin: &User) -> Cast {
    let mut users = Vec::new();
    for caller in CALLERS.into_iter().filter(|c| *c != Anonymous) {
        users.push((caller, server.user().await));
    }
    let user = |caller: Caller| users.iter().find(|(c, _)| *c == caller).map(|(_, u)| u.clone()).expect("cast");
    // Everyone owns a project of their own, so that a guard that asks "a role in some project"
    // instead of "a role in this one" lets them through and the table shows it.
    for (_, someone) in &users {
        server.project(someone, "their own").await;
    }
    let owner = user(Owner);
    let project = server.project(&owner, "guarded").await;
    for (caller, role) in [(Viewer, "viewer"), (Contributor, "contributor"), (Maintainer, "maintainer")] {
        server.add_member(&owner, &project, &user(caller), role).await;
    }
    for (caller, role) in [(Moderator, "moderator"), (Admin, "admin")] {
        let path = format!("/v1/users/{}/roles/{role}", user(caller).id);
        assert_eq!(server.call(Method::PUT, &path, Some(&admin.token), None).await.status, 200);
    }
    let batch = json!({"tasks": [{"title": "one"}, {"key": "two", "title": "two"}, {"title": "three", "depends_on": [{"key": "two"}]}]});
    let created = server.post(&format!("/v1/projects/{project}/tasks/batch"), Some(&owner.token), batch).await;
    let tasks = created.body["items"].as_array().expect("tasks").iter().map(|t| t["id"].as_str().expect("an id").to_owned()).collect();
    let bystander = server.user().await;
    let sessions = server.get("/v1/auth/sessions", Some(&bystander.token)).await;
    let bystander_session = sessions.body["items"][0]["id"].as_str().expect("a session").to_owned();
    let key = server.post("/v1/auth/api-keys", Some(&bystander.token), json!({"name": "b", "scopes": ["read"]})).await;
    let bystander_key = key.body["id"].as_str().expect("a key").to_owned();
    Cast { users, project, tasks, bystander, bystander_session, bystander_key }
}

fn fill(text: &str, cast: &Cast) -> String {
    let id = |caller: Caller| cast.users.iter().find(|(c, _)| *c == caller).map(|(_, u)| u.id.clone()).expect("cast");
    text.replace("{p}", &cast.project)
        .replace("{task}", &cast.tasks[0])
        .replace("{task2}", &cast.tasks[1])
        .replace("{task3}", &cast.tasks[2])
        .replace("{owner}", &id(Owner))
        .replace("{c}", &id(Contributor))
        .replace("{ts}", &cast.bystander_session)
        .replace("{tk}", &cast.bystander_key)
        .replace("{t8}", &cast.bystander.id[28..])
        .replace("{t}", &cast.bystander.id)
}

#[tokio::test]
async fn every_protected_route_answers_each_kind_of_caller_as_the_table_says() {
    let server = Server::start().await;
    let admin = server.admin().await;
    let mut failures = Vec::new();
    for (method, path, body, expected) in TABLE {
        let mut cast = cast(&server, &admin).await;
        let mut changed = false;
        for (caller, expected) in CALLERS.into_iter().zip(expected) {
            // A change made as one caller must not decide what the next one gets.
            if changed {
                cast = self::cast(&server, &admin).await;
            }
            changed = *method != "GET" && caller != Anonymous;
            let token = cast.users.iter().find(|(c, _)| *c == caller).map(|(_, u)| u.token.clone());
            let body: Option<Value> = body.map(|b| serde_json::from_str(&fill(b, &cast)).expect("a JSON body"));
            let verb = Method::from_bytes(method.as_bytes()).expect("a method");
            let reply = server.call(verb, &fill(path, &cast), token.as_deref(), body).await;
            if reply.status.as_u16() != *expected {
                failures.push(format!("{method} {path} as {caller:?}: expected {expected}, got {} {}", reply.status, reply.body));
            } else if *expected >= 400 && reply.header("content-type") != Some("application/problem+json") {
                failures.push(format!("{path} as {caller:?}: {expected} is not problem+json"));
            }
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}
