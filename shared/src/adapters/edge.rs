//! What the two wasm runtimes (Workers and Spin) share: single-threaded handles made usable in
//! the `Send` world that axum and the ports expect, the start-up every isolate or instance
//! runs on its first request, and serving a request with what it built.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::{Router, body::Body, response::IntoResponse};
use tower::ServiceExt;

use crate::{
    ApiError, AppState,
    db::migrate,
    state::{Services, StartError},
    time,
};

/// A value or a future bound to the one thread a wasm32 instance has (a JS object or promise, a
/// WIT resource or pollable), usable where axum and the ports ask for `Send` and `Sync`: workerd
/// and Spin run each instance on one thread, so its checks (a panic on use from another thread)
/// never fire there.
pub use send_wrapper::SendWrapper;

static MIGRATED: AtomicBool = AtomicBool::new(false);

/// Brings the schema up to date once per instance, before its first request is served. An
/// edge deployment has no start-up hook, so the first request of each instance pays one
/// round trip to check (and, on a fresh database, to migrate); racing instances are safe
/// because each migration commits together with its record.
pub async fn ensure_migrated(state: &AppState) -> Result<(), migrate::MigrateError> {
    if MIGRATED.load(Ordering::Acquire) {
        return Ok(());
    }
    migrate::migrate(state.db.as_ref(), &time::format(state.clock.now())).await?;
    MIGRATED.store(true, Ordering::Release);
    Ok(())
}

/// A group's router over the services a runtime assembled, with the schema brought up to date;
/// a failure is the 503 every request gets until the runtime's configuration is fixed.
pub async fn start(services: Result<Services, StartError>, build: fn(AppState) -> Router) -> Result<Router, ApiError> {
    let state = AppState::new(services.map_err(ApiError::unavailable)?);
    ensure_migrated(&state).await.map_err(ApiError::unavailable)?;
    Ok(build(state))
}

/// Serves one request with the router `start` built, or answers with why there is none.
pub async fn respond(app: Result<Router, ApiError>, request: http::Request<Body>) -> axum::response::Response {
    match app {
        Ok(app) => app.oneshot(request).await.into_response(),
        Err(error) => error.into_response(),
    }
}
