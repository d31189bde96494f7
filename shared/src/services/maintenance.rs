//! Housekeeping: the short-lived rows (device codes, SSO states, reset and email links, rate
//! and sign-in counters, ended sessions) are dropped once they can no longer matter. Every
//! query already ignores them by their times; pruning only keeps the tables small. Run on a
//! schedule: a background task natively, a cron trigger on Workers.

use std::time::Duration;

use crate::{
    ApiError,
    db::Database,
    events::{self, Retention},
    stmt,
    time::{self, Timestamp},
};

/// How long ended sessions stay listed for the audit trail's sake, and used links for support.
const KEEP_ENDED: Duration = Duration::from_secs(7 * 24 * 3600);
/// Rate-limit windows are at most an hour; a day covers any configured one.
const KEEP_WINDOWS: Duration = Duration::from_secs(24 * 3600);

/// Deletes what has expired as of `now`, and the events beyond `retention`; returns how many
/// rows went.
pub async fn prune(db: &dyn Database, now: Timestamp, retention: Retention) -> Result<u64, ApiError> {
    let stamp = time::format(now);
    let ended = time::format(now - KEEP_ENDED);
    let windows_ms = time::to_unix_ms(now - KEEP_WINDOWS);
    let mut statements = vec![
        stmt!("DELETE FROM device_codes WHERE expires_at <= ?1", stamp.as_str()),
        stmt!("DELETE FROM oauth_states WHERE expires_at <= ?1", stamp.as_str()),
        // A used link expires within a day of its use anyway: expiry alone finds them all.
        stmt!("DELETE FROM password_resets WHERE expires_at <= ?1", stamp.as_str()),
        stmt!("DELETE FROM email_tokens WHERE expires_at <= ?1", stamp.as_str()),
        stmt!("DELETE FROM rate_limits WHERE window_start <= ?1", windows_ms),
        stmt!(
            "DELETE FROM login_attempts WHERE (locked_until IS NULL OR locked_until <= ?1) AND window_start <= ?2",
            stamp.as_str(),
            time::format(now - KEEP_WINDOWS),
        ),
        stmt!("DELETE FROM sessions WHERE expires_at <= ?1", ended.as_str()),
        stmt!("DELETE FROM sessions WHERE revoked_at <= ?1", ended.as_str()),
        stmt!("DELETE FROM realtime_tickets WHERE expires_at <= ?1", stamp.as_str()),
        // Shared memory past its TTL (reads already skip it).
        stmt!("DELETE FROM swarm_memory WHERE expires_at IS NOT NULL AND expires_at <= ?1", stamp.as_str()),
    ];
    statements.extend(events::prune(now, retention));
    let counts = db.batch(statements).await?;
    Ok(counts.iter().sum())
}
