//! Single sign-on with OpenID Connect providers.

use axum::{
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use cookie::{Cookie, SameSite, time::Duration};
use serde::Deserialize;
use tui_shared::{
    ApiError, AppState,
    http::{
        Limited,
        extract::{BaseUrl, Ids, Query},
        over_https,
    },
    repo::sessions::ClientInfo,
};

use crate::{
    limits,
    service::sso::{self, Outcome},
};

/// Binds a sign-in to the browser that started it; `__Host-` keeps it to this exact origin,
/// over HTTPS (browsers treat `localhost` as secure too). `Lax`, because the provider sends the
/// browser back with a cross-site top-level navigation.
const SSO_COOKIE: &str = "__Host-tui_sso";
use utoipa::IntoParams;

/// The binding cookie with `value`, kept for `max_age` (zero: spent).
fn sso_cookie(value: String, max_age: Duration) -> Cookie<'static> {
    Cookie::build((SSO_COOKIE, value)).path("/").secure(true).http_only(true).same_site(SameSite::Lax).max_age(max_age).build()
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StartQuery {
    /// Finish this device login (the code the TUI shows): the sign-in ends on a page that asks
    /// to confirm it, instead of returning tokens.
    #[param(pattern = "^[ -]*([BCDFGHJKLMNPQRSTVWXZbcdfghjklmnpqrstvwxz][ -]*){8}$")]
    device_user_code: Option<String>,
    /// Passed on to the provider, to pre-fill who is signing in (an email).
    #[param(max_length = 254, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    login_hint: Option<String>,
}

/// Start signing in with a configured OpenID Connect provider: a redirect to it, and a cookie
/// that binds the sign-in to this browser.
#[utoipa::path(get, path = "/v1/auth/oauth/{provider}/start", tag = "auth", params(StartQuery),
    responses((status = 302, description = "To the provider"), (status = 404, description = "No such provider"),
        (status = 429, description = "Too many starts from this address")))]
pub async fn oauth_start(
    State(state): State<AppState>,
    client: ClientInfo,
    BaseUrl(base): BaseUrl,
    Ids(provider): Ids<String>,
    Query(query): Query<StartQuery>,
) -> Result<Limited<Response>, ApiError> {
    if query.login_hint.as_ref().is_some_and(|h| h.chars().count() > 254 || h.chars().any(char::is_control)) {
        return Err(ApiError::field("login_hint", "must be one line of at most 254 characters"));
    }
    let limit = limits::start(&state, &client).await?;
    let started = sso::start(&state, &provider, &base, query.device_user_code.as_deref(), query.login_hint.as_deref()).await?;
    let location = HeaderValue::from_str(&started.location).map_err(ApiError::internal)?;
    let cookie =
        HeaderValue::from_str(&sso_cookie(started.browser_secret, Duration::seconds(600)).to_string()).map_err(ApiError::internal)?;
    let response = (
        StatusCode::FOUND,
        [(header::LOCATION, location), (header::SET_COOKIE, cookie), (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
    );
    Ok(Limited(limit, response.into_response()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    /// Set by the provider when the person refused or it failed.
    error: Option<String>,
}

/// Where the provider sends the browser back: tokens, or the device login approved.
#[utoipa::path(get, path = "/v1/auth/oauth/{provider}/callback", tag = "auth", params(CallbackQuery), responses(
    (status = 200, description = "Tokens as JSON, or the page that asks to confirm a device login"),
    (status = 401, description = "Refused by the provider, a bad or used state, another browser, or an ID token that does not verify"),
    (status = 409, description = "An account has this email and the provider may not be linked to it by email"),
))]
pub async fn oauth_callback(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
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
    let browser = crate::device::cookie(&headers, SSO_COOKIE)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::unauthorized("This sign-in was started in another browser (or cookies are off); start again here."))?;
    let mut response = match sso::callback(&state, &provider, &code, &csrf_state, &browser, &client).await? {
        Outcome::Tokens(tokens) => axum::Json(tokens).into_response(),
        Outcome::ConfirmDevice { request, browser_secret } => {
            crate::device::confirmation_page(&request, &browser_secret, over_https(&uri, &headers))
        }
    };
    let spent = sso_cookie(String::new(), Duration::ZERO).to_string();
    response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&spent).map_err(ApiError::internal)?);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
