//! The auth group: accounts, sessions, passwords, API keys and device login (`/v1/auth/*`, and
//! the `/device` page), users and roles (`/v1/users/*`) and the audit log (`/v1/audit`).

pub mod config;
mod handlers;
mod limits;
mod repo;
mod service;

use handlers::{accounts, api_keys, device, passwords, sso, users};

use axum::Router;
use tui_shared::{AppState, http::Routes};
use utoipa_axum::{router::OpenApiRouter, routes};

/// This group's routes, as every host mounts them.
pub fn routes() -> Routes {
    OpenApiRouter::new()
        .routes(routes!(accounts::register))
        .routes(routes!(accounts::login))
        .routes(routes!(accounts::refresh))
        .routes(routes!(accounts::logout))
        .routes(routes!(accounts::logout_all))
        .routes(routes!(accounts::me))
        .routes(routes!(accounts::list_sessions))
        .routes(routes!(accounts::revoke_session))
        .routes(routes!(accounts::request_verification))
        .routes(routes!(accounts::confirm_email))
        .routes(routes!(passwords::change_password))
        .routes(routes!(passwords::request_reset))
        .routes(routes!(passwords::confirm_reset))
        .routes(routes!(api_keys::create_api_key, api_keys::list_api_keys))
        .routes(routes!(api_keys::revoke_api_key))
        .routes(routes!(users::list_users))
        .routes(routes!(users::get_user, users::update_user))
        .routes(routes!(users::grant_role, users::revoke_role))
        .routes(routes!(users::unlock_user))
        .routes(routes!(users::audit))
        .routes(routes!(device::device_code))
        .routes(routes!(device::device_token))
        .routes(routes!(device::approve_device))
        .routes(routes!(sso::oauth_start))
        .routes(routes!(sso::oauth_callback))
        .route("/device", axum::routing::get(device::device_page).post(device::device_submit))
}

/// This group served on its own, with health, OpenAPI and the shared middleware.
pub fn app(state: AppState) -> Router {
    tui_shared::http::app(state, routes())
}

tui_shared::entry_points!("auth", crate::app);
