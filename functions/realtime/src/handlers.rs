//! Handlers of the real-time group: tickets, the WebSocket and the event stream.

use std::collections::HashSet;

#[cfg(not(feature = "native"))]
use axum::http::request::Parts;
use axum::{
    extract::{Request, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use tui_shared::{
    ApiError, AppState,
    http::extract::{AuthUser, Query},
};
use utoipa::{IntoParams, ToSchema};

use crate::{service::RealtimeConfig, tickets};

#[derive(Serialize, ToSchema)]
pub struct Ticket {
    /// Opens one WebSocket: `GET /v1/realtime?ticket=...`.
    ticket: String,
    /// Seconds the ticket stays valid.
    expires_in: u64,
}

/// A single-use ticket for one WebSocket, valid for 30 seconds, bound to the caller's session.
#[utoipa::path(post, path = "/v1/realtime/ticket", tag = "realtime", security(("bearer" = [])),
    responses((status = 200, body = Ticket), (status = 403, description = "An API key has no session to bind a ticket to"),
        (status = 429, description = "The session holds ten unspent tickets already")))]
pub async fn issue_ticket(State(state): State<AppState>, caller: AuthUser) -> Result<Response, ApiError> {
    let session = caller.session()?;
    let ticket = tickets::issue(state.db.as_ref(), caller.id, session, state.clock.now()).await?;
    Ok((StatusCode::OK, axum::Json(Ticket { ticket, expires_in: tickets::TICKET_TTL.as_secs() })).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SocketQuery {
    /// A ticket from `POST /v1/realtime/ticket`.
    #[param(pattern = "^rt_[A-Za-z0-9_-]{20,100}$")]
    pub ticket: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Comma-separated topics: `project:ID`, `task:ID`, `user:me`.
    #[param(min_length = 1, max_length = 8000, pattern = "^[a-z]+:[A-Za-z0-9-]+(,[a-z]+:[A-Za-z0-9-]+)*$")]
    topics: String,
    /// Comma-separated event names to pass (all when absent).
    #[param(max_length = 2000, pattern = "^[a-z_.]{1,64}(,[a-z_.]{1,64}){0,31}$")]
    events: Option<String>,
}

/// What a stream asks for: its topics, its filter and where it resumes.
pub struct StreamRequest {
    pub topics: Vec<String>,
    pub events: Option<HashSet<String>>,
    pub after: Option<i64>,
}

impl StreamRequest {
    fn read(query: StreamQuery, headers: &HeaderMap, config: &RealtimeConfig) -> Result<Self, ApiError> {
        let topics: Vec<String> = query.topics.split(',').filter(|t| !t.is_empty()).map(str::to_owned).collect();
        if topics.is_empty() || topics.len() > config.limits.max_subscriptions {
            return Err(ApiError::field("topics", format!("name 1 to {} topics", config.limits.max_subscriptions)));
        }
        let events = query.events.map(|events| events.split(',').filter(|e| !e.is_empty()).map(str::to_owned).collect());
        let events = crate::service::filter(events).map_err(|bad| ApiError::field("events", bad.to_string()))?;
        // An empty header is no header (workerd drops empty ones before a worker sees them).
        let given = headers.get("last-event-id").filter(|value| !value.as_bytes().trim_ascii().is_empty());
        let after = match given.map(|value| value.to_str().ok().and_then(|v| v.trim().parse::<i64>().ok())) {
            None => None,
            Some(Some(id)) if id >= 0 => Some(id),
            Some(_) => return Err(ApiError::field("Last-Event-ID", "is a decimal event id")),
        };
        Ok(Self { topics, events, after })
    }
}

fn event_stream(body: axum::body::Body) -> Response {
    let headers = [
        (axum::http::header::CONTENT_TYPE, "text/event-stream"),
        (axum::http::header::CACHE_CONTROL, "no-store"),
        (axum::http::HeaderName::from_static("x-accel-buffering"), "no"),
    ];
    (StatusCode::OK, headers, body).into_response()
}

impl SocketQuery {
    /// The ticket, if it has a ticket's shape: the pattern the document gives, enforced.
    fn ticket(&self) -> Result<&str, ApiError> {
        let body = self.ticket.strip_prefix("rt_").unwrap_or_default();
        let shaped = (20..=100).contains(&body.len()) && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if shaped { Ok(&self.ticket) } else { Err(ApiError::field("ticket", "is not a ticket")) }
    }
}

fn upgrade_required() -> ApiError {
    ApiError::new(tui_shared::ErrorCode::UpgradeRequired, "This endpoint speaks WebSocket: send an upgrade request.")
}

/// Opens a WebSocket with a ticket (see the contract for its messages).
///
/// Natively on the host's hub, on Workers on the caller's hub Durable Object; Spin has no
/// inbound WebSockets, so there it says to use the stream.
#[utoipa::path(get, path = "/v1/realtime", tag = "realtime", params(SocketQuery),
    responses((status = 101, description = "Switching to the WebSocket protocol"),
        (status = 401, description = "The ticket is unknown, spent or expired"),
        (status = 426, description = "Not a WebSocket upgrade request")))]
pub async fn open_socket(State(state): State<AppState>, Query(query): Query<SocketQuery>, request: Request) -> Result<Response, ApiError> {
    let ticket = query.ticket()?.to_owned();
    let (parts, _) = request.into_parts();
    transport::open_socket(state, ticket, parts).await
}

/// The events of `topics` as Server-Sent Events; `Last-Event-ID` resumes after an event.
#[utoipa::path(get, path = "/v1/realtime/sse", tag = "realtime", security(("bearer" = [])), params(StreamQuery,
    ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id", pattern = "^[0-9]{1,18}$")),
    responses((status = 200, content_type = "text/event-stream", description = "Frames of the real-time protocol, one per `data:` line"),
        (status = 403, description = "An API key has no session to follow")))]
pub async fn stream(
    State(state): State<AppState>,
    caller: AuthUser,
    Query(query): Query<StreamQuery>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    let config = *state.section::<RealtimeConfig>()?;
    let wanted = StreamRequest::read(query, &headers, &config)?;
    let holder = tickets::holder(state.db.as_ref(), caller.id, caller.session()?).await?;
    let (parts, _) = request.into_parts();
    Ok(event_stream(transport::stream(state, holder, wanted, config, &parts.extensions).await?))
}

/// Whether a request asks to become a WebSocket.
#[cfg(not(feature = "native"))]
fn is_upgrade(parts: &Parts) -> bool {
    parts.headers.get("upgrade").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
}

/// How this runtime carries the socket and the stream.
#[cfg(feature = "native")]
mod transport {
    use std::sync::Arc;

    use axum::{
        body::Body,
        extract::{FromRequestParts, ws::WebSocketUpgrade},
        http::{Extensions, request::Parts},
        response::Response,
    };
    use tui_shared::{ApiError, AppState};

    use super::{StreamRequest, upgrade_required};
    use crate::{native::Hub, service::RealtimeConfig, tickets};

    fn hub(extensions: &Extensions) -> Result<Arc<Hub>, ApiError> {
        extensions.get::<Arc<Hub>>().cloned().ok_or_else(|| ApiError::unavailable("no real-time hub"))
    }

    const READ_BUFFER_BYTES: usize = 4096;

    pub async fn open_socket(state: AppState, ticket: String, mut parts: Parts) -> Result<Response, ApiError> {
        let hub = hub(&parts.extensions)?;
        // Checked before the ticket is spent, so that a request that cannot upgrade wastes none.
        let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &state).await.map_err(|_| upgrade_required())?;
        let holder = tickets::redeem(state.db.as_ref(), &ticket, state.clock.now())
            .await?
            .ok_or_else(|| ApiError::unauthorized("The ticket is unknown, spent or expired."))?;
        let max = crate::protocol::MAX_MESSAGE_BYTES * 2;
        // tungstenite zeroes its whole read buffer's spare room before every read (128 KiB by
        // default): that was most of a socket's memory, and CPU time on every read. Client
        // messages are small, and a larger one is read in several pieces.
        Ok(upgrade
            .read_buffer_size(READ_BUFFER_BYTES)
            .max_message_size(max)
            .max_frame_size(max)
            .on_upgrade(move |socket| crate::native::serve_socket(state, hub, holder, socket)))
    }

    pub async fn stream(
        state: AppState,
        holder: tickets::Holder,
        wanted: StreamRequest,
        _: RealtimeConfig,
        extensions: &Extensions,
    ) -> Result<Body, ApiError> {
        let hub = hub(extensions)?;
        let (out, frames) = tokio::sync::mpsc::channel::<String>(64);
        tokio::spawn(crate::native::serve_stream(state, hub, holder, wanted.topics, wanted.events, wanted.after, out));
        let body = futures_util::stream::unfold(frames, |mut frames| async move {
            frames.recv().await.map(|text| (Ok::<_, std::convert::Infallible>(bytes::Bytes::from(text)), frames))
        });
        Ok(Body::from_stream(body))
    }
}

/// How this runtime carries the socket and the stream.
#[cfg(not(feature = "native"))]
mod transport {
    use axum::{
        body::Body,
        http::{Extensions, request::Parts},
        response::Response,
    };
    use futures_util::StreamExt;
    use tui_shared::{ApiError, AppState};

    use super::{StreamRequest, is_upgrade, upgrade_required};
    use crate::{service::RealtimeConfig, tickets};

    #[cfg(feature = "cloudflare")]
    pub async fn open_socket(state: AppState, ticket: String, parts: Parts) -> Result<Response, ApiError> {
        if !is_upgrade(&parts) {
            return Err(upgrade_required());
        }
        let env = parts
            .extensions
            .get::<tui_shared::adapters::cloudflare::WorkerEnv>()
            .cloned()
            .ok_or_else(|| ApiError::unavailable("no worker bindings"))?;
        let holder = tickets::redeem(state.db.as_ref(), &ticket, state.clock.now())
            .await?
            .ok_or_else(|| ApiError::unauthorized("The ticket is unknown, spent or expired."))?;
        crate::cloudflare::connect(&env, &holder).await
    }

    #[cfg(not(feature = "cloudflare"))]
    pub async fn open_socket(_: AppState, _: String, parts: Parts) -> Result<Response, ApiError> {
        if !is_upgrade(&parts) {
            return Err(upgrade_required());
        }
        Err(ApiError::new(
            tui_shared::ErrorCode::UpgradeRequired,
            "This runtime serves real-time events as Server-Sent Events: GET /v1/realtime/sse.",
        ))
    }

    pub async fn stream(
        state: AppState,
        holder: tickets::Holder,
        wanted: StreamRequest,
        config: RealtimeConfig,
        _: &Extensions,
    ) -> Result<Body, ApiError> {
        let frames = crate::poll::stream(state, holder, wanted, config).await;
        Ok(Body::from_stream(frames.map(|text| Ok::<_, std::convert::Infallible>(bytes::Bytes::from(text)))))
    }
}
