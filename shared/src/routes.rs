//! Which group owns which path: groups.toml's patterns, compiled in (see build.rs). Every
//! worker routes by this table: the gateway forwards each path to its owner, and a group
//! reached directly (a Cloudflare route sends `/v1/projects*` to the projects worker) forwards
//! the paths nested in its own that another group owns (`/v1/projects/{id}/tasks` to tasks).

/// One route pattern of groups.toml and the group (and its Workers service binding) that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub pattern: &'static str,
    pub group: &'static str,
    pub binding: &'static str,
}

/// Every group's route patterns, from groups.toml.
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

/// The route a request for `path` that reached `group`'s worker goes on to: its owner's, when
/// that is another group. `None`: the worker answers it itself (its own path, or one that no
/// group owns: health, the OpenAPI document, a 404).
pub fn elsewhere(group: &str, path: &str) -> Option<&'static Route> {
    route(path).filter(|r| r.group != group)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(path: &str) -> Option<&'static str> {
        route(path).map(|r| r.binding)
    }

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
        assert_eq!(owner("/v1/projects/1/workflows"), Some("WORKFLOWS"));
        assert_eq!(owner("/v1/tasks"), Some("TASKS"));
        assert_eq!(owner("/v1/tasks/1/graph"), Some("TASKS"));
        assert_eq!(owner("/v1/projectsx"), None);
        assert_eq!(owner("/v1/health"), None);
        assert_eq!(owner("/v1/openapi.json"), None);
    }

    #[test]
    fn a_worker_forwards_only_what_another_group_owns() {
        let to = |group, path| elsewhere(group, path).map(|r| r.binding);
        assert_eq!(to("gateway", "/v1/projects/1"), Some("PROJECTS"));
        assert_eq!(to("gateway", "/v1/health"), None);
        assert_eq!(to("projects", "/v1/projects/1"), None);
        assert_eq!(to("projects", "/v1/projects/1/tasks"), Some("TASKS"));
        assert_eq!(to("projects", "/v1/projects/1/workflows/batch"), Some("WORKFLOWS"));
        assert_eq!(to("projects", "/v1/projectsx"), None, "a path nobody owns is answered (404) where it arrived");
        assert_eq!(to("tasks", "/v1/projects/1/tasks"), None);
    }
}
