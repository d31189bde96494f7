//! Accounts and sessions: register, sign in, refresh, sign out, and the signed-in user.

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use tui_shared::{
    ApiError, AppState,
    domain::{Email, LoginName, NewPassword, OpaqueToken, Password, Username},
    http::{
        Limited,
        extract::{AuthUser, BaseUrl, Ids, KnownDevice, PageParams, Query},
        json::{Json, OptionalJson},
    },
    repo::{
        Page,
        sessions::{self, ClientInfo, Session},
        users::{self, User},
    },
    time,
};

use crate::{
    limits,
    service::accounts::{self, Tokens},
};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    email: Email,
    username: Username,
    /// At least 12 characters, and not a commonly used password.
    password: NewPassword,
}

#[derive(Serialize, ToSchema)]
pub struct Registered {
    user: User,
    #[serde(flatten)]
    tokens: Tokens,
}

/// Create an account; it is signed in at once, and a link that verifies its email is mailed.
#[utoipa::path(post, path = "/v1/auth/register", tag = "auth", request_body = RegisterRequest, responses(
    (status = 201, body = Registered),
    (status = 409, description = "The email or username is taken"),
    (status = 422, description = "A field is invalid, or the password is weak"),
    (status = 429, description = "More than 3 sign-ups an hour from this address"),
))]
pub async fn register(
    State(state): State<AppState>,
    client: ClientInfo,
    BaseUrl(base): BaseUrl,
    Json(body): Json<RegisterRequest>,
) -> Result<Limited<(StatusCode, axum::Json<Registered>)>, ApiError> {
    let limit = limits::register(&state, &client).await?;
    let (user, tokens) = accounts::register(&state, body.email, body.username, body.password, &base, &client).await?;
    Ok(Limited(limit, (StatusCode::CREATED, axum::Json(Registered { user, tokens }))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Email or username.
    login: LoginName,
    password: Password,
}

/// Sign in with email or username and password. A client that sends the access token of a
/// live session of the same account (`Authorization: Bearer`) is neither locked out nor rate
/// limited by failures from elsewhere: it has its own allowance.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = Tokens),
    (status = 401, description = "Wrong login or password (the same answer whether or not the user exists)"),
    (status = 423, description = "Locked after 5 failures in 15 minutes, for 30 minutes (see retry-after); the same for unknown logins"),
    (status = 429, description = "More than 10 sign-ins a minute from this address, or for this account (from a device signed in to it: from that device)"),
))]
pub async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    KnownDevice(device): KnownDevice,
    Json(body): Json<LoginRequest>,
) -> Result<Limited<axum::Json<Tokens>>, ApiError> {
    let limit = limits::login(&state, &client, body.login.as_str(), device).await?;
    let tokens = accounts::login(&state, body.login.as_str(), body.password, device, &client).await?;
    Ok(Limited(limit, axum::Json(tokens)))
}

/// The signed-in user.
#[utoipa::path(get, path = "/v1/auth/me", tag = "auth", security(("bearer" = [])), responses(
    (status = 200, body = User),
    (status = 401, description = "No valid access token"),
))]
pub async fn me(State(state): State<AppState>, caller: AuthUser) -> Result<axum::Json<User>, ApiError> {
    let user = users::get(state.db.as_ref(), caller.id).await?;
    user.map(axum::Json).ok_or_else(|| ApiError::unauthorized("The account no longer exists."))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: OpaqueToken,
}

/// Trade a refresh token for a new pair. Each refresh token works once; presenting a spent
/// one ends its whole session.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, body = Tokens),
    (status = 401, description = "Invalid, expired, revoked or already used"),
))]
pub async fn refresh(
    State(state): State<AppState>,
    client: ClientInfo,
    Json(body): Json<RefreshRequest>,
) -> Result<axum::Json<Tokens>, ApiError> {
    accounts::refresh(&state, body.refresh_token.as_str(), &client).await.map(axum::Json)
}

/// End this session; its access tokens stop working at once.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", security(("bearer" = [])), responses((status = 204)))]
pub async fn logout(State(state): State<AppState>, caller: AuthUser, client: ClientInfo) -> Result<StatusCode, ApiError> {
    accounts::logout(&state, caller.id, caller.session()?, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutAll {
    /// Revoke every personal API key too.
    #[serde(default)]
    api_keys: bool,
}

/// End every session of the signed-in user (the body may be left out); with
/// `{"api_keys": true}`, revoke every personal API key too.
#[utoipa::path(post, path = "/v1/auth/logout-all", tag = "auth", security(("bearer" = [])), request_body(content = Option<LogoutAll>),
    responses((status = 204)))]
pub async fn logout_all(
    State(state): State<AppState>,
    caller: AuthUser,
    client: ClientInfo,
    OptionalJson(body): OptionalJson<LogoutAll>,
) -> Result<StatusCode, ApiError> {
    caller.session()?;
    accounts::logout_all(&state, caller.id, body.is_some_and(|b| b.api_keys), &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mail a new link that verifies the signed-in user's email.
#[utoipa::path(post, path = "/v1/auth/verify-email", tag = "auth", security(("bearer" = [])),
    responses((status = 202), (status = 409, description = "Already verified")))]
pub async fn request_verification(
    State(state): State<AppState>,
    caller: AuthUser,
    client: ClientInfo,
    BaseUrl(base): BaseUrl,
) -> Result<StatusCode, ApiError> {
    caller.session()?;
    limits::start(&state, &client).await?;
    accounts::request_verification(&state, caller.id, &base, &client).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailConfirmation {
    token: OpaqueToken,
}

/// Use a mailed email link: verifies the email, or completes an email change.
#[utoipa::path(post, path = "/v1/auth/verify-email/confirm", tag = "auth", request_body = EmailConfirmation,
    responses((status = 204), (status = 409, description = "The new email was taken meanwhile"),
        (status = 422, description = "The token is invalid, expired or used")))]
pub async fn confirm_email(
    State(state): State<AppState>,
    client: ClientInfo,
    Json(body): Json<EmailConfirmation>,
) -> Result<StatusCode, ApiError> {
    accounts::confirm_email(&state, body.token.as_str(), &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SessionsQuery {
    /// How many items, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Where the previous page ended (its `next_cursor`).
    #[param(pattern = "^[A-Za-z0-9_-]{22}$")]
    cursor: Option<String>,
}

/// The signed-in user's live sessions, newest first.
#[utoipa::path(get, path = "/v1/auth/sessions", tag = "auth", security(("bearer" = [])), params(SessionsQuery),
    responses((status = 200, body = Page<Session>)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    caller: AuthUser,
    Query(query): Query<SessionsQuery>,
) -> Result<axum::Json<Page<Session>>, ApiError> {
    let current = caller.session()?;
    let page = PageParams { limit: query.limit, cursor: query.cursor };
    let (after, limit) = (page.after()?, page.limit()?);
    let now = time::format(state.clock.now());
    let items = sessions::list(state.db.as_ref(), caller.id, current, &now, after, limit).await?;
    Ok(axum::Json(Page::from_overfetch(items, limit, |session| session.id)))
}

/// End one of the signed-in user's sessions; its access tokens stop working at once.
#[utoipa::path(delete, path = "/v1/auth/sessions/{id}", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 404, description = "No such session of yours")))]
pub async fn revoke_session(
    State(state): State<AppState>,
    caller: AuthUser,
    client: ClientInfo,
    Ids(id): Ids<Uuid>,
) -> Result<StatusCode, ApiError> {
    caller.session()?;
    accounts::revoke_session(&state, caller.id, id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}
