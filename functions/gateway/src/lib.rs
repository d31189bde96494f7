//! The gateway: which group owns which path, and the front door that serves health and the
//! OpenAPI document of the whole API. On Workers it forwards every other request to its
//! group's worker through a service binding; natively the host mounts every group in one
//! process; on Spin the manifest routes each prefix to its component directly.
//!
//! The document is `openapi.json` beside this crate, generated from the groups' code by
//! `tui-server openapi` (a host test fails when it is stale), so that the gateway carries none
//! of the groups' code.

use axum::Router;
use tui_shared::AppState;
use utoipa_axum::router::OpenApiRouter;

/// Path prefixes and the group (and Workers service binding) that serves them.
pub const GROUPS: &[(&str, &str)] =
    &[("/v1/auth", "AUTH"), ("/v1/users", "AUTH"), ("/v1/audit", "AUTH"), ("/device", "AUTH"), ("/v1/projects", "PROJECTS")];

/// The service binding of the group that serves `path`, if a group does.
pub fn owner(path: &str) -> Option<&'static str> {
    GROUPS
        .iter()
        .find(|(prefix, _)| path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')))
        .map(|(_, binding)| *binding)
}

/// The OpenAPI document of every group.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// The gateway itself: health and the OpenAPI document of every group.
pub fn app(state: AppState) -> Router {
    tui_shared::http::app_with_document(state, OpenApiRouter::new(), OPENAPI)
}

#[cfg(feature = "cloudflare")]
#[worker::event(fetch)]
async fn fetch(
    request: worker::HttpRequest,
    env: worker::Env,
    _: worker::Context,
) -> worker::Result<axum::http::Response<axum::body::Body>> {
    // A body declared over the limit is refused here, before it travels to a group that would
    // refuse it unread (which workerd reports to the gateway as a lost connection).
    let too_large = tui_shared::http::middleware::declares_too_large(request.headers());
    match owner(request.uri().path()) {
        Some(binding) if !too_large => tui_shared::adapters::cloudflare::forward(binding, request, env).await,
        _ => tui_shared::adapters::cloudflare::serve("gateway", app, request, env).await,
    }
}

tui_shared::spin_entry_point!("gateway", crate::app);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_path_goes_to_the_group_that_owns_its_prefix() {
        assert_eq!(owner("/v1/auth/login"), Some("AUTH"));
        assert_eq!(owner("/v1/users/123"), Some("AUTH"));
        assert_eq!(owner("/v1/audit"), Some("AUTH"));
        assert_eq!(owner("/device"), Some("AUTH"));
        assert_eq!(owner("/v1/projects"), Some("PROJECTS"));
        assert_eq!(owner("/v1/projects/1/members"), Some("PROJECTS"));
        assert_eq!(owner("/v1/projectsx"), None);
        assert_eq!(owner("/v1/health"), None);
        assert_eq!(owner("/v1/openapi.json"), None);
    }
}
