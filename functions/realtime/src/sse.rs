//! Server-Sent Events framing of the protocol's frames: each frame is one `data:` line (the
//! same JSON a WebSocket carries), an event's with its id in an `id:` line, so that a client's
//! `Last-Event-ID` resumes after it.

/// A comment line: keeps idle proxies from closing the stream, ignored by clients.
pub const HEARTBEAT: &str = ": heartbeat\n\n";

/// The id of an event frame (frames are built by `protocol::frame`, an event's with its id
/// second).
fn event_id(frame: &str) -> Option<&str> {
    let rest = frame.strip_prefix(r#"{"type":"event","id":""#)?;
    rest.split('"').next()
}

/// One frame as an SSE message.
pub fn data(frame: &str) -> String {
    match event_id(frame) {
        Some(id) => format!("id: {id}\ndata: {frame}\n\n"),
        None => format!("data: {frame}\n\n"),
    }
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
            data(r#"{"type":"event","id":"41","topic":"t"}"#),
            "id: 41\ndata: {\"type\":\"event\",\"id\":\"41\",\"topic\":\"t\"}\n\n"
        );
        assert_eq!(data(r#"{"type":"pong"}"#), "data: {\"type\":\"pong\"}\n\n");
    }
}
