//! The one shared context every handler gets: the ports and the configuration.

use std::{ops::Deref, sync::Arc};

use crate::{
    auth::password::Argon2id,
    config::Config,
    db::Database,
    ports::{Clock, Mailer, Outbound, PasswordHasher},
    ratelimit::{RateLimiter, SqlLimiter},
};

/// What a runtime brings; everything else a request needs follows from it, the same way on
/// every runtime ([`Services::assemble`]).
pub struct Platform {
    pub config: Config,
    pub db: Arc<dyn Database>,
    pub clock: Arc<dyn Clock>,
    pub outbound: Arc<dyn Outbound>,
    /// Password hashing, where the runtime runs it its own way (natively, off the async
    /// threads); otherwise argon2id inline, at the configured cost.
    pub passwords: Option<Arc<dyn PasswordHasher>>,
    /// Rate-limit counters, where the runtime keeps them its own way; otherwise in SQL.
    pub limiter: Option<Arc<dyn RateLimiter>>,
}

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

impl Services {
    /// The services of `group` on a platform: the one place they are put together.
    pub fn assemble(platform: Platform, group: &'static str) -> Result<Self, String> {
        let Platform { config, db, clock, outbound, passwords, limiter } = platform;
        let passwords = match passwords {
            Some(passwords) => passwords,
            None => Arc::new(Argon2id::new(&config.argon2)?),
        };
        let mailer = crate::adapters::mail::from_config(config.mail.as_ref(), outbound.clone());
        let limiter = limiter.unwrap_or_else(|| Arc::new(SqlLimiter(db.clone())));
        Ok(Self { db, clock, passwords, mailer, outbound, limiter, config, group })
    }
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
