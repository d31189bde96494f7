//! Single sign-on with OpenID Connect, against the fake provider the tests start.

use reqwest::Method;
use serde_json::json;
use tui_blackbox::{PASSWORD, Reply, Server};

/// Says who the provider signs in for the login hint `hint` (a new subject unless one is given).
async fn next_person(server: &Server, hint: &str, email: &str, verified: bool, rogue: bool) -> String {
    person(server, hint, &uuid::Uuid::now_v7().to_string(), email, verified, rogue).await
}

async fn person(server: &Server, hint: &str, subject: &str, email: &str, verified: bool, rogue: bool) -> String {
    let issuer = server.oidc_issuer.as_deref().expect("a fake provider");
    let person = json!({"hint": hint, "subject": subject, "email": email, "email_verified": verified, "rogue": rogue});
    let reply = reqwest::Client::new().post(format!("{issuer}/test/person")).json(&person).send().await.expect("the provider");
    assert_eq!(reply.status(), 204);
    subject.to_owned()
}

/// Follows start → provider → callback for `hint`, returning the callback's answer and its URL.
async fn sign_in(server: &Server, hint: &str, device_user_code: Option<&str>) -> (Reply, String) {
    let device = device_user_code.map(|c| format!("&device_user_code={c}")).unwrap_or_default();
    let start = server.get(&format!("/v1/auth/oauth/fake/start?login_hint={hint}{device}"), None).await;
    assert_eq!(start.status, 302, "{}", start.body);
    let authorize = start.header("location").expect("to the provider").to_owned();
    assert!(authorize.contains("code_challenge_method=S256") && authorize.contains("nonce="));
    let provider = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let back = provider.get(&authorize).send().await.expect("the provider");
    assert_eq!(back.status(), 302, "{}", back.text().await.unwrap_or_default());
    let callback = back.headers()["location"].to_str().unwrap().to_owned();
    let path = callback.strip_prefix(&server.base).expect("back to this service").to_owned();
    (server.get(&path, None).await, path)
}

fn fresh_email() -> String {
    format!("sso-{}@example.com", &uuid::Uuid::now_v7().simple().to_string()[20..])
}

fn fresh_hint() -> String {
    format!("hint-{}", uuid::Uuid::now_v7().simple())
}

#[tokio::test]
async fn a_provider_identity_creates_an_account_once_and_signs_it_in_after() {
    let server = Server::start().await;
    let (email, hint) = (fresh_email(), fresh_hint());
    let subject = next_person(&server, &hint, &email, true, false).await;
    let (first, path) = sign_in(&server, &hint, None).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let me = server.get("/v1/auth/me", first.body["access_token"].as_str()).await;
    assert_eq!(me.body["email"], email.as_str());

    let replay = server.get(&path, None).await;
    replay.problem(401, "unauthorized");

    // The identity is linked by its subject: a changed email at the provider still signs in
    // the same account.
    person(&server, &hint, &subject, &fresh_email(), true, false).await;
    let (second, _) = sign_in(&server, &hint, None).await;
    let again = server.get("/v1/auth/me", second.body["access_token"].as_str()).await;
    assert_eq!(again.body["id"], me.body["id"]);
}

#[tokio::test]
async fn a_verified_email_links_to_the_existing_account_and_an_unverified_one_does_not() {
    let server = Server::start().await;
    let (user, hint) = (server.user().await, fresh_hint());
    next_person(&server, &hint, &user.email, false, false).await;
    let (unverified, _) = sign_in(&server, &hint, None).await;
    unverified.problem(403, "forbidden");

    next_person(&server, &hint, &user.email, true, false).await;
    let (linked, _) = sign_in(&server, &hint, None).await;
    assert_eq!(linked.status, 200, "{}", linked.body);
    let me = server.get("/v1/auth/me", linked.body["access_token"].as_str()).await;
    assert_eq!(me.body["id"], user.id.as_str());
    assert_eq!(server.login(&user.email, PASSWORD).await.status, 200, "the password still works");
}

#[tokio::test]
async fn an_id_token_signed_with_another_key_or_a_forged_state_is_refused() {
    let server = Server::start().await;
    let hint = fresh_hint();
    next_person(&server, &hint, &fresh_email(), true, true).await;
    let (rogue, _) = sign_in(&server, &hint, None).await;
    rogue.problem(401, "unauthorized");
    server.get("/v1/auth/oauth/fake/callback?code=x&state=made-up", None).await.problem(401, "unauthorized");
    server.get("/v1/auth/oauth/fake/callback?error=access_denied", None).await.problem(401, "unauthorized");
    server.get("/v1/auth/oauth/nowhere/start", None).await.problem(404, "not_found");
}

#[tokio::test]
async fn signing_in_with_a_provider_can_finish_a_device_login() {
    let server = Server::start().await;
    let code = server.post("/v1/auth/device/code", None, json!({})).await;
    let user_code = code.body["user_code"].as_str().unwrap();
    let (email, hint) = (fresh_email(), fresh_hint());
    next_person(&server, &hint, &email, true, false).await;
    let (page, _) = sign_in(&server, &hint, Some(user_code)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.as_str().unwrap().contains("Approved"));
    let tokens = server.post("/v1/auth/device/token", None, json!({"device_code": code.body["device_code"]})).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let me = server.call(Method::GET, "/v1/auth/me", tokens.body["access_token"].as_str(), None).await;
    assert_eq!(me.body["email"], email.as_str());
}
