//! The gateway embeds the OpenAPI document instead of the groups' code; it must be the one
//! the code describes.

#[test]
fn the_gateways_openapi_document_is_the_one_the_groups_code_describes() {
    let current = tui_host::openapi_document();
    assert!(
        current.trim_end() == tui_gateway::OPENAPI.trim_end(),
        "functions/gateway/openapi.json is stale; regenerate it with:\n  \
         cargo run -p tui-host -- openapi > functions/gateway/openapi.json"
    );
}

/// What the gateway serves itself, on every runtime.
const GATEWAY_PATHS: &[&str] = &["/v1/health", "/v1/health/ready", "/v1/openapi.json"];

#[test]
fn every_path_of_the_document_has_exactly_one_owning_group_and_the_owner_serves_it() {
    let document: serde_json::Value = serde_json::from_str(tui_gateway::OPENAPI).expect("the document is JSON");
    let served: Vec<(&str, Vec<String>)> = tui_host::group_routes()
        .into_iter()
        .map(|(group, routes)| (group, tui_shared::http::document_parts(routes).1.paths.paths.into_keys().collect()))
        .collect();
    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.len() > 20, "the document lists the API");
    let mut problems = Vec::new();
    for path in paths.keys() {
        let concrete: String = path.split('/').map(|s| if s.starts_with('{') { "x" } else { s }).collect::<Vec<_>>().join("/");
        let owners: Vec<&str> = tui_shared::routes::best_routes(&concrete).iter().map(|r| r.group).collect();
        if GATEWAY_PATHS.contains(&path.as_str()) {
            if !owners.is_empty() {
                problems.push(format!("{path} is the gateway's, but groups.toml gives it to {owners:?}"));
            }
            continue;
        }
        match owners.as_slice() {
            [owner] => {
                let serves = served.iter().any(|(group, paths)| group == owner && paths.contains(path));
                if !serves {
                    problems.push(format!("{path} belongs to {owner} in groups.toml, but that group does not serve it"));
                }
            }
            [] => problems.push(format!("no group in groups.toml owns {path}")),
            many => problems.push(format!("{path} is claimed by {many:?} alike")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
