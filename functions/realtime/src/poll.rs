//! Server-Sent Events where no hub runs in the process (Workers, Spin): the stream reads the
//! event log itself every `poll`, through the same connection logic as a socket, so that
//! replay, filters, revocation and session ends behave the same.

use std::collections::VecDeque;

use futures_util::Stream;
use tui_shared::{AppState, events, time};

use uuid::Uuid;

use crate::{
    connection::{Connection, Delivery, Published},
    handlers::StreamRequest,
    service::{self, Listener, RealtimeConfig},
    sse,
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
    done: bool,
}

/// The stream's body: the first frames (subscription, replay), then what the log gets.
pub async fn stream(state: AppState, holder: Holder, wanted: StreamRequest, config: RealtimeConfig) -> impl Stream<Item = String> + Send {
    let now = time::to_unix_ms(state.clock.now());
    let mut connection = Connection::new(holder.user, holder.session, config.limits, now);
    // Polling goes on from the id the subscription was authorized at: what came after it is
    // read, once (each topic's connection state drops what the replay already sent).
    let (pending, last, done) = match service::subscribe(&state, &mut connection, &Alone, &wanted.topics, wanted.events, wanted.after).await
    {
        Ok(subscribed) => (subscribed.frames.iter().map(|frame| sse::data(frame)).collect(), subscribed.latest, false),
        Err(error) => {
            let (code, reason) = service::closing(&error);
            (VecDeque::from([sse::closing(code, reason)]), 0, true)
        }
    };
    let polling = Polling { state, connection, holder, config, pending, last, quiet_ms: 0, done };
    futures_util::stream::unfold(polling, |mut polling| async move {
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

impl Polling {
    /// Waits one interval, then queues what the log got meanwhile (or a heartbeat).
    async fn poll(&mut self) {
        tui_shared::adapters::sleep(self.config.poll).await;
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
            self.pending.extend(step.frames.iter().map(|frame| sse::data(frame)));
            if let Some((code, reason)) = step.close {
                self.pending.push_back(sse::closing(code, reason));
                self.done = true;
                return;
            }
        }
        if self.holder.session_expires_at.as_str() <= time::format(self.state.clock.now()).as_str() {
            self.pending.push_back(sse::closing(crate::connection::CLOSE_SESSION_REVOKED, "the session expired"));
            self.done = true;
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

    /// The stream Spin serves, over a real database: subscribed, then what the log gets, then
    /// the end when the session is revoked.
    #[tokio::test]
    async fn the_polling_stream_follows_the_log_and_ends_with_the_session() {
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
            passwords: None,
            limiter: None,
        };
        let state = AppState::new(Services::assemble(platform, "realtime").unwrap());
        let mut config = *state.section::<RealtimeConfig>().unwrap();
        config.poll = Duration::from_millis(20);
        let holder = Holder { user, session, session_expires_at: later };
        let wanted = StreamRequest { topics: vec![format!("project:{project}")], events: None, after: None };
        let mut frames = Box::pin(stream(state, holder, wanted, config).await);

        assert_eq!(next(&mut frames).await["type"], "subscribed");
        db.execute(stmt!("UPDATE projects SET name = 'renamed', version = 2 WHERE id = ?1", project)).await.unwrap();
        let event = next(&mut frames).await;
        assert_eq!((event["event"].as_str(), event["data"]["name"].as_str()), (Some("project.updated"), Some("renamed")));
        db.execute(stmt!("UPDATE sessions SET revoked_at = ?2 WHERE id = ?1", session, now.as_str())).await.unwrap();
        let closing = next(&mut frames).await;
        assert_eq!((closing["type"].as_str(), closing["code"].as_u64()), (Some("closed"), Some(4001)));
        assert!(frames.next().await.is_none(), "the stream ends");
    }
}
