//! Password change, and reset by mail.

use serde_json::json;
use tui_blackbox::{PASSWORD, Server};

const NEW_PASSWORD: &str = "amber-harbor-lantern-77";

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_ends_other_sessions() {
    let server = Server::start().await;
    let user = server.user().await;
    let elsewhere = server.login(&user.email, PASSWORD).await;
    let wrong = server
        .post("/v1/auth/password", Some(&user.token), json!({"current_password": "not it at all", "new_password": NEW_PASSWORD}))
        .await;
    wrong.problem(422, "validation_failed");
    assert_eq!(wrong.field(), "current_password");
    let weak =
        server.post("/v1/auth/password", Some(&user.token), json!({"current_password": PASSWORD, "new_password": "password1234"})).await;
    assert_eq!(weak.field(), "new_password");

    let changed =
        server.post("/v1/auth/password", Some(&user.token), json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})).await;
    assert_eq!(changed.status, 204, "{}", changed.body);
    server.login(&user.email, PASSWORD).await.problem(401, "unauthorized");
    assert_eq!(server.login(&user.email, NEW_PASSWORD).await.status, 200);
    server.post("/v1/auth/refresh", None, json!({"refresh_token": elsewhere.body["refresh_token"]})).await.problem(401, "unauthorized");
    let mine = server.post("/v1/auth/refresh", None, json!({"refresh_token": user.refresh_token})).await;
    assert_eq!(mine.status, 200, "the session that changed it goes on");
}

#[tokio::test]
async fn a_reset_is_always_accepted_and_only_mailed_to_real_accounts() {
    let server = Server::start().await;
    let user = server.user().await;
    for email in [user.email.as_str(), "nobody-here@example.com"] {
        let reply = server.post("/v1/auth/password-reset", None, json!({"email": email})).await;
        assert_eq!(reply.status, 202, "{}", reply.body);
        assert!(reply.body.is_null());
    }
    let Some(sink) = &server.mail else { return };
    assert_eq!(sink.about(&user.email, "Reset").len(), 1);
    assert!(sink.to("nobody-here@example.com").is_empty());
}

#[tokio::test]
async fn a_mailed_reset_token_sets_a_new_password_once_and_ends_every_session() {
    let server = Server::start().await;
    let Some(sink) = server.mail.clone() else { return };
    let user = server.user().await;
    assert_eq!(server.post("/v1/auth/password-reset", None, json!({"email": user.email})).await.status, 202);
    let mail = sink.about(&user.email, "Reset").pop().expect("the reset mail");
    let text = mail["text"].as_str().unwrap();
    let token = text.split_whitespace().find(|w| w.starts_with("tui_pr_")).expect("a token in the mail");

    let confirm = json!({"token": token, "new_password": NEW_PASSWORD});
    let reply = server.post("/v1/auth/password-reset/confirm", None, confirm.clone()).await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    let again = server.post("/v1/auth/password-reset/confirm", None, json!({"token": token, "new_password": "a-third-password-99"})).await;
    again.problem(422, "validation_failed");
    assert_eq!(again.field(), "token");

    assert_eq!(server.login(&user.email, NEW_PASSWORD).await.status, 200);
    server.login(&user.email, PASSWORD).await.problem(401, "unauthorized");
    server.post("/v1/auth/refresh", None, json!({"refresh_token": user.refresh_token})).await.problem(401, "unauthorized");
    let made_up = json!({"token": "tui_pr_made-up", "new_password": NEW_PASSWORD});
    server.post("/v1/auth/password-reset/confirm", None, made_up).await.problem(422, "validation_failed");
}
