//! Server-Sent Events framing of the protocol's frames: each frame is one `data:` line (the
//! same JSON a WebSocket carries), an event's with its id in an `id:` line, so that a client's
//! `Last-Event-ID` resumes after it.

use crate::protocol::Frame;

/// A comment line: keeps idle proxies from closing the stream, ignored by clients.
pub const HEARTBEAT: &str = ": heartbeat\n\n";

/// One frame as an SSE message.
pub fn message(frame: &Frame) -> String {
    match frame.event_id {
        Some(id) => format!("id: {id}\n{}", data(&frame.text)),
        None => data(&frame.text),
    }
}

/// A frame that is no event's as an SSE message.
pub fn data(frame: &str) -> String {
    format!("data: {frame}\n\n")
}

/// The last message of a stream the server ends, saying why, as a socket's close frame would.
pub fn closing(code: u16, reason: &str) -> String {
    data(&serde_json::json!({"type": "closed", "code": code, "reason": reason}).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_frames_carry_their_id_for_resumption() {
        assert_eq!(
            message(&Frame::event(41, r#"{"type":"event","id":"41","topic":"t"}"#.into())),
            "id: 41\ndata: {\"type\":\"event\",\"id\":\"41\",\"topic\":\"t\"}\n\n"
        );
        assert_eq!(data(r#"{"type":"pong"}"#), "data: {\"type\":\"pong\"}\n\n");
        assert_eq!(message(&Frame::from(r#"{"type":"pong"}"#.to_owned())), data(r#"{"type":"pong"}"#), "no id but an event's");
    }
}
