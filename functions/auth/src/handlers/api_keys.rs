//! Personal API keys.

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use tui_shared::{
    ApiError, AppState,
    domain::{Name, Password},
    http::{
        extract::{AuthUser, Ids},
        json::Json,
    },
    repo::{
        api_keys::{self, ApiKey, Scope},
        sessions::ClientInfo,
    },
    time,
};

use crate::service::{accounts, api_keys as service};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    name: Name,
    /// `read` (safe methods only), `write` (changes too).
    scopes: Vec<Scope>,
    /// RFC 3339; the key stops working then.
    #[serde(default, deserialize_with = "tui_shared::http::json::present")]
    #[schema(nullable = false, format = DateTime)]
    expires_at: Option<String>,
    /// Needed when the session signed in more than 10 minutes ago.
    #[serde(default, deserialize_with = "tui_shared::http::json::present")]
    #[schema(nullable = false)]
    current_password: Option<Password>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    record: ApiKey,
    /// The key itself: shown this once, stored only as a hash.
    key: String,
}

/// Make a personal API key: needs a session that signed in within 10 minutes, or
/// `current_password`. The owner is told by mail.
#[utoipa::path(post, path = "/v1/auth/api-keys", tag = "auth", security(("bearer" = [])), request_body = NewApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 403, description = "An API key, or a sign-in older than 10 minutes without current_password")))]
pub async fn create_api_key(
    State(state): State<AppState>,
    caller: AuthUser,
    client: ClientInfo,
    Json(body): Json<NewApiKey>,
) -> Result<(StatusCode, axum::Json<CreatedApiKey>), ApiError> {
    if body.scopes.is_empty() {
        return Err(ApiError::field("scopes", "must name at least one scope"));
    }
    let expires_at = body
        .expires_at
        .as_deref()
        .map(|at| time::parse(at).ok_or_else(|| ApiError::field("expires_at", "must be an RFC 3339 time")))
        .transpose()?;
    accounts::require_recent_sign_in(&state, &caller, body.current_password, &client).await?;
    let (record, key) = service::create(&state, caller.id, body.name.as_str(), &body.scopes, expires_at, &client).await?;
    Ok((StatusCode::CREATED, axum::Json(CreatedApiKey { record, key })))
}

/// The signed-in user's live API keys (never the keys themselves); needs a session.
#[utoipa::path(get, path = "/v1/auth/api-keys", tag = "auth", security(("bearer" = [])), responses((status = 200, body = Vec<ApiKey>)))]
pub async fn list_api_keys(State(state): State<AppState>, caller: AuthUser) -> Result<axum::Json<Vec<ApiKey>>, ApiError> {
    caller.session()?;
    api_keys::list(state.db.as_ref(), caller.id).await.map(axum::Json)
}

/// Revoke an API key; needs a session.
#[utoipa::path(delete, path = "/v1/auth/api-keys/{id}", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 404, description = "No such key of yours")))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    caller: AuthUser,
    client: ClientInfo,
    Ids(id): Ids<Uuid>,
) -> Result<StatusCode, ApiError> {
    caller.session()?;
    service::revoke(&state, caller.id, id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}
