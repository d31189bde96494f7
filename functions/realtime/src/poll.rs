//! Server-Sent Events where no hub runs in the process (Workers, Spin): the stream reads the
//! event log itself every `poll`, through the same connection logic as a socket, so that
//! replay, filters, revocation and session ends behave the same.

use std::{collections::VecDeque, sync::Arc};

use futures_util::Stream;
use tui_shared::{AppState, events, time};
use uuid::Uuid;

use crate::{
    connection::{Connection, Delivery},
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
    let (first, last) = match service::subscribe(&state, &mut connection, &Alone, &wanted.topics, wanted.events, wanted.after).await {
        Ok(frames) => {
            let last = events::latest(state.db.as_ref()).await.unwrap_or(i64::MAX);
            (frames, last)
        }
        Err(error) => (vec![], {
            tracing::warn!(%error, "a real-time stream failed to start");
            i64::MAX
        }),
    };
    let done = last == i64::MAX;
    let pending = first.iter().map(|frame| sse::data(frame)).collect();
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
            let step = self.connection.deliver(&Delivery::Event(Arc::new(event)));
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
