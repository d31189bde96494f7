//! The real-time group (`/v1/realtime/**`): tickets, topics and who may read them, replay from
//! the event log, WebSocket hubs, and Server-Sent Events on every runtime.
//!
//! The event log itself is the kernel's (`tui_shared::events`), written by triggers with every
//! change. Here: the protocol (`protocol`), topics and their authorization (`topics`), one
//! connection's state whatever carries it (`connection`), serving its messages (`service`), who
//! is on each project topic (`presence`), and the fan-out of each runtime: an in-process hub
//! natively (`native`), Durable Objects on Workers (`cloudflare`).

#[cfg(feature = "cloudflare")]
pub mod cloudflare;
mod connection;
mod handlers;
#[cfg(feature = "native")]
pub mod native;
// Natively too under test: the Spin component streams through it, and is tested here.
#[cfg(any(test, not(feature = "native")))]
mod poll;
// Only the runtimes that hold sockets keep presence: a polled stream is alone.
#[cfg(any(test, feature = "native", feature = "cloudflare"))]
mod presence;
mod protocol;
pub mod service;
mod sse;
#[cfg(any(test, not(feature = "native")))]
mod streams;
mod tickets;
mod topics;

use axum::Router;
use tui_shared::{AppState, http::Routes};
use utoipa_axum::{router::OpenApiRouter, routes};

/// This group's routes, as every host mounts them.
pub fn routes() -> Routes {
    OpenApiRouter::new().routes(routes!(handlers::issue_ticket)).routes(routes!(handlers::open_socket)).routes(routes!(handlers::stream))
}

/// This group served on its own, with health, OpenAPI and the shared middleware.
pub fn app(state: AppState) -> Router {
    tui_shared::http::app(state, routes())
}

tui_shared::entry_points!("realtime", crate::app);
