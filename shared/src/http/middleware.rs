//! The middleware every response passes through.

use axum::{body::Body, extract::Request, middleware::Next, response::Response};
use http::{HeaderValue, header};
use tracing::Instrument;
use uuid::Uuid;

use crate::{ApiError, ErrorCode, error::PROBLEM_JSON};

/// The request id of the current request, as handlers and extractors see it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// A client's request id is echoed only if it is short and plain, so that it is safe in logs.
fn sane_request_id(value: Option<&HeaderValue>) -> Option<String> {
    let value = value?.to_str().ok()?;
    let ok = !value.is_empty() && value.len() <= 64 && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    ok.then(|| value.to_owned())
}

/// Request ids, the early 413, a tracing span, problem+json for every error (with the request
/// id in it), the security headers, and `no-store` (see below).
pub async fn conventions(mut request: Request, next: Next) -> Response {
    let request_id = sane_request_id(request.headers().get("x-request-id")).unwrap_or_else(|| Uuid::now_v7().to_string());
    let authenticated = request.headers().contains_key(header::AUTHORIZATION);
    let https = super::over_https(request.uri(), request.headers());
    let too_large = super::declares_too_large(request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()));
    let span = tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), %request_id);
    request.extensions_mut().insert(RequestId(request_id.clone()));

    let mut response = if too_large {
        axum::response::IntoResponse::into_response(super::too_large())
    } else {
        next.run(request).instrument(span.clone()).await
    };

    render_problem(&mut response, &request_id);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("x-request-id", value);
    }
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    let is_json = headers.get(header::CONTENT_TYPE).is_some_and(|t| t.to_str().is_ok_and(|t| t.contains("json")));
    if is_json {
        headers.insert("content-security-policy", HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"));
    }
    if https {
        headers.insert("strict-transport-security", HeaderValue::from_static("max-age=63072000; includeSubDomains"));
    }
    // Authenticated answers, and every answer that carries a token (sign-in, refresh, SSO),
    // must not be kept by a cache; nothing this API says is worth caching for a client that did
    // not ask, so only a handler that sets its own policy is exempt.
    if authenticated || !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    span.in_scope(|| tracing::info!(status = response.status().as_u16(), "response"));
    response
}

/// Every error leaves as problem+json carrying the request id: ours are rendered again with
/// it, and bare ones (axum's 405, a rejected body) are given a body.
fn render_problem(response: &mut Response, request_id: &str) {
    let status = response.status();
    if !status.is_client_error() && !status.is_server_error() {
        return;
    }
    let error = match response.extensions_mut().remove::<ApiError>() {
        Some(error) => error,
        // A handler that chose its own error document (readiness, RFC 8628's errors, an HTML
        // page) keeps it; a framework's plain-text rejection is replaced.
        None if response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|t| t.to_str().ok())
            .is_some_and(|t| t.starts_with("application/json") || t.starts_with("text/html")) =>
        {
            return;
        }
        None => ApiError::new(ErrorCode::for_status(status), status.canonical_reason().unwrap_or("Error")),
    };
    let body = serde_json::to_vec(&error.body(Some(request_id))).unwrap_or_default();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    headers.remove(header::CONTENT_LENGTH);
    *response.body_mut() = Body::from(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_short_request_ids_are_echoed() {
        let ok = HeaderValue::from_static("abc-123_x.y");
        assert_eq!(sane_request_id(Some(&ok)), Some("abc-123_x.y".into()));
        let spaces = HeaderValue::from_static("a b");
        assert_eq!(sane_request_id(Some(&spaces)), None);
        let long = HeaderValue::from_str(&"a".repeat(65)).unwrap();
        assert_eq!(sane_request_id(Some(&long)), None);
        assert_eq!(sane_request_id(None), None);
    }
}
