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

/// One browser's trip through start → provider → callback for `hint`: the callback's answer,
/// its path, and the browser's binding cookie (sent to the callback as a browser would).
async fn sign_in(server: &Server, hint: &str, device_user_code: Option<&str>) -> (Reply, String, String) {
    let device = device_user_code.map(|c| format!("&device_user_code={c}")).unwrap_or_default();
    let start = server.get(&format!("/v1/auth/oauth/fake/start?login_hint={hint}{device}"), None).await;
    assert_eq!(start.status, 302, "{}", start.body);
    let cookie = start.cookie("__Host-tui_sso").expect("the sign-in is bound to this browser");
    let set = start.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect::<Vec<_>>().join("\n");
    assert!(set.contains("Secure") && set.contains("HttpOnly") && set.contains("Path=/"), "{set}");
    let authorize = start.header("location").expect("to the provider").to_owned();
    assert!(authorize.contains("code_challenge_method=S256") && authorize.contains("nonce="));
    let path = at_provider(server, &authorize).await;
    (server.raw(Method::GET, &path, &[("cookie", &cookie)], None).await, path, cookie)
}

/// The provider's part: where it sends the browser back.
async fn at_provider(server: &Server, authorize: &str) -> String {
    let provider = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let back = provider.get(authorize).send().await.expect("the provider");
    assert_eq!(back.status(), 302, "{}", back.text().await.unwrap_or_default());
    let callback = back.headers()["location"].to_str().unwrap().to_owned();
    callback.strip_prefix(&server.base).expect("back to this service").to_owned()
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
    let (first, path, cookie) = sign_in(&server, &hint, None).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.header("cache-control"), Some("no-store"), "tokens are never cached");
    let me = server.get("/v1/auth/me", first.body["access_token"].as_str()).await;
    assert_eq!(me.body["email"], email.as_str());
    assert_eq!(me.body["email_verified"], true, "a provider trusted for emails vouches for it");

    server.raw(Method::GET, &path, &[("cookie", &cookie)], None).await.problem(401, "unauthorized");

    // The identity is linked by its subject: a changed email at the provider still signs in
    // the same account.
    person(&server, &hint, &subject, &fresh_email(), true, false).await;
    let (second, _, _) = sign_in(&server, &hint, None).await;
    let again = server.get("/v1/auth/me", second.body["access_token"].as_str()).await;
    assert_eq!(again.body["id"], me.body["id"]);
}

#[tokio::test]
async fn a_callback_finished_in_another_browser_is_refused() {
    let server = Server::start().await;
    let (email, hint) = (fresh_email(), fresh_hint());
    next_person(&server, &hint, &email, true, false).await;
    // The attacker starts a sign-in and sends the victim the provider's link; the victim's
    // browser comes back to the callback without the attacker's cookie.
    let start = server.get(&format!("/v1/auth/oauth/fake/start?login_hint={hint}"), None).await;
    let path = at_provider(&server, start.header("location").unwrap()).await;
    server.get(&path, None).await.problem(401, "unauthorized");
    let other = server.get(&format!("/v1/auth/oauth/fake/start?login_hint={hint}"), None).await;
    let other_browser = other.cookie("__Host-tui_sso").unwrap();
    server.raw(Method::GET, &path, &[("cookie", &other_browser)], None).await.problem(401, "unauthorized");
    let cookie = start.cookie("__Host-tui_sso").unwrap();
    let mine = server.raw(Method::GET, &path, &[("cookie", &cookie)], None).await;
    assert_eq!(mine.status, 200, "the starting browser still finishes: {}", mine.body);
}

#[tokio::test]
async fn an_email_links_only_to_a_verified_account_and_only_for_a_trusted_provider() {
    let server = Server::start().await;
    let (user, hint) = (server.user().await, fresh_hint());
    next_person(&server, &hint, &user.email, false, false).await;
    let (unverified, _, _) = sign_in(&server, &hint, None).await;
    unverified.problem(403, "forbidden");

    // The account never proved this address: whoever holds it at the provider cannot take it.
    next_person(&server, &hint, &user.email, true, false).await;
    let (not_proven, _, _) = sign_in(&server, &hint, None).await;
    not_proven.problem(409, "conflict");

    if server.mail.is_none() {
        return;
    }
    assert_eq!(server.confirm_email(&user.email).await.status, 204);
    next_person(&server, &hint, &user.email, true, false).await;
    let (linked, _, _) = sign_in(&server, &hint, None).await;
    assert_eq!(linked.status, 200, "{}", linked.body);
    let me = server.get("/v1/auth/me", linked.body["access_token"].as_str()).await;
    assert_eq!(me.body["id"], user.id.as_str());
    assert_eq!(server.login(&user.email, PASSWORD).await.status, 200, "the password still works");
}

#[tokio::test]
async fn a_provider_not_trusted_for_emails_never_links_by_email() {
    let Some(server) = Server::native_with(&[("OIDC_FAKE_TRUST_EMAIL", "false")]).await else { return };
    let (user, hint) = (server.user().await, fresh_hint());
    assert_eq!(server.confirm_email(&user.email).await.status, 204);
    next_person(&server, &hint, &user.email, true, false).await;
    let (refused, _, _) = sign_in(&server, &hint, None).await;
    refused.problem(409, "conflict");

    let (fresh, other_hint) = (fresh_email(), fresh_hint());
    next_person(&server, &other_hint, &fresh, true, false).await;
    let (created, _, _) = sign_in(&server, &other_hint, None).await;
    let me = server.get("/v1/auth/me", created.body["access_token"].as_str()).await;
    assert_eq!(me.body["email_verified"], false, "an untrusted provider's word does not verify the email");
}

#[tokio::test]
async fn an_id_token_signed_with_another_key_or_a_forged_state_is_refused() {
    let server = Server::start().await;
    let hint = fresh_hint();
    next_person(&server, &hint, &fresh_email(), true, true).await;
    let (rogue, _, _) = sign_in(&server, &hint, None).await;
    rogue.problem(401, "unauthorized");
    server.get("/v1/auth/oauth/fake/callback?code=x&state=made-up", None).await.problem(401, "unauthorized");
    server.get("/v1/auth/oauth/fake/callback?error=access_denied", None).await.problem(401, "unauthorized");
    server.get("/v1/auth/oauth/nowhere/start", None).await.problem(404, "not_found");
}

#[tokio::test]
async fn single_sign_on_for_a_device_login_ends_on_a_confirmation_and_never_approves_by_itself() {
    let server = Server::start().await;
    let code = server.raw(Method::POST, "/v1/auth/device/code", &[("user-agent", "claude-tui/9.9 attacker-box")], None).await;
    assert_eq!(code.status, 200, "{}", code.body);
    let user_code = code.body["user_code"].as_str().unwrap();
    let device_code = json!({"device_code": code.body["device_code"]});
    let poll = || server.post("/v1/auth/device/token", None, device_code.clone());
    let (email, hint) = (fresh_email(), fresh_hint());
    next_person(&server, &hint, &email, true, false).await;
    let (page, _, _) = sign_in(&server, &hint, Some(user_code)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let html = page.body.as_str().unwrap();
    assert!(html.contains(user_code) && html.contains("claude-tui/9.9 attacker-box") && html.contains("Approve"), "{html}");
    assert!(!html.contains("Approved"), "the sign-in alone approves nothing");
    let not_yet =
        |reply: Reply| assert!(reply.body["error"] == "authorization_pending" || reply.body["error"] == "slow_down", "{}", reply.body);
    not_yet(poll().await);

    let (cookies, form) = confirmation(&page, user_code);
    // Without the cookie the sign-in set, the same form approves nothing.
    let without = confirm(&server, &page.cookie("tui_csrf").unwrap(), &form).await;
    assert_eq!(without.status, 403, "{}", without.body);
    not_yet(poll().await);

    let confirmed = confirm(&server, &cookies, &form).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    assert!(confirmed.body.as_str().unwrap().contains("Approved"));
    let tokens = poll().await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let me = server.call(Method::GET, "/v1/auth/me", tokens.body["access_token"].as_str(), None).await;
    assert_eq!(me.body["email"], email.as_str());
}

/// What the confirmation page gives its browser: the cookies it set, and the approving form.
fn confirmation(page: &Reply, user_code: &str) -> (String, String) {
    let html = page.body.as_str().unwrap();
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap();
    let cookies = format!("{}; {}", page.cookie("tui_csrf").unwrap(), page.cookie("__Host-tui_device").unwrap());
    (cookies, format!("csrf={csrf}&user_code={user_code}&decision=approve"))
}

/// Posts the device page's form with `cookies`, as the browser would.
async fn confirm(server: &Server, cookies: &str, form: &str) -> Reply {
    let headers = [("content-type", "application/x-www-form-urlencoded"), ("cookie", cookies)];
    server.raw(Method::POST, "/device", &headers, Some(form.as_bytes().to_vec())).await
}

#[tokio::test]
async fn an_untrusted_providers_link_ends_when_the_mailbox_owner_resets_the_password() {
    let Some(server) = Server::native_with(&[("OIDC_FAKE_TRUST_EMAIL", "false")]).await else { return };
    let (victim, hint) = (fresh_email(), fresh_hint());
    // The provider lets the attacker claim the victim's address: an account is made for it.
    let subject = next_person(&server, &hint, &victim, true, false).await;
    let (squatted, _, _) = sign_in(&server, &hint, None).await;
    assert_eq!(squatted.status, 200, "{}", squatted.body);
    // The victim takes the account back through the mailbox.
    assert_eq!(server.post("/v1/auth/password-reset", None, json!({"email": victim})).await.status, 202);
    let token = server.mailed_token(&victim, "tui_pr_");
    let reset =
        server.post("/v1/auth/password-reset/confirm", None, json!({"token": token, "new_password": "victim-long-passphrase-5"})).await;
    assert_eq!(reset.status, 204, "{}", reset.body);
    server.get("/v1/auth/me", squatted.body["access_token"].as_str()).await.problem(401, "session_revoked");
    person(&server, &hint, &subject, &victim, true, false).await;
    let (again, _, _) = sign_in(&server, &hint, None).await;
    again.problem(409, "conflict");
}

#[tokio::test]
async fn a_reset_denies_a_device_login_waiting_for_an_sso_browsers_confirmation() {
    let server = Server::start().await;
    if server.mail.is_none() {
        return;
    }
    let code = server.post("/v1/auth/device/code", None, json!({})).await;
    let user_code = code.body["user_code"].as_str().unwrap();
    let (email, hint) = (fresh_email(), fresh_hint());
    next_person(&server, &hint, &email, true, false).await;
    let (page, _, _) = sign_in(&server, &hint, Some(user_code)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(server.post("/v1/auth/password-reset", None, json!({"email": email})).await.status, 202);
    let token = server.mailed_token(&email, "tui_pr_");
    let reset =
        server.post("/v1/auth/password-reset/confirm", None, json!({"token": token, "new_password": "after-reset-passphrase-3"})).await;
    assert_eq!(reset.status, 204, "{}", reset.body);
    let (cookies, form) = confirmation(&page, user_code);
    let late = confirm(&server, &cookies, &form).await;
    assert_eq!(late.status, 422, "{}", late.body);
    let poll = server.post("/v1/auth/device/token", None, json!({"device_code": code.body["device_code"]})).await;
    assert_eq!(poll.body["error"], "access_denied", "{}", poll.body);
}
