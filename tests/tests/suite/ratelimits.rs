//! Rate limits on the auth routes, with the contract's headers.

use serde_json::json;
use tui_blackbox::{PASSWORD, Server};

#[tokio::test]
async fn sign_ins_are_limited_per_account_with_headers_that_count_down() {
    let server = Server::start().await;
    let user = server.user().await;
    for attempt in 1..=10 {
        let reply = server.login(&user.username, PASSWORD).await;
        assert_eq!(reply.status, 200, "attempt {attempt}: {}", reply.body);
        assert_eq!(reply.header("ratelimit-limit"), Some("10"));
        assert_eq!(reply.header("ratelimit-remaining"), Some((10 - attempt).to_string().as_str()));
        assert!(reply.header("ratelimit-reset").is_some_and(|r| r.parse::<u64>().is_ok_and(|r| r <= 60)));
    }
    let limited = server.login(&user.username, PASSWORD).await;
    limited.problem(429, "rate_limited");
    assert!(limited.header("retry-after").is_some_and(|r| r.parse::<u64>().is_ok_and(|r| (1..=60).contains(&r))));
    assert_eq!(limited.header("ratelimit-remaining"), Some("0"));
    // Another account from the same address is not affected.
    let other = server.user().await;
    assert_eq!(server.login(&other.email, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn reset_mail_is_limited_per_address() {
    let server = Server::start().await;
    let user = server.user().await;
    for _ in 0..3 {
        assert_eq!(server.post("/v1/auth/password-reset", None, json!({"email": user.email})).await.status, 202);
    }
    server.post("/v1/auth/password-reset", None, json!({"email": user.email})).await.problem(429, "rate_limited");
    if let Some(sink) = &server.mail {
        assert_eq!(sink.about(&user.email, "Reset").len(), 3, "the limited request sent nothing");
    }
}

#[tokio::test]
async fn sign_ups_and_sign_ins_are_limited_per_address_at_the_contracts_rates() {
    // The contract's per-address limits, on a host of this test's own (the shared suite lifts them).
    let Some(server) = Server::native_with(&[]).await else { return };
    for n in 0..3 {
        let body = json!({"email": format!("n{n}@example.com"), "username": format!("newcomer{n}"), "password": PASSWORD});
        let reply = server.post("/v1/auth/register", None, body).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        assert_eq!(reply.header("ratelimit-limit"), Some("3"));
    }
    let fourth = json!({"email": "n3@example.com", "username": "newcomer3", "password": PASSWORD});
    server.post("/v1/auth/register", None, fourth).await.problem(429, "rate_limited");

    for n in 0..10 {
        let reply = server.login(&format!("nobody{n}"), "wrong password").await;
        reply.problem(401, "unauthorized");
    }
    server.login("newcomer0", PASSWORD).await.problem(429, "rate_limited");
}

#[tokio::test]
async fn a_strangers_failed_sign_ins_do_not_make_the_owners_signed_in_device_wait() {
    // The contract's per-account limit, with the per-address ones lifted: the stranger may come
    // from anywhere.
    let lifted = [("RATE_LIMIT_LOGIN_PER_MINUTE_PER_IP", "1000000"), ("RATE_LIMIT_REGISTER_PER_HOUR_PER_IP", "1000000")];
    let Some(server) = Server::native_with(&lifted).await else { return };
    let owner = server.user().await;
    for attempt in 0..10 {
        let status = server.login(&owner.username, &format!("stranger guess {attempt}")).await.status.as_u16();
        assert!([401, 423].contains(&status), "guess {attempt}: {status}");
    }
    server.login(&owner.username, PASSWORD).await.problem(429, "rate_limited");

    let sign_in = |token: String| {
        let body = serde_json::to_vec(&json!({"login": owner.username, "password": PASSWORD})).unwrap();
        let server = &server;
        async move {
            let auth = format!("Bearer {token}");
            server
                .raw(reqwest::Method::POST, "/v1/auth/login", &[("content-type", "application/json"), ("authorization", &auth)], Some(body))
                .await
        }
    };
    // The device the owner is signed in on has an allowance of its own.
    let mine = sign_in(owner.token.clone()).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(mine.header("ratelimit-remaining"), Some("9"));
    // A session of another account is no key to the owner's allowance.
    let stranger = server.user().await;
    sign_in(stranger.token.clone()).await.problem(429, "rate_limited");
    server.login(&owner.username, PASSWORD).await.problem(429, "rate_limited");
}
