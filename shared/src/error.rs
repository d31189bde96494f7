//! One error type for every endpoint, rendered as RFC 9457 problem details.
//!
//! The public part (code, detail, field errors) is kept apart from the cause: causes are logged
//! where the error is made and never sent to the client.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

/// Stable, machine-readable error codes; clients match on these, so they never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    ValidationFailed,
    InvalidJson,
    Unauthorized,
    /// A valid access token whose session has ended (sign-out, revocation, password change).
    SessionRevoked,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PreconditionFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    AccountLocked,
    RateLimited,
    /// The caller's daily allowance of Claude tokens is spent.
    BudgetExhausted,
    UpgradeRequired,
    Internal,
    UpstreamUnavailable,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            Self::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            Self::InvalidJson => StatusCode::BAD_REQUEST,
            Self::Unauthorized | Self::SessionRevoked => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::AccountLocked => StatusCode::LOCKED,
            Self::RateLimited | Self::BudgetExhausted => StatusCode::TOO_MANY_REQUESTS,
            Self::UpgradeRequired => StatusCode::UPGRADE_REQUIRED,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::UpstreamUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ValidationFailed => "validation_failed",
            Self::InvalidJson => "invalid_json",
            Self::Unauthorized => "unauthorized",
            Self::SessionRevoked => "session_revoked",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::PreconditionFailed => "precondition_failed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::AccountLocked => "account_locked",
            Self::RateLimited => "rate_limited",
            Self::BudgetExhausted => "budget_exhausted",
            Self::UpgradeRequired => "upgrade_required",
            Self::Internal => "internal",
            Self::UpstreamUnavailable => "upstream_unavailable",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::ValidationFailed => "The request did not pass validation",
            Self::InvalidJson => "The request body is not valid JSON",
            Self::Unauthorized => "Authentication is required",
            Self::SessionRevoked => "The session has ended",
            Self::Forbidden => "You are not allowed to do this",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::Conflict => "Conflict with the current state",
            Self::PreconditionFailed => "The resource has changed",
            Self::PayloadTooLarge => "The request body is too large",
            Self::UnsupportedMediaType => "The request body must be application/json",
            Self::AccountLocked => "The account is locked",
            Self::RateLimited => "Too many requests",
            Self::BudgetExhausted => "The daily token budget is spent",
            Self::UpgradeRequired => "Upgrade required",
            Self::Internal => "Internal error",
            Self::UpstreamUnavailable => "A service this depends on is unavailable",
        }
    }

    /// The code for a bare status produced outside our handlers (for example axum's 405).
    pub fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            400 => Self::InvalidJson,
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            409 => Self::Conflict,
            412 => Self::PreconditionFailed,
            413 => Self::PayloadTooLarge,
            415 => Self::UnsupportedMediaType,
            422 => Self::ValidationFailed,
            423 => Self::AccountLocked,
            426 => Self::UpgradeRequired,
            429 => Self::RateLimited,
            502..=504 => Self::UpstreamUnavailable,
            _ => Self::Internal,
        }
    }
}

/// One field's problem, as listed in `errors` of a problem document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub retry_after_s: Option<u64>,
    /// Headers the answer carries besides the problem (the `ratelimit-*` of a 429).
    pub headers: Vec<(&'static str, String)>,
}

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into(), errors: Vec::new(), retry_after_s: None, headers: Vec::new() }
    }

    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let (field, message) = (field.into(), message.into());
        Self {
            detail: format!("{field}: {message}"),
            errors: vec![FieldError { field, message }],
            ..Self::new(ErrorCode::ValidationFailed, "")
        }
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "No such resource, or it is not visible to you.")
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, detail)
    }

    /// An unexpected failure: the cause goes to the log, the client sees only `internal`.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(ErrorCode::Internal, "Something went wrong on our side; the request id identifies it.")
    }

    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "dependency unavailable");
        Self::new(ErrorCode::UpstreamUnavailable, "A service this depends on is unavailable; try again shortly.")
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_s = Some(seconds);
        self
    }

    /// The problem document; `request_id` is filled in by the request middleware.
    pub fn body(&self, request_id: Option<&str>) -> serde_json::Value {
        let mut body = serde_json::json!({
            "type": format!("https://docs.claude-tui.dev/errors/{}", self.code.as_str()),
            "title": self.code.title(),
            "status": self.code.status().as_u16(),
            "code": self.code.as_str(),
            "detail": self.detail,
        });
        if !self.errors.is_empty() {
            body["errors"] = serde_json::to_value(&self.errors).unwrap_or_default();
        }
        if let Some(id) = request_id {
            body["request_id"] = id.into();
        }
        body
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.detail)
    }
}

pub const PROBLEM_JSON: &str = "application/problem+json";

/// Renders a problem response. The error also rides along in the response extensions so that
/// the middleware, which knows the request id, can render it again with that id.
pub fn problem_response(error: &ApiError, request_id: Option<&str>) -> Response {
    let body = serde_json::to_vec(&error.body(request_id)).unwrap_or_default();
    let mut response = (error.code.status(), body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    if error.code == ErrorCode::Unauthorized {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if error.code == ErrorCode::SessionRevoked {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
    }
    if let Some(seconds) = error.retry_after_s {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    for (name, value) in &error.headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(*name, value);
        }
    }
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = problem_response(&self, None);
        response.extensions_mut().insert(self);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_error_is_a_422_with_the_field_listed() {
        let error = ApiError::field("email", "is not an email address");
        let body = error.body(Some("req-1"));
        assert_eq!(body["status"], 422);
        assert_eq!(body["code"], "validation_failed");
        assert_eq!(body["errors"][0]["field"], "email");
        assert_eq!(body["request_id"], "req-1");
    }

    #[test]
    fn unauthorized_responses_carry_the_bearer_challenge() {
        let response = ApiError::unauthorized("no token").into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }

    #[test]
    fn every_bare_status_maps_to_a_code_with_that_status() {
        for status in [400, 401, 403, 404, 405, 409, 412, 413, 415, 422, 423, 429, 500] {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(ErrorCode::for_status(status).status(), status);
        }
    }
}
