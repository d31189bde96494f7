//! The workflows group (`/v1/projects/{id}/workflows`, `/v1/workflows/**`, `/v1/runs/**`,
//! `/v1/internal/tick`): versioned definitions whose steps form a DAG, and runs that survive
//! restarts because every move of a step is a row in the database.
//!
//! Here: what a definition is and how it is checked (`model`), the SQL (`repo`) over the schema
//! whose triggers advance runs (`migrations/0009_workflows.sql`), the durable jobs table
//! (`jobs`), the engine that runs a job's step (`engine`), the guard on `http` steps' targets
//! (`outbound`), and the use cases (`service`). Jobs are drained by a worker pool natively
//! (`native`), a queue consumer and cron trigger on Workers (with an alarm for jobs due beyond
//! a queue message's reach: `cloudflare`), and the tick endpoint on Spin.

#[cfg(feature = "cloudflare")]
pub mod cloudflare;
mod config;
mod engine;
mod handlers;
mod jobs;
mod model;
#[cfg(feature = "native")]
pub mod native;
mod outbound;
mod repo;
mod service;

use axum::Router;
pub use config::WorkflowsConfig;
use tui_shared::{AppState, http::Routes};
use utoipa_axum::{router::OpenApiRouter, routes};

/// This group's routes, as every host mounts them.
pub fn routes() -> Routes {
    OpenApiRouter::new()
        .routes(routes!(handlers::create_workflow, handlers::list_workflows))
        .routes(routes!(handlers::get_workflow, handlers::edit_workflow, handlers::delete_workflow))
        .routes(routes!(handlers::start_run, handlers::list_runs))
        .routes(routes!(handlers::get_run))
        .routes(routes!(handlers::pause_run))
        .routes(routes!(handlers::resume_run))
        .routes(routes!(handlers::cancel_run))
        .routes(routes!(handlers::deliver_event))
        .routes(routes!(handlers::tick))
}

/// This group served on its own, with health, OpenAPI and the shared middleware.
pub fn app(state: AppState) -> Router {
    tui_shared::http::app(state, routes())
}

/// What one queue batch or cron run drains on Workers: a few seconds' work, then the queue is
/// woken again if jobs are still due, so that other consumers share the rest.
const SCHEDULED: engine::Budget = engine::Budget { jobs: 200, time: std::time::Duration::from_secs(10), lanes: 4 };

/// Drains due jobs for a Workers queue consumer or cron trigger, then wakes the consumer again
/// for the next job: at once if jobs are still due, or when the next one falls due (a queue
/// message, or beyond its reach the `JobTimer` alarm, which keeps only its earliest time and so
/// is set again here each time it has fired).
pub async fn tick(state: AppState) {
    let drained = match engine::drain(&state, SCHEDULED).await {
        Ok(drained) => drained,
        Err(error) => return tracing::error!(%error, "draining workflow jobs failed"),
    };
    if drained.more {
        return state.jobs.wake(std::time::Duration::ZERO).await;
    }
    let now = state.clock.now();
    if let Ok(Some(next)) = jobs::next_due(state.db.as_ref()).await
        && next > now
        && next.year() < 9999
    {
        state.jobs.wake((next - now).try_into().unwrap_or_default()).await;
    }
}

tui_shared::entry_points!("workflows", crate::app, tick = crate::tick);
