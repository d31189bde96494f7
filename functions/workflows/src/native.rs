//! The native host's side of workflows: the worker pool, a few tasks that claim due jobs and
//! run them, woken when a job falls due (the `JobWaker` port) and otherwise looking at least
//! once a second, which also finds jobs that another process sharing the database queued, or
//! whose lease ran out; and the HTTP client `http` steps call through.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use tokio::sync::{Notify, Semaphore};
use tui_shared::{
    AppState,
    adapters::native::Reqwest,
    ports::{JobWaker, Outbound},
};

use crate::{WorkflowsConfig, engine, jobs, model::Kind, outbound::Guard};

/// The client `http` steps call through: it resolves names itself and connects only to the
/// addresses the guard allows, so a public name that points at a private address (or is made
/// to, between a check and the call) reaches nothing. Redirects are not followed, and a body is
/// read only as far as a step keeps it.
pub fn outbound(config: &WorkflowsConfig) -> Arc<dyn Outbound> {
    // No proxy from the environment either: a proxy would resolve names itself, past the guard.
    let client = reqwest::Client::builder()
        .no_proxy()
        .dns_resolver(Arc::new(Resolver(config.guard.clone())))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(config.http_timeout)
        .build()
        .unwrap_or_default();
    Arc::new(Reqwest::with_limit(client, engine::MAX_RESPONSE))
}

struct Resolver(Guard);

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            // One answer whether the name does not resolve or resolves only inward, so that a
            // step cannot tell which names exist inside.
            let refused = || format!("{host} resolves to no address workflows may call");
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await.map_err(|_| refused())?.collect();
            let allowed: Vec<SocketAddr> = found.into_iter().filter(|addr| guard.allows_ip(addr.ip())).collect();
            if allowed.is_empty() {
                return Err(refused().into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The longest the pool sleeps without looking: it is woken when a job falls due here, so this
/// is for jobs queued by another process sharing the database, and leases that ran out.
const LOOK_EVERY: Duration = Duration::from_secs(5);

/// Wakes the pool's workers: at once, or after a delay.
#[derive(Default)]
pub struct PoolWaker(Arc<Notify>);

impl PoolWaker {
    fn notify(notify: &Notify) {
        // A permit, if the pool is not asleep yet: it does not miss a wake that came just before.
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

/// Starts the pool: one task claims due jobs while fewer than the configured number run, each
/// job in a task of its own (so a panic ends that job's run, whose lease then runs out, and
/// nothing else); it sleeps until the next job falls due, a wake, a job's end, or a look. Only
/// [`jobs::http_lanes`] of the workers take `http` steps: the others are kept for the rest.
pub fn start(state: AppState, waker: &PoolWaker, config: &WorkflowsConfig) {
    let notify = waker.0.clone();
    let slots = Arc::new(Semaphore::new(config.workers));
    let most_calling = jobs::http_lanes(config.workers);
    // Only this loop adds to it, so it never passes `most_calling`.
    let calling = Arc::new(AtomicUsize::new(0));
    let config = config.clone();
    tokio::spawn(async move {
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else { return };
            let calls = calling.load(Ordering::Relaxed) < most_calling;
            match jobs::claim(state.db.as_ref(), state.clock.now(), &config, calls).await {
                Ok(Some(job)) => {
                    let call = (job.kind == Kind::Http).then(|| Calling::new(&calling));
                    let (state, notify) = (state.clone(), notify.clone());
                    tokio::spawn(async move {
                        if let Err(error) = engine::run(&state, job).await {
                            tracing::warn!(%error, "a workflow job failed; it is retried when its lease ends");
                        }
                        drop((call, slot));
                        // A user's or a project's claims went down by one, or an http worker is
                        // free: a job held back may run now.
                        PoolWaker::notify(&notify);
                    });
                    continue;
                }
                Ok(None) => drop(slot),
                Err(error) => {
                    drop(slot);
                    tracing::warn!(%error, "claiming a workflow job failed");
                }
            }
            let now = state.clock.now();
            let wait = match jobs::next_due(state.db.as_ref()).await {
                // Due but not claimable (its user or project holds its share, or it is an http
                // step and the http workers are busy): a job's end wakes the pool.
                Ok(Some(at)) if at > now => (at - now).try_into().unwrap_or(LOOK_EVERY).min(LOOK_EVERY),
                _ => LOOK_EVERY,
            };
            let _ = tokio::time::timeout(wait, notify.notified()).await;
        }
    });
}

/// An `http` step running in the pool, counted while it runs (a panicking job included).
struct Calling(Arc<AtomicUsize>);

impl Calling {
    fn new(calling: &Arc<AtomicUsize>) -> Self {
        calling.fetch_add(1, Ordering::Relaxed);
        Self(calling.clone())
    }
}

impl Drop for Calling {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use reqwest::dns::Resolve;

    use super::*;

    #[tokio::test]
    async fn names_that_resolve_to_private_addresses_reach_nothing() {
        let guard = Guard { hosts: None, private: Vec::new(), names_checked: true };
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let refused = Resolver(guard).resolve(name).await.err().expect("localhost is refused");
        assert!(refused.to_string().contains("no address workflows may call"), "{refused}");
        let allowed = Guard { hosts: None, private: vec!["127.0.0.0/8".parse().unwrap()], names_checked: true };
        let found: Vec<SocketAddr> = Resolver(allowed).resolve("localhost".parse().unwrap()).await.unwrap().collect();
        assert!(!found.is_empty() && found.iter().all(|a| a.ip().is_loopback() && a.is_ipv4()), "{found:?}");
    }
}
