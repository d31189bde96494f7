//! Real-time clients for the tests: a WebSocket speaking the protocol, and a Server-Sent Events
//! reader.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, protocol::frame::coding::CloseCode},
};

use crate::{Server, User};

/// How long a test waits for a frame it expects.
const EXPECT: Duration = Duration::from_secs(10);

pub struct Socket {
    ws: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
}

/// A ticket for `user`'s session.
pub async fn ticket(server: &Server, user: &User) -> String {
    let reply = server.post("/v1/realtime/ticket", Some(&user.token), json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["expires_in"], 30);
    reply.body["ticket"].as_str().expect("a ticket").to_owned()
}

impl Socket {
    /// A socket opened with a fresh ticket of `user`'s.
    pub async fn open(server: &Server, user: &User) -> Self {
        let ticket = ticket(server, user).await;
        Self::with_ticket(server, &ticket).await.expect("the socket opens")
    }

    pub async fn with_ticket(server: &Server, ticket: &str) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        let url = format!("{}/v1/realtime?ticket={ticket}", server.base.replacen("http", "ws", 1));
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        Ok(Self { ws })
    }

    /// A socket whose client reads slowly: a tiny receive buffer, so the server's writes back up.
    pub async fn open_slow(server: &Server, user: &User) -> Self {
        let ticket = ticket(server, user).await;
        let address = server.base.trim_start_matches("http://");
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket.set_recv_buffer_size(4096).expect("a small buffer");
        let stream = socket.connect(address.parse().expect("an address")).await.expect("connects");
        let url = format!("ws://{address}/v1/realtime?ticket={ticket}");
        let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream)).await.expect("the socket opens");
        Self { ws }
    }

    pub async fn send(&mut self, message: Value) {
        self.ws.send(Message::Text(message.to_string().into())).await.expect("sent");
    }

    pub async fn send_text(&mut self, text: String) {
        self.ws.send(Message::Text(text.into())).await.expect("sent");
    }

    /// The next text frame within `wait`, or `None` when there is none (or the socket closed).
    pub async fn try_frame(&mut self, wait: Duration) -> Option<Value> {
        loop {
            match tokio::time::timeout(wait, self.ws.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => return Some(serde_json::from_str(&text).expect("JSON frames")),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                _ => return None,
            }
        }
    }

    /// The next text frame; fails the test if none comes.
    pub async fn frame(&mut self) -> Value {
        self.try_frame(EXPECT).await.expect("a frame")
    }

    /// The next frame of `kind`, skipping presence frames.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.frame().await;
            if frame["type"] == kind {
                return frame;
            }
            assert_eq!(frame["type"], "presence", "expected a {kind} frame, got {frame}");
        }
    }

    /// Subscribes and returns every frame up to and including `subscribed` (errors come first).
    pub async fn subscribe(&mut self, topics: &[&str], last_event_id: Option<&str>) -> Vec<Value> {
        let mut message = json!({"type": "subscribe", "topics": topics});
        if let Some(id) = last_event_id {
            message["last_event_id"] = id.into();
        }
        self.send(message).await;
        let mut frames = Vec::new();
        loop {
            let frame = self.frame().await;
            let done = frame["type"] == "subscribed";
            frames.push(frame);
            if done {
                return frames;
            }
        }
    }

    /// The next `n` event frames, skipping presence.
    pub async fn events(&mut self, n: usize) -> Vec<Value> {
        let mut events = Vec::new();
        while events.len() < n {
            events.push(self.next_of("event").await);
        }
        events
    }

    /// Whether no event frame comes within `wait` (presence frames aside).
    pub async fn quiet(&mut self, wait: Duration) -> bool {
        loop {
            match self.try_frame(wait).await {
                None => return true,
                Some(frame) if frame["type"] == "presence" => {}
                Some(_) => return false,
            }
        }
    }

    /// Reads until the server closes; the close code and reason.
    pub async fn closed(&mut self) -> Option<(u16, String)> {
        loop {
            match tokio::time::timeout(Duration::from_secs(30), self.ws.next()).await.ok()? {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| (u16::from(f.code), f.reason.to_string())),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    }

    pub async fn close(mut self) {
        let _ =
            self.ws.close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame { code: CloseCode::Normal, reason: "".into() })).await;
    }
}

/// A Server-Sent Events stream, read message by message.
pub struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    pub async fn open(server: &Server, user: &User, topics: &str, last_event_id: Option<&str>) -> Self {
        let mut request = reqwest::Client::new()
            .get(format!("{}/v1/realtime/sse?topics={topics}", server.base))
            .bearer_auth(&user.token)
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.expect("the stream opens");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self { response, buffer: String::new() }
    }

    /// The next message's id (if any) and frame; heartbeats are skipped.
    pub async fn next(&mut self) -> (Option<String>, Value) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let message: String = self.buffer.drain(..end + 2).collect();
                let mut id = None;
                let mut data = None;
                for line in message.lines() {
                    if let Some(value) = line.strip_prefix("id: ") {
                        id = Some(value.to_owned());
                    } else if let Some(value) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str(value).expect("JSON data"));
                    }
                }
                if let Some(data) = data {
                    return (id, data);
                }
                continue;
            }
            let chunk = tokio::time::timeout(EXPECT, self.response.chunk()).await.expect("a message in time").expect("the stream reads");
            self.buffer.push_str(std::str::from_utf8(&chunk.expect("the stream goes on")).expect("UTF-8"));
        }
    }

    /// The next event message, skipping other frames.
    pub async fn event(&mut self) -> (String, Value) {
        loop {
            if let (Some(id), frame) = self.next().await {
                return (id, frame);
            }
        }
    }
}
