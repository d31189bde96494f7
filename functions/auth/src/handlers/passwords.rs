//! Changing a password, and resetting a forgotten one by mail.

use axum::{extract::State, http::StatusCode};
use serde::Deserialize;
use tui_shared::{
    ApiError, AppState,
    domain::{Email, NewPassword, OpaqueToken, Password},
    http::{
        Limited,
        extract::{AuthUser, BaseUrl},
        json::Json,
    },
    repo::sessions::ClientInfo,
};

use crate::{limits, service::accounts};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: Password,
    new_password: NewPassword,
}

/// Change the password; every other session ends and every personal API key is revoked.
/// Limited like sign-in, per account.
#[utoipa::path(post, path = "/v1/auth/password", tag = "auth", security(("bearer" = [])), request_body = PasswordChange,
    responses((status = 204), (status = 422, description = "The current password is wrong, or the new one is weak")))]
pub async fn change_password(
    State(state): State<AppState>,
    caller: AuthUser,
    client: ClientInfo,
    Json(body): Json<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let session = caller.session()?;
    accounts::change_password(&state, caller.id, session, body.current_password, body.new_password, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    email: Email,
}

/// Mail a reset token to this address, if it belongs to an account. Always 202, so that the
/// answer does not tell who has an account.
#[utoipa::path(post, path = "/v1/auth/password-reset", tag = "auth", request_body = ResetRequest,
    responses((status = 202), (status = 429, description = "More than 3 resets an hour for this address")))]
pub async fn request_reset(
    State(state): State<AppState>,
    client: ClientInfo,
    BaseUrl(base): BaseUrl,
    Json(body): Json<ResetRequest>,
) -> Result<Limited<StatusCode>, ApiError> {
    let limit = limits::reset(&state, &client, body.email.as_str()).await?;
    accounts::request_reset(&state, &body.email, &base, &client).await?;
    Ok(Limited(limit, StatusCode::ACCEPTED))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmation {
    token: OpaqueToken,
    new_password: NewPassword,
}

/// Set a new password with a mailed token: single use, valid for an hour; every session ends,
/// every personal API key is revoked, and a lockout is lifted.
#[utoipa::path(post, path = "/v1/auth/password-reset/confirm", tag = "auth", request_body = ResetConfirmation,
    responses((status = 204), (status = 422, description = "The token is invalid, expired or used, or the password is weak")))]
pub async fn confirm_reset(
    State(state): State<AppState>,
    client: ClientInfo,
    Json(body): Json<ResetConfirmation>,
) -> Result<StatusCode, ApiError> {
    accounts::confirm_reset(&state, body.token.as_str(), body.new_password, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}
