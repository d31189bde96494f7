//! Users (self or admin), roles and unlocking (admin, in sudo mode), and the audit log (admin).

use axum::{
    extract::{FromRequestParts, State},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use tui_shared::{
    ApiError, AppState,
    domain::{Email, Password, Role, Username},
    http::{
        Limited,
        extract::{Admin, AuthUser, BaseUrl, Ids, PageParams, Query},
        json::{Json, OptionalJson},
    },
    repo::{
        Page,
        audit::{AuditEntry, Filter},
        sessions::ClientInfo,
        users::User,
    },
};

use crate::service::users;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    /// Text to find in the email or username.
    #[param(max_length = 200)]
    q: Option<String>,
    /// How many items, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Where the previous page ended (its `next_cursor`).
    #[param(pattern = "^[A-Za-z0-9_-]{22}$")]
    cursor: Option<String>,
}

/// All users, newest first (admin).
#[utoipa::path(get, path = "/v1/users", tag = "users", security(("bearer" = [])), params(UserQuery),
    responses((status = 200, body = Page<User>), (status = 403, description = "Admins only")))]
pub async fn list_users(
    State(state): State<AppState>,
    _: Admin,
    Query(query): Query<UserQuery>,
) -> Result<axum::Json<Page<User>>, ApiError> {
    let page = PageParams { limit: query.limit, cursor: query.cursor };
    if query.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::field("q", "must be at most 200 characters"));
    }
    users::list(&state, query.q.as_deref(), page.after()?, page.limit()?).await.map(axum::Json)
}

/// A user (themselves, or anyone for an admin).
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 404, description = "No such user, or not visible to you")))]
pub async fn get_user(State(state): State<AppState>, caller: AuthUser, Ids(id): Ids<Uuid>) -> Result<axum::Json<User>, ApiError> {
    users::visible(&state, &caller, id).await.map(axum::Json)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChanges {
    /// Becomes the email only when the link mailed to it is used (`pending_email` until then);
    /// the old address is told. The answer is the same whether or not another account has the
    /// address; if one has, it gets no link, and nothing changes.
    #[serde(default, deserialize_with = "tui_shared::http::json::present")]
    #[schema(nullable = false)]
    email: Option<Email>,
    #[serde(default, deserialize_with = "tui_shared::http::json::present")]
    #[schema(nullable = false)]
    username: Option<Username>,
    /// Needed when the session signed in more than 10 minutes ago.
    #[serde(default, deserialize_with = "tui_shared::http::json::present")]
    #[schema(nullable = false)]
    current_password: Option<Password>,
}

/// Change a user's username, or start an email change (themselves, or an admin; needs a
/// session, and for the email a sign-in within 10 minutes or `current_password`). Email changes
/// are limited per account and per address, with the `ratelimit-*` headers.
#[utoipa::path(patch, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])), request_body = UserChanges,
    responses((status = 200, body = User), (status = 403, description = "An API key, or no recent sign-in for an email change"),
        (status = 409, description = "The username is taken"),
        (status = 429, description = "More than 5 email changes an hour for this account, or 3 an hour towards this address (see retry-after)")))]
pub async fn update_user(
    State(state): State<AppState>,
    caller: AuthUser,
    client: ClientInfo,
    BaseUrl(base): BaseUrl,
    Ids(id): Ids<Uuid>,
    Json(body): Json<UserChanges>,
) -> Result<Response, ApiError> {
    if body.email.is_none() && body.username.is_none() {
        return Err(ApiError::field("body", "send email, username or both"));
    }
    let changes = users::Changes { email: body.email, username: body.username, current_password: body.current_password };
    let (user, limit) = users::update(&state, &caller, id, changes, &base, &client).await?;
    Ok(match limit {
        Some(limit) => Limited(limit, axum::Json(user)).into_response(),
        None => axum::Json(user).into_response(),
    })
}

/// An admin in a signed-in session: an admin's API key is refused (403) before its body is read,
/// whatever the body holds, since a leaked key must not make or unmake admins.
pub struct AdminSession(AuthUser);

impl FromRequestParts<AppState> for AdminSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Admin { 0: admin, .. } = Admin::from_request_parts(parts, state).await?;
        admin.session()?;
        Ok(Self(admin))
    }
}

/// The proof a site-wide change may ask for: the body may be left out while the session signed
/// in recently.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Sudo {
    /// Needed when the session signed in more than 10 minutes ago.
    #[serde(default, deserialize_with = "tui_shared::http::json::present")]
    #[schema(nullable = false)]
    current_password: Option<Password>,
}

impl Sudo {
    fn password(body: Option<Self>) -> Option<Password> {
        body.and_then(|b| b.current_password)
    }
}

/// Grant a site-wide role (admin): needs a session that signed in within 10 minutes, or
/// `current_password` (the body may be left out otherwise); never an API key.
#[utoipa::path(put, path = "/v1/users/{id}/roles/{role}", tag = "users", security(("bearer" = [])), request_body(content = Option<Sudo>),
    responses((status = 200, body = User),
        (status = 403, description = "Not an admin, an API key, or a sign-in older than 10 minutes without current_password"),
        (status = 422, description = "current_password is wrong")))]
pub async fn grant_role(
    State(state): State<AppState>,
    AdminSession(admin): AdminSession,
    client: ClientInfo,
    Ids((id, role)): Ids<(Uuid, Role)>,
    OptionalJson(body): OptionalJson<Sudo>,
) -> Result<axum::Json<User>, ApiError> {
    users::grant_role(&state, &admin, Sudo::password(body), id, role, &client).await.map(axum::Json)
}

/// Take a site-wide role away (admin), with the same proof as granting one. The last admin keeps
/// theirs.
#[utoipa::path(delete, path = "/v1/users/{id}/roles/{role}", tag = "users", security(("bearer" = [])), request_body(content = Option<Sudo>),
    responses((status = 200, body = User),
        (status = 403, description = "Not an admin, an API key, or a sign-in older than 10 minutes without current_password"),
        (status = 409, description = "The last admin"), (status = 422, description = "current_password is wrong")))]
pub async fn revoke_role(
    State(state): State<AppState>,
    AdminSession(admin): AdminSession,
    client: ClientInfo,
    Ids((id, role)): Ids<(Uuid, Role)>,
    OptionalJson(body): OptionalJson<Sudo>,
) -> Result<axum::Json<User>, ApiError> {
    users::revoke_role(&state, &admin, Sudo::password(body), id, role, &client).await.map(axum::Json)
}

/// Lift a lockout (admin), with the same proof as granting a role.
#[utoipa::path(post, path = "/v1/users/{id}/unlock", tag = "users", security(("bearer" = [])), request_body(content = Option<Sudo>),
    responses((status = 204),
        (status = 403, description = "Not an admin, an API key, or a sign-in older than 10 minutes without current_password"),
        (status = 422, description = "current_password is wrong")))]
pub async fn unlock_user(
    State(state): State<AppState>,
    AdminSession(admin): AdminSession,
    client: ClientInfo,
    Ids(id): Ids<Uuid>,
    OptionalJson(body): OptionalJson<Sudo>,
) -> Result<StatusCode, ApiError> {
    users::unlock(&state, &admin, Sudo::password(body), id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    actor: Option<Uuid>,
    /// An action name, such as `login.failed`.
    #[param(max_length = 64)]
    action: Option<String>,
    /// How many items, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Where the previous page ended (its `next_cursor`).
    #[param(pattern = "^[A-Za-z0-9_-]{22}$")]
    cursor: Option<String>,
}

/// The audit log, newest first (admin).
#[utoipa::path(get, path = "/v1/audit", tag = "users", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = Page<AuditEntry>)))]
pub async fn audit(
    State(state): State<AppState>,
    _: Admin,
    Query(query): Query<AuditQuery>,
) -> Result<axum::Json<Page<AuditEntry>>, ApiError> {
    let page = PageParams { limit: query.limit, cursor: query.cursor };
    if query.action.as_ref().is_some_and(|a| a.len() > 64) {
        return Err(ApiError::field("action", "must be at most 64 characters"));
    }
    let filter = Filter { actor: query.actor, action: query.action, before: page.after()?, limit: page.limit()? };
    users::audit(&state, filter).await.map(axum::Json)
}
