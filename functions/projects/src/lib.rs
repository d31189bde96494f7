//! The projects group: projects and their members (`/v1/projects/*`).

mod handlers;
mod repo;
mod service;

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

tui_shared::entry_points!("projects", crate::app);
