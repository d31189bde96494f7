//! The native host's worker pool: a few tasks that claim due jobs and run them, woken when a
//! job falls due (the `JobWaker` port) and otherwise looking at least once a second, which also
//! finds jobs that another process sharing the database queued, or whose lease ran out.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use tokio::sync::Notify;
use tui_shared::{AppState, ports::JobWaker};

use crate::{WorkflowsConfig, engine, jobs};

/// The longest a worker sleeps without looking.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// Wakes the pool's workers: at once, or after a delay.
#[derive(Default)]
pub struct PoolWaker(Arc<Notify>);

impl PoolWaker {
    fn notify(notify: &Notify) {
        // Every worker that sleeps now, and a permit for one that is about to.
        notify.notify_waiters();
        notify.notify_one();
    }
}

#[async_trait]
impl JobWaker for PoolWaker {
    async fn wake(&self, after: Duration) {
        if after.is_zero() {
            Self::notify(&self.0);
        } else if after < LOOK_EVERY {
            let notify = self.0.clone();
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                Self::notify(&notify);
            });
        }
    }
}

/// Starts the configured number of tasks draining the jobs table, woken through `waker`.
pub fn start(state: AppState, waker: &PoolWaker, config: &WorkflowsConfig) {
    let lease = config.lease;
    for _ in 0..config.workers {
        let (state, notify) = (state.clone(), waker.0.clone());
        tokio::spawn(async move {
            loop {
                let ran = match jobs::claim(state.db.as_ref(), state.clock.now(), lease).await {
                    Ok(Some(job)) => {
                        if let Err(error) = engine::run(&state, job).await {
                            tracing::warn!(%error, "a workflow job failed; it is retried when its lease ends");
                        }
                        true
                    }
                    Ok(None) => false,
                    Err(error) => {
                        tracing::warn!(%error, "claiming a workflow job failed");
                        false
                    }
                };
                if !ran {
                    let wait = match jobs::next_due(state.db.as_ref()).await {
                        Ok(Some(at)) => (at - state.clock.now()).try_into().unwrap_or(Duration::ZERO).min(LOOK_EVERY),
                        _ => LOOK_EVERY,
                    };
                    if !wait.is_zero() {
                        let _ = tokio::time::timeout(wait, notify.notified()).await;
                    } else {
                        tokio::task::yield_now().await;
                    }
                }
            }
        });
    }
}
