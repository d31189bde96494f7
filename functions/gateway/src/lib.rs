//! The gateway: the front door that serves health and the OpenAPI document of the whole API.
//! On Workers it forwards every other request to its group's worker through a service binding
//! (by the kernel's routing table, `tui_shared::routes`); natively the host mounts every group
//! in one process; on Spin the manifest routes each pattern to its component directly.
//!
//! The document is `openapi.json` beside this crate, generated from the groups' code by
//! `tui-server openapi` (a host test fails when it is stale), so that the gateway carries none
//! of the groups' code.

use axum::Router;
use tui_shared::AppState;
use utoipa_axum::router::OpenApiRouter;

/// The OpenAPI document of every group.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// The gateway itself: health and the OpenAPI document of every group.
pub fn app(state: AppState) -> Router {
    tui_shared::http::app_with_document(state, OpenApiRouter::new(), OPENAPI)
}

#[cfg(feature = "cloudflare")]
#[worker::event(fetch)]
async fn fetch(
    request: worker::worker_sys::web_sys::Request,
    env: worker::Env,
    context: worker::Context,
) -> worker::Result<worker::worker_sys::web_sys::Response> {
    tui_shared::adapters::cloudflare::fetch("gateway", app, request, env, context).await
}

tui_shared::spin_entry_point!("gateway", crate::app);
