//! What the two wasm runtimes (Workers and Spin) share: single-threaded handles made usable in
//! the `Send` world that axum and the ports expect, the start-up every isolate or instance
//! runs on its first request, and serving a request with what it built.

use std::{
    future::Future,
    pin::Pin,
    sync::atomic::{AtomicBool, Ordering},
    task::{Context, Poll},
};

use axum::{Router, body::Body, response::IntoResponse};
use tower::ServiceExt;

use crate::{ApiError, AppState, db::migrate, state::Services, time};

/// A value bound to the one thread a wasm32 instance has (a JS object, a WIT resource).
#[derive(Clone)]
pub struct Local<T>(pub T);

/// A future over such values (a JS promise, a WASI pollable).
pub struct LocalFuture<F>(pub F);

// SAFETY: wasm32-unknown-unknown under workerd and wasm32-wasip2 under Spin run each instance
// on exactly one thread, so a value can never be observed from another thread. These markers
// only satisfy the `Send`/`Sync` bounds of code that is also compiled for the native host, and
// exist only on wasm32: built for a threaded target, the edge adapters do not compile at all.
#[cfg(target_arch = "wasm32")]
#[expect(unsafe_code, reason = "single-threaded wasm: see the SAFETY note")]
unsafe impl<T> Send for Local<T> {}
#[cfg(target_arch = "wasm32")]
#[expect(unsafe_code, reason = "single-threaded wasm: see the SAFETY note")]
unsafe impl<T> Sync for Local<T> {}
#[cfg(target_arch = "wasm32")]
#[expect(unsafe_code, reason = "single-threaded wasm: see the SAFETY note")]
unsafe impl<F> Send for LocalFuture<F> {}

impl<F: Future> Future for LocalFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: structural pinning of the only field; it is never moved out.
        #[expect(unsafe_code, reason = "pin projection of a single field")]
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.0) };
        inner.poll(cx)
    }
}

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
pub async fn start(services: Result<Services, String>, build: fn(AppState) -> Router) -> Result<Router, ApiError> {
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
