//! Personal API keys: made by a signed-in user, shown once, stored hashed.

use uuid::Uuid;

use tui_shared::{
    ApiError, AppState,
    auth::tokens::{random_token, sha256_hex},
    http::extract::API_KEY_PREFIX,
    ports::Mail,
    repo::{
        api_keys::{self, ApiKey, NewKey, Scope},
        audit::Event,
        sessions::ClientInfo,
        users,
    },
    time,
};

use crate::service::accounts;

/// A new key: the record, and the key itself, which is never shown again. Its owner is told
/// by mail, so that a key minted by someone else does not go unnoticed.
pub async fn create(
    state: &AppState,
    user_id: Uuid,
    name: &str,
    scopes: &[Scope],
    expires_at: Option<time::Timestamp>,
    client: &ClientInfo,
) -> Result<(ApiKey, String), ApiError> {
    let now = state.clock.now();
    if expires_at.is_some_and(|at| at <= now) {
        return Err(ApiError::field("expires_at", "must be in the future"));
    }
    let stamp = time::format(now);
    let key = random_token(API_KEY_PREFIX);
    let id = Uuid::now_v7();
    let prefix: String = key.chars().take(API_KEY_PREFIX.len() + 6).collect();
    let expires = expires_at.map(time::format);
    state
        .db
        .batch(vec![
            api_keys::insert(&NewKey {
                id,
                user_id,
                name,
                prefix: &prefix,
                hash: &sha256_hex(key.as_bytes()),
                scopes,
                now: &stamp,
                expires_at: expires.as_deref(),
            }),
            Event::new("api_key.created", Some(user_id)).target(id).detail(serde_json::json!({"scopes": scopes})).record(client, &stamp),
        ])
        .await?;
    if let Some(owner) = users::get(state.db.as_ref(), user_id).await? {
        let text = format!(
            "A personal API key named \"{name}\" ({prefix}...) was created for your Claude TUI account ({}) from {}.\n\n\
             If it was not you, change your password now: that also revokes every API key and ends every session.",
            owner.username,
            client.ip.as_deref().unwrap_or("an unknown address"),
        );
        let mail = Mail { kind: "api_key_created", to: owner.email, subject: "A new API key for your Claude TUI account".into(), text };
        accounts::deliver(state, mail).await;
    }
    let record = ApiKey { id, name: name.to_owned(), prefix, scopes: scopes.to_vec(), created_at: stamp, expires_at: expires };
    Ok((record, key))
}

pub async fn revoke(state: &AppState, user_id: Uuid, id: Uuid, client: &ClientInfo) -> Result<(), ApiError> {
    let stamp = time::format(state.clock.now());
    let changed = state
        .db
        .batch(vec![
            api_keys::revoke(user_id, id, &stamp),
            Event::new("api_key.revoked", Some(user_id)).target(id).record_if_changed(client, &stamp),
        ])
        .await?;
    if !tui_shared::db::changed(&changed, 0) {
        return Err(ApiError::not_found());
    }
    Ok(())
}
