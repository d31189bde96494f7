//! Runtime adapters: each port implemented once per runtime, behind that runtime's feature.
//! Function crates call these from a one-line entry point; domain code never does.

#[cfg(feature = "cloudflare")]
pub mod cloudflare;
#[cfg(any(feature = "cloudflare", feature = "spin"))]
pub mod edge;
mod entry;
pub mod hrana;
pub mod mail;
#[cfg(feature = "native")]
pub mod native;
#[cfg(feature = "spin")]
pub mod spin;

/// Waits `duration` on the runtime's own timer (tokio natively, a JavaScript timer on Workers,
/// a WASI clock pollable on Spin).
#[cfg(feature = "native")]
pub async fn sleep(duration: std::time::Duration) {
    tokio::time::sleep(duration).await;
}

#[cfg(feature = "cloudflare")]
pub async fn sleep(duration: std::time::Duration) {
    edge::SendWrapper::new(worker::Delay::from(duration)).await;
}

#[cfg(feature = "spin")]
pub async fn sleep(duration: std::time::Duration) {
    edge::SendWrapper::new(spin::Sleep::after(duration)).await;
}
