//! Personal API keys: shown once, usable as bearer tokens within their scopes, revocable.

use reqwest::Method;
use serde_json::json;
use tui_blackbox::Server;

#[tokio::test]
async fn a_key_is_shown_once_and_works_as_a_bearer_token_within_its_scopes() {
    let server = Server::start().await;
    let user = server.user().await;
    let created = server.post("/v1/auth/api-keys", Some(&user.token), json!({"name": "laptop", "scopes": ["read"]})).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let key = created.body["key"].as_str().unwrap();
    assert!(key.starts_with("tui_pat_"));
    assert!(key.starts_with(created.body["prefix"].as_str().unwrap()));

    let me = server.get("/v1/auth/me", Some(key)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["id"], user.id.as_str());
    server.post("/v1/projects", Some(key), json!({"name": "nope"})).await.problem(403, "forbidden");
    server.post("/v1/auth/api-keys", Some(key), json!({"name": "child", "scopes": ["read"]})).await.problem(403, "forbidden");

    let listed = server.get("/v1/auth/api-keys", Some(&user.token)).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert!(listed.body[0].get("key").is_none(), "the key is never shown again");

    let writer = server.post("/v1/auth/api-keys", Some(&user.token), json!({"name": "ci", "scopes": ["read", "write"]})).await;
    let writer_key = writer.body["key"].as_str().unwrap();
    assert_eq!(server.post("/v1/projects", Some(writer_key), json!({"name": "from ci"})).await.status, 201);
}

#[tokio::test]
async fn a_revoked_or_expired_key_stops_working_and_only_its_owner_revokes_it() {
    let server = Server::start().await;
    let user = server.user().await;
    let stranger = server.user().await;
    let created = server.post("/v1/auth/api-keys", Some(&user.token), json!({"name": "temp", "scopes": ["read"]})).await;
    let (id, key) = (created.body["id"].as_str().unwrap(), created.body["key"].as_str().unwrap());

    let theirs = server.call(Method::DELETE, &format!("/v1/auth/api-keys/{id}"), Some(&stranger.token), None).await;
    theirs.problem(404, "not_found");
    assert_eq!(server.get("/v1/auth/me", Some(key)).await.status, 200);
    let mine = server.call(Method::DELETE, &format!("/v1/auth/api-keys/{id}"), Some(&user.token), None).await;
    assert_eq!(mine.status, 204);
    server.get("/v1/auth/me", Some(key)).await.problem(401, "unauthorized");

    let past = json!({"name": "old", "scopes": ["read"], "expires_at": "2020-01-01T00:00:00Z"});
    server.post("/v1/auth/api-keys", Some(&user.token), past).await.problem(422, "validation_failed");
    for bad in [json!({"name": "", "scopes": ["read"]}), json!({"name": "x", "scopes": []}), json!({"name": "x", "scopes": ["root"]})] {
        server.post("/v1/auth/api-keys", Some(&user.token), bad).await.problem(422, "validation_failed");
    }
    server.get("/v1/auth/me", Some("tui_pat_made-up")).await.problem(401, "unauthorized");
}
