//! The Workers fan-out: hub Durable Objects (binding `HUB`), each holding the WebSockets of the
//! users hashed to it through the hibernation API. The worker of every write wakes each hub after
//! its commit (`tui_shared::adapters::cloudflare::fetch`); a hub then reads the log from where it
//! left off (its cursor, in its storage) and delivers to its sockets. An alarm reads the log too
//! while sockets are open, so a lost wake delays events and loses none. Each connection's state is
//! kept in the object's storage (a socket's attachment holds at most 2 KiB) and in memory while
//! the object is awake; the runtime answers `{"type":"ping"}` itself while it sleeps.

use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
};

use serde::{Deserialize, Serialize};
use tui_shared::{
    ApiError, AppState,
    adapters::{
        cloudflare::{HUB_BINDING, WorkerEnv, hub_name, hub_shards, services},
        edge::SendWrapper,
    },
    events, time,
};
use uuid::Uuid;
use worker::{
    DurableObject, Env, Request, RequestInit, Response, State, WebSocket, WebSocketIncomingMessage, WebSocketPair, durable_object,
};

use crate::{
    connection::{CLOSE_POLICY, CLOSE_SESSION_REVOKED, Connection, Delivery, Published},
    presence::{self, Presence},
    protocol::{Refusal, frame},
    service::{self, Listener, RealtimeConfig},
    tickets::Holder,
    topics::keeps_presence,
};

/// How often an awake hub with sockets reads the log without being woken.
const ALARM_MS: i64 = 10_000;
const PAGE: u32 = 1000;
const CURSOR: &str = "cursor";
/// Messages a client may send while its previous one is still being served.
const MAX_INBOX: usize = 32;
/// Events a connection may fall behind by while one of its messages is served.
const MAX_PENDING: usize = 1024;
const CLOSE_TOO_SLOW: u16 = 1013;

fn key(id: &str) -> String {
    format!("conn:{id}")
}

/// What a socket carries through hibernation: which connection it is.
#[derive(Serialize, Deserialize)]
struct Attachment {
    id: String,
    expires_at: String,
}

struct Open {
    socket: WebSocket,
    /// `None` while a message of this connection is being served; what arrives meanwhile (events
    /// in `pending`, the client's next messages in `inbox`) waits and is served afterwards, in
    /// order.
    connection: Option<Connection>,
    pending: Vec<Delivery>,
    inbox: Vec<String>,
    expires_at: String,
}

#[durable_object]
pub struct RealtimeHub {
    state: State,
    env: Env,
    app: RefCell<Option<AppState>>,
    open: RefCell<HashMap<String, Open>>,
    /// Kept in memory only: after hibernation it is counted again from the connections'
    /// subscriptions, since a connection is on a project topic exactly while subscribed to it.
    presence: RefCell<Presence<String>>,
    loaded: Cell<bool>,
    tailing: Cell<bool>,
    again: Cell<bool>,
}

/// Opens a socket for `holder` on their hub: the realtime worker's answer to an upgrade request
/// whose ticket it has spent.
pub async fn connect(env: &WorkerEnv, holder: &Holder) -> Result<http::Response<axum::body::Body>, ApiError> {
    let env: &Env = &env.0;
    SendWrapper::new(async move {
        let fail = |e: worker::Error| ApiError::unavailable(format!("the real-time hub is unreachable: {e}"));
        let namespace = env.durable_object(HUB_BINDING).map_err(fail)?;
        let shard = (holder.user.as_u128() % u128::from(hub_shards(env))) as u32;
        let stub = namespace.id_from_name(&hub_name(shard)).and_then(|id| id.get_stub()).map_err(fail)?;
        let headers = worker::Headers::new();
        for (name, value) in [
            ("upgrade", "websocket"),
            ("x-tui-user", &holder.user.to_string()),
            ("x-tui-session", &holder.session.to_string()),
            ("x-tui-expires", &holder.session_expires_at),
        ] {
            headers.set(name, value).map_err(fail)?;
        }
        let request = Request::new_with_init("https://hub/connect", RequestInit::new().with_headers(headers)).map_err(fail)?;
        let response = stub.fetch_with_request(request).await.map_err(fail)?;
        Ok(http::Response::<axum::body::Body>::from(response))
    })
    .await
}

impl DurableObject for RealtimeHub {
    fn new(state: State, env: Env) -> Self {
        if let Ok(pair) = worker::worker_sys::WebSocketRequestResponsePair::new(r#"{"type":"ping"}"#, r#"{"type":"pong"}"#) {
            state.set_websocket_auto_response(&pair);
        }
        Self {
            state,
            env,
            app: RefCell::new(None),
            open: RefCell::default(),
            presence: RefCell::default(),
            loaded: Cell::new(false),
            tailing: Cell::new(false),
            again: Cell::new(false),
        }
    }

    async fn fetch(&self, request: Request) -> worker::Result<Response> {
        match request.path().as_str() {
            "/wake" => {
                self.tail().await;
                Response::empty()
            }
            "/connect" => self.accept(&request).await,
            _ => Response::error("not found", 404),
        }
    }

    async fn websocket_message(&self, socket: WebSocket, message: WebSocketIncomingMessage) -> worker::Result<()> {
        self.load().await;
        let Some(id) = attachment(&socket).map(|a| a.id) else { return Ok(()) };
        let text = match message {
            WebSocketIncomingMessage::String(text) => text,
            WebSocketIncomingMessage::Binary(_) => {
                let _ = socket.send_with_str(frame::error(Refusal::BadMessage, "Messages are JSON text.", None));
                return Ok(());
            }
        };
        // Refused before it is queued: a message waiting its turn must not hold memory the limit
        // would not allow (the runtime accepts far larger ones).
        if text.len() > crate::protocol::MAX_MESSAGE_BYTES {
            let _ = socket.send_with_str(frame::error(Refusal::MessageTooLarge, "Messages are at most 64 KiB.", None));
            return Ok(());
        }
        let taken = {
            let mut open = self.open.borrow_mut();
            let Some(entry) = open.get_mut(&id) else { return Ok(()) };
            match entry.connection.take() {
                Some(connection) => Some(connection),
                None if entry.inbox.len() < MAX_INBOX => {
                    entry.inbox.push(text.clone());
                    None
                }
                None => {
                    let _ = socket.close(Some(CLOSE_POLICY), Some("too many messages at once"));
                    None
                }
            }
        };
        match taken {
            Some(connection) => self.serve(&socket, &id, connection, text).await,
            None => Ok(()),
        }
    }

    async fn websocket_close(&self, socket: WebSocket, _: usize, _: String, _: bool) -> worker::Result<()> {
        self.load().await;
        let _ = socket.close(Some(1000), Some("closed"));
        match attachment(&socket) {
            Some(attached) => self.forget_connection(&attached.id).await,
            None => Ok(()),
        }
    }

    async fn websocket_error(&self, socket: WebSocket, _: worker::Error) -> worker::Result<()> {
        self.load().await;
        match attachment(&socket) {
            Some(attached) => self.forget_connection(&attached.id).await,
            None => Ok(()),
        }
    }

    async fn alarm(&self) -> worker::Result<Response> {
        self.load().await;
        self.tail().await;
        let Some(app) = self.app() else { return Response::empty() };
        let now = time::format(app.clock.now());
        let expired: Vec<String> = self.open.borrow().iter().filter(|(_, open)| open.expires_at <= now).map(|(id, _)| id.clone()).collect();
        for id in expired {
            let socket = self.open.borrow().get(&id).map(|open| open.socket.clone());
            if let Some(socket) = socket {
                let _ = socket.close(Some(CLOSE_SESSION_REVOKED), Some("the session expired"));
            }
            self.forget_connection(&id).await?;
        }
        if !self.open.borrow().is_empty() {
            self.state.storage().set_alarm(ALARM_MS).await?;
        }
        Response::empty()
    }
}

fn attachment(socket: &WebSocket) -> Option<Attachment> {
    socket.deserialize_attachment::<Attachment>().ok().flatten()
}

impl RealtimeHub {
    fn app(&self) -> Option<AppState> {
        if let Some(app) = self.app.borrow().clone() {
            return Some(app);
        }
        let app = match services("realtime", &self.env) {
            Ok(services) => AppState::new(services),
            Err(error) => {
                tracing::error!(%error, "the real-time hub has no configuration");
                return None;
            }
        };
        *self.app.borrow_mut() = Some(app.clone());
        Some(app)
    }

    /// After hibernation, the sockets are back but memory is empty: reload each connection.
    async fn load(&self) {
        if self.loaded.replace(true) {
            return;
        }
        for socket in self.state.get_websockets() {
            let Some(attached) = attachment(&socket) else { continue };
            match self.state.storage().get::<Connection>(&key(&attached.id)).await {
                Ok(Some(connection)) => {
                    let projects: Vec<String> = connection.topics().filter(|topic| keeps_presence(topic)).cloned().collect();
                    self.presence.borrow_mut().join(&attached.id, connection.user, &projects);
                    let open = Open {
                        socket,
                        connection: Some(connection),
                        pending: Vec::new(),
                        inbox: Vec::new(),
                        expires_at: attached.expires_at,
                    };
                    self.open.borrow_mut().insert(attached.id, open);
                }
                _ => {
                    let _ = socket.close(Some(1011), Some("the connection's state was lost"));
                }
            }
        }
    }

    async fn accept(&self, request: &Request) -> worker::Result<Response> {
        self.load().await;
        let header = |name: &str| request.headers().get(name).ok().flatten().unwrap_or_default();
        let (Ok(user), Ok(session)) = (Uuid::parse_str(&header("x-tui-user")), Uuid::parse_str(&header("x-tui-session"))) else {
            return Response::error("who is connecting is not said", 400);
        };
        let Some(app) = self.app() else { return Response::error("the hub has no configuration", 503) };
        let config = match app.section::<RealtimeConfig>() {
            Ok(config) => *config,
            Err(_) => return Response::error("the real-time settings are invalid", 503),
        };
        let pair = WebSocketPair::new()?;
        let id = Uuid::now_v7().to_string();
        let user_tag = format!("user:{user}");
        let open_before = self.state.get_websockets_with_tag(&user_tag).len();
        self.state.accept_websocket_with_tags(&pair.server, &[&user_tag, &format!("conn:{id}")]);
        if open_before >= config.connections_per_user {
            let _ = pair.server.send_with_str(frame::error(Refusal::TooManyConnections, "You hold as many connections as you may.", None));
            let _ = pair.server.close(Some(CLOSE_POLICY), Some("too many connections"));
            return Response::from_websocket(pair.client);
        }
        let expires_at = header("x-tui-expires");
        pair.server.serialize_attachment(Attachment { id: id.clone(), expires_at: expires_at.clone() })?;
        let connection = Connection::new(user, session, config.limits, time::to_unix_ms(app.clock.now()));
        self.state.storage().put(&key(&id), &connection).await?;
        if self.state.storage().get::<i64>(CURSOR).await.ok().flatten().is_none() {
            let latest = events::latest(app.db.as_ref()).await.unwrap_or(0);
            self.state.storage().put(CURSOR, latest).await?;
        }
        self.open
            .borrow_mut()
            .insert(id, Open { socket: pair.server, connection: Some(connection), pending: Vec::new(), inbox: Vec::new(), expires_at });
        if self.state.storage().get_alarm().await?.is_none() {
            self.state.storage().set_alarm(ALARM_MS).await?;
        }
        Response::from_websocket(pair.client)
    }

    /// Serves `text` and whatever queued behind it for connection `id`, then hands its state back.
    async fn serve(&self, socket: &WebSocket, id: &str, mut connection: Connection, mut text: String) -> worker::Result<()> {
        let Some(app) = self.app() else {
            let _ = socket.close(Some(1011), Some("the hub has no configuration"));
            return self.forget_connection(id).await;
        };
        loop {
            let hub = HubListener { hub: SendWrapper::new(self), id: id.to_owned(), user: connection.user };
            let mut frames = match service::handle(&app, &mut connection, &hub, &text).await {
                Ok(frames) => frames,
                Err(error) => {
                    if error.code != tui_shared::ErrorCode::SessionRevoked {
                        tracing::warn!(%error, "a real-time message failed");
                    }
                    let (code, reason) = service::closing(&error);
                    let _ = socket.close(Some(code), Some(reason));
                    return self.forget_connection(id).await;
                }
            };
            let (pending, next) = match self.open.borrow_mut().get_mut(id) {
                Some(entry) => (std::mem::take(&mut entry.pending), (!entry.inbox.is_empty()).then(|| entry.inbox.remove(0))),
                None => (Vec::new(), None),
            };
            let mut close = None;
            for delivery in &pending {
                let step = connection.deliver(delivery);
                frames.extend(step.frames.into_iter().map(|frame| frame.text));
                close = close.or(step.close);
                self.leave(id, &step.forget);
            }
            for frame in &frames {
                let _ = socket.send_with_str(frame);
            }
            if let Some((code, reason)) = close {
                let _ = socket.close(Some(code), Some(reason));
                return self.forget_connection(id).await;
            }
            match next {
                Some(queued) => text = queued,
                None => break,
            }
        }
        // Handed back before anything is awaited, so that what is dispatched meanwhile goes
        // straight through it; then stored, unless the connection was closed meanwhile.
        let value = serde_json::to_value(&connection).map_err(|e| worker::Error::RustError(e.to_string()))?;
        let still_open = match self.open.borrow_mut().get_mut(id) {
            Some(entry) => {
                entry.connection = Some(connection);
                true
            }
            None => false,
        };
        if still_open {
            self.state.storage().put(&key(id), value).await?;
        }
        Ok(())
    }

    async fn forget_connection(&self, id: &str) -> worker::Result<()> {
        self.open.borrow_mut().remove(id);
        let departures = self.presence.borrow_mut().leave_all(id);
        self.announce(&departures, id);
        self.state.storage().delete(&key(id)).await?;
        if self.open.borrow().is_empty() {
            // An idle hub keeps no cursor: the next connection starts from the log's end, and its
            // subscriptions replay what they ask for.
            self.state.storage().delete(CURSOR).await?;
        }
        Ok(())
    }

    /// Reads what the log got since the cursor and delivers it. A wake that comes while a read is
    /// under way makes that read go round once more instead of starting a second one.
    async fn tail(&self) {
        if self.tailing.replace(true) {
            self.again.set(true);
            return;
        }
        self.load().await;
        loop {
            self.again.set(false);
            if self.open.borrow().is_empty() {
                break;
            }
            let Some(app) = self.app() else { break };
            let Some(cursor) = self.state.storage().get::<i64>(CURSOR).await.ok().flatten() else { break };
            let page = match events::tail(app.db.as_ref(), cursor, PAGE).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, "reading the event log failed; retried at the next wake or alarm");
                    break;
                }
            };
            let full = page.len() == PAGE as usize;
            let mut last = cursor;
            let (mut changed, mut closed) = (Vec::new(), Vec::new());
            for event in page {
                last = event.id;
                let (state_changed, closing) = self.dispatch(&Delivery::Event(Published::new(event)));
                changed.extend(state_changed);
                closed.extend(closing);
            }
            for id in closed {
                let _ = self.forget_connection(&id).await;
            }
            // Revoked subscriptions are stored before the cursor passes the events that revoked
            // them: a hub woken from hibernation must not reload a subscription whose removal
            // it has already read past.
            let mut stored = true;
            for id in changed {
                let connection = self.open.borrow().get(&id).and_then(|open| open.connection.as_ref().map(serde_json::to_value));
                if let Some(Ok(value)) = connection {
                    stored &= self.state.storage().put(&key(&id), value).await.is_ok();
                }
            }
            if !stored || self.state.storage().put(CURSOR, last).await.is_err() {
                break;
            }
            if !full && !self.again.get() {
                break;
            }
        }
        self.tailing.set(false);
    }

    /// Hands `delivery` to every connection; returns those whose subscriptions changed, and
    /// those it closed.
    fn dispatch(&self, delivery: &Delivery) -> (Vec<String>, Vec<String>) {
        let (mut changed, mut closed, mut left) = (Vec::new(), Vec::new(), Vec::new());
        for (id, entry) in self.open.borrow_mut().iter_mut() {
            let Some(connection) = entry.connection.as_mut() else {
                if entry.pending.len() < MAX_PENDING {
                    entry.pending.push(delivery.clone());
                } else {
                    let _ = entry.socket.close(Some(CLOSE_TOO_SLOW), Some("too slow: the queue of events overflowed"));
                    closed.push(id.clone());
                }
                continue;
            };
            let step = connection.deliver(delivery);
            for frame in &step.frames {
                let _ = entry.socket.send_with_str(&frame.text);
            }
            if !step.forget.is_empty() {
                left.push((id.clone(), step.forget));
                changed.push(id.clone());
            }
            if let Some((code, reason)) = step.close {
                let _ = entry.socket.close(Some(code), Some(reason));
                closed.push(id.clone());
            }
        }
        for (id, topics) in left {
            self.leave(&id, &topics);
        }
        (changed, closed)
    }

    /// Tells the connections subscribed to each topic, but connection `except`, who arrived or
    /// left.
    fn announce(&self, changes: &[presence::Change], except: &str) {
        for change in changes {
            let text = change.frame();
            for (id, entry) in self.open.borrow().iter() {
                if id != except && entry.connection.as_ref().is_some_and(|c| c.is_subscribed(&change.topic)) {
                    let _ = entry.socket.send_with_str(&text);
                }
            }
        }
    }

    /// Takes connection `id` out of the presence of `topics`.
    fn leave(&self, id: &str, topics: &[String]) {
        let departures = self.presence.borrow_mut().leave(id, topics);
        self.announce(&departures, id);
    }
}

/// The hub as the connection being served sees it: every socket of a hub sees every event, so
/// listening is implicit.
struct HubListener<'a> {
    hub: SendWrapper<&'a RealtimeHub>,
    id: String,
    user: Uuid,
}

impl Listener for HubListener<'_> {
    fn listen(&self, _: &[String]) {}

    fn forget(&self, topics: &[String]) {
        self.hub.leave(&self.id, topics);
    }

    fn join(&self, topics: &[String]) -> Vec<(String, Vec<Uuid>)> {
        let hub = *self.hub;
        // A connection closed while its message was served is no longer in the hub: it joins
        // nothing, and is told who is there without counting itself.
        if !hub.open.borrow().contains_key(&self.id) {
            return topics.iter().map(|topic| (topic.clone(), hub.presence.borrow().users(topic))).collect();
        }
        let (here, arrivals) = hub.presence.borrow_mut().join(&self.id, self.user, topics);
        hub.announce(&arrivals, &self.id);
        here
    }
}
