//! The one shared context every handler gets: the ports and the configuration.

use std::{
    any::{Any, TypeId},
    collections::HashMap,
    ops::Deref,
    sync::{Arc, Mutex},
};

use crate::{
    ApiError,
    auth::password::{Argon2id, PasswordError},
    config::{Config, ConfigError, Lookup, Section},
    db::{Database, DbError},
    ports::{Clock, Coordinators, JobWaker, Mailer, Outbound, PasswordHasher, ScheduledOnly},
    ratelimit::{RateLimiter, SqlLimiter},
};

/// A runtime's settings by name: environment variables natively, vars and secrets on Workers,
/// variables on Spin.
pub type Settings = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What a runtime brings; everything else a request needs follows from it, the same way on
/// every runtime ([`Services::assemble`]).
pub struct Platform {
    pub settings: Settings,
    pub db: Arc<dyn Database>,
    pub clock: Arc<dyn Clock>,
    pub outbound: Arc<dyn Outbound>,
    /// HTTP to targets that users choose (workflow `http` steps), where the runtime can refuse
    /// to connect to an address that is not public (natively: it checks the addresses a name
    /// resolves to, which a check of the URL alone cannot); otherwise `outbound`.
    pub public_outbound: Option<Arc<dyn Outbound>>,
    /// Password hashing, where the runtime runs it its own way (natively, off the async
    /// threads); otherwise argon2id inline, at the configured cost.
    pub passwords: Option<Arc<dyn PasswordHasher>>,
    /// Rate-limit counters, where the runtime keeps them its own way; otherwise in SQL.
    pub limiter: Option<Arc<dyn RateLimiter>>,
    /// What drains the jobs table when a job falls due; otherwise only the runtime's schedule.
    pub jobs: Option<Arc<dyn JobWaker>>,
    /// Where swarms' coordinators run, where the runtime gives them a place of their own.
    pub coordinators: Option<Arc<dyn Coordinators>>,
}

/// Why a runtime's services could not be put together: a setting, or what the runtime lacks.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Passwords(#[from] PasswordError),
    #[error("the database cannot be opened: {0}")]
    Database(#[from] DbError),
    /// A binding the runtime was to provide is missing.
    #[error("no binding named {name}: {reason}")]
    Binding { name: &'static str, reason: String },
}

pub struct Services {
    pub db: Arc<dyn Database>,
    pub clock: Arc<dyn Clock>,
    pub passwords: Arc<dyn PasswordHasher>,
    pub mailer: Arc<dyn Mailer>,
    /// HTTP to the outside: identity providers, the mail API.
    pub outbound: Arc<dyn Outbound>,
    /// HTTP to targets users choose (see [`Platform::public_outbound`]).
    pub public_outbound: Arc<dyn Outbound>,
    pub limiter: Arc<dyn RateLimiter>,
    pub jobs: Arc<dyn JobWaker>,
    pub coordinators: Option<Arc<dyn Coordinators>>,
    pub config: Config,
    /// Which endpoint group this process serves, as reported by `/v1/health`.
    pub group: &'static str,
    settings: Settings,
    /// The groups' own settings, each read on first use.
    sections: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl Services {
    /// The services of `group` on a platform: the one place they are put together.
    pub fn assemble(platform: Platform, group: &'static str) -> Result<Self, StartError> {
        let Platform { settings, db, clock, outbound, public_outbound, passwords, limiter, jobs, coordinators } = platform;
        let config = Config::from_lookup(|name| settings(name))?;
        let passwords = match passwords {
            Some(passwords) => passwords,
            None => Arc::new(Argon2id::new(&config.argon2)?),
        };
        let mailer = crate::adapters::mail::from_config(config.mail.as_ref(), outbound.clone());
        let limiter = limiter.unwrap_or_else(|| Arc::new(SqlLimiter(db.clone())));
        let jobs = jobs.unwrap_or_else(|| Arc::new(ScheduledOnly));
        let public_outbound = public_outbound.unwrap_or_else(|| outbound.clone());
        Ok(Self {
            db,
            clock,
            passwords,
            mailer,
            outbound,
            public_outbound,
            limiter,
            jobs,
            coordinators,
            config,
            group,
            settings,
            sections: Mutex::default(),
        })
    }

    /// The database as `actor` writes to it: the events its changes log name them.
    pub fn acting(&self, actor: uuid::Uuid) -> crate::events::Acting {
        crate::events::Acting::new(self.db.clone(), actor, &crate::time::format(self.clock.now()))
    }

    /// A group's own settings, read from the runtime's settings the first time they are asked
    /// for; a setting that does not parse is a 503 until it is fixed (the native host asks at
    /// start-up, so that it refuses to start instead).
    pub fn section<T: Section>(&self) -> Result<Arc<T>, ApiError> {
        let mut sections = self.sections.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(found) = sections.get(&TypeId::of::<T>()).and_then(|any| any.clone().downcast::<T>().ok()) {
            return Ok(found);
        }
        let read = Arc::new(T::read(&Lookup(&|name| (self.settings)(name))).map_err(ApiError::unavailable)?);
        sections.insert(TypeId::of::<T>(), read.clone());
        Ok(read)
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
