//! The swarms group (`/v1/swarms/**`, `/v1/agents/**`, `/v1/orchestrations/**`,
//! `/v1/patterns/**`, `/v1/consensus/**`): AI agents in a project that really call Claude.
//!
//! Here: the SQL of the endpoints (`repo`) over the schema in `migrations/0010_swarms.sql`, the
//! use cases (`service`) and the handlers. What agents do, and what the endpoints share with it
//! (the model, plans, learning, vote counting), is `tui-swarms-agents`, which the workflow
//! engine runs for `agent` steps. On Workers, this worker also hosts the swarms' coordinators
//! (`cloudflare`).
//!
//! Orchestrations and votes are runs of a workflow each swarm owns: they are drained wherever
//! workflow jobs are (the native pool, the Workers queue consumer, the Spin tick), and survive
//! restarts the way every run does.

#[cfg(feature = "cloudflare")]
pub mod cloudflare;
mod handlers;
mod repo;
mod service;

use axum::Router;
use tui_shared::{AppState, http::Routes};
use utoipa_axum::{router::OpenApiRouter, routes};

/// This group's routes, as every host mounts them.
pub fn routes() -> Routes {
    OpenApiRouter::new()
        .routes(routes!(handlers::create_swarm, handlers::list_swarms))
        .routes(routes!(handlers::usage))
        .routes(routes!(handlers::get_swarm, handlers::delete_swarm))
        .routes(routes!(handlers::scale))
        .routes(routes!(handlers::add_agent, handlers::list_agents))
        .routes(routes!(handlers::agent_metrics))
        .routes(routes!(handlers::orchestrate))
        .routes(routes!(handlers::get_orchestration))
        .routes(routes!(handlers::train))
        .routes(routes!(handlers::predict))
        .routes(routes!(handlers::open_vote))
        .routes(routes!(handlers::get_vote))
        .routes(routes!(handlers::cast))
        .routes(routes!(handlers::put_memory, handlers::get_memory, handlers::delete_memory))
        .routes(routes!(handlers::search_memory))
}

/// This group served on its own, with health, OpenAPI and the shared middleware.
pub fn app(state: AppState) -> Router {
    tui_shared::http::app(state, routes())
}

tui_shared::entry_points!("swarms", crate::app);
