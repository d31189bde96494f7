//! Single sign-on with OpenID Connect providers.

use axum::{
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use tui_shared::{
    ApiError, AppState,
    http::extract::{BaseUrl, Ids, Query},
    repo::sessions::ClientInfo,
    services::sso::{self, Outcome},
};
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StartQuery {
    /// Finish this device login (the code the TUI shows) instead of returning tokens.
    device_user_code: Option<String>,
    /// Passed on to the provider, to pre-fill who is signing in (an email).
    login_hint: Option<String>,
}

/// Start signing in with a configured OpenID Connect provider: a redirect to it.
#[utoipa::path(get, path = "/v1/auth/oauth/{provider}/start", tag = "auth", params(StartQuery),
    responses((status = 302, description = "To the provider"), (status = 404, description = "No such provider")))]
pub async fn oauth_start(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Ids(provider): Ids<String>,
    Query(query): Query<StartQuery>,
) -> Result<Response, ApiError> {
    if query.login_hint.as_ref().is_some_and(|h| h.len() > 254 || h.chars().any(char::is_control)) {
        return Err(ApiError::field("login_hint", "must be one line of at most 254 characters"));
    }
    let location = sso::start(&state, &provider, &base, query.device_user_code.as_deref(), query.login_hint.as_deref()).await?;
    let location = HeaderValue::from_str(&location).map_err(ApiError::internal)?;
    Ok((StatusCode::FOUND, [(header::LOCATION, location), (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))]).into_response())
}

#[derive(Deserialize, IntoParams)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    /// Set by the provider when the person refused or it failed.
    error: Option<String>,
}

/// Where the provider sends the browser back: tokens, or the device login approved.
#[utoipa::path(get, path = "/v1/auth/oauth/{provider}/callback", tag = "auth", params(CallbackQuery), responses(
    (status = 200, description = "Tokens as JSON, or a page saying the device login was approved"),
    (status = 401, description = "Refused by the provider, a bad or used state, or an ID token that does not verify"),
))]
pub async fn oauth_callback(
    State(state): State<AppState>,
    client: ClientInfo,
    Ids(provider): Ids<String>,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, ApiError> {
    if let Some(error) = query.error {
        let error: String = error.chars().filter(|c| c.is_ascii_graphic()).take(64).collect();
        return Err(ApiError::unauthorized(format!("The identity provider refused the sign-in ({error}).")));
    }
    let (Some(code), Some(csrf_state)) = (query.code, query.state) else {
        return Err(ApiError::field("code", "the provider sent no code and state"));
    };
    if code.len() > 2048 || csrf_state.len() > 256 {
        return Err(ApiError::field("code", "is too long"));
    }
    Ok(match sso::callback(&state, &provider, &code, &csrf_state, &client).await? {
        Outcome::Tokens(tokens) => axum::Json(tokens).into_response(),
        Outcome::DeviceApproved => crate::device::approved_page(),
    })
}
