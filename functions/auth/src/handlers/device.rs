//! Device login for the TUI (RFC 8628): the JSON endpoints the TUI polls, and `/device`, the
//! small page where a person signs in and approves the code the TUI shows.
//!
//! The page is protected against CSRF with a double-submit token: `GET /device` sets a random
//! token in a `SameSite=Strict`, `HttpOnly` cookie and in the form; `POST /device` needs both,
//! equal, and refuses a cross-origin `Origin`.
//!
//! A person who signs in with single sign-on instead lands on a confirmation page (see
//! [`confirmation_page`]) that shows the code and who asked for it (address, client, time);
//! only an explicit POST from that browser, carrying the cookie the sign-in set, approves it.
//!
//! Every approval rests on a fresh proof, since it mints a session that outlives the approver's:
//! the page's password, checked in the same request; a single sign-on finished in this browser
//! within the code's ten minutes; or, by API, a recent sign-in or `current_password`.

use crate::limits;
use axum::{
    Form,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use cookie::{Cookie, SameSite, time::Duration};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tui_shared::{
    ApiError, AppState,
    auth::tokens::random_token,
    domain::{LoginName, OpaqueToken, Password},
    http::{
        Limited,
        extract::{AuthUser, BaseUrl, Query},
        json::Json,
        over_https,
    },
    repo::sessions::ClientInfo,
};

use crate::service::{
    accounts::{self, Tokens},
    device::{self, DeviceCode},
};
use utoipa::{IntoParams, ToSchema};

/// Start a device login: a code to show the person, a code to poll with.
#[utoipa::path(post, path = "/v1/auth/device/code", tag = "auth",
    responses((status = 200, body = DeviceCode), (status = 429, description = "Too many starts from this address")))]
pub async fn device_code(
    State(state): State<AppState>,
    client: ClientInfo,
    BaseUrl(base): BaseUrl,
) -> Result<Limited<axum::Json<DeviceCode>>, ApiError> {
    let limit = limits::start(&state, &client).await?;
    device::start(&state, &base, &client).await.map(|code| Limited(limit, axum::Json(code)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceTokenRequest {
    device_code: OpaqueToken,
}

/// RFC 8628's error body.
#[derive(Serialize, ToSchema)]
pub struct DeviceError {
    /// `authorization_pending`, `slow_down`, `access_denied`, `expired_token` or `invalid_grant`.
    error: &'static str,
}

/// Poll for the tokens of an approved device login, no faster than `interval` seconds.
#[utoipa::path(post, path = "/v1/auth/device/token", tag = "auth", request_body = DeviceTokenRequest, responses(
    (status = 200, body = Tokens),
    (status = 400, body = DeviceError, description = "Not (yet) approved, polled too fast, denied or expired"),
))]
pub async fn device_token(
    State(state): State<AppState>,
    client: ClientInfo,
    Json(body): Json<DeviceTokenRequest>,
) -> Result<Response, ApiError> {
    Ok(match device::poll(&state, body.device_code.as_str(), &client).await? {
        Ok(tokens) => axum::Json(tokens).into_response(),
        Err(pending) => {
            let body = axum::Json(DeviceError { error: pending.as_str() });
            (StatusCode::BAD_REQUEST, [(header::CACHE_CONTROL, "no-store")], body).into_response()
        }
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceDecision {
    #[schema(max_length = 16)]
    user_code: String,
    approve: bool,
    /// Needed to approve when the session signed in more than 10 minutes ago.
    #[serde(default, deserialize_with = "tui_shared::http::json::present")]
    #[schema(nullable = false)]
    current_password: Option<Password>,
}

/// Approve or deny the device showing `user_code`, as the signed-in user. Approving needs a
/// session that signed in within 10 minutes, or `current_password`: a session stolen long after
/// its sign-in must not mint sessions that outlive its own revocation. The device's session
/// never counts as freshly signed in (sudo mode). Limited per account, like sign-ins.
#[utoipa::path(post, path = "/v1/auth/device/approve", tag = "auth", security(("bearer" = [])), request_body = DeviceDecision,
    responses((status = 204),
        (status = 403, description = "An API key, or an approval by a sign-in older than 10 minutes without current_password"),
        (status = 422, description = "No such pending code, or current_password is wrong"), (status = 429, description = "Too many approvals")))]
pub async fn approve_device(
    State(state): State<AppState>,
    caller: AuthUser,
    client: ClientInfo,
    Json(body): Json<DeviceDecision>,
) -> Result<StatusCode, ApiError> {
    let session = caller.session()?;
    limits::approve(&state, caller.id).await?;
    if body.approve {
        accounts::require_recent_sign_in(&state, &caller, body.current_password, &client).await?;
    }
    device::decide(&state, caller.id, Some(session), &body.user_code, body.approve, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

const CSRF_COOKIE: &str = "tui_csrf";
/// Set by a single sign-on that finished for a device login: only the browser that has it may
/// confirm that login. `__Host-` makes browsers keep it to this exact origin, over HTTPS.
pub const DEVICE_COOKIE: &str = "__Host-tui_device";

fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

fn page(status: StatusCode, body: &str, cookies: &[Cookie<'_>]) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Claude TUI device login</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>body{{font:16px system-ui;max-width:26em;margin:3em auto}}\
         label,input,button{{display:block;width:100%;margin:.4em 0}}.error{{color:#b00}}</style></head>\
         <body><h1>Sign in to the Claude TUI</h1>{body}</body></html>"
    );
    let mut response = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for cookie in cookies.iter().filter_map(|c| HeaderValue::from_str(&c.to_string()).ok()) {
        headers.append(header::SET_COOKIE, cookie);
    }
    response
}

fn form(csrf: &str, user_code: &str, error: Option<&str>) -> String {
    let error = error.map(|e| format!("<p class=\"error\">{}</p>", escape(e))).unwrap_or_default();
    format!(
        "{error}<p>Enter the code your terminal shows, and sign in to approve it.</p>\
         <form method=\"post\" action=\"/device\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>Code <input name=\"user_code\" value=\"{code}\" required maxlength=\"16\" autocomplete=\"off\"></label>\
         <label>Email or username <input name=\"login\" required maxlength=\"254\" autocomplete=\"username\"></label>\
         <label>Password <input name=\"password\" type=\"password\" required maxlength=\"256\" autocomplete=\"current-password\"></label>\
         <button name=\"decision\" value=\"approve\">Approve</button>\
         <button name=\"decision\" value=\"deny\">Deny</button></form>",
        csrf = escape(csrf),
        code = escape(user_code),
    )
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    user_code: Option<String>,
}

/// The page that says a device login was approved.
fn approved_page() -> Response {
    page(StatusCode::OK, "<p>Approved. Return to your terminal: it is signed in.</p>", &[])
}

/// A fresh CSRF token and the cookie that carries it.
fn csrf_cookie(secure: bool) -> (String, Cookie<'static>) {
    let csrf = random_token("");
    let cookie = Cookie::build((CSRF_COOKIE, csrf.clone()))
        .path("/device")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(Duration::seconds(900))
        .secure(secure)
        .build();
    (csrf, cookie)
}

/// The verification page.
pub async fn device_page(uri: Uri, headers: HeaderMap, Query(query): Query<PageQuery>) -> Response {
    let (csrf, cookie) = csrf_cookie(over_https(&uri, &headers));
    let code = query.user_code.unwrap_or_default().chars().take(16).collect::<String>();
    page(StatusCode::OK, &form(&csrf, &code, None), &[cookie])
}

/// Where single sign-on for a device login ends: the code and who asked for it, and buttons
/// that post an explicit decision from this browser (`browser_secret` goes into its cookie).
pub fn confirmation_page(request: &device::Request, browser_secret: &str, https: bool) -> Response {
    let (csrf, csrf_cookie) = csrf_cookie(https);
    let device_cookie = Cookie::build((DEVICE_COOKIE, browser_secret.to_owned()))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(Duration::seconds(600))
        .build();
    let body = format!(
        "<p>A device asks to be signed in to your account. Approve only if your terminal shows this code \
         and you asked for it just now.</p>\
         <dl><dt>Code</dt><dd><strong>{code}</strong></dd><dt>Asked from</dt><dd>{ip}</dd>\
         <dt>Client</dt><dd>{agent}</dd><dt>At</dt><dd>{at}</dd></dl>\
         <form method=\"post\" action=\"/device\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"user_code\" value=\"{code}\">\
         <button name=\"decision\" value=\"approve\">Approve</button>\
         <button name=\"decision\" value=\"deny\">Deny</button></form>",
        code = escape(&request.user_code),
        ip = escape(request.ip.as_deref().unwrap_or("an unknown address")),
        agent = escape(request.user_agent.as_deref().unwrap_or("an unknown client")),
        at = escape(&request.requested_at),
        csrf = escape(&csrf),
    );
    page(StatusCode::OK, &body, &[csrf_cookie, device_cookie])
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageForm {
    csrf: String,
    user_code: String,
    /// Absent on the confirmation page after single sign-on.
    login: Option<String>,
    password: Option<String>,
    decision: String,
}

/// The value of the first cookie named `name` that the request carries.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
}

/// Equal without telling how much of it was: the token is a secret.
fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

fn cross_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    match (origin, host) {
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, rest)| rest) != Some(host),
        _ => false,
    }
}

/// The page's form: sign in and decide, in one step.
pub async fn device_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: ClientInfo,
    Form(form_data): Form<PageForm>,
) -> Response {
    let cookie_token = cookie(&headers, CSRF_COOKIE);
    let csrf_ok = cookie_token.as_deref().is_some_and(|c| !c.is_empty() && same(c, &form_data.csrf));
    if !csrf_ok || cross_origin(&headers) {
        return page(
            StatusCode::FORBIDDEN,
            "<p class=\"error\">This form expired or did not come from this site. Reload the page and try again.</p>",
            &[],
        );
    }
    let approve = form_data.decision == "approve";
    if form_data.login.is_none() && form_data.password.is_none() {
        let Some(secret) = cookie(&headers, DEVICE_COOKIE).filter(|s| !s.is_empty()) else {
            return page(StatusCode::FORBIDDEN, "<p class=\"error\">Sign in to approve this code.</p>", &[]);
        };
        return match device::confirm(&state, &form_data.user_code, &secret, approve, &client).await {
            Ok(()) if approve => approved_page(),
            Ok(()) => page(StatusCode::OK, "<p>Denied. The terminal that asked will not be signed in.</p>", &[]),
            Err(_) => page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "<p class=\"error\">That code is not waiting for your confirmation, or it expired.</p>",
                &[],
            ),
        };
    }
    let retry = |status: StatusCode, message: &str| page(status, &form(&form_data.csrf, &form_data.user_code, Some(message)), &[]);
    let (Ok(login), Ok(password)) = (
        LoginName::try_from(form_data.login.clone().unwrap_or_default()),
        Password::try_from(form_data.password.clone().unwrap_or_default()),
    ) else {
        return retry(StatusCode::UNPROCESSABLE_ENTITY, "Enter your email or username and your password.");
    };
    // The form checks passwords as sign-in does, so it counts against the same limits.
    if let Err(error) = limits::login(&state, &client, login.as_str(), None).await {
        return retry(error.code.status(), &error.detail);
    }
    let who = match crate::service::accounts::authenticate(&state, login.as_str(), password, None, &client).await {
        Ok(who) => who,
        Err(error) => return retry(error.code.status(), &error.detail),
    };
    if let Err(error) = state.db.execute(who.settle).await.map_err(ApiError::from) {
        return retry(error.code.status(), &error.detail);
    }
    match device::decide(&state, who.id, None, &form_data.user_code, approve, &client).await {
        Ok(()) if approve => approved_page(),
        Ok(()) => page(StatusCode::OK, "<p>Denied. The terminal that asked will not be signed in.</p>", &[]),
        Err(error) => retry(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("That code {}.", error.errors.first().map_or("is not valid", |e| e.message.as_str())),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_a_prefilled_code_is_escaped() {
        let html = form("token", "<script>alert(1)</script>", Some("bad & worse"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("bad &amp; worse"));
    }

    #[test]
    fn a_cross_origin_post_is_recognised() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("tui.example.com"));
        assert!(!cross_origin(&headers));
        headers.insert(header::ORIGIN, HeaderValue::from_static("https://tui.example.com"));
        assert!(!cross_origin(&headers));
        headers.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(cross_origin(&headers));
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; tui_csrf=xyz; b=2"));
        assert_eq!(cookie(&headers, CSRF_COOKIE), Some("xyz".into()));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }

    #[test]
    fn the_csrf_cookie_is_strict_to_the_page_and_secure_over_https() {
        let (token, cookie) = csrf_cookie(true);
        let header = cookie.to_string();
        assert!(header.starts_with(&format!("tui_csrf={token};")), "{header}");
        for attribute in ["; Path=/device", "; HttpOnly", "; SameSite=Strict", "; Max-Age=900", "; Secure"] {
            assert!(header.contains(attribute), "{header} lacks {attribute}");
        }
        assert!(!csrf_cookie(false).1.to_string().contains("Secure"), "plain HTTP: a local setup");
    }
}
