//! The messages of the real-time protocol (API.md, "Real-time"), as JSON text frames. Server
//! frames are built here only, so every transport (WebSocket, Server-Sent Events) says the same.

use serde::{Deserialize, Serialize};
use serde_json::{json, value::RawValue};
use tui_shared::events::Event;
use uuid::Uuid;

/// The largest message a client may send.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// A server frame on its way to a transport: its JSON text, and an event's id beside it, which
/// Server-Sent Events write in an `id:` line (so that a client's `Last-Event-ID` resumes after it)
/// and a WebSocket, whose frames carry the id inside, does not need.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub text: String,
    pub event_id: Option<i64>,
}

impl Frame {
    /// The frame of event `id`.
    pub fn event(id: i64, text: String) -> Self {
        Self { text, event_id: Some(id) }
    }
}

/// Any frame that is not an event's.
impl From<String> for Frame {
    fn from(text: String) -> Self {
        Self { text, event_id: None }
    }
}

/// What a client sends.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Subscribe {
        topics: Vec<String>,
        /// Only these event names (`task.updated`, ...); all when absent.
        #[serde(default)]
        events: Option<Vec<String>>,
        /// Replay what the topics logged after this id (a decimal string; "0" for all retained).
        #[serde(default)]
        last_event_id: Option<String>,
    },
    Unsubscribe {
        topics: Vec<String>,
    },
    Ping,
}

/// Why a client's message, or part of it, was refused: a stable code for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    BadMessage,
    MessageTooLarge,
    InvalidTopic,
    Forbidden,
    TooManySubscriptions,
    TooManyConnections,
    RateLimited,
    ReplayGap,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Self::BadMessage => "bad_message",
            Self::MessageTooLarge => "message_too_large",
            Self::InvalidTopic => "invalid_topic",
            Self::Forbidden => "forbidden",
            Self::TooManySubscriptions => "too_many_subscriptions",
            Self::TooManyConnections => "too_many_connections",
            Self::RateLimited => "rate_limited",
            Self::ReplayGap => "replay_gap",
        }
    }
}

/// Reads one client message, refusing what is too large or not one of the protocol's messages.
pub fn parse(text: &str) -> Result<ClientMessage, (Refusal, String)> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err((Refusal::MessageTooLarge, format!("Messages are at most {MAX_MESSAGE_BYTES} bytes.")));
    }
    serde_json::from_str(text).map_err(|error| (Refusal::BadMessage, format!("Not a message of this protocol: {error}.")))
}

/// What the server sends: one JSON text each.
pub mod frame {
    use super::*;

    #[derive(Serialize)]
    struct EventFrame<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        id: String,
        topic: &'a str,
        event: &'a str,
        data: &'a RawValue,
        actor: Option<&'a str>,
        ts: &'a str,
    }

    pub fn event(event: &Event) -> String {
        let data = RawValue::from_string(event.data.clone()).unwrap_or_else(|_| RawValue::from_string("{}".into()).expect("valid JSON"));
        let frame = EventFrame {
            kind: "event",
            id: event.id.to_string(),
            topic: &event.topic,
            event: &event.event,
            data: &data,
            actor: event.actor.as_deref(),
            ts: &event.created_at,
        };
        serde_json::to_string(&frame).unwrap_or_default()
    }

    pub fn subscribed(topics: &[String], last_event_id: i64) -> String {
        json!({"type": "subscribed", "topics": topics, "last_event_id": last_event_id.to_string()}).to_string()
    }

    pub fn unsubscribed(topics: &[String]) -> String {
        json!({"type": "unsubscribed", "topics": topics}).to_string()
    }

    pub fn error(refusal: Refusal, message: &str, topic: Option<&str>) -> String {
        let mut frame = json!({"type": "error", "code": refusal.code(), "message": message});
        if let Some(topic) = topic {
            frame["topic"] = topic.into();
        }
        frame.to_string()
    }

    pub fn revoked(topic: &str) -> String {
        json!({"type": "revoked", "topic": topic}).to_string()
    }

    pub fn pong() -> String {
        json!({"type": "pong"}).to_string()
    }

    /// Who is on a project's topic now: sent to a connection that joins it.
    pub fn presence(topic: &str, users: &[Uuid]) -> String {
        json!({"type": "presence", "topic": topic, "users": users}).to_string()
    }

    /// Someone joined or left a project's topic: sent to the others on it.
    #[cfg_attr(
        not(any(test, feature = "native", feature = "cloudflare")),
        expect(dead_code, reason = "Spin serves no WebSockets: only the sockets of the other runtimes use this")
    )]
    pub fn presence_change(topic: &str, user: Uuid, joined: bool) -> String {
        let what = if joined { "joined" } else { "left" };
        json!({"type": "presence", "topic": topic, what: user}).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_parse_by_type_and_refuse_the_rest() {
        assert_eq!(parse(r#"{"type":"ping"}"#).unwrap(), ClientMessage::Ping);
        assert_eq!(
            parse(r#"{"type":"subscribe","topics":["user:me"],"last_event_id":"4"}"#).unwrap(),
            ClientMessage::Subscribe { topics: vec!["user:me".into()], events: None, last_event_id: Some("4".into()) }
        );
        assert_eq!(parse(r#"{"type":"shout"}"#).unwrap_err().0, Refusal::BadMessage);
        assert_eq!(parse("not json").unwrap_err().0, Refusal::BadMessage);
        let huge = format!(r#"{{"type":"unsubscribe","topics":["{}"]}}"#, "x".repeat(MAX_MESSAGE_BYTES));
        assert_eq!(parse(&huge).unwrap_err().0, Refusal::MessageTooLarge);
    }

    #[test]
    fn an_event_frame_carries_the_logged_data_as_json() {
        let event = Event {
            id: 12,
            topic: "project:p".into(),
            event: "project.updated".into(),
            data: r#"{"name":"x"}"#.into(),
            actor: None,
            created_at: "2026-01-01T00:00:00.000Z".into(),
        };
        let frame: serde_json::Value = serde_json::from_str(&frame::event(&event)).unwrap();
        assert_eq!(frame["id"], "12");
        assert_eq!(frame["data"]["name"], "x");
        assert_eq!(frame["type"], "event");
    }
}
