//! The projects group: projects and their members (`/v1/projects/*`).

mod handlers;

use axum::Router;
use tui_shared::{AppState, http::Routes};
use utoipa_axum::{router::OpenApiRouter, routes};

/// This group's routes, as every host mounts them.
pub fn routes() -> Routes {
    OpenApiRouter::new()
        .routes(routes!(handlers::create_project, handlers::list_projects))
        .routes(routes!(handlers::get_project, handlers::update_project, handlers::delete_project))
        .routes(routes!(handlers::list_members))
        .routes(routes!(handlers::get_member, handlers::put_member, handlers::remove_member))
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
    tui_shared::adapters::cloudflare::serve("projects", app, request, env).await
}

#[cfg(feature = "spin")]
#[expect(unsafe_code, reason = "spin's http_component macro exports the handler through FFI glue")]
mod spin_entry {
    #[spin_sdk::http_component]
    async fn handle(request: axum::http::Request<axum::body::Bytes>) -> axum::http::Response<axum::body::Bytes> {
        tui_shared::adapters::spin::serve("projects", super::app, request).await
    }
}
