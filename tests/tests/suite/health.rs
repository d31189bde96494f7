//! Health, readiness, the OpenAPI document and the conventions every response follows.

use reqwest::Method;
use tui_blackbox::Server;

#[tokio::test]
async fn liveness_names_the_group_and_version() {
    let server = Server::start().await;
    let reply = server.get("/v1/health", None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["status"], "ok");
    assert!(reply.body["group"].is_string());
    assert!(reply.body["version"].is_string());
}

#[tokio::test]
async fn readiness_checks_the_database_and_the_schema_version() {
    let server = Server::start().await;
    let reply = server.get("/v1/health/ready", None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["checks"]["database"]["status"], "ok");
    assert!(reply.body["checks"]["database"]["latency_ms"].is_number());
    assert_eq!(reply.body["checks"]["migrations"]["status"], "ok");
    assert!(reply.body["checks"]["migrations"]["version"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_of_the_contract_slice() {
    let server = Server::start().await;
    let reply = server.get("/v1/openapi.json", None).await;
    assert_eq!(reply.status, 200);
    let paths = reply.body["paths"].as_object().expect("paths");
    for path in [
        "/v1/health",
        "/v1/health/ready",
        "/v1/auth/register",
        "/v1/auth/login",
        "/v1/auth/me",
        "/v1/projects",
        "/v1/projects/{id}",
        "/v1/projects/{id}/members",
        "/v1/projects/{id}/members/{user_id}",
    ] {
        assert!(paths.contains_key(path), "{path} is missing from the document");
    }
    assert!(reply.body["components"]["securitySchemes"]["bearer"].is_object());
    // Each {name} of a template is a path parameter, and nothing else is: list parameters were
    // once documented "in": "path" (and required), which client generators turn into nonsense.
    for (template, item) in paths {
        let names: Vec<&str> = template.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')).collect();
        for (method, operation) in item.as_object().unwrap() {
            let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
            let in_path: Vec<&str> = parameters.iter().filter(|p| p["in"] == "path").filter_map(|p| p["name"].as_str()).collect();
            assert_eq!(in_path, names, "{method} {template}: path parameters");
            for status in operation["responses"].as_object().unwrap().keys().filter(|s| s.starts_with('4') || s.starts_with('5')) {
                let problem = &operation["responses"][status]["content"]["application/problem+json"]["schema"]["allOf"][0]["$ref"];
                assert_eq!(problem, "#/components/schemas/Problem", "{method} {template} {status}");
            }
        }
    }
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_a_request_id() {
    let server = Server::start().await;
    for path in ["/v1/health", "/v1/nowhere"] {
        let reply = server.get(path, None).await;
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(reply.header("x-frame-options"), Some("DENY"));
        assert_eq!(reply.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(reply.header("content-security-policy"), Some("default-src 'none'; frame-ancestors 'none'"));
        assert!(reply.header("x-request-id").is_some_and(|id| !id.is_empty()));
    }
}

#[tokio::test]
async fn a_sane_client_request_id_is_echoed_and_an_unsafe_one_replaced() {
    let server = Server::start().await;
    let echoed = server.raw(Method::GET, "/v1/nowhere", &[("x-request-id", "trace-abc.123")], None).await;
    assert_eq!(echoed.header("x-request-id"), Some("trace-abc.123"));
    assert_eq!(echoed.body["request_id"], "trace-abc.123");
    let replaced = server.raw(Method::GET, "/v1/health", &[("x-request-id", "<script>")], None).await;
    assert_ne!(replaced.header("x-request-id"), Some("<script>"));
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let server = Server::start().await;
    server.get("/v1/nowhere", None).await.problem(404, "not_found");
    server.call(Method::DELETE, "/v1/health", None, None).await.problem(405, "method_not_allowed");
}

#[tokio::test]
async fn authenticated_responses_are_not_cached() {
    let server = Server::start().await;
    let user = server.user().await;
    let reply = server.get("/v1/auth/me", Some(&user.token)).await;
    assert_eq!(reply.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn a_get_with_a_body_to_a_route_that_takes_none_is_405_not_a_server_error() {
    // Through the Workers gateway such a request once failed to be forwarded (503).
    let server = Server::start().await;
    let reply = server
        .raw(
            reqwest::Method::GET,
            "/v1/auth/login",
            &[("content-type", "application/json")],
            Some(br#"{"login":"a","password":"b"}"#.to_vec()),
        )
        .await;
    reply.problem(405, "method_not_allowed");
}
