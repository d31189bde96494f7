//! The auth group: accounts, sign-in and the signed-in user (`/v1/auth/*`).

mod handlers;

use axum::Router;
use tui_shared::{AppState, http::Routes};
use utoipa_axum::{router::OpenApiRouter, routes};

/// This group's routes, as every host mounts them.
pub fn routes() -> Routes {
    OpenApiRouter::new()
        .routes(routes!(handlers::register))
        .routes(routes!(handlers::login))
        .routes(routes!(handlers::me))
}

/// This group served on its own, with health, OpenAPI and the shared middleware.
pub fn app(state: AppState) -> Router {
    tui_shared::http::app(state, routes())
}

#[cfg(feature = "cloudflare")]
#[worker::event(fetch)]
async fn fetch(
    request: worker::HttpRequest,
    env: worker::Env,
    _: worker::Context,
) -> worker::Result<axum::http::Response<axum::body::Body>> {
    tui_shared::adapters::cloudflare::serve("auth", app, request, env).await
}

#[cfg(feature = "spin")]
#[expect(unsafe_code, reason = "spin's http_component macro exports the handler through FFI glue")]
mod spin_entry {
    #[spin_sdk::http_component]
    async fn handle(request: axum::http::Request<axum::body::Bytes>) -> axum::http::Response<axum::body::Bytes> {
        tui_shared::adapters::spin::serve("auth", super::app, request).await
    }
}
