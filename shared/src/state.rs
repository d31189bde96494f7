//! The one shared context every handler gets: the ports and the configuration.

use std::{ops::Deref, sync::Arc};

use crate::{
    config::Config,
    db::Database,
    ports::{Clock, Mailer, Outbound, PasswordHasher},
    ratelimit::RateLimiter,
};

pub struct Services {
    pub db: Arc<dyn Database>,
    pub clock: Arc<dyn Clock>,
    pub passwords: Arc<dyn PasswordHasher>,
    pub mailer: Arc<dyn Mailer>,
    /// HTTP to the outside: identity providers, the mail API.
    pub outbound: Arc<dyn Outbound>,
    pub limiter: Arc<dyn RateLimiter>,
    pub config: Config,
    /// Which endpoint group this process serves, as reported by `/v1/health`.
    pub group: &'static str,
}

#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}
