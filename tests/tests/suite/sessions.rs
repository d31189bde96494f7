//! Sessions: refresh rotation with reuse detection, sign-out, listing and revoking sessions.

use reqwest::Method;
use serde_json::json;
use tui_blackbox::{PASSWORD, Server};

#[tokio::test]
async fn a_refresh_token_works_once_and_its_reuse_ends_the_session() {
    let server = Server::start().await;
    let user = server.user().await;
    let first = server.post("/v1/auth/refresh", None, json!({"refresh_token": user.refresh_token})).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let child = first.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(child, user.refresh_token);
    assert_eq!(first.header("cache-control"), Some("no-store"));
    assert_eq!(server.get("/v1/auth/me", first.body["access_token"].as_str()).await.status, 200);
    let second = server.post("/v1/auth/refresh", None, json!({"refresh_token": child})).await;
    assert_eq!(second.status, 200, "{}", second.body);

    // The spent parent comes back after its successor was used: someone else has it. The
    // whole family dies, and with it every access token of the session.
    server.post("/v1/auth/refresh", None, json!({"refresh_token": user.refresh_token})).await.problem(401, "unauthorized");
    server.post("/v1/auth/refresh", None, json!({"refresh_token": second.body["refresh_token"]})).await.problem(401, "unauthorized");
    server.get("/v1/auth/me", second.body["access_token"].as_str()).await.problem(401, "session_revoked");
    server.post("/v1/auth/refresh", None, json!({"refresh_token": "tui_rt_made-up"})).await.problem(401, "unauthorized");
}

#[tokio::test]
async fn logging_out_spends_the_sessions_refresh_token() {
    let server = Server::start().await;
    let user = server.user().await;
    let other = server.login(&user.username, PASSWORD).await;
    let reply = server.call(Method::POST, "/v1/auth/logout", Some(&user.token), None).await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    server.post("/v1/auth/refresh", None, json!({"refresh_token": user.refresh_token})).await.problem(401, "unauthorized");
    let still = server.post("/v1/auth/refresh", None, json!({"refresh_token": other.body["refresh_token"]})).await;
    assert_eq!(still.status, 200, "the other session lives on: {}", still.body);
}

#[tokio::test]
async fn logging_out_everywhere_ends_every_session() {
    let server = Server::start().await;
    let user = server.user().await;
    let other = server.login(&user.email, PASSWORD).await;
    let reply = server.call(Method::POST, "/v1/auth/logout-all", Some(&user.token), None).await;
    assert_eq!(reply.status, 204);
    for token in [user.refresh_token.as_str(), other.body["refresh_token"].as_str().unwrap()] {
        server.post("/v1/auth/refresh", None, json!({"refresh_token": token})).await.problem(401, "unauthorized");
    }
}

#[tokio::test]
async fn sessions_are_listed_in_pages_newest_first() {
    let server = Server::start().await;
    let user = server.user().await;
    let mut begun = Vec::new();
    for _ in 0..4 {
        let login = server.login(&user.username, PASSWORD).await;
        assert_eq!(login.status, 200, "{}", login.body);
        begun.push(login.body["access_token"].as_str().unwrap().to_owned());
    }
    let newest = begun.last().unwrap();
    let (mut ids, mut current, mut cursor, mut pages) = (Vec::new(), Vec::new(), None::<String>, 0);
    loop {
        let path = cursor.as_ref().map_or("/v1/auth/sessions?limit=2".to_owned(), |c| format!("/v1/auth/sessions?limit=2&cursor={c}"));
        let page = server.get(&path, Some(newest)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        for session in page.body["items"].as_array().unwrap() {
            ids.push(session["id"].as_str().unwrap().to_owned());
            current.push(session["current"] == true);
        }
        pages += 1;
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    // The registration's session and the four sign-ins', each once, the one asking first.
    assert_eq!(current, [true, false, false, false, false]);
    let mut sorted = ids.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(sorted, ids);
    server.get("/v1/auth/sessions?limit=101", Some(newest)).await.problem(422, "validation_failed");
    server.get("/v1/auth/sessions?cursor=%25%25", Some(newest)).await.problem(422, "validation_failed");
}

#[tokio::test]
async fn users_list_and_revoke_their_own_sessions_only() {
    let server = Server::start().await;
    let user = server.user().await;
    let stranger = server.user().await;
    let laptop = server
        .raw(
            Method::POST,
            "/v1/auth/login",
            &[("content-type", "application/json"), ("user-agent", "claude-tui/1.0 laptop")],
            Some(serde_json::to_vec(&json!({"login": user.username, "password": PASSWORD})).unwrap()),
        )
        .await;
    let sessions = server.get("/v1/auth/sessions", Some(&user.token)).await;
    assert_eq!(sessions.status, 200, "{}", sessions.body);
    let list = sessions.body["items"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list.iter().filter(|s| s["current"] == true).count(), 1);
    let laptop_session = list.iter().find(|s| s["user_agent"] == "claude-tui/1.0 laptop").expect("the laptop session");
    let id = laptop_session["id"].as_str().unwrap();
    assert!(laptop_session["last_seen_at"].is_string());

    let theirs = server.call(Method::DELETE, &format!("/v1/auth/sessions/{id}"), Some(&stranger.token), None).await;
    theirs.problem(404, "not_found");
    let mine = server.call(Method::DELETE, &format!("/v1/auth/sessions/{id}"), Some(&user.token), None).await;
    assert_eq!(mine.status, 204);
    server.post("/v1/auth/refresh", None, json!({"refresh_token": laptop.body["refresh_token"]})).await.problem(401, "unauthorized");
    assert_eq!(server.get("/v1/auth/sessions", Some(&user.token)).await.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn two_racing_refreshes_of_one_token_both_get_the_same_successor() {
    let server = Server::start().await;
    let user = server.user().await;
    let body = json!({"refresh_token": user.refresh_token});
    let (a, b) = tokio::join!(server.post("/v1/auth/refresh", None, body.clone()), server.post("/v1/auth/refresh", None, body.clone()));
    assert_eq!((a.status.as_u16(), b.status.as_u16()), (200, 200), "{} / {}", a.body, b.body);
    assert_eq!(a.body["refresh_token"], b.body["refresh_token"]);
    // A client that lost the answer asks again a moment later: the same successor, no revocation.
    let again = server.post("/v1/auth/refresh", None, body).await;
    assert_eq!(again.body["refresh_token"], a.body["refresh_token"]);
    let next = server.post("/v1/auth/refresh", None, json!({"refresh_token": a.body["refresh_token"]})).await;
    assert_eq!(next.status, 200, "the session lives on: {}", next.body);
}

#[tokio::test]
async fn a_spent_refresh_token_after_the_reuse_interval_revokes_the_session() {
    let Some(server) = Server::native_with(&[("REFRESH_REUSE_INTERVAL_S", "1")]).await else { return };
    let user = server.user().await;
    let first = server.post("/v1/auth/refresh", None, json!({"refresh_token": user.refresh_token})).await;
    assert_eq!(first.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    server.post("/v1/auth/refresh", None, json!({"refresh_token": user.refresh_token})).await.problem(401, "unauthorized");
    server.get("/v1/auth/me", first.body["access_token"].as_str()).await.problem(401, "session_revoked");
}

#[tokio::test]
async fn signing_out_everywhere_takes_an_empty_or_null_body() {
    let server = Server::start().await;
    let user = server.user().await;
    let auth = format!("Bearer {}", user.token);
    let headers = [("content-type", "application/json"), ("authorization", auth.as_str())];
    let null = server.raw(Method::POST, "/v1/auth/logout-all", &headers, Some(b"null".to_vec())).await;
    assert_eq!(null.status, 204, "{}", null.body);
}
