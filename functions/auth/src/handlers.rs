//! Handlers of the auth group: thin, they parse, call a service and shape the answer.

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use tui_shared::{
    ApiError, AppState,
    domain::{Email, LoginName, NewPassword, Password, Username},
    http::{extract::AuthUser, json::Json},
    repo::{sessions::ClientInfo, users::{self, User}},
    services::accounts::{self, Tokens},
};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(value_type = String, format = "email", max_length = 254)]
    email: Email,
    #[schema(value_type = String, min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9][A-Za-z0-9_-]*$")]
    username: Username,
    /// At least 12 characters, and not a commonly used password.
    #[schema(value_type = String, min_length = 12, max_length = 256)]
    password: NewPassword,
}

#[derive(Serialize, ToSchema)]
pub struct Registered {
    user: User,
    #[serde(flatten)]
    tokens: Tokens,
}

/// Create an account; it is signed in at once.
#[utoipa::path(post, path = "/v1/auth/register", tag = "auth", request_body = RegisterRequest, responses(
    (status = 201, body = Registered),
    (status = 409, description = "The email or username is taken"),
    (status = 422, description = "A field is invalid, or the password is weak"),
))]
pub async fn register(
    State(state): State<AppState>,
    client: ClientInfo,
    Json(body): Json<RegisterRequest>,
) -> Result<(StatusCode, axum::Json<Registered>), ApiError> {
    let (user, tokens) = accounts::register(&state, body.email, body.username, body.password, &client).await?;
    Ok((StatusCode::CREATED, axum::Json(Registered { user, tokens })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Email or username.
    #[schema(value_type = String, max_length = 254)]
    login: LoginName,
    #[schema(value_type = String, max_length = 256)]
    password: Password,
}

/// Sign in with email or username and password.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = Tokens),
    (status = 401, description = "Wrong login or password (the same answer whether or not the user exists)"),
))]
pub async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    Json(body): Json<LoginRequest>,
) -> Result<axum::Json<Tokens>, ApiError> {
    accounts::login(&state, body.login.as_str(), body.password, &client).await.map(axum::Json)
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
