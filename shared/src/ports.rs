//! The ports other than the database: what each runtime provides once, behind a trait.

use async_trait::async_trait;
use bytes::Bytes;

use crate::time::Timestamp;

/// Wall-clock time. Replaceable so that tests can move time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// Password hashing is CPU-bound for tens of milliseconds. Natively it moves off the async
/// threads; on the edge runtimes a request owns its isolate, so it runs inline.
#[async_trait]
pub trait PasswordHasher: Send + Sync + 'static {
    async fn hash(&self, password: String) -> Result<String, String>;
    async fn verify(&self, password: String, phc: String) -> bool;
}

#[derive(Debug, thiserror::Error)]
#[error("outbound request failed: {0}")]
pub struct OutboundError(pub String);

/// HTTP to the outside world (Turso over Hrana, the Claude API, OAuth providers, webhooks).
#[async_trait]
pub trait Outbound: Send + Sync + 'static {
    async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, OutboundError>;
}

/// The system clock, for the runtimes whose `SystemTime` is real (native and WASI).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now_utc()
    }
}

/// One email, as the mail port sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// What the mail is for (`password_reset`, `email_verification`, ...): what the log may say
    /// of it, since the text carries live tokens.
    pub kind: &'static str,
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// Outgoing email (password resets, email verification, security notices).
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send(&self, mail: Mail) -> Result<(), OutboundError>;
}
