//! Site-wide roles: the bootstrap admin, granting and revoking, and who may see whom.

use reqwest::Method;
use serde_json::json;
use tui_blackbox::{PASSWORD, Server};

#[tokio::test]
async fn an_admin_grants_and_revokes_roles_and_the_change_is_audited() {
    let server = Server::start().await;
    let admin = server.admin().await;
    let user = server.user().await;
    let granted = server.call(Method::PUT, &format!("/v1/users/{}/roles/moderator", user.id), Some(&admin.token), None).await;
    assert_eq!(granted.status, 200, "{}", granted.body);
    assert_eq!(granted.body["roles"], json!(["member", "moderator"]));
    let revoked = server.call(Method::DELETE, &format!("/v1/users/{}/roles/moderator", user.id), Some(&admin.token), None).await;
    assert_eq!(revoked.body["roles"], json!(["member"]));
    let bogus = server.call(Method::PUT, &format!("/v1/users/{}/roles/emperor", user.id), Some(&admin.token), None).await;
    bogus.problem(404, "not_found");

    let audit = server.get(&format!("/v1/audit?action=role.granted&actor={}", admin.id), Some(&admin.token)).await;
    let entry = audit.body["items"].as_array().unwrap().iter().find(|e| e["target"] == user.id.as_str()).expect("audited");
    assert_eq!(entry["detail"]["role"], "moderator");
}

#[tokio::test]
async fn users_see_and_change_themselves_and_admins_see_everyone() {
    let server = Server::start().await;
    let admin = server.admin().await;
    let user = server.user().await;
    let other = server.user().await;
    assert_eq!(server.get(&format!("/v1/users/{}", user.id), Some(&user.token)).await.status, 200);
    server.get(&format!("/v1/users/{}", other.id), Some(&user.token)).await.problem(404, "not_found");
    assert_eq!(server.get(&format!("/v1/users/{}", other.id), Some(&admin.token)).await.status, 200);

    let renamed = format!("{}-x", user.username);
    let reply = server.call(Method::PATCH, &format!("/v1/users/{}", user.id), Some(&user.token), Some(json!({"username": renamed}))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["username"], renamed);
    let taken = server.call(Method::PATCH, &format!("/v1/users/{}", user.id), Some(&user.token), Some(json!({"email": other.email}))).await;
    assert_eq!(taken.status, 200, "whether another account has the address is not told: {}", taken.body);
    let taken_name =
        server.call(Method::PATCH, &format!("/v1/users/{}", user.id), Some(&user.token), Some(json!({"username": other.username}))).await;
    taken_name.problem(409, "conflict");
    let theirs =
        server.call(Method::PATCH, &format!("/v1/users/{}", other.id), Some(&user.token), Some(json!({"username": "mine-now"}))).await;
    theirs.problem(404, "not_found");

    let listed = server.get(&format!("/v1/users?q={}", other.username), Some(&admin.token)).await;
    assert_eq!(listed.body["items"][0]["id"], other.id.as_str());
}

#[tokio::test]
async fn site_roles_and_unlocking_need_a_recent_sign_in_and_never_take_an_api_key() {
    // Every sign-in is old at once: only the password with the request stands in for a fresh one.
    let Some(server) = Server::native_with(&[("SUDO_WINDOW_S", "0")]).await else { return };
    let admin = server.admin().await;
    let user = server.user().await;
    let minted = server
        .post("/v1/auth/api-keys", Some(&admin.token), json!({"name": "leaked", "scopes": ["read", "write"], "current_password": PASSWORD}))
        .await;
    assert_eq!(minted.status, 201, "{}", minted.body);
    let key = minted.body["key"].as_str().unwrap().to_owned();
    let promote = format!("/v1/users/{}/roles/admin", user.id);
    let demote_owner = format!("/v1/users/{}/roles/admin", admin.id);
    let unlock = format!("/v1/users/{}/unlock", user.id);
    let with_password = json!({"current_password": PASSWORD});

    // A leaked key makes no admin and demotes no one, even with the password beside it.
    for body in [None, Some(with_password.clone())] {
        server.call(Method::PUT, &promote, Some(&key), body.clone()).await.problem(403, "forbidden");
        server.call(Method::DELETE, &demote_owner, Some(&key), body.clone()).await.problem(403, "forbidden");
        server.call(Method::POST, &unlock, Some(&key), body).await.problem(403, "forbidden");
    }
    // An old sign-in without the password is refused; a wrong password is named.
    server.call(Method::PUT, &promote, Some(&admin.token), None).await.problem(403, "forbidden");
    server.call(Method::DELETE, &demote_owner, Some(&admin.token), None).await.problem(403, "forbidden");
    server.call(Method::POST, &unlock, Some(&admin.token), None).await.problem(403, "forbidden");
    let wrong = server.call(Method::PUT, &promote, Some(&admin.token), Some(json!({"current_password": "not-the-password-1"}))).await;
    assert_eq!(wrong.field(), "current_password", "{}", wrong.body);
    let me = server.get("/v1/auth/me", Some(&user.token)).await;
    assert_eq!(me.body["roles"], json!(["member"]), "nothing was granted");
    assert_eq!(server.get("/v1/auth/me", Some(&admin.token)).await.body["roles"], json!(["admin", "member"]));

    let granted = server.call(Method::PUT, &promote, Some(&admin.token), Some(with_password.clone())).await;
    assert_eq!(granted.status, 200, "{}", granted.body);
    assert_eq!(granted.body["roles"], json!(["admin", "member"]));
    let revoked = server.call(Method::DELETE, &promote, Some(&admin.token), Some(with_password.clone())).await;
    assert_eq!(revoked.body["roles"], json!(["member"]), "{}", revoked.body);
    assert_eq!(server.call(Method::POST, &unlock, Some(&admin.token), Some(with_password)).await.status, 204);
}
