//! The tasks group: tasks inside projects (`/v1/projects/{id}/tasks/**`, `/v1/tasks/**`), the
//! dependency graph between them, the state machine they move through, and their history.

mod graph;
mod handlers;
pub mod model;
mod repo;
mod service;

use axum::Router;
use tui_shared::{AppState, http::Routes};
use utoipa_axum::{router::OpenApiRouter, routes};

/// This group's routes, as every host mounts them.
pub fn routes() -> Routes {
    OpenApiRouter::new()
        .routes(routes!(handlers::create_task, handlers::list_tasks))
        .routes(routes!(handlers::create_tasks))
        .routes(routes!(handlers::get_task, handlers::update_task, handlers::delete_task))
        .routes(routes!(handlers::add_dependency))
        .routes(routes!(handlers::remove_dependency))
        .routes(routes!(handlers::transition))
        .routes(routes!(handlers::graph))
        .routes(routes!(handlers::history))
}

/// This group served on its own, with health, OpenAPI and the shared middleware.
pub fn app(state: AppState) -> Router {
    tui_shared::http::app(state, routes())
}

tui_shared::entry_points!("tasks", crate::app);
