//! The ports other than the database: what each runtime provides once, behind a trait.

use async_trait::async_trait;
use bytes::Bytes;

use crate::{ApiError, auth::password::PasswordError, time::Timestamp};

/// Wall-clock time. Replaceable so that tests can move time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// Password hashing is CPU-bound for tens of milliseconds. Natively it moves off the async
/// threads; on the edge runtimes a request owns its isolate, so it runs inline.
#[async_trait]
pub trait PasswordHasher: Send + Sync + 'static {
    async fn hash(&self, password: String) -> Result<String, PasswordError>;
    async fn verify(&self, password: String, phc: String) -> bool;
}

#[derive(Debug, thiserror::Error)]
#[error("outbound request failed: {0}")]
pub struct OutboundError(pub String);

/// The most of a response body an Outbound adapter reads unless told otherwise: far beyond any
/// answer this service asks for, and short of what would cost an instance its memory.
pub const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// HTTP to the outside world (Turso over Hrana, the Claude API, OAuth providers, webhooks).
/// Redirects come back as they are, never followed: a target checked before the call (a
/// workflow's `http` step) must not be able to send the call somewhere else.
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
    async fn send(&self, mail: Mail) -> Result<(), MailError>;
}

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The mail API could not be reached.
    #[error(transparent)]
    Outbound(#[from] OutboundError),
    /// The mail API refused the mail.
    #[error("the mail API answered {0}")]
    Refused(http::StatusCode),
}

/// Wakes what drains the durable jobs table (the workflow engine's steps) when a job falls due:
/// the worker pool natively, a queue message on Workers. Spin has neither; there a scheduler
/// calls the tick endpoint. A lost wake delays a job and loses nothing: the table is the truth,
/// and every runtime also drains it on a schedule.
#[async_trait]
pub trait JobWaker: Send + Sync + 'static {
    async fn wake(&self, after: std::time::Duration);
}

/// Keyed coordinators that handle one request at a time per key, in a place of their own: a
/// Durable Object per key on Workers. A request is data (JSON), answered there by code that the
/// group owning the coordinators runs. Where the runtime has no such place, the group runs the
/// work itself (natively, one at a time per key in the process; on Spin, guarded by versions).
#[async_trait]
pub trait Coordinators: Send + Sync + 'static {
    async fn send(&self, key: uuid::Uuid, request: serde_json::Value) -> Result<serde_json::Value, CoordinatorError>;
}

/// Why a coordinator gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    /// It could not be reached, or what it answered could not be read.
    #[error("the coordinator could not be reached: {0}")]
    Unreachable(String),
    /// It answered with a failure of its own.
    #[error("the coordinator answered {status}: {body}")]
    Failed { status: u16, body: String },
}

impl From<CoordinatorError> for ApiError {
    fn from(error: CoordinatorError) -> Self {
        ApiError::unavailable(error)
    }
}

/// For a runtime whose scheduler drains the jobs table on its own (Spin).
#[derive(Debug, Default, Clone, Copy)]
pub struct ScheduledOnly;

#[async_trait]
impl JobWaker for ScheduledOnly {
    async fn wake(&self, _after: std::time::Duration) {}
}
