//! Server-Sent Events where no hub runs in the process (Workers, Spin): the stream reads the
//! event log itself every `poll`, through the same connection logic as a socket, so that
//! replay, filters, revocation and session ends behave the same.

use std::collections::VecDeque;

use futures_util::Stream;
use tui_shared::{AppState, events, time};

use uuid::Uuid;

use crate::{
    connection::{CLOSE_POLICY, Connection, Delivery, Published},
    handlers::StreamRequest,
    protocol::{Refusal, frame},
    service::{self, Listener, RealtimeConfig},
    sse, streams,
    tickets::Holder,
};

/// The most events one read hands out.
const PAGE: u32 = 500;
/// A heartbeat comment after this many polls without output (about every 15 s at the default).
const HEARTBEAT_MS: u64 = 15_000;

/// Polling reads every topic the connection holds; there is no one to listen or be present with.
struct Alone;

impl Listener for Alone {
    fn listen(&self, _: &[String]) {}
    fn forget(&self, _: &[String]) {}
    fn join(&self, _: &[String]) -> Vec<(String, Vec<Uuid>)> {
        Vec::new()
    }
}

struct Polling {
    state: AppState,
    connection: Connection,
    holder: Holder,
    config: RealtimeConfig,
    pending: VecDeque<String>,
    last: i64,
    quiet_ms: u64,
    /// This stream's row among the user's open streams, and how long since it was refreshed.
    id: Uuid,
    unseen_ms: u64,
    done: bool,
}

/// The stream's body: the first frames (subscription, replay), then what the log gets.
pub async fn stream(state: AppState, holder: Holder, wanted: StreamRequest, config: RealtimeConfig) -> impl Stream<Item = String> + Send {
    let now = time::to_unix_ms(state.clock.now());
    let mut connection = Connection::new(holder.user, holder.session, config.limits, now);
    let id = Uuid::now_v7();
    let counted = streams::open(state.db.as_ref(), id, holder.user, state.clock.now(), config.connections_per_user).await;
    if !matches!(counted, Ok(true)) {
        let refusal = frame::error(Refusal::TooManyConnections, "You hold as many connections as you may.", None);
        let pending = VecDeque::from([sse::data(&refusal), sse::closing(CLOSE_POLICY, "too many connections")]);
        let polling = Polling { state, connection, holder, config, pending, last: 0, quiet_ms: 0, id, unseen_ms: 0, done: true };
        return polling.into_stream();
    }
    // Polling goes on from the id the subscription was authorized at: what came after it is
    // read, once (each topic's connection state drops what the replay already sent).
    let (pending, last, done) = match service::subscribe(&state, &mut connection, &Alone, &wanted.topics, wanted.events, wanted.after).await
    {
        Ok(subscribed) => (subscribed.frames.iter().map(sse::message).collect(), subscribed.latest, false),
        Err(error) => {
            let (code, reason) = service::closing(&error);
            (VecDeque::from([sse::closing(code, reason)]), 0, true)
        }
    };
    let polling = Polling { state, connection, holder, config, pending, last, quiet_ms: 0, id, unseen_ms: 0, done };
    if done {
        polling.end().await;
    }
    polling.into_stream()
}

impl Polling {
    fn into_stream(self) -> impl Stream<Item = String> + Send {
        futures_util::stream::unfold(self, |mut polling| async move {
            loop {
                if let Some(frame) = polling.pending.pop_front() {
                    return Some((frame, polling));
                }
                if polling.done {
                    return None;
                }
                polling.poll().await;
            }
        })
    }

    /// The stream ends: it no longer counts among the user's.
    async fn end(&self) {
        if let Err(error) = streams::close(self.state.db.as_ref(), self.id).await {
            tracing::warn!(%error, "an ended stream is still counted until it goes stale");
        }
    }

    /// Waits one interval, then queues what the log got meanwhile (or a heartbeat).
    async fn poll(&mut self) {
        tui_shared::adapters::sleep(self.config.poll).await;
        self.unseen_ms += self.config.poll.as_millis() as u64;
        if self.unseen_ms >= streams::REFRESH.as_millis() as u64 {
            self.unseen_ms = 0;
            if let Err(error) = streams::refresh(self.state.db.as_ref(), self.id, self.state.clock.now()).await {
                tracing::warn!(%error, "a stream could not say it is still open");
            }
        }
        let mut topics: Vec<String> = self.connection.topics().cloned().collect();
        topics.push(self.connection.own_topic().to_owned());
        let page = match events::since(self.state.db.as_ref(), &topics, self.last, PAGE).await {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, "reading the event log failed; retried at the next poll");
                Vec::new()
            }
        };
        for event in page {
            self.last = event.id;
            let step = self.connection.deliver(&Delivery::Event(Published::new(event)));
            self.pending.extend(step.frames.iter().map(sse::message));
            if let Some((code, reason)) = step.close {
                self.pending.push_back(sse::closing(code, reason));
                self.done = true;
                return self.end().await;
            }
        }
        if self.holder.session_expires_at.as_str() <= time::format(self.state.clock.now()).as_str() {
            self.pending.push_back(sse::closing(crate::connection::CLOSE_SESSION_REVOKED, "the session expired"));
            self.done = true;
            self.end().await;
        } else if self.pending.is_empty() {
            self.quiet_ms += self.config.poll.as_millis() as u64;
            if self.quiet_ms >= HEARTBEAT_MS {
                self.quiet_ms = 0;
                self.pending.push_back(sse::HEARTBEAT.to_owned());
            }
        } else {
            self.quiet_ms = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use futures_util::StreamExt;
    use tui_shared::{
        AppState,
        adapters::native::Sqlite,
        db::{Database, migrate},
        ports::{Outbound, OutboundError, SystemClock},
        state::{Platform, Services},
        stmt, time,
    };
    use uuid::Uuid;

    use super::*;

    struct Offline;

    #[async_trait::async_trait]
    impl Outbound for Offline {
        async fn send(&self, _: http::Request<bytes::Bytes>) -> Result<http::Response<bytes::Bytes>, OutboundError> {
            Err(OutboundError("offline".into()))
        }
    }

    async fn next(frames: &mut (impl Stream<Item = String> + Unpin)) -> serde_json::Value {
        let message =
            tokio::time::timeout(Duration::from_secs(5), frames.next()).await.expect("a frame in time").expect("the stream goes on");
        let data = message.lines().find_map(|line| line.strip_prefix("data: ")).expect("a data line");
        serde_json::from_str(data).expect("JSON")
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        db: Arc<dyn Database>,
        state: AppState,
        config: RealtimeConfig,
        holder: Holder,
        project: Uuid,
        now: String,
    }

    /// A database with a user, their live session and their project, and the state over it.
    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let db: Arc<dyn Database> = Arc::new(Sqlite::open(&dir.path().join("poll.db").display().to_string(), 2).unwrap());
        let now = time::format(time::Timestamp::now_utc());
        migrate::migrate(db.as_ref(), &now).await.unwrap();
        let (user, session, project) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let later = time::format(time::Timestamp::now_utc() + Duration::from_secs(3600));
        db.batch(vec![
            stmt!(
                "INSERT INTO users (id, email, username, created_at, updated_at) VALUES (?1, 'p@example.com', 'p', ?2, ?2)",
                user,
                now.as_str()
            ),
            stmt!(
                "INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at) VALUES (?1, ?2, ?3, ?3, ?4)",
                session,
                user,
                now.as_str(),
                later.as_str()
            ),
            stmt!(
                "INSERT INTO projects (id, name, created_by, created_at, updated_at) VALUES (?1, 'p', ?2, ?3, ?3)",
                project,
                user,
                now.as_str()
            ),
            stmt!(
                "INSERT INTO project_members (project_id, user_id, role, added_at) VALUES (?1, ?2, 'owner', ?3)",
                project,
                user,
                now.as_str()
            ),
        ])
        .await
        .unwrap();
        let settings: tui_shared::state::Settings = Arc::new(|name: &str| match name {
            "JWT_SECRET" => Some("a-test-secret-of-at-least-thirty-two-bytes".to_owned()),
            "PUBLIC_URL" => Some("http://127.0.0.1:1".to_owned()),
            _ => None,
        });
        let platform = Platform {
            settings,
            db: db.clone(),
            clock: Arc::new(SystemClock),
            outbound: Arc::new(Offline),
            public_outbound: None,
            passwords: None,
            limiter: None,
            jobs: None,
            coordinators: None,
        };
        let state = AppState::new(Services::assemble(platform, "realtime").unwrap());
        let mut config = *state.section::<RealtimeConfig>().unwrap();
        config.poll = Duration::from_millis(20);
        let holder = Holder { user, session, session_expires_at: later };
        Fixture { _dir: dir, db, state, config, holder, project, now }
    }

    fn wanted(project: Uuid) -> StreamRequest {
        StreamRequest { topics: vec![format!("project:{project}")], events: None, after: None }
    }

    /// The stream Spin serves, over a real database: subscribed, then what the log gets, then
    /// the end when the session is revoked.
    #[tokio::test]
    async fn the_polling_stream_follows_the_log_and_ends_with_the_session() {
        let Fixture { _dir, db, state, config, holder, project, now } = fixture().await;
        let session = holder.session;
        let mut frames = Box::pin(stream(state, holder, wanted(project), config).await);

        assert_eq!(next(&mut frames).await["type"], "subscribed");
        db.execute(stmt!("UPDATE projects SET name = 'renamed', version = 2 WHERE id = ?1", project)).await.unwrap();
        let event = next(&mut frames).await;
        assert_eq!((event["event"].as_str(), event["data"]["name"].as_str()), (Some("project.updated"), Some("renamed")));
        db.execute(stmt!("UPDATE sessions SET revoked_at = ?2 WHERE id = ?1", session, now.as_str())).await.unwrap();
        let closing = next(&mut frames).await;
        assert_eq!((closing["type"].as_str(), closing["code"].as_u64()), (Some("closed"), Some(4001)));
        assert!(frames.next().await.is_none(), "the stream ends");
    }

    /// Where no hub counts connections, the streams a user holds open are counted in the
    /// database: one over the limit is refused, and one that ended frees its place.
    #[tokio::test]
    async fn streams_beyond_the_users_limit_are_refused() {
        let Fixture { _dir, state, mut config, holder, project, .. } = fixture().await;
        config.connections_per_user = 1;
        let mut first = Box::pin(stream(state.clone(), holder.clone(), wanted(project), config).await);
        assert_eq!(next(&mut first).await["type"], "subscribed");
        let mut second = Box::pin(stream(state.clone(), holder.clone(), wanted(project), config).await);
        assert_eq!(next(&mut second).await["code"], "too_many_connections");
        let closing = next(&mut second).await;
        assert_eq!((closing["type"].as_str(), closing["code"].as_u64()), (Some("closed"), Some(1008)));
        assert!(second.next().await.is_none());
    }
}
