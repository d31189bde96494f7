//! Serving one connection's messages, whatever carries them: subscriptions authorized per
//! topic at the moment they are taken, replay from the log, presence.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use tui_shared::{
    ApiError, AppState,
    config::{ConfigError, Lookup, Section},
    events, time,
};
use uuid::Uuid;

use crate::{
    connection::{Connection, Limits},
    protocol::{ClientMessage, Frame, Refusal, frame, parse},
    topics::{Topic, keeps_presence, readable},
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

/// Why an event filter is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("events names at most {MAX_FILTER} event names such as task.updated.")]
pub struct BadFilter;

/// An event filter, as a client gives it: a few event names (`task.updated`).
pub fn filter(events: Option<Vec<String>>) -> Result<Option<HashSet<String>>, BadFilter> {
    let Some(events) = events else { return Ok(None) };
    let valid =
        |name: &String| !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_');
    if events.len() > MAX_FILTER || !events.iter().all(valid) {
        return Err(BadFilter);
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
    pub frames: Vec<Frame>,
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
                Err(bad) => return Ok(vec![frame::error(Refusal::BadMessage, &bad.to_string(), None)]),
            };
            Ok(subscribe(state, connection, hub, &topics, events, after).await?.frames.into_iter().map(|frame| frame.text).collect())
        }
    }
}

/// The topics a subscribe asks for that are worth authorizing, each once, as the client named
/// it and as parsed, within the connection's room; and a frame refusing each of the others.
fn asked(connection: &Connection, topics: &[String]) -> (Vec<(String, Topic)>, Vec<String>) {
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
    (wanted, frames)
}

/// The wanted topics sorted by what the caller may read (`allowed`, with the project that
/// grants each).
#[derive(Debug, Default, PartialEq)]
struct Authorized {
    /// The topics taken, by name, with the project that grants each.
    taken: Vec<(String, Option<Uuid>)>,
    /// The refused topics to stop listening to: all but the user's own, listened to always.
    forget: Vec<String>,
    /// A frame refusing each topic not taken.
    frames: Vec<String>,
}

fn authorized(wanted: &[(String, Topic)], allowed: &HashMap<Topic, Option<Uuid>>, own_topic: &str) -> Authorized {
    let mut sorted = Authorized::default();
    for (text, topic) in wanted {
        match allowed.get(topic) {
            Some(project) => sorted.taken.push((topic.name(), *project)),
            None => {
                sorted.frames.push(frame::error(Refusal::Forbidden, "You may not read this topic.", Some(text)));
                if topic.name() != own_topic {
                    sorted.forget.push(topic.name());
                }
            }
        }
    }
    sorted
}

/// Which taken topics a subscribe replays from the client's last event id, and which are too far
/// behind (retention cut after that id, or more than [`REPLAY_MAX`] events since): those the
/// client fetches again and follows live from here.
#[derive(Debug, Default, PartialEq)]
struct Replay {
    replayed: Vec<String>,
    gapped: Vec<String>,
}

impl Replay {
    /// Every topic replayed but those retention `gapped`.
    fn new(names: &[String], gapped: Vec<String>) -> Self {
        Self { replayed: names.iter().filter(|name| !gapped.contains(name)).cloned().collect(), gapped }
    }

    /// Nothing replayed when `since` (events since the id, counted up to one past the most)
    /// is more than a replay sends.
    fn within(mut self, since: i64) -> Self {
        if since > REPLAY_MAX {
            self.gapped.append(&mut self.replayed);
        }
        self
    }
}

/// Takes the topics on `connection`, each delivered up to where it is followed from: the
/// client's last id for a topic replayed, `latest` for the others. The frames that say so.
fn take(
    connection: &mut Connection,
    taken: &[(String, Option<Uuid>)],
    replay: &Replay,
    events: Option<HashSet<String>>,
    after: Option<i64>,
    latest: i64,
) -> Vec<String> {
    let mut frames = Vec::new();
    for topic in &replay.gapped {
        frames.push(frame::error(Refusal::ReplayGap, "Events after this id are no longer all kept; fetch the state again.", Some(topic)));
    }
    for (name, project) in taken {
        let delivered = if replay.replayed.contains(name) { after.unwrap_or(latest) } else { latest };
        connection.accept(name.clone(), *project, events.clone(), delivered, latest);
    }
    let names: Vec<String> = taken.iter().map(|(name, _)| name.clone()).collect();
    frames.push(frame::subscribed(&names, latest));
    frames
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
    let db = state.db.as_ref();
    let (wanted, refusals) = asked(connection, topics);
    let mut frames: Vec<Frame> = refusals.into_iter().map(Frame::from).collect();
    hub.listen(&wanted.iter().map(|(_, topic)| topic.name()).collect::<Vec<_>>());
    // Read before the checks: every event up to it (a removal, a revocation) is reflected in what
    // they find, and whatever comes after it is read afterwards.
    let latest = events::latest(db).await?;
    let now = time::format(state.clock.now());
    if tui_shared::repo::sessions::live(db, connection.session, connection.user, &now).await?.is_none() {
        return Err(tui_shared::http::extract::session_revoked());
    }
    let allowed = readable(db, connection.user, &wanted.iter().map(|(_, topic)| *topic).collect::<Vec<_>>()).await?;
    let Authorized { taken, forget, frames: refused } = authorized(&wanted, &allowed, connection.own_topic());
    frames.extend(refused.into_iter().map(Frame::from));
    hub.forget(&forget);
    let names: Vec<String> = taken.iter().map(|(name, _)| name.clone()).collect();
    let replay = match after {
        Some(after) => {
            let replay = Replay::new(&names, events::gaps(db, &names, after).await?);
            let since = events::count_since(db, &replay.replayed, after, REPLAY_MAX + 1).await?;
            replay.within(since)
        }
        None => Replay::default(),
    };
    frames.extend(take(connection, &taken, &replay, events, after, latest).into_iter().map(Frame::from));
    if let Some(mut from) = after.filter(|_| !replay.replayed.is_empty()) {
        loop {
            let page = events::since(db, &replay.replayed, from, REPLAY_PAGE).await?;
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
    let projects: Vec<String> = names.iter().filter(|name| keeps_presence(name)).cloned().collect();
    for (topic, users) in hub.join(&projects) {
        frames.push(frame::presence(&topic, &users).into());
    }
    Ok(Subscribed { frames, latest })
}

#[cfg(test)]
mod tests {
    use tui_shared::events::Event;

    use super::*;
    use crate::connection::{Delivery, Published};

    fn connection(max_subscriptions: usize) -> Connection {
        Connection::new(Uuid::now_v7(), Uuid::now_v7(), Limits { max_subscriptions, subscribe_burst: 20, subscribes_per_minute: 120 }, 0)
    }

    fn event(id: i64, topic: &str) -> Delivery {
        let event =
            Event { id, topic: topic.into(), event: "task.created".into(), data: "{}".into(), actor: None, created_at: String::new() };
        Delivery::Event(Published::new(event))
    }

    #[test]
    fn a_filter_names_a_few_events_in_lower_case() {
        assert_eq!(filter(None), Ok(None));
        assert_eq!(filter(Some(vec!["task.updated".into()])), Ok(Some(HashSet::from(["task.updated".to_owned()]))));
        assert_eq!(filter(Some(vec!["Task.Updated".into()])), Err(BadFilter));
        assert_eq!(filter(Some(vec!["a".into(); MAX_FILTER + 1])), Err(BadFilter));
        assert_eq!(BadFilter.to_string(), "events names at most 32 event names such as task.updated.");
    }

    #[test]
    fn a_subscribe_asks_for_each_topic_once_within_the_connections_room() {
        let mut connection = connection(2);
        let (project, task, run) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        connection.accept(format!("project:{project}"), Some(project), None, 0, 0);
        let topics = [format!("project:{project}"), "bogus".into(), format!("task:{task}"), format!("task:{task}"), format!("run:{run}")];
        let (wanted, frames) = asked(&connection, &topics);
        assert_eq!(wanted, [(topics[0].clone(), Topic::Project(project)), (topics[2].clone(), Topic::Task(task))]);
        assert_eq!(
            frames,
            [
                frame::error(Refusal::InvalidTopic, "This topic cannot be subscribed to.", Some("bogus")),
                frame::error(Refusal::TooManySubscriptions, "This connection holds as many topics as it may.", Some(&topics[4])),
            ]
        );
    }

    #[test]
    fn topics_not_allowed_are_refused_and_forgotten_but_the_users_own() {
        let connection = connection(10);
        let (project, task) = (Uuid::now_v7(), Uuid::now_v7());
        let wanted = [
            ("user:me".to_owned(), Topic::User(connection.user)),
            (format!("project:{project}"), Topic::Project(project)),
            (format!("task:{task}"), Topic::Task(task)),
        ];
        let allowed = HashMap::from([(Topic::Project(project), Some(project))]);
        let sorted = authorized(&wanted, &allowed, connection.own_topic());
        assert_eq!(sorted.taken, [(format!("project:{project}"), Some(project))]);
        assert_eq!(sorted.forget, [format!("task:{task}")]);
        assert_eq!(
            sorted.frames,
            [
                frame::error(Refusal::Forbidden, "You may not read this topic.", Some("user:me")),
                frame::error(Refusal::Forbidden, "You may not read this topic.", Some(&wanted[2].0)),
            ]
        );
    }

    #[test]
    fn topics_too_far_behind_are_not_replayed() {
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let replay = Replay::new(&names, vec!["b".into()]);
        assert_eq!((replay.replayed.as_slice(), replay.gapped.as_slice()), (&["a".to_owned(), "c".into()][..], &["b".to_owned()][..]));
        let within = Replay::new(&names, vec!["b".into()]).within(REPLAY_MAX);
        assert_eq!(within, replay);
        let beyond = replay.within(REPLAY_MAX + 1);
        assert_eq!(beyond, Replay { replayed: Vec::new(), gapped: ["b", "a", "c"].map(String::from).to_vec() });
    }

    #[test]
    fn taken_topics_follow_on_from_the_replay_or_from_now() {
        let mut connection = connection(10);
        let project = Some(Uuid::now_v7());
        let taken = [("project:a".to_owned(), project), ("project:b".to_owned(), project)];
        let replay = Replay { replayed: vec!["project:a".into()], gapped: vec!["project:b".into()] };
        let frames = take(&mut connection, &taken, &replay, None, Some(5), 9);
        let gap =
            frame::error(Refusal::ReplayGap, "Events after this id are no longer all kept; fetch the state again.", Some("project:b"));
        assert_eq!(frames, [gap, frame::subscribed(&["project:a".into(), "project:b".into()], 9)]);
        assert_eq!(connection.deliver(&event(6, "project:a")).frames.len(), 1, "replayed from 5");
        assert!(connection.deliver(&event(7, "project:b")).frames.is_empty(), "followed from 9");
    }
}
