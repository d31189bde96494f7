//! Email changes: the answer does not tell whether an address has an account, and asking is
//! limited per account and per address.

use reqwest::Method;
use serde_json::{Value, json};
use tui_blackbox::{Reply, Server, User};

async fn change_email(server: &Server, user: &User, email: &str) -> Reply {
    server.call(Method::PATCH, &format!("/v1/users/{}", user.id), Some(&user.token), Some(json!({"email": email}))).await
}

/// What the asker can see of an answer, with the addresses and times that differ anyway left out.
fn shape(reply: &Reply) -> (u16, Vec<String>, Option<String>, Option<String>) {
    let mut fields: Vec<String> = reply.body.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    fields.sort();
    let header = |name: &str| reply.header(name).map(str::to_owned);
    (reply.status.as_u16(), fields, header("ratelimit-limit"), header("ratelimit-remaining"))
}

#[tokio::test]
async fn an_email_change_answers_alike_whether_or_not_the_address_has_an_account() {
    let server = Server::start().await;
    let Some(sink) = server.mail.as_ref() else { return };
    let asker = server.user().await;
    let twin = server.user().await;
    let owner = server.user().await;
    let fresh = format!("fresh-{}", asker.email);

    let taken = change_email(&server, &asker, &owner.email.to_uppercase()).await;
    let free = change_email(&server, &twin, &fresh).await;
    assert_eq!(taken.status, 200, "{}", taken.body);
    assert_eq!(shape(&taken), shape(&free), "{} / {}", taken.body, free.body);
    assert_eq!(taken.body["email"], asker.email.as_str());
    assert_eq!(taken.body["pending_email"].as_str().map(str::to_lowercase), Some(owner.email.clone()));
    assert_eq!(sink.about(&asker.email, "being changed").len(), 1, "the old address is told either way");

    // The address that has an account gets no link that could ever move it, only a notice.
    assert!(sink.about(&owner.email, "Confirm your new").is_empty(), "{:?}", sink.to(&owner.email));
    assert_eq!(sink.about(&owner.email, "already").len(), 1, "{:?}", sink.to(&owner.email));
    assert_eq!(sink.about(&fresh, "Confirm your new").len(), 1);
    let me = server.get("/v1/auth/me", Some(&owner.token)).await;
    assert_eq!(me.body["email"], owner.email.as_str());

    // A free address taken after its link was mailed: the conflict shows when the link is used.
    let racer = server.user().await;
    let contested = format!("contested-{}", racer.email);
    assert_eq!(change_email(&server, &racer, &contested).await.status, 200);
    assert_eq!(change_email(&server, &asker, &contested).await.status, 200);
    assert_eq!(server.confirm_email(&contested).await.status, 204, "the newest link, the asker's, wins");
    let lost = server.post("/v1/auth/verify-email/confirm", None, json!({"token": first_link(&server, &contested)})).await;
    lost.problem(409, "conflict");
    assert_eq!(server.get("/v1/auth/me", Some(&racer.token)).await.body["email"], racer.email.as_str());
}

/// The oldest change link mailed to `to`.
fn first_link(server: &Server, to: &str) -> String {
    let mail = server.mail.as_ref().unwrap().about(to, "Confirm your new");
    let text = mail.first().and_then(|m| m["text"].as_str()).unwrap_or_default().to_owned();
    text.split_whitespace().find(|w| w.starts_with("tui_ev_")).expect("a link").to_owned()
}

#[tokio::test]
async fn email_changes_are_limited_per_account_and_per_address() {
    let server = Server::start().await;
    let user = server.user().await;
    for n in 1..=5 {
        let reply = change_email(&server, &user, &format!("try{n}-{}", user.email)).await;
        assert_eq!(reply.status, 200, "change {n}: {}", reply.body);
        assert!(reply.header("ratelimit-limit").is_some(), "change {n} carries the limit's headers");
    }
    let path = format!("/v1/users/{}", user.id);
    let both = json!({"email": format!("try6-{}", user.email), "username": format!("{}-renamed", user.username)});
    let limited = server.call(Method::PATCH, &path, Some(&user.token), Some(both)).await;
    limited.problem(429, "rate_limited");
    assert!(limited.header("retry-after").is_some_and(|r| r.parse::<u64>().is_ok_and(|r| (1..=3600).contains(&r))));
    let me = server.get("/v1/auth/me", Some(&user.token)).await;
    assert_eq!(me.body["username"], user.username.as_str(), "a refused change changes nothing");
    assert_eq!(me.body["pending_email"], format!("try5-{}", user.email).as_str());
    let rename = json!({"username": format!("{}-renamed", user.username)});
    assert_eq!(server.call(Method::PATCH, &path, Some(&user.token), Some(rename)).await.status, 200, "the username is not limited");

    // One address is asked for at most three times an hour, by anyone.
    let target = format!("wanted-{}", user.email);
    for _ in 0..3 {
        let asker = server.user().await;
        assert_eq!(change_email(&server, &asker, &target).await.status, 200);
    }
    let late = server.user().await;
    change_email(&server, &late, &target).await.problem(429, "rate_limited");
    assert_eq!(server.get("/v1/auth/me", Some(&late.token)).await.body["pending_email"], Value::Null);
    if let Some(sink) = &server.mail {
        assert_eq!(sink.about(&target, "Confirm your new").len(), 3, "the refused request sent nothing");
    }
}
