//! The HTTP conventions every endpoint group serves, and the one function that turns a group's
//! routes into the application every host mounts.

pub mod client_ip;
pub mod extract;
pub mod health;
pub mod json;
pub mod middleware;
pub mod openapi;
pub mod stream;

use std::sync::{Arc, OnceLock};

use axum::{Router, extract::DefaultBodyLimit, response::IntoResponse, routing::get};
use bytes::Bytes;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
};
use utoipa_axum::router::OpenApiRouter;

use crate::{ApiError, AppState, ErrorCode};

/// A response with the `ratelimit-*` headers of its limited route.
pub struct Limited<T>(pub crate::ratelimit::Decision, pub T);

impl<T: IntoResponse> IntoResponse for Limited<T> {
    fn into_response(self) -> axum::response::Response {
        let mut response = self.1.into_response();
        for (name, value) in crate::ratelimit::headers(&self.0) {
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

/// The contract's request body limit: 1 MiB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Whether the client reached us over TLS: as a proxy in front says (`x-forwarded-proto`), or
/// as the request's own URL says (Workers see the full `https://` URL).
pub fn over_https(uri: &http::Uri, headers: &http::HeaderMap) -> bool {
    let forwarded = headers.get("x-forwarded-proto").and_then(|p| p.to_str().ok());
    forwarded.or(uri.scheme_str()) == Some("https")
}

/// The path of an absolute URL (`https://host/path?query`): what routing looks at.
pub fn path_of(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |at| &after_scheme[at..]);
    path.split(['?', '#']).next().unwrap_or("/")
}

/// Whether a `Content-Length` declares a body over [`MAX_BODY_BYTES`]: answered 413 before
/// anything reads it (and, on Workers, not forwarded to another worker).
pub fn declares_too_large(content_length: Option<&str>) -> bool {
    content_length.and_then(|v| v.trim().parse::<u64>().ok()).is_some_and(|n| n > MAX_BODY_BYTES as u64)
}

/// The answer to a body over [`MAX_BODY_BYTES`], whether its length was declared or counted.
fn too_large() -> ApiError {
    ApiError::new(ErrorCode::PayloadTooLarge, "Request bodies are limited to 1 MiB.")
}

pub type Routes = OpenApiRouter<AppState>;

/// Whether a request of `method` may have written, so that a runtime wakes its real-time hubs
/// once it succeeded.
pub fn may_write(method: &http::Method) -> bool {
    !matches!(*method, http::Method::GET | http::Method::HEAD | http::Method::OPTIONS)
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Claude TUI API", description = "The backend the Claude TUI talks to. Errors are RFC 9457 problem details."),
    modifiers(&BearerAuth),
    components(schemas(crate::error::FieldError))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::builder().scheme(HttpAuthScheme::Bearer).bearer_format("JWT or tui_pat_ key").build()),
        );
    }
}

/// Splits routes into the router and the OpenAPI document describing them.
pub fn document_parts(routes: Routes) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(health::routes()).merge(routes).split_for_parts()
}

/// The application for a set of routes: health, the OpenAPI document, the 404 fallback and the
/// shared middleware (request ids, security headers, body limit, problem rendering, tracing).
pub fn app(state: AppState, routes: Routes) -> Router {
    let (router, api) = document_parts(routes);
    // Serialised on first request of the document, not per start: a Spin instance lives for
    // one request and seldom serves this one.
    let served = Arc::new(OnceLock::new());
    finish(state, router, move || served.get_or_init(|| Bytes::from(document_json(&api))).clone())
}

/// The OpenAPI document as it is served: completed with what every operation shares (see
/// [`openapi::complete`]), as pretty-printed JSON.
pub fn document_json(api: &utoipa::openapi::OpenApi) -> String {
    let mut document = serde_json::to_value(api).unwrap_or_default();
    openapi::complete(&mut document);
    serde_json::to_string_pretty(&document).unwrap_or_default()
}

/// An application that serves `routes` and a ready-made OpenAPI document (the gateway, which
/// documents the groups it forwards to without carrying their code).
pub fn app_with_document(state: AppState, routes: Routes, document: &'static str) -> Router {
    let (router, _) = document_parts(routes);
    finish(state, router, move || Bytes::from_static(document.as_bytes()))
}

fn finish(state: AppState, router: Router<AppState>, document: impl Fn() -> Bytes + Clone + Send + Sync + 'static) -> Router {
    router
        .route(
            "/v1/openapi.json",
            get(move || {
                let body = document();
                async move { ([(http::header::CONTENT_TYPE, "application/json")], body).into_response() }
            }),
        )
        .fallback(|| async { ApiError::not_found() })
        .layer(axum::middleware::from_fn(middleware::conventions))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::path_of;

    #[test]
    fn the_path_is_what_lies_between_the_host_and_the_query() {
        assert_eq!(path_of("https://api.example.com/v1/projects/1?x=2#y"), "/v1/projects/1");
        assert_eq!(path_of("http://127.0.0.1:8787/v1/health"), "/v1/health");
        assert_eq!(path_of("http://127.0.0.1:8787"), "/");
        assert_eq!(path_of("http://host/?q"), "/");
    }
}
