//! Users as admins and users themselves manage them: profiles, roles, unlocking, the audit log.

use uuid::Uuid;

use crate::{
    ApiError, AppState,
    domain::{Email, Role, Username},
    http::extract::AuthUser,
    repo::{
        Page,
        audit::{self, AuditEntry, Event},
        sessions::ClientInfo,
        users::{self, User},
    },
    time,
};

/// A user as `caller` may see them: themselves, or anyone for an admin; 404 otherwise.
pub async fn visible(state: &AppState, caller: &AuthUser, id: Uuid) -> Result<User, ApiError> {
    let db = state.db.as_ref();
    let allowed = caller.id == id || users::current_roles(db, caller.id).await?.contains(&Role::Admin);
    let user = if allowed { users::get(db, id).await? } else { None };
    user.ok_or_else(ApiError::not_found)
}

pub async fn list(state: &AppState, q: Option<&str>, before: Option<Uuid>, limit: usize) -> Result<Page<User>, ApiError> {
    let items = users::list(state.db.as_ref(), q, before, limit).await?;
    Ok(Page::from_overfetch(items, limit, |u| u.id))
}

pub async fn update(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
    email: Option<Email>,
    username: Option<Username>,
    client: &ClientInfo,
) -> Result<User, ApiError> {
    visible(state, caller, id).await?;
    let stamp = time::format(state.clock.now());
    let detail = serde_json::json!({"email": email.is_some(), "username": username.is_some()});
    state
        .db
        .batch(vec![
            users::update(id, email.as_ref(), username.as_ref(), &stamp),
            Event::new("user.updated", Some(caller.id)).target(id).detail(detail).record(client, &stamp),
        ])
        .await
        .map_err(users::insert_conflict)?;
    users::get(state.db.as_ref(), id).await?.ok_or_else(ApiError::not_found)
}

pub async fn grant_role(state: &AppState, admin: Uuid, id: Uuid, role: Role, client: &ClientInfo) -> Result<User, ApiError> {
    let db = state.db.as_ref();
    let stamp = time::format(state.clock.now());
    if !users::exists(db, id).await? {
        return Err(ApiError::not_found());
    }
    db.batch(vec![
        users::grant_role(id, role, &stamp),
        Event::new("role.granted", Some(admin)).target(id).detail(serde_json::json!({"role": role})).record(client, &stamp),
    ])
    .await?;
    users::get(db, id).await?.ok_or_else(ApiError::not_found)
}

pub async fn revoke_role(state: &AppState, admin: Uuid, id: Uuid, role: Role, client: &ClientInfo) -> Result<User, ApiError> {
    let db = state.db.as_ref();
    let stamp = time::format(state.clock.now());
    let user = users::get(db, id).await?.ok_or_else(ApiError::not_found)?;
    if !user.roles.contains(&role) {
        return Ok(user);
    }
    let changed = db
        .batch(vec![
            users::revoke_role(id, role),
            Event::new("role.revoked", Some(admin)).target(id).detail(serde_json::json!({"role": role})).record(client, &stamp),
        ])
        .await?;
    if changed.first() != Some(&1) {
        return Err(ApiError::conflict("The last admin keeps the admin role."));
    }
    users::get(db, id).await?.ok_or_else(ApiError::not_found)
}

pub async fn unlock(state: &AppState, admin: Uuid, id: Uuid, client: &ClientInfo) -> Result<(), ApiError> {
    let db = state.db.as_ref();
    let stamp = time::format(state.clock.now());
    if !users::exists(db, id).await? {
        return Err(ApiError::not_found());
    }
    db.batch(vec![users::clear_failures(id), Event::new("user.unlocked", Some(admin)).target(id).record(client, &stamp)]).await?;
    Ok(())
}

pub async fn audit(state: &AppState, filter: audit::Filter) -> Result<Page<AuditEntry>, ApiError> {
    let limit = filter.limit;
    let items = audit::list(state.db.as_ref(), &filter).await?;
    Ok(Page::from_overfetch(items, limit, |e| e.id))
}
