//! Sign-up, sign-in and the signed-in user, and the tokens that must not work.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::json;
use tui_blackbox::{PASSWORD, Server, TEST_JWT_SECRET, forge_token, session_of};
use tui_shared::time::Timestamp;

#[tokio::test]
async fn registering_signs_the_user_in() {
    let server = Server::start().await;
    let name = format!("Grace_{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let reply = server
        .post("/v1/auth/register", None, json!({"email": format!("{name}@Example.COM"), "username": name, "password": PASSWORD}))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["user"]["email"], format!("{}@example.com", name.to_lowercase()));
    assert_eq!(reply.body["user"]["username"], name);
    assert_eq!(reply.body["user"]["roles"], json!(["member"]));
    assert_eq!(reply.body["token_type"], "Bearer");
    assert_eq!(reply.body["expires_in"], 900);
    assert!(reply.body["refresh_token"].as_str().unwrap().starts_with("tui_rt_"));
    assert!(reply.body["user"].get("password_hash").is_none());
    let me = server.get("/v1/auth/me", reply.body["access_token"].as_str()).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["id"], reply.body["user"]["id"]);
}

#[tokio::test]
async fn emails_and_usernames_are_unique_regardless_of_case() {
    let server = Server::start().await;
    let user = server.user().await;
    let same_email = json!({"email": user.email.to_uppercase(), "username": format!("{}x", user.username), "password": PASSWORD});
    let reply = server.post("/v1/auth/register", None, same_email).await;
    reply.problem(409, "conflict");
    assert_eq!(reply.field(), "email");
    let same_name = json!({"email": format!("x{}", user.email), "username": user.username.to_uppercase(), "password": PASSWORD});
    let reply = server.post("/v1/auth/register", None, same_name).await;
    reply.problem(409, "conflict");
    assert_eq!(reply.field(), "username");
}

#[tokio::test]
async fn weak_passwords_are_refused() {
    let server = Server::start().await;
    for password in ["short", "password1234", "Qwerty123456", "aaaaaaaaaaaaaaaa"] {
        let body = json!({"email": "weak@example.com", "username": "weakling", "password": password});
        let reply = server.post("/v1/auth/register", None, body).await;
        reply.problem(422, "validation_failed");
        assert_eq!(reply.field(), "password", "{password}");
    }
}

#[tokio::test]
async fn users_sign_in_with_email_or_username() {
    let server = Server::start().await;
    let user = server.user().await;
    for login in [user.email.clone(), user.username.clone(), user.email.to_uppercase()] {
        let reply = server.post("/v1/auth/login", None, json!({"login": login, "password": PASSWORD})).await;
        assert_eq!(reply.status, 200, "{login}: {}", reply.body);
        let me = server.get("/v1/auth/me", reply.body["access_token"].as_str()).await;
        assert_eq!(me.body["id"], user.id.as_str());
    }
}

#[tokio::test]
async fn wrong_credentials_get_the_same_answer_whether_or_not_the_user_exists() {
    let server = Server::start().await;
    let user = server.user().await;
    let wrong_password = server.post("/v1/auth/login", None, json!({"login": user.email, "password": "not-the-password"})).await;
    let no_such_user = server.post("/v1/auth/login", None, json!({"login": "nobody@example.com", "password": "not-the-password"})).await;
    wrong_password.problem(401, "unauthorized");
    no_such_user.problem(401, "unauthorized");
    assert_eq!(wrong_password.body["detail"], no_such_user.body["detail"]);
    assert_eq!(wrong_password.header("www-authenticate"), Some("Bearer"));
}

#[tokio::test]
async fn me_needs_a_valid_access_token() {
    let server = Server::start().await;
    let user = server.user().await;
    server.get("/v1/auth/me", None).await.problem(401, "unauthorized");
    server.get("/v1/auth/me", Some("garbage")).await.problem(401, "unauthorized");
    server.get("/v1/auth/me", Some(&user.refresh_token)).await.problem(401, "unauthorized");
    let basic = server.raw(reqwest::Method::GET, "/v1/auth/me", &[("authorization", "Basic YWRhOnB3")], None).await;
    basic.problem(401, "unauthorized");
    assert_eq!(basic.header("www-authenticate"), Some("Bearer"));
}

#[tokio::test]
async fn forged_unsigned_and_expired_tokens_are_refused() {
    let server = Server::start().await;
    let user = server.user().await;
    let now = Timestamp::now_utc();

    let sid = session_of(&user.token);
    let valid = forge_token(TEST_JWT_SECRET, &user.id, sid, now, Duration::from_secs(900));
    assert_eq!(server.get("/v1/auth/me", Some(&valid)).await.status, 200, "the test secret must match the host's");
    // The token claims admin; roles come from the account, not the token.
    server.get("/v1/users", Some(&valid)).await.problem(403, "forbidden");
    // A well-signed token is only as good as its session.
    let no_session = forge_token(TEST_JWT_SECRET, &user.id, uuid::Uuid::now_v7(), now, Duration::from_secs(900));
    server.get("/v1/auth/me", Some(&no_session)).await.problem(401, "session_revoked");

    let other_key = forge_token("some-other-secret-that-is-long-enough-xyz", &user.id, sid, now, Duration::from_secs(900));
    server.get("/v1/auth/me", Some(&other_key)).await.problem(401, "unauthorized");

    let expired = forge_token(TEST_JWT_SECRET, &user.id, sid, now - Duration::from_secs(3600), Duration::from_secs(900));
    server.get("/v1/auth/me", Some(&expired)).await.problem(401, "unauthorized");

    let parts: Vec<&str> = user.token.split('.').collect();
    let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let none = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT", "kid": header["kid"]}).to_string());
    server.get("/v1/auth/me", Some(&format!("{none}.{}.", parts[1]))).await.problem(401, "unauthorized");

    let mut claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["roles"] = json!(["admin"]);
    let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]);
    server.get("/v1/auth/me", Some(&tampered)).await.problem(401, "unauthorized");
}
