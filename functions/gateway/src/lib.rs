//! The gateway: which group owns which path, and the front door that serves health and the
//! OpenAPI document of the whole API. On Workers it forwards every other request to its
//! group's worker through a service binding; natively the host mounts every group in one
//! process; on Spin the manifest routes each pattern to its component directly.
//!
//! The document is `openapi.json` beside this crate, generated from the groups' code by
//! `tui-server openapi` (a host test fails when it is stale), so that the gateway carries none
//! of the groups' code.

use axum::Router;
use tui_shared::AppState;
use utoipa_axum::router::OpenApiRouter;

/// One route pattern of groups.toml and the group (and its Workers service binding) that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub pattern: &'static str,
    pub group: &'static str,
    pub binding: &'static str,
}

/// Every group's route patterns, from groups.toml (see build.rs).
pub const ROUTES: &[Route] = include!(concat!(env!("OUT_DIR"), "/routes.rs"));

/// How closely a pattern matches a path, segment by segment: a literal beats a `{name}`, which
/// beats the rest-of-path `**`; compared in order, then by length. Spin's router ranks its
/// routes the same way, so a path goes to the same group on every runtime.
fn specificity(pattern: &str, path: &str) -> Option<Vec<u8>> {
    let mut rank = Vec::new();
    let mut segments = path.split('/').skip(1);
    for part in pattern.split('/').skip(1) {
        if part == "**" {
            rank.push(0);
            return Some(rank);
        }
        let segment = segments.next()?;
        if part.starts_with('{') && part.ends_with('}') {
            if segment.is_empty() {
                return None;
            }
            rank.push(1);
        } else if part == segment {
            rank.push(2);
        } else {
            return None;
        }
    }
    segments.next().is_none().then_some(rank)
}

/// Every route that matches `path` most specifically: one, unless two groups claim the same
/// paths (which the host's tests refuse for every path of the API).
pub fn best_routes(path: &str) -> Vec<&'static Route> {
    let ranked: Vec<(Vec<u8>, &Route)> = ROUTES.iter().filter_map(|r| specificity(r.pattern, path).map(|rank| (rank, r))).collect();
    let best = ranked.iter().map(|(rank, _)| rank).max().cloned();
    ranked.into_iter().filter(|(rank, _)| Some(rank) == best.as_ref()).map(|(_, r)| r).collect()
}

/// The route that owns `path`, if any: the most specific match.
pub fn route(path: &str) -> Option<&'static Route> {
    best_routes(path).into_iter().next()
}

/// The service binding of the group that serves `path`, if a group does.
pub fn owner(path: &str) -> Option<&'static str> {
    route(path).map(|r| r.binding)
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
    request: worker::worker_sys::web_sys::Request,
    env: worker::Env,
    _: worker::Context,
) -> worker::Result<worker::worker_sys::web_sys::Response> {
    tui_shared::adapters::cloudflare::gateway(owner, app, request, env).await
}

tui_shared::spin_entry_point!("gateway", crate::app);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_path_goes_to_the_group_whose_pattern_matches_it_most_closely() {
        assert_eq!(owner("/v1/auth/login"), Some("AUTH"));
        assert_eq!(owner("/v1/users/123"), Some("AUTH"));
        assert_eq!(owner("/v1/audit"), Some("AUTH"));
        assert_eq!(owner("/device"), Some("AUTH"));
        assert_eq!(owner("/v1/projects"), Some("PROJECTS"));
        assert_eq!(owner("/v1/projects/1/members"), Some("PROJECTS"));
        assert_eq!(owner("/v1/projects/1/tasks"), Some("TASKS"));
        assert_eq!(owner("/v1/projects/1/tasks/batch"), Some("TASKS"));
        assert_eq!(owner("/v1/projects/1/tasksx"), Some("PROJECTS"));
        assert_eq!(owner("/v1/projects//tasks"), Some("PROJECTS"), "an empty segment is no id");
        assert_eq!(owner("/v1/tasks"), Some("TASKS"));
        assert_eq!(owner("/v1/tasks/1/graph"), Some("TASKS"));
        assert_eq!(owner("/v1/projectsx"), None);
        assert_eq!(owner("/v1/health"), None);
        assert_eq!(owner("/v1/openapi.json"), None);
    }
}
