//! The workflows worker's alarm clock: a queue message waits at most 12 hours, so a job due
//! later (a long sleep, a far deadline) sets this Durable Object's alarm instead, which keeps the
//! earliest time it was given and wakes the jobs consumer then. Each drain of the consumer
//! wakes it again for the next job due (`crate::tick`), which sets the next alarm.

use worker::{DurableObject, Env, Request, Response, Result, State, durable_object};

#[durable_object]
pub struct JobTimer {
    state: State,
    env: Env,
}

impl DurableObject for JobTimer {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    /// `POST` with the time (milliseconds since the epoch) a job falls due.
    async fn fetch(&self, mut request: Request) -> Result<Response> {
        let at: i64 = request.text().await?.trim().parse().map_err(|_| worker::Error::RustError("not a time".into()))?;
        let storage = self.state.storage();
        if storage.get_alarm().await?.is_none_or(|set| at < set) {
            storage.set_alarm(worker::ScheduledTime::new(js_sys::Date::new(&(at as f64).into()))).await?;
        }
        Response::empty()
    }

    async fn alarm(&self) -> Result<Response> {
        let queue = self.env.queue(tui_shared::adapters::cloudflare::JOBS_BINDING)?;
        queue.send(serde_json::json!({"wake": true})).await?;
        Response::empty()
    }
}
