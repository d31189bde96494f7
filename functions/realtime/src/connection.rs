//! One client's connection, whatever carries it: what it is subscribed to, how far each topic
//! has been delivered, and what an event or a presence change means for it. No I/O here: a
//! transport feeds it deliveries and sends the frames it answers with.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, OnceLock},
};

use serde::{Deserialize, Serialize};
use tui_shared::events::Event;
use uuid::Uuid;

use crate::protocol::{Frame, frame};

/// What a hub hands a connection: an event of the log, or a presence frame of a topic.
#[derive(Debug, Clone)]
pub enum Delivery {
    Event(Arc<Published>),
    Presence { topic: Arc<str>, frame: Arc<str> },
}

/// An event of the log with its frame, written once however many connections it goes to.
#[derive(Debug)]
pub struct Published {
    pub event: Event,
    frame: OnceLock<String>,
}

impl Published {
    pub fn new(event: Event) -> Arc<Self> {
        Arc::new(Self { event, frame: OnceLock::new() })
    }

    fn frame(&self) -> &str {
        self.frame.get_or_init(|| frame::event(&self.event))
    }
}

/// Close codes, as the contract gives them.
pub const CLOSE_SESSION_REVOKED: u16 = 4001;
pub const CLOSE_POLICY: u16 = 1008;

/// What a delivery asks of the transport.
#[derive(Debug, Default, PartialEq)]
pub struct Step {
    pub frames: Vec<Frame>,
    /// Topics no longer subscribed (revoked): the hub may stop queuing them.
    pub forget: Vec<String>,
    pub close: Option<(u16, &'static str)>,
}

#[derive(Serialize, Deserialize)]
struct Subscription {
    /// The project whose membership grants the topic; `None` for the user's own topic.
    project: Option<Uuid>,
    events: Option<HashSet<String>>,
    /// The newest event id delivered (or skipped by the filter) on this topic: a replay and the
    /// live queue may both carry an event, and only the first copy goes out.
    delivered: i64,
    /// The newest event id when the topic was authorized: a removal up to it was already
    /// reflected in that check, and must not revoke a membership granted again after it.
    granted_at: i64,
}

/// Subscribe messages a connection may send: a burst, then a steady rate.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Limits {
    pub max_subscriptions: usize,
    pub subscribe_burst: u32,
    pub subscribes_per_minute: u32,
}

/// Serializable, so that a hub that sleeps between messages (a hibernating Durable Object) can
/// keep it in storage.
#[derive(Serialize, Deserialize)]
pub struct Connection {
    pub user: Uuid,
    pub session: Uuid,
    own_topic: String,
    subscriptions: HashMap<String, Subscription>,
    limits: Limits,
    /// Token bucket for subscribe messages: tokens and when they were last counted (ms).
    tokens: f64,
    counted_at: i64,
}

impl Connection {
    pub fn new(user: Uuid, session: Uuid, limits: Limits, now_ms: i64) -> Self {
        Self {
            user,
            session,
            own_topic: format!("user:{user}"),
            subscriptions: HashMap::new(),
            limits,
            tokens: f64::from(limits.subscribe_burst),
            counted_at: now_ms,
        }
    }

    /// The user's own topic, which every connection listens to whether subscribed or not:
    /// membership removals and session revocations arrive on it.
    pub fn own_topic(&self) -> &str {
        &self.own_topic
    }

    /// Whether another subscribe message may be served now.
    pub fn admit(&mut self, now_ms: i64) -> bool {
        let per_ms = f64::from(self.limits.subscribes_per_minute) / 60_000.0;
        let elapsed = (now_ms - self.counted_at).max(0) as f64;
        self.tokens = (self.tokens + elapsed * per_ms).min(f64::from(self.limits.subscribe_burst));
        self.counted_at = now_ms;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    pub fn is_subscribed(&self, topic: &str) -> bool {
        self.subscriptions.contains_key(topic)
    }

    /// How many more topics this connection may take.
    pub fn room(&self) -> usize {
        self.limits.max_subscriptions.saturating_sub(self.subscriptions.len())
    }

    pub fn topics(&self) -> impl Iterator<Item = &String> {
        self.subscriptions.keys()
    }

    /// Takes `topic`, authorized as of event `granted_at` and delivered up to `delivered`; a
    /// topic already taken keeps how far it got and takes the new filter.
    pub fn accept(&mut self, topic: String, project: Option<Uuid>, events: Option<HashSet<String>>, delivered: i64, granted_at: i64) {
        let subscription = self.subscriptions.entry(topic).or_insert(Subscription { project, events: None, delivered, granted_at });
        subscription.events = events;
        subscription.delivered = subscription.delivered.max(delivered);
        subscription.granted_at = subscription.granted_at.max(granted_at);
    }

    /// Drops `topics`; returns those that were subscribed.
    pub fn drop_topics(&mut self, topics: &[String]) -> Vec<String> {
        topics.iter().filter(|topic| self.subscriptions.remove(*topic).is_some()).cloned().collect()
    }

    /// What `delivery` means for this connection.
    pub fn deliver(&mut self, delivery: &Delivery) -> Step {
        match delivery {
            Delivery::Presence { topic, frame } => {
                let frames = if self.is_subscribed(topic) { vec![frame.to_string().into()] } else { Vec::new() };
                Step { frames, ..Step::default() }
            }
            Delivery::Event(published) => self.deliver_event(published),
        }
    }

    fn deliver_event(&mut self, published: &Published) -> Step {
        let event = &published.event;
        let mut step = Step::default();
        if let Some(subscription) = self.subscriptions.get_mut(&event.topic)
            && event.id > subscription.delivered
        {
            subscription.delivered = event.id;
            if subscription.events.as_ref().is_none_or(|wanted| wanted.contains(&event.event)) {
                step.frames.push(Frame::event(event.id, published.frame().to_owned()));
            }
        }
        let data = || serde_json::from_str::<serde_json::Value>(&event.data).unwrap_or_default();
        let lost_project = match event.event.as_str() {
            "session.revoked" if event.topic == self.own_topic => {
                if data()["session_id"].as_str() == Some(self.session.to_string().as_str()) {
                    step.close = Some((CLOSE_SESSION_REVOKED, "the session was revoked"));
                }
                None
            }
            "member.removed" => {
                // On the project's topic or the user's own: whichever comes first revokes.
                let data = data();
                let this_user = data["user_id"].as_str() == Some(self.user.to_string().as_str());
                data["project_id"].as_str().filter(|_| this_user).and_then(|id| Uuid::parse_str(id).ok())
            }
            "project.deleted" => event.topic.strip_prefix("project:").and_then(|id| Uuid::parse_str(id).ok()),
            _ => None,
        };
        if let Some(project) = lost_project {
            let revoked: Vec<String> = self
                .subscriptions
                .iter()
                .filter(|(_, s)| s.project == Some(project) && event.id > s.granted_at)
                .map(|(topic, _)| topic.clone())
                .collect();
            for topic in &revoked {
                self.subscriptions.remove(topic);
                step.frames.push(frame::revoked(topic).into());
            }
            step.forget = revoked;
        }
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_subscriptions: 3, subscribe_burst: 2, subscribes_per_minute: 60 };

    fn event(id: i64, topic: &str, name: &str, data: serde_json::Value) -> Delivery {
        Delivery::Event(Published::new(Event {
            id,
            topic: topic.into(),
            event: name.into(),
            data: data.to_string(),
            actor: None,
            created_at: "2026-01-01T00:00:00.000Z".into(),
        }))
    }

    #[test]
    fn each_event_goes_out_once_in_order_and_only_on_subscribed_topics() {
        let mut connection = Connection::new(Uuid::now_v7(), Uuid::now_v7(), LIMITS, 0);
        connection.accept("project:a".into(), Some(Uuid::now_v7()), None, 5, 0);
        assert!(connection.deliver(&event(5, "project:a", "task.created", serde_json::json!({}))).frames.is_empty(), "replayed already");
        assert_eq!(connection.deliver(&event(6, "project:a", "task.created", serde_json::json!({}))).frames.len(), 1);
        assert!(connection.deliver(&event(6, "project:a", "task.created", serde_json::json!({}))).frames.is_empty(), "no duplicate");
        assert!(connection.deliver(&event(7, "project:b", "task.created", serde_json::json!({}))).frames.is_empty());
    }

    #[test]
    fn filters_pick_event_names() {
        let mut connection = Connection::new(Uuid::now_v7(), Uuid::now_v7(), LIMITS, 0);
        connection.accept("task:t".into(), None, Some(HashSet::from(["task.updated".to_owned()])), 0, 0);
        assert!(connection.deliver(&event(1, "task:t", "dependency.added", serde_json::json!({}))).frames.is_empty());
        assert_eq!(connection.deliver(&event(2, "task:t", "task.updated", serde_json::json!({}))).frames.len(), 1);
    }

    #[test]
    fn removal_from_a_project_revokes_its_topics_at_once() {
        let (user, project) = (Uuid::now_v7(), Uuid::now_v7());
        let mut connection = Connection::new(user, Uuid::now_v7(), LIMITS, 0);
        connection.accept(format!("project:{project}"), Some(project), None, 0, 0);
        connection.accept("task:t".into(), Some(project), None, 0, 0);
        connection.accept("project:other".into(), Some(Uuid::now_v7()), None, 0, 0);
        let removed = serde_json::json!({"project_id": project, "user_id": user});
        let step = connection.deliver(&event(3, &format!("user:{user}"), "member.removed", removed));
        assert_eq!(step.frames.len(), 2);
        assert_eq!(step.forget.len(), 2);
        assert!(connection.is_subscribed("project:other"));
        assert!(connection.deliver(&event(4, "task:t", "task.updated", serde_json::json!({}))).frames.is_empty());
    }

    #[test]
    fn a_removal_the_authorization_already_saw_revokes_nothing() {
        let (user, project) = (Uuid::now_v7(), Uuid::now_v7());
        let mut connection = Connection::new(user, Uuid::now_v7(), LIMITS, 0);
        connection.accept(format!("project:{project}"), Some(project), None, 0, 9);
        let removed = serde_json::json!({"project_id": project, "user_id": user});
        assert!(connection.deliver(&event(8, &format!("user:{user}"), "member.removed", removed)).forget.is_empty());
        assert!(connection.is_subscribed(&format!("project:{project}")));
    }

    #[test]
    fn only_this_connections_session_being_revoked_closes_it() {
        let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
        let mut connection = Connection::new(user, session, LIMITS, 0);
        let other =
            connection.deliver(&event(1, &format!("user:{user}"), "session.revoked", serde_json::json!({"session_id": Uuid::now_v7()})));
        assert_eq!(other.close, None);
        let own = connection.deliver(&event(2, &format!("user:{user}"), "session.revoked", serde_json::json!({"session_id": session})));
        assert_eq!(own.close, Some((CLOSE_SESSION_REVOKED, "the session was revoked")));
    }

    #[test]
    fn subscribe_messages_are_rate_limited_by_a_bucket() {
        let mut connection = Connection::new(Uuid::now_v7(), Uuid::now_v7(), LIMITS, 0);
        assert!(connection.admit(0) && connection.admit(0));
        assert!(!connection.admit(10));
        assert!(connection.admit(1_010), "one a second comes back");
    }

    #[test]
    fn presence_goes_only_to_subscribers_of_its_topic() {
        let mut connection = Connection::new(Uuid::now_v7(), Uuid::now_v7(), LIMITS, 0);
        let presence = Delivery::Presence { topic: "project:a".into(), frame: "{}".into() };
        assert!(connection.deliver(&presence).frames.is_empty());
        connection.accept("project:a".into(), None, None, 0, 0);
        assert_eq!(connection.deliver(&presence).frames.len(), 1);
        assert_eq!(connection.room(), 2);
    }
}
