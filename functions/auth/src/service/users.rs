//! Users as admins and users themselves manage them: profiles, roles, unlocking, the audit log.

use uuid::Uuid;

use tui_shared::{
    ApiError, AppState,
    domain::{Email, Password, Role, Username},
    http::extract::AuthUser,
    repo::{
        Page,
        audit::{self, AuditEntry, Event},
        sessions::ClientInfo,
        users::{self, User},
    },
    time,
};

use crate::{repo::logins, service::accounts};

/// A user as `caller` may see them: themselves, or anyone for an admin; 404 otherwise.
pub async fn visible(state: &AppState, caller: &AuthUser, id: Uuid) -> Result<User, ApiError> {
    let allowed = caller.id == id || caller.has_role(Role::Admin);
    let user = if allowed { users::get(state.db.as_ref(), id).await? } else { None };
    user.ok_or_else(ApiError::not_found)
}

pub async fn list(state: &AppState, q: Option<&str>, before: Option<Uuid>, limit: usize) -> Result<Page<User>, ApiError> {
    let items = users::list(state.db.as_ref(), q, before, limit).await?;
    Ok(Page::from_overfetch(items, limit, |u| u.id))
}

/// Changes a user's username and/or email (themselves, or an admin). Either needs sudo mode (a
/// recent sign-in or the current password); the email takes effect only through the link
/// mailed to the new address (see [`accounts::request_email_change`]).
pub async fn update(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
    changes: Changes,
    base_url: &str,
    client: &ClientInfo,
) -> Result<User, ApiError> {
    let user = visible(state, caller, id).await?;
    // Both the email and the username are what people sign in with: changing either is sudo.
    accounts::require_recent_sign_in(state, caller, changes.current_password, client).await?;
    // An email the change cannot take is refused before the username changes: all or nothing.
    if let Some(email) = &changes.email {
        accounts::check_new_email(state, &user, email).await?;
    }
    if let Some(username) = &changes.username {
        let stamp = time::format(state.clock.now());
        state
            .db
            .batch(vec![
                users::set_username(id, username, &stamp),
                Event::new("user.updated", Some(caller.id))
                    .target(id)
                    .detail(serde_json::json!({"username": username.as_str()}))
                    .record(client, &stamp),
            ])
            .await
            .map_err(users::insert_conflict)?;
    }
    if let Some(email) = &changes.email {
        accounts::request_email_change(state, &user, email, base_url, client).await?;
    }
    users::get(state.db.as_ref(), id).await?.ok_or_else(ApiError::not_found)
}

/// What `PATCH /v1/users/{id}` may change.
pub struct Changes {
    pub email: Option<Email>,
    pub username: Option<Username>,
    /// Sudo mode when the sign-in is older than ten minutes.
    pub current_password: Option<Password>,
}

pub async fn grant_role(state: &AppState, admin: Uuid, id: Uuid, role: Role, client: &ClientInfo) -> Result<User, ApiError> {
    let db = state.db.as_ref();
    let stamp = time::format(state.clock.now());
    if !users::exists(db, id).await? {
        return Err(ApiError::not_found());
    }
    db.batch(vec![
        users::grant_role(id, role, &stamp),
        Event::new("role.granted", Some(admin)).target(id).detail(serde_json::json!({"role": role})).record_if_changed(client, &stamp),
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
            Event::new("role.revoked", Some(admin)).target(id).detail(serde_json::json!({"role": role})).record_if_changed(client, &stamp),
        ])
        .await?;
    if !tui_shared::db::changed(&changed, 0) {
        return Err(ApiError::conflict("The last admin keeps the admin role."));
    }
    users::get(db, id).await?.ok_or_else(ApiError::not_found)
}

pub async fn unlock(state: &AppState, admin: Uuid, id: Uuid, client: &ClientInfo) -> Result<(), ApiError> {
    let db = state.db.as_ref();
    let stamp = time::format(state.clock.now());
    let user = users::get(db, id).await?.ok_or_else(ApiError::not_found)?;
    db.batch(vec![
        logins::clear_user(&user.email, &user.username),
        Event::new("user.unlocked", Some(admin)).target(id).record_if_changed(client, &stamp),
    ])
    .await?;
    Ok(())
}

pub async fn audit(state: &AppState, filter: audit::Filter) -> Result<Page<AuditEntry>, ApiError> {
    let limit = filter.limit;
    let items = audit::list(state.db.as_ref(), &filter).await?;
    Ok(Page::from_overfetch(items, limit, |e| e.id))
}
