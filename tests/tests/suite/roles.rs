//! Site-wide roles: the bootstrap admin, granting and revoking, and who may see whom.

use reqwest::Method;
use serde_json::json;
use tui_blackbox::Server;

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
    taken.problem(409, "conflict");
    let theirs =
        server.call(Method::PATCH, &format!("/v1/users/{}", other.id), Some(&user.token), Some(json!({"username": "mine-now"}))).await;
    theirs.problem(404, "not_found");

    let listed = server.get(&format!("/v1/users?q={}", other.username), Some(&admin.token)).await;
    assert_eq!(listed.body["items"][0]["id"], other.id.as_str());
}
