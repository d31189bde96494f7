//! Device login for the TUI (RFC 8628), by API and through the /device page.

use reqwest::Method;
use serde_json::{Value, json};
use tui_blackbox::{PASSWORD, Reply, Server};

async fn poll(server: &Server, device_code: &str) -> Reply {
    server.post("/v1/auth/device/token", None, json!({"device_code": device_code})).await
}

fn form(fields: &[(&str, &str)]) -> Vec<u8> {
    fields
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.bytes()
                    .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
                    .collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

#[tokio::test]
async fn the_tui_polls_until_a_signed_in_user_approves_its_code() {
    let server = Server::start().await;
    let user = server.user().await;
    let code = server.post("/v1/auth/device/code", None, json!({})).await;
    assert_eq!(code.status, 200, "{}", code.body);
    for field in ["device_code", "user_code", "verification_uri", "verification_uri_complete"] {
        assert!(code.body[field].is_string(), "{field}");
    }
    assert_eq!(code.body["interval"], 5);
    assert_eq!(code.body["expires_in"], 600);
    let device_code = code.body["device_code"].as_str().unwrap();
    let user_code = code.body["user_code"].as_str().unwrap();

    let first = poll(&server, device_code).await;
    assert_eq!((first.status.as_u16(), first.body["error"].clone()), (400, json!("authorization_pending")));
    assert_eq!(poll(&server, device_code).await.body["error"], "slow_down");

    let approve = json!({"user_code": user_code.to_lowercase().replace('-', ""), "approve": true});
    assert_eq!(server.post("/v1/auth/device/approve", Some(&user.token), approve).await.status, 204);
    let tokens = poll(&server, device_code).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let me = server.get("/v1/auth/me", tokens.body["access_token"].as_str()).await;
    assert_eq!(me.body["id"], user.id.as_str());
    assert_eq!(poll(&server, device_code).await.body["error"], "invalid_grant", "a code signs in once");
}

#[tokio::test]
async fn a_denied_or_unknown_code_never_signs_in() {
    let server = Server::start().await;
    let user = server.user().await;
    let code = server.post("/v1/auth/device/code", None, json!({})).await;
    let deny = json!({"user_code": code.body["user_code"], "approve": false});
    assert_eq!(server.post("/v1/auth/device/approve", Some(&user.token), deny.clone()).await.status, 204);
    assert_eq!(poll(&server, code.body["device_code"].as_str().unwrap()).await.body["error"], "access_denied");
    server.post("/v1/auth/device/approve", Some(&user.token), deny).await.problem(422, "validation_failed");
    assert_eq!(poll(&server, "tui_dc_made-up").await.body["error"], "invalid_grant");
    let anonymous = server.post("/v1/auth/device/approve", None, json!({"user_code": "BCDF-GHJK", "approve": true})).await;
    anonymous.problem(401, "unauthorized");
}

#[tokio::test]
async fn the_device_page_signs_in_and_approves_with_a_csrf_token() {
    let server = Server::start().await;
    let user = server.user().await;
    let code = server.post("/v1/auth/device/code", None, json!({})).await;
    let user_code = code.body["user_code"].as_str().unwrap();

    let page = server.raw(Method::GET, &format!("/device?user_code={user_code}"), &[], None).await;
    assert_eq!(page.status, 200);
    let html = page.body.as_str().unwrap().to_owned();
    assert!(html.contains(user_code));
    let cookie = page.header("set-cookie").expect("a CSRF cookie").split(';').next().unwrap().to_owned();
    assert!(page.header("set-cookie").unwrap().contains("SameSite=Strict"));
    let token = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let fields = [
        ("csrf", token.as_str()),
        ("user_code", user_code),
        ("login", user.email.as_str()),
        ("password", PASSWORD),
        ("decision", "approve"),
    ];
    let form_type = ("content-type", "application/x-www-form-urlencoded");

    let forged = server.raw(Method::POST, "/device", &[form_type], Some(form(&fields))).await;
    assert_eq!(forged.status, 403, "no cookie: a cross-site post");
    let other_origin = server
        .raw(Method::POST, "/device", &[form_type, ("cookie", &cookie), ("origin", "https://evil.example")], Some(form(&fields)))
        .await;
    assert_eq!(other_origin.status, 403);
    let mut wrong_password = fields;
    wrong_password[3] = ("password", "not the password");
    let refused = server.raw(Method::POST, "/device", &[form_type, ("cookie", &cookie)], Some(form(&wrong_password))).await;
    assert_eq!(refused.status, 401);

    let approved = server.raw(Method::POST, "/device", &[form_type, ("cookie", &cookie)], Some(form(&fields))).await;
    assert_eq!(approved.status, 200, "{}", approved.body);
    assert!(approved.body.as_str().unwrap().contains("Approved"));
    let tokens = poll(&server, code.body["device_code"].as_str().unwrap()).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert!(matches!(tokens.body["access_token"], Value::String(_)));
}

#[tokio::test]
async fn a_user_code_with_other_characters_is_not_a_user_code() {
    let server = Server::start().await;
    let user = server.user().await;
    let code = server.post("/v1/auth/device/code", None, serde_json::json!({})).await;
    let user_code = code.body["user_code"].as_str().unwrap().to_owned();
    let garbled = user_code.replace('-', "@");
    let reply = server.post("/v1/auth/device/approve", Some(&user.token), serde_json::json!({"user_code": garbled, "approve": true})).await;
    reply.problem(422, "validation_failed");
    let spaced = user_code.to_lowercase().replace('-', " ");
    let reply = server.post("/v1/auth/device/approve", Some(&user.token), serde_json::json!({"user_code": spaced, "approve": true})).await;
    assert_eq!(reply.status, 204, "{}", reply.body);
}

#[tokio::test]
async fn approving_a_device_needs_a_recent_sign_in_or_the_password() {
    let Some(server) = Server::native_with(&[("SUDO_WINDOW_S", "1"), ("RATE_LIMIT_STARTS_PER_MINUTE_PER_IP", "1000")]).await else {
        return;
    };
    let user = server.user().await;
    let minted = server.post("/v1/auth/api-keys", Some(&user.token), json!({"name": "ci", "scopes": ["read", "write"]})).await;
    let key = minted.body["key"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let code = server.post("/v1/auth/device/code", None, json!({})).await;
    let device_code = code.body["device_code"].as_str().unwrap();
    let user_code = code.body["user_code"].as_str().unwrap();

    // A stolen session, old by now, mints no session of its own that would outlive it.
    let approve = json!({"user_code": user_code, "approve": true});
    server.post("/v1/auth/device/approve", Some(&user.token), approve.clone()).await.problem(403, "forbidden");
    let with_password = json!({"user_code": user_code, "approve": true, "current_password": PASSWORD});
    server.post("/v1/auth/device/approve", Some(&key), with_password.clone()).await.problem(403, "forbidden");
    let wrong = json!({"user_code": user_code, "approve": true, "current_password": "not-the-password-1"});
    assert_eq!(server.post("/v1/auth/device/approve", Some(&user.token), wrong).await.field(), "current_password");
    assert_eq!(poll(&server, device_code).await.body["error"], "authorization_pending");

    let approved = server.post("/v1/auth/device/approve", Some(&user.token), with_password).await;
    assert_eq!(approved.status, 204, "{}", approved.body);
    let tokens = poll(&server, device_code).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);

    // Saying no to a code needs no proof: it signs no one in.
    let other = server.post("/v1/auth/device/code", None, json!({})).await;
    let deny = json!({"user_code": other.body["user_code"], "approve": false});
    assert_eq!(server.post("/v1/auth/device/approve", Some(&user.token), deny).await.status, 204);
}
