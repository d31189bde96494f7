//! The native fan-out: one in-process hub. A single task tails the event log (woken after every
//! write the host serves, and once a second in case a write came from elsewhere) and hands
//! each event to the connections listening to its topic, each through a bounded queue; a
//! connection whose queue is full is cut off (close 1013) rather than allowed to grow memory.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Notify, mpsc};
use tui_shared::{ApiError, AppState, db::Database, events};
use uuid::Uuid;

use crate::{
    connection::{CLOSE_POLICY, Connection, Delivery, Published, Step},
    presence::{self, Presence},
    protocol::{Frame, Refusal, frame},
    service::{self, Listener, RealtimeConfig},
    tickets::Holder,
};

/// The close code of a consumer cut off for falling behind.
const CLOSE_TOO_SLOW: u16 = 1013;
/// How many events one read of the log hands out.
const TAIL_PAGE: u32 = 1000;
/// How often the log is read when no write of this host woke the hub.
const TAIL_EVERY: Duration = Duration::from_secs(1);
/// How long a send to a client may take before the client counts as gone.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// WebSocket heartbeats: a ping this often, and a client silent for three of them is gone.
const HEARTBEAT: Duration = Duration::from_secs(25);
/// Server-Sent Events heartbeats: a comment this often keeps proxies from closing the stream.
const SSE_HEARTBEAT: Duration = Duration::from_secs(15);

struct Entry {
    user: Uuid,
    queue: mpsc::Sender<Delivery>,
    cut: Arc<Notify>,
    topics: HashSet<String>,
}

#[derive(Default)]
struct Registry {
    next: u64,
    entries: HashMap<u64, Entry>,
    by_topic: HashMap<String, HashSet<u64>>,
    per_user: HashMap<Uuid, usize>,
    presence: Presence<u64>,
}

impl Registry {
    /// Queues `delivery` for connection `id`; a full queue cuts the connection off.
    fn offer(&mut self, id: u64, delivery: Delivery, cut: &mut Vec<u64>) {
        if let Some(entry) = self.entries.get(&id)
            && let Err(mpsc::error::TrySendError::Full(_)) = entry.queue.try_send(delivery)
        {
            cut.push(id);
        }
    }

    fn broadcast(&mut self, topic: &str, delivery: &Delivery, except: Option<u64>, cut: &mut Vec<u64>) {
        let ids: Vec<u64> =
            self.by_topic.get(topic).map(|ids| ids.iter().copied().filter(|id| Some(*id) != except).collect()).unwrap_or_default();
        for id in ids {
            self.offer(id, delivery.clone(), cut);
        }
    }

    fn unlisten(&mut self, id: u64, topics: &[String]) {
        for topic in topics {
            if let Some(ids) = self.by_topic.get_mut(topic) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.by_topic.remove(topic);
                }
            }
            if let Some(entry) = self.entries.get_mut(&id) {
                entry.topics.remove(topic);
            }
        }
    }

    /// Takes connection `id` out of the presence of `topics`.
    fn leave(&mut self, id: u64, topics: &[String]) {
        let departures = self.presence.leave(&id, topics);
        self.announce(departures, id);
    }

    /// Tells the others on each topic, but connection `id`, who arrived or left.
    fn announce(&mut self, changes: Vec<presence::Change>, id: u64) {
        let mut cut = Vec::new();
        for change in changes {
            let delivery = Delivery::Presence { topic: change.topic.as_str().into(), frame: change.frame().into() };
            self.broadcast(&change.topic, &delivery, Some(id), &mut cut);
        }
        self.cut_off(cut);
    }

    fn remove(&mut self, id: u64) {
        let Some(entry) = self.entries.get(&id) else { return };
        let topics: Vec<String> = entry.topics.iter().cloned().collect();
        self.unlisten(id, &topics);
        let departures = self.presence.leave_all(&id);
        self.announce(departures, id);
        if let Some(entry) = self.entries.remove(&id)
            && let Some(count) = self.per_user.get_mut(&entry.user)
        {
            *count -= 1;
            if *count == 0 {
                self.per_user.remove(&entry.user);
            }
        }
    }

    fn cut_off(&mut self, ids: Vec<u64>) {
        for id in ids {
            if let Some(entry) = self.entries.get(&id) {
                entry.cut.notify_one();
            }
            self.remove(id);
        }
    }
}

/// Why a hub could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the event log: {0}")]
pub struct LogUnreadable(ApiError);

/// The hub of one native host.
pub struct Hub {
    db: Arc<dyn Database>,
    config: RealtimeConfig,
    wake: Notify,
    registry: Mutex<Registry>,
}

impl Hub {
    /// A hub fanning out what the log gets from now on.
    pub async fn start(db: Arc<dyn Database>, config: RealtimeConfig) -> Result<Arc<Self>, LogUnreadable> {
        let from = events::latest(db.as_ref()).await.map_err(LogUnreadable)?;
        let hub = Arc::new(Self { db, config, wake: Notify::new(), registry: Mutex::default() });
        tokio::spawn(hub.clone().tail(from));
        Ok(hub)
    }

    /// Says the log may have grown (a write committed).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn tail(self: Arc<Self>, mut last: i64) {
        loop {
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(TAIL_EVERY) => {}
            }
            loop {
                let page = match events::tail(self.db.as_ref(), last, TAIL_PAGE).await {
                    Ok(page) => page,
                    Err(error) => {
                        tracing::warn!(%error, "reading the event log failed; retried at the next wake");
                        break;
                    }
                };
                let full = page.len() == TAIL_PAGE as usize;
                let mut registry = self.registry();
                let mut cut = Vec::new();
                for event in page {
                    last = event.id;
                    let topic = event.topic.clone();
                    registry.broadcast(&topic, &Delivery::Event(Published::new(event)), None, &mut cut);
                }
                registry.cut_off(cut);
                drop(registry);
                if !full {
                    break;
                }
            }
        }
    }

    /// Registers a connection of `user`, within their limit of connections.
    pub fn connect(self: &Arc<Self>, user: Uuid) -> Result<Member, Refusal> {
        let mut registry = self.registry();
        let open = registry.per_user.get(&user).copied().unwrap_or(0);
        if open >= self.config.connections_per_user {
            return Err(Refusal::TooManyConnections);
        }
        registry.next += 1;
        let id = registry.next;
        let (queue, deliveries) = mpsc::channel(self.config.queue);
        let cut = Arc::new(Notify::new());
        registry.entries.insert(id, Entry { user, queue, cut: cut.clone(), topics: HashSet::new() });
        *registry.per_user.entry(user).or_default() += 1;
        Ok(Member { hub: self.clone(), id, user, deliveries, cut })
    }

    /// How many connections are open: for the benchmark and metrics.
    pub fn connections(&self) -> usize {
        self.registry().entries.len()
    }
}

/// One connection's place in the hub; dropping it leaves the hub.
pub struct Member {
    hub: Arc<Hub>,
    id: u64,
    user: Uuid,
    deliveries: mpsc::Receiver<Delivery>,
    cut: Arc<Notify>,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.hub.registry().remove(self.id);
    }
}

impl Listener for Member {
    fn listen(&self, topics: &[String]) {
        let mut registry = self.hub.registry();
        for topic in topics {
            registry.by_topic.entry(topic.clone()).or_default().insert(self.id);
            if let Some(entry) = registry.entries.get_mut(&self.id) {
                entry.topics.insert(topic.clone());
            }
        }
    }

    fn forget(&self, topics: &[String]) {
        let mut registry = self.hub.registry();
        registry.unlisten(self.id, topics);
        registry.leave(self.id, topics);
    }

    fn join(&self, topics: &[String]) -> Vec<(String, Vec<Uuid>)> {
        let mut registry = self.hub.registry();
        // A connection already cut off is no longer in the hub: it joins nothing, and is told who
        // is there without counting itself.
        if !registry.entries.contains_key(&self.id) {
            return topics.iter().map(|topic| (topic.clone(), registry.presence.users(topic))).collect();
        }
        let (here, arrivals) = registry.presence.join(&self.id, self.user, topics);
        registry.announce(arrivals, self.id);
        here
    }
}

async fn send(socket: &mut futures_util::stream::SplitSink<WebSocket, Message>, message: Message) -> bool {
    matches!(tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await, Ok(Ok(())))
}

async fn close(socket: &mut futures_util::stream::SplitSink<WebSocket, Message>, code: u16, reason: &str) {
    send(socket, Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
}

/// Stops a task when its owner ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What woke a socket's loop.
enum Input {
    Cut,
    Beat,
    Delivery(Option<Delivery>),
    Message(Option<Result<Message, axum::Error>>),
}

/// Serves one WebSocket, opened with `holder`'s ticket, until either side ends it.
pub async fn serve_socket(state: AppState, hub: Arc<Hub>, holder: Holder, socket: WebSocket) {
    let (mut outgoing, mut incoming) = socket.split();
    let mut member = match hub.connect(holder.user) {
        Ok(member) => member,
        Err(refusal) => {
            send(&mut outgoing, Message::Text(frame::error(refusal, "You hold as many connections as you may.", None).into())).await;
            return close(&mut outgoing, CLOSE_POLICY, "too many connections").await;
        }
    };
    let now = tui_shared::time::to_unix_ms(state.clock.now());
    let mut connection = Connection::new(holder.user, holder.session, hub.config.limits, now);
    member.listen(&[connection.own_topic().to_owned()]);
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let mut silent_beats = 0;
    // The client's messages are read by a task of their own, woken only when the socket has
    // something: polling the socket afresh after every delivery made tungstenite clear its read
    // buffer each time (a fifth of the fan-out's CPU time).
    // It also notes that the client was heard from (any frame, a pong too), which the heartbeat
    // reads: a client is alive even while its messages wait behind a busy queue.
    let (forward, mut messages) = mpsc::channel(4);
    let heard = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let reader = tokio::spawn({
        let heard = heard.clone();
        async move {
            while let Some(message) = incoming.next().await {
                heard.store(true, std::sync::atomic::Ordering::Relaxed);
                if forward.send(message).await.is_err() {
                    break;
                }
            }
        }
    });
    let _stop_reading = AbortOnDrop(reader);
    loop {
        // Biased: being cut off first, then the heartbeat, then what the hub delivered, and only
        // then the client's next message, so that a client that keeps talking cannot hold back
        // the removal or revocation waiting in its queue. The select only says what came: serving
        // it happens after, so the select's own futures stay small.
        let input = tokio::select! {
            biased;
            () = member.cut.notified() => Input::Cut,
            _ = heartbeat.tick() => Input::Beat,
            delivery = member.deliveries.recv() => Input::Delivery(delivery),
            message = messages.recv() => Input::Message(message),
        };
        let step = match input {
            Input::Cut => Step { close: Some((CLOSE_TOO_SLOW, "too slow: the queue of events overflowed")), ..Step::default() },
            Input::Beat => {
                if heard.swap(false, std::sync::atomic::Ordering::Relaxed) {
                    silent_beats = 0;
                }
                silent_beats += 1;
                if silent_beats > 3 {
                    Step { close: Some((1001, "no answer to heartbeats")), ..Step::default() }
                } else if holder.session_expires_at.as_str() <= tui_shared::time::format(state.clock.now()).as_str() {
                    Step { close: Some((crate::connection::CLOSE_SESSION_REVOKED, "the session expired")), ..Step::default() }
                } else if send(&mut outgoing, Message::Ping(bytes::Bytes::new())).await {
                    Step::default()
                } else {
                    break;
                }
            }
            Input::Delivery(Some(delivery)) => {
                let step = connection.deliver(&delivery);
                if !step.forget.is_empty() {
                    member.forget(&step.forget);
                }
                step
            }
            Input::Delivery(None) => break,
            Input::Message(Some(Ok(Message::Text(text)))) => match service::handle(&state, &mut connection, &member, text.as_str()).await {
                Ok(frames) => Step { frames: frames.into_iter().map(Frame::from).collect(), ..Step::default() },
                Err(error) => {
                    if error.code != tui_shared::ErrorCode::SessionRevoked {
                        tracing::warn!(%error, "a real-time message failed");
                    }
                    Step { close: Some(service::closing(&error)), ..Step::default() }
                }
            },
            Input::Message(Some(Ok(Message::Binary(_)))) => {
                Step { frames: vec![frame::error(Refusal::BadMessage, "Messages are JSON text.", None).into()], ..Step::default() }
            }
            Input::Message(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => Step::default(),
            Input::Message(Some(Ok(Message::Close(_)) | Err(_)) | None) => break,
        };
        for frame in step.frames {
            if !send(&mut outgoing, Message::Text(frame.text.into())).await {
                return;
            }
        }
        if let Some((code, reason)) = step.close {
            return close(&mut outgoing, code, reason).await;
        }
    }
}

/// Writes `frames` to a stream's body, unless the client is gone or stopped reading.
async fn write(out: &mpsc::Sender<String>, frames: &[Frame]) -> bool {
    for frame in frames {
        if !matches!(tokio::time::timeout(SEND_TIMEOUT, out.send(crate::sse::message(frame))).await, Ok(Ok(()))) {
            return false;
        }
    }
    true
}

/// One Server-Sent Events stream over the hub: `topics` subscribed at once (replayed after
/// `after` when given), frames written into `out` until the client goes or the session ends.
pub async fn serve_stream(
    state: AppState,
    hub: Arc<Hub>,
    holder: Holder,
    topics: Vec<String>,
    events: Option<HashSet<String>>,
    after: Option<i64>,
    out: mpsc::Sender<String>,
) {
    let mut member = match hub.connect(holder.user) {
        Ok(member) => member,
        Err(refusal) => {
            let _ = out.send(crate::sse::data(&frame::error(refusal, "You hold as many connections as you may.", None))).await;
            return;
        }
    };
    let now = tui_shared::time::to_unix_ms(state.clock.now());
    let mut connection = Connection::new(holder.user, holder.session, hub.config.limits, now);
    member.listen(&[connection.own_topic().to_owned()]);
    let first = match service::subscribe(&state, &mut connection, &member, &topics, events, after).await {
        Ok(subscribed) => subscribed.frames,
        Err(error) => {
            let (code, reason) = service::closing(&error);
            let _ = out.send(crate::sse::closing(code, reason)).await;
            return;
        }
    };
    if !write(&out, &first).await {
        return;
    }
    let mut heartbeat = tokio::time::interval(SSE_HEARTBEAT);
    loop {
        let step = tokio::select! {
            biased;
            () = member.cut.notified() => Step { close: Some((CLOSE_TOO_SLOW, "too slow: the queue of events overflowed")), ..Step::default() },
            () = out.closed() => return,
            _ = heartbeat.tick() => {
                if holder.session_expires_at.as_str() <= tui_shared::time::format(state.clock.now()).as_str() {
                    Step { close: Some((crate::connection::CLOSE_SESSION_REVOKED, "the session expired")), ..Step::default() }
                } else {
                    if tokio::time::timeout(SEND_TIMEOUT, out.send(crate::sse::HEARTBEAT.to_owned())).await.is_err() {
                        return;
                    }
                    Step::default()
                }
            }
            delivery = member.deliveries.recv() => match delivery {
                Some(delivery) => {
                    let step = connection.deliver(&delivery);
                    if !step.forget.is_empty() {
                        member.forget(&step.forget);
                    }
                    step
                }
                None => return,
            },
        };
        if !write(&out, &step.frames).await {
            return;
        }
        if let Some((code, reason)) = step.close {
            let _ = out.send(crate::sse::closing(code, reason)).await;
            return;
        }
    }
}
