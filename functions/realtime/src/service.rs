//! Serving one connection's messages, whatever carries them: subscriptions authorized per
//! topic at the moment they are taken, replay from the log, presence.

use std::{collections::HashSet, time::Duration};

use tui_shared::{
    ApiError, AppState,
    config::{ConfigError, Lookup, Section},
    events, time,
};
use uuid::Uuid;

use crate::{
    connection::{Connection, Limits},
    protocol::{ClientMessage, Refusal, frame, parse},
    topics::{Topic, readable},
};

/// The group's settings.
#[derive(Debug, Clone, Copy)]
pub struct RealtimeConfig {
    pub limits: Limits,
    /// Open connections (sockets and streams) a user may hold at once.
    pub connections_per_user: usize,
    /// Deliveries a connection may fall behind by before it is cut off as too slow.
    pub queue: usize,
    /// How often a Server-Sent Events stream without an in-process hub reads the log.
    pub poll: Duration,
}

impl Section for RealtimeConfig {
    /// `REALTIME_CONNECTIONS_PER_USER` (20), `REALTIME_SUBSCRIPTIONS_PER_CONNECTION` (100),
    /// `REALTIME_SUBSCRIBES_PER_MINUTE` (120, in bursts of up to 20), `REALTIME_QUEUE` (1024),
    /// `REALTIME_POLL_MS` (1000).
    fn read(lookup: &Lookup<'_>) -> Result<Self, ConfigError> {
        let positive = |name: &'static str, default: u32| match lookup.number(name, default)? {
            0 => Err(ConfigError::Invalid { name, reason: "must be at least 1".into() }),
            n => Ok(n),
        };
        Ok(Self {
            limits: Limits {
                max_subscriptions: positive("REALTIME_SUBSCRIPTIONS_PER_CONNECTION", 100)? as usize,
                subscribe_burst: 20,
                subscribes_per_minute: positive("REALTIME_SUBSCRIBES_PER_MINUTE", 120)?,
            },
            connections_per_user: positive("REALTIME_CONNECTIONS_PER_USER", 20)? as usize,
            queue: positive("REALTIME_QUEUE", 1024)? as usize,
            poll: Duration::from_millis(u64::from(positive("REALTIME_POLL_MS", 1000)?)),
        })
    }
}

/// The hub as one connection sees it: which topics' events it is handed.
pub trait Listener: Send + Sync {
    /// Starts handing over the events of `topics` (before they are authorized, so that nothing
    /// committed between the check and the replay is missed; what is refused is forgotten).
    fn listen(&self, topics: &[String]);
    fn forget(&self, topics: &[String]);
    /// Joins the presence of `topics` (project topics); who is on each, this user included.
    fn join(&self, topics: &[String]) -> Vec<(String, Vec<Uuid>)>;
}

/// Replays are read in pages of this many events.
const REPLAY_PAGE: u32 = 500;
/// The most events one subscribe replays; a client further behind is told to fetch the state
/// again (`replay_gap`), as if retention had cut the log, rather than have it all sent at once.
const REPLAY_MAX: i64 = 2000;
/// An event filter names at most this many events.
const MAX_FILTER: usize = 32;

/// An event filter, as a client gives it: a few event names (`task.updated`).
pub fn filter(events: Option<Vec<String>>) -> Result<Option<HashSet<String>>, String> {
    let Some(events) = events else { return Ok(None) };
    let valid =
        |name: &String| !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_');
    if events.len() > MAX_FILTER || !events.iter().all(valid) {
        return Err(format!("events names at most {MAX_FILTER} event names such as task.updated."));
    }
    Ok(Some(events.into_iter().collect()))
}

/// How a connection ends when serving it failed: a session found dead closes as revoked.
pub fn closing(error: &ApiError) -> (u16, &'static str) {
    if error.code == tui_shared::ErrorCode::SessionRevoked {
        (crate::connection::CLOSE_SESSION_REVOKED, "the session was revoked")
    } else {
        (1011, "the server failed")
    }
}

/// What a subscribe answers, and the newest event id when its topics were authorized: a
/// connection that reads the log itself reads on from there.
pub struct Subscribed {
    pub frames: Vec<String>,
    pub latest: i64,
}

/// Answers one client message with the frames to send.
pub async fn handle(state: &AppState, connection: &mut Connection, hub: &dyn Listener, text: &str) -> Result<Vec<String>, ApiError> {
    match parse(text) {
        Err((refusal, message)) => Ok(vec![frame::error(refusal, &message, None)]),
        Ok(ClientMessage::Ping) => Ok(vec![frame::pong()]),
        Ok(ClientMessage::Unsubscribe { topics }) => {
            let names: Vec<String> =
                topics.iter().filter_map(|topic| Topic::parse(topic, connection.user).ok()).map(|topic| topic.name()).collect();
            let dropped = connection.drop_topics(&names);
            // The user's own topic stays listened to: removals and revocations arrive on it.
            let forgotten: Vec<String> = dropped.iter().filter(|topic| *topic != connection.own_topic()).cloned().collect();
            hub.forget(&forgotten);
            Ok(vec![frame::unsubscribed(&dropped)])
        }
        Ok(ClientMessage::Subscribe { topics, events, last_event_id }) => {
            if !connection.admit(time::to_unix_ms(state.clock.now())) {
                return Ok(vec![frame::error(Refusal::RateLimited, "Too many subscribe messages; slow down.", None)]);
            }
            let after = match last_event_id.as_deref().map(str::parse::<i64>) {
                None => None,
                Some(Ok(id)) if id >= 0 => Some(id),
                Some(_) => return Ok(vec![frame::error(Refusal::BadMessage, "last_event_id is a decimal event id.", None)]),
            };
            let events = match filter(events) {
                Ok(events) => events,
                Err(message) => return Ok(vec![frame::error(Refusal::BadMessage, &message, None)]),
            };
            Ok(subscribe(state, connection, hub, &topics, events, after).await?.frames)
        }
    }
}

/// Takes what `topics` the caller may read, replays from `after` when asked, and says what was
/// refused, topic by topic. The connection's session must still live: a socket that outlived its
/// session learns so here at the latest.
pub async fn subscribe(
    state: &AppState,
    connection: &mut Connection,
    hub: &dyn Listener,
    topics: &[String],
    events: Option<HashSet<String>>,
    after: Option<i64>,
) -> Result<Subscribed, ApiError> {
    let mut frames = Vec::new();
    let mut wanted: Vec<(String, Topic)> = Vec::new();
    for text in topics {
        match Topic::parse(text, connection.user) {
            Ok(topic) if !wanted.iter().any(|(_, seen)| *seen == topic) => wanted.push((text.clone(), topic)),
            Ok(_) => {}
            Err(refusal) => frames.push(frame::error(refusal, "This topic cannot be subscribed to.", Some(text))),
        }
    }
    let room = connection.room();
    let mut fresh = 0;
    wanted.retain(|(text, topic)| {
        if connection.is_subscribed(&topic.name()) {
            return true;
        }
        fresh += 1;
        if fresh > room {
            frames.push(frame::error(Refusal::TooManySubscriptions, "This connection holds as many topics as it may.", Some(text)));
        }
        fresh <= room
    });
    let names: Vec<String> = wanted.iter().map(|(_, topic)| topic.name()).collect();
    hub.listen(&names);
    // Read before the checks: every event up to it (a removal, a revocation) is reflected in what
    // they find, and whatever comes after it is read afterwards.
    let latest = events::latest(state.db.as_ref()).await?;
    let now = time::format(state.clock.now());
    if tui_shared::repo::sessions::live(state.db.as_ref(), connection.session, connection.user, &now).await?.is_none() {
        return Err(tui_shared::http::extract::session_revoked());
    }
    let allowed = readable(state.db.as_ref(), connection.user, &wanted.iter().map(|(_, topic)| *topic).collect::<Vec<_>>()).await?;
    let mut taken = Vec::new();
    let mut refused = Vec::new();
    for (text, topic) in &wanted {
        match allowed.get(topic) {
            Some(project) => taken.push((topic.name(), *project)),
            None => {
                frames.push(frame::error(Refusal::Forbidden, "You may not read this topic.", Some(text)));
                // The user's own topic stays listened to whatever they subscribe to.
                if topic.name() != connection.own_topic() {
                    refused.push(topic.name());
                }
            }
        }
    }
    hub.forget(&refused);
    let names: Vec<String> = taken.iter().map(|(name, _)| name.clone()).collect();
    // Topics whose log retention cut after `after`, or that are too far behind, are not
    // replayed: the client fetches their state again and follows them live from here.
    let mut gapped = match after {
        Some(after) => events::gaps(state.db.as_ref(), &names, after).await?,
        None => Vec::new(),
    };
    let mut replayed: Vec<String> = match after {
        Some(_) => names.iter().filter(|name| !gapped.contains(name)).cloned().collect(),
        None => Vec::new(),
    };
    if let Some(after) = after
        && events::count_since(state.db.as_ref(), &replayed, after, REPLAY_MAX + 1).await? > REPLAY_MAX
    {
        gapped.append(&mut replayed);
    }
    for topic in &gapped {
        frames.push(frame::error(Refusal::ReplayGap, "Events after this id are no longer all kept; fetch the state again.", Some(topic)));
    }
    for (name, project) in &taken {
        let delivered = if replayed.contains(name) { after.unwrap_or(latest) } else { latest };
        connection.accept(name.clone(), *project, events.clone(), delivered, latest);
    }
    frames.push(frame::subscribed(&names, latest));
    if let Some(mut from) = after.filter(|_| !replayed.is_empty()) {
        loop {
            let page = events::since(state.db.as_ref(), &replayed, from, REPLAY_PAGE).await?;
            for event in &page {
                let step = connection.deliver(&crate::connection::Delivery::Event(crate::connection::Published::new(event.clone())));
                frames.extend(step.frames);
            }
            match page.last() {
                Some(last) if page.len() == REPLAY_PAGE as usize => from = last.id,
                _ => break,
            }
        }
    }
    let projects: Vec<String> = names.iter().filter(|name| name.starts_with("project:")).cloned().collect();
    for (topic, users) in hub.join(&projects) {
        frames.push(frame::presence(&topic, &users));
    }
    Ok(Subscribed { frames, latest })
}
