//! Brute force ends in a lockout that an admin can lift; every step is audited.

use tui_blackbox::{PASSWORD, Server};

#[tokio::test]
async fn five_failures_lock_the_account_until_an_admin_unlocks_it() {
    let server = Server::start().await;
    let admin = server.admin().await;
    let victim = server.user().await;
    for attempt in 1..=5 {
        let reply = server.login(&victim.email, &format!("guess number {attempt}")).await;
        reply.problem(401, "unauthorized");
    }
    let locked = server.login(&victim.email, PASSWORD).await;
    locked.problem(423, "account_locked");
    let retry: u64 = locked.header("retry-after").expect("retry-after").parse().unwrap();
    assert!((1700..=1800).contains(&retry), "locked for 30 minutes, not {retry}s");

    let audit = server.get(&format!("/v1/audit?actor={}&action=login.failed", victim.id), Some(&admin.token)).await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    let entries = audit.body["items"].as_array().unwrap();
    assert_eq!(entries.len(), 5);
    assert!(entries.iter().all(|e| e["request_id"].is_string() && e["at"].is_string()));

    let locks = server.get(&format!("/v1/audit?actor={}&action=account.locked", victim.id), Some(&admin.token)).await;
    assert_eq!(locks.body["items"].as_array().unwrap().len(), 1, "the lock itself is audited once");

    let unlock = server.call(reqwest::Method::POST, &format!("/v1/users/{}/unlock", victim.id), Some(&admin.token), None).await;
    assert_eq!(unlock.status, 204, "{}", unlock.body);
    assert_eq!(server.login(&victim.email, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn only_admins_unlock_list_users_and_read_the_audit_log() {
    let server = Server::start().await;
    let user = server.user().await;
    for (method, path) in [
        (reqwest::Method::GET, "/v1/users".to_owned()),
        (reqwest::Method::GET, "/v1/audit".to_owned()),
        (reqwest::Method::POST, format!("/v1/users/{}/unlock", user.id)),
        (reqwest::Method::PUT, format!("/v1/users/{}/roles/admin", user.id)),
    ] {
        server.call(method.clone(), &path, Some(&user.token), None).await.problem(403, "forbidden");
        server.call(method, &path, None, None).await.problem(401, "unauthorized");
    }
}
