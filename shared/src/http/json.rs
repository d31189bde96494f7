//! Strict JSON request bodies: syntax errors are 400 `invalid_json`; wrong types, missing or
//! unknown fields and values that fail their domain type are 422 with the field named.

use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::{ApiError, ErrorCode};

pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let is_json =
            request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next()).is_some_and(
                |mime| {
                    let mime = mime.trim().to_ascii_lowercase();
                    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
                },
            );
        if !is_json {
            return Err(ApiError::new(ErrorCode::UnsupportedMediaType, "Send the body as application/json."));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                super::too_large()
            } else {
                ApiError::new(ErrorCode::InvalidJson, "The request body could not be read.")
            }
        })?;
        parse(&bytes).map(Json)
    }
}

/// A JSON body that may be left out: an empty body, or `null`, is `None`; anything else is
/// read as [`Json`] reads it.
pub struct OptionalJson<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|_| ApiError::new(ErrorCode::InvalidJson, "The request body could not be read."))?;
        if bytes.is_empty() || bytes.trim_ascii() == b"null" {
            return Ok(Self(None));
        }
        let request = Request::from_parts(parts, axum::body::Body::from(bytes));
        Json::from_request(request, state).await.map(|Json(value)| Self(Some(value)))
    }
}

/// For a field that may be left out but not sent as `null` (with `#[serde(default)]` and, for
/// the document, `#[schema(nullable = false)]`): a `null` is a 422 naming the field, as the
/// schema says, rather than a silent "no change".
pub fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// Parses a JSON document into `T`, classifying failures as the contract asks.
/// An integer field as JSON Schema's `integer` reads one: `2.0` is the integer 2. A number with a
/// fraction, or beyond `T`'s range, is refused.
pub fn whole<'de, D: serde::Deserializer<'de>, T: TryFrom<i64>>(deserializer: D) -> Result<T, D::Error> {
    let number = <serde_json::Number as serde::Deserialize>::deserialize(deserializer)?;
    let integral = number.as_i64().or_else(|| number.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64));
    integral.and_then(|n| T::try_from(n).ok()).ok_or_else(|| serde::de::Error::custom(format!("{number} is not an integer in range")))
}

/// [`whole`] for an optional field (`null` or absent is `None`; use with `#[serde(default)]`).
pub fn whole_or_null<'de, D: serde::Deserializer<'de>, T: TryFrom<i64>>(deserializer: D) -> Result<Option<T>, D::Error> {
    match <Option<serde_json::Number> as serde::Deserialize>::deserialize(deserializer)? {
        None => Ok(None),
        Some(number) => whole(number).map(Some).map_err(serde::de::Error::custom),
    }
}

pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every request body is an object; serde would otherwise accept an array for a struct.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => ApiError::field("body", "must be a JSON object"),
            Err(error) => classify(String::new(), &error),
        });
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        classify(path, &inner)
    })?;
    deserializer.end().map_err(|e| classify(String::new(), &e))?;
    Ok(value)
}

fn classify(path: String, error: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    if !matches!(error.classify(), Category::Data) {
        return ApiError::new(ErrorCode::InvalidJson, format!("The body is not valid JSON: {error}"));
    }
    let message = error.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
    let path = if path == "." { String::new() } else { path };
    // A missing field is reported at its parent's path; name the field itself.
    let missing = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next());
    let field = match missing {
        Some(name) if path.is_empty() => name.to_owned(),
        Some(name) => format!("{path}.{name}"),
        None => path,
    };
    let message = if message.starts_with("unknown field") { "is not a known field".to_owned() } else { message };
    let field = if field.is_empty() { "body".to_owned() } else { field };
    ApiError::field(field, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Username;

    #[derive(Debug, serde::Deserialize)]
    struct Counts {
        #[serde(deserialize_with = "whole")]
        size: u8,
        #[serde(default, deserialize_with = "whole_or_null")]
        limit: Option<u32>,
    }

    #[test]
    fn integers_written_with_a_zero_fraction_are_integers() {
        let counts: Counts = serde_json::from_str(r#"{"size": 2.0, "limit": 7}"#).unwrap();
        assert_eq!((counts.size, counts.limit), (2, Some(7)));
        let counts: Counts = serde_json::from_str(r#"{"size": 3, "limit": null}"#).unwrap();
        assert_eq!((counts.size, counts.limit), (3, None));
        assert!(serde_json::from_str::<Counts>(r#"{"size": 2.5}"#).is_err());
        assert!(serde_json::from_str::<Counts>(r#"{"size": 256}"#).is_err());
        assert!(serde_json::from_str::<Counts>(r#"{"size": -1}"#).is_err());
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "the fields are only deserialized")]
    struct Body {
        name: Username,
        count: u32,
    }

    fn field(bytes: &str) -> (u16, String) {
        let error = parse::<Body>(bytes.as_bytes()).unwrap_err();
        (error.code.status().as_u16(), error.errors.first().map(|e| e.field.clone()).unwrap_or_default())
    }

    #[test]
    fn syntax_errors_are_400_and_everything_else_names_its_field() {
        assert_eq!(field("{"), (400, String::new()));
        assert_eq!(field(r#"{"name": "ada", "count": 1} trailing"#), (400, String::new()));
        assert_eq!(field(r#"{"name": "ada"}"#), (422, "count".into()));
        assert_eq!(field(r#"{"name": "ada", "count": 1, "admin": true}"#), (422, "admin".into()));
        assert_eq!(field(r#"{"name": "ada", "count": "one"}"#), (422, "count".into()));
        assert_eq!(field(r#"{"name": "a b", "count": 1}"#), (422, "name".into()));
        assert_eq!(field(r#"[1, 2]"#), (422, "body".into()));
        assert!(parse::<Body>(br#"{"name": "ada", "count": 1}"#).is_ok());
    }
}
