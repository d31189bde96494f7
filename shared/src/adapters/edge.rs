//! What the two wasm runtimes (Workers and Spin) share: single-threaded handles made usable in
//! the `Send` world that axum and the ports expect, and the start-up every isolate or instance
//! runs on its first request.

use std::{
    future::Future,
    pin::Pin,
    sync::atomic::{AtomicBool, Ordering},
    task::{Context, Poll},
};

use crate::{AppState, db::migrate, time};

/// A value bound to the one thread a wasm32 instance has (a JS object, a WIT resource).
pub struct Local<T>(pub T);

/// A future over such values (a JS promise, a WASI pollable).
pub struct LocalFuture<F>(pub F);

// SAFETY: wasm32-unknown-unknown under workerd and wasm32-wasip2 under Spin run each instance
// on exactly one thread, so a value can never be observed from another thread. These markers
// only satisfy the `Send`/`Sync` bounds of code that is also compiled for the native host.
#[expect(unsafe_code, reason = "single-threaded wasm: see the SAFETY note")]
unsafe impl<T> Send for Local<T> {}
#[expect(unsafe_code, reason = "single-threaded wasm: see the SAFETY note")]
unsafe impl<T> Sync for Local<T> {}
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
