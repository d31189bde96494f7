//! Users as admins and users themselves manage them: profiles, roles, unlocking, the audit log.
//! Changing roles and unlocking need an admin in sudo mode, still an admin when the change is
//! written.

use uuid::Uuid;

use tui_shared::{
    ApiError, AppState,
    db::Query,
    domain::{Email, Password, Role, Username},
    http::extract::{AuthUser, session_revoked},
    ratelimit::Decision,
    repo::{
        Page,
        audit::{self, AuditEntry, Event},
        sessions::{self, ClientInfo},
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
/// mailed to the new address (see [`accounts::request_email_change`]), and is limited per
/// account and per address: the user, and the email change's limit decision for the headers.
pub async fn update(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
    changes: Changes,
    base_url: &str,
    client: &ClientInfo,
) -> Result<(User, Option<Decision>), ApiError> {
    let user = visible(state, caller, id).await?;
    // Both the email and the username are what people sign in with: changing either is sudo.
    accounts::require_recent_sign_in(state, caller, changes.current_password, client).await?;
    // An email change refused (its own email, or its limits) is refused before the username
    // changes: all or nothing.
    let limit = match &changes.email {
        Some(email) => {
            accounts::check_new_email(&user, email)?;
            Some(crate::limits::email_change(state, id, email.as_str()).await?)
        }
        None => None,
    };
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
    let user = users::get(state.db.as_ref(), id).await?.ok_or_else(ApiError::not_found)?;
    Ok((user, limit))
}

/// What `PATCH /v1/users/{id}` may change.
pub struct Changes {
    pub email: Option<Email>,
    pub username: Option<Username>,
    /// Sudo mode when the sign-in is older than ten minutes.
    pub current_password: Option<Password>,
}

/// The admin a site-wide change is made by, as a condition of the change's own statement: they
/// still hold the admin role, in a session still live. An admin demoted or signed out while the
/// request ran (two admins demoting each other at once, say) changes nothing.
struct ByAdmin<'a> {
    id: Uuid,
    session: Uuid,
    now: &'a str,
}

impl<'a> ByAdmin<'a> {
    /// Sudo mode first (see [`accounts::require_recent_sign_in`]): a leaked key, or a session
    /// stolen long after its sign-in, makes no admin and demotes no one.
    async fn check(
        state: &AppState,
        caller: &AuthUser,
        current_password: Option<Password>,
        now: &'a str,
        client: &ClientInfo,
    ) -> Result<Self, ApiError> {
        accounts::require_recent_sign_in(state, caller, current_password, client).await?;
        Ok(Self { id: caller.id, session: caller.session()?, now })
    }

    fn holds(&self, q: &mut Query) -> String {
        let (admin, session, now) = (q.bind(self.id), q.bind(self.session), q.bind(self.now));
        format!(
            "EXISTS (SELECT 1 FROM user_roles WHERE user_id = {admin} AND role = 'admin') \
             AND EXISTS (SELECT 1 FROM sessions WHERE id = {session} AND user_id = {admin} AND revoked_at IS NULL AND expires_at > {now})"
        )
    }

    /// Why a guarded statement changed nothing, if the guard is why: the session ended (401) or
    /// the role went (403).
    async fn refused(&self, state: &AppState) -> Result<(), ApiError> {
        let live = sessions::live(state.db.as_ref(), self.session, self.id, self.now).await?.ok_or_else(session_revoked)?;
        if !live.roles.contains(&Role::Admin) {
            return Err(ApiError::forbidden("Your role does not allow this."));
        }
        Ok(())
    }
}

pub async fn grant_role(
    state: &AppState,
    caller: &AuthUser,
    current_password: Option<Password>,
    id: Uuid,
    role: Role,
    client: &ClientInfo,
) -> Result<User, ApiError> {
    let db = state.db.as_ref();
    let stamp = time::format(state.clock.now());
    let by = ByAdmin::check(state, caller, current_password, &stamp, client).await?;
    if !users::exists(db, id).await? {
        return Err(ApiError::not_found());
    }
    let changed = db
        .batch(vec![
            users::grant_role_if(id, role, &stamp, |q| by.holds(q)),
            Event::new("role.granted", Some(caller.id))
                .target(id)
                .detail(serde_json::json!({"role": role}))
                .record_if_changed(client, &stamp),
        ])
        .await?;
    if !tui_shared::db::changed(&changed, 0) {
        // Or the role was held already, which is what was asked.
        by.refused(state).await?;
    }
    users::get(db, id).await?.ok_or_else(ApiError::not_found)
}

pub async fn revoke_role(
    state: &AppState,
    caller: &AuthUser,
    current_password: Option<Password>,
    id: Uuid,
    role: Role,
    client: &ClientInfo,
) -> Result<User, ApiError> {
    let db = state.db.as_ref();
    let stamp = time::format(state.clock.now());
    let by = ByAdmin::check(state, caller, current_password, &stamp, client).await?;
    let user = users::get(db, id).await?.ok_or_else(ApiError::not_found)?;
    if !user.roles.contains(&role) {
        return Ok(user);
    }
    let changed = db
        .batch(vec![
            users::revoke_role(id, role, |q| by.holds(q)),
            Event::new("role.revoked", Some(caller.id))
                .target(id)
                .detail(serde_json::json!({"role": role}))
                .record_if_changed(client, &stamp),
        ])
        .await?;
    if !tui_shared::db::changed(&changed, 0) {
        by.refused(state).await?;
        let user = users::get(db, id).await?.ok_or_else(ApiError::not_found)?;
        if user.roles.contains(&role) {
            return Err(ApiError::conflict("The last admin keeps the admin role."));
        }
        return Ok(user);
    }
    users::get(db, id).await?.ok_or_else(ApiError::not_found)
}

pub async fn unlock(
    state: &AppState,
    caller: &AuthUser,
    current_password: Option<Password>,
    id: Uuid,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let db = state.db.as_ref();
    let stamp = time::format(state.clock.now());
    let by = ByAdmin::check(state, caller, current_password, &stamp, client).await?;
    let user = users::get(db, id).await?.ok_or_else(ApiError::not_found)?;
    let changed = db
        .batch(vec![
            logins::clear_user_if(&user.email, &user.username, |q| by.holds(q)),
            Event::new("user.unlocked", Some(caller.id)).target(id).record_if_changed(client, &stamp),
        ])
        .await?;
    if !tui_shared::db::changed(&changed, 0) {
        // Or there was nothing to lift.
        by.refused(state).await?;
    }
    Ok(())
}

pub async fn audit(state: &AppState, filter: audit::Filter) -> Result<Page<AuditEntry>, ApiError> {
    let limit = filter.limit;
    let items = audit::list(state.db.as_ref(), &filter).await?;
    Ok(Page::from_overfetch(items, limit, |e| e.id))
}
