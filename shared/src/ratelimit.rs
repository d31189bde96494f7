//! Rate limits: fixed windows counted per key. The counting rule lives here once; each runtime
//! keeps the counters where it can (in process natively, a Durable Object on Workers, SQL on
//! Spin) behind the [`RateLimiter`] port.

use std::time::Duration;

use async_trait::async_trait;

use crate::{ApiError, ErrorCode, db::DbError};

/// At most `limit` hits per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub limit: u32,
    pub window: Duration,
}

impl Rule {
    /// The window in milliseconds, the unit every counter store keeps.
    pub fn window_ms(&self) -> i64 {
        i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX)
    }
}

/// One key's counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Window {
    pub start_ms: i64,
    pub count: u32,
}

/// The outcome of one hit, with what the `ratelimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets.
    pub reset_s: u64,
}

impl Window {
    /// Counts a hit at `now_ms`: a window that has ended starts over.
    pub fn hit(current: Option<Window>, now_ms: i64, rule: Rule) -> (Window, Decision) {
        let mut window = match current {
            Some(w) if now_ms < w.start_ms.saturating_add(rule.window_ms()) => w,
            _ => Window { start_ms: now_ms, count: 0 },
        };
        window.count = window.count.saturating_add(1);
        (window, window.decision(now_ms, rule))
    }

    /// What a window that has just counted a hit means for that hit.
    pub fn decision(&self, now_ms: i64, rule: Rule) -> Decision {
        let reset_ms = self.start_ms.saturating_add(rule.window_ms()).saturating_sub(now_ms).max(0);
        Decision {
            allowed: self.count <= rule.limit,
            limit: rule.limit,
            remaining: rule.limit.saturating_sub(self.count),
            reset_s: (reset_ms as u64).div_ceil(1000),
        }
    }
}

/// Why a hit could not be counted.
#[derive(Debug, thiserror::Error)]
pub enum LimiterError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the rate limiter's lock is poisoned")]
    Poisoned,
    /// Where the counters are kept could not be reached.
    #[error("the counters are unavailable: {0}")]
    Unavailable(String),
}

/// Without its counters a limited route cannot tell whether to serve: a dependency is down.
impl From<LimiterError> for ApiError {
    fn from(error: LimiterError) -> Self {
        ApiError::unavailable(error)
    }
}

/// Counters in SQL, one row per key, counted by one atomic upsert: for Spin (its SQLite or
/// Turso), and for any runtime without a closer place to keep them.
pub struct SqlLimiter(pub std::sync::Arc<dyn crate::db::Database>);

#[async_trait]
impl RateLimiter for SqlLimiter {
    async fn hit(&self, key: &str, rule: Rule, now_ms: i64) -> Result<Decision, LimiterError> {
        let row = self
            .0
            .query_opt(crate::stmt!(
                "INSERT INTO rate_limits (key, window_start, count) VALUES (?1, ?2, 1) \
                 ON CONFLICT (key) DO UPDATE SET \
                   count = CASE WHEN rate_limits.window_start + ?3 <= ?2 THEN 1 ELSE rate_limits.count + 1 END, \
                   window_start = CASE WHEN rate_limits.window_start + ?3 <= ?2 THEN ?2 ELSE rate_limits.window_start END \
                 RETURNING window_start, count",
                key,
                now_ms,
                rule.window_ms(),
            ))
            .await?
            .ok_or_else(|| DbError::decode("the upsert returned no row"))?;
        let (start_ms, count): (i64, i64) = row.decode()?;
        let window = Window { start_ms, count: u32::try_from(count).unwrap_or(u32::MAX) };
        Ok(window.decision(now_ms, rule))
    }
}

/// Where the counters live.
#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    async fn hit(&self, key: &str, rule: Rule, now_ms: i64) -> Result<Decision, LimiterError>;
}

/// The `ratelimit-*` headers of the tightest decision.
pub fn headers(decision: &Decision) -> Vec<(&'static str, String)> {
    vec![
        ("ratelimit-limit", decision.limit.to_string()),
        ("ratelimit-remaining", decision.remaining.to_string()),
        ("ratelimit-reset", decision.reset_s.to_string()),
    ]
}

/// Counts one hit on each (key, rule) in order; the request may go on only if all allow it.
/// Counting stops at the first refusal, so that a refused request does not use up the later
/// rules' allowance (a flood from one address must not lock its victims' account counters).
/// Returns the tightest decision, for the headers.
pub async fn check(limiter: &dyn RateLimiter, hits: &[(String, Rule)], now_ms: i64) -> Result<Decision, ApiError> {
    let mut tightest: Option<Decision> = None;
    for (key, rule) in hits {
        let decision = limiter.hit(key, *rule, now_ms).await?;
        let tighter = tightest.is_none_or(|t| (decision.allowed, decision.remaining) < (t.allowed, t.remaining));
        if tighter {
            tightest = Some(decision);
        }
        if !decision.allowed {
            break;
        }
    }
    let Some(decision) = tightest else {
        return Err(ApiError::internal("no rate limit to check"));
    };
    if !decision.allowed {
        let mut error =
            ApiError::new(ErrorCode::RateLimited, "Too many requests; wait before trying again.").with_retry_after(decision.reset_s.max(1));
        error.headers = headers(&decision);
        return Err(error);
    }
    Ok(decision)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: Rule = Rule { limit: 3, window: Duration::from_secs(60) };

    #[test]
    fn a_window_allows_its_limit_then_refuses_until_it_ends() {
        let mut window = None;
        let mut decisions = Vec::new();
        for second in 0..4 {
            let (w, d) = Window::hit(window, second * 1000, RULE);
            window = Some(w);
            decisions.push(d);
        }
        assert_eq!(decisions.iter().map(|d| d.allowed).collect::<Vec<_>>(), [true, true, true, false]);
        assert_eq!(decisions[0].remaining, 2);
        assert_eq!(decisions[3].remaining, 0);
        assert_eq!(decisions[3].reset_s, 57);
        let (w, d) = Window::hit(window, 60_000, RULE);
        assert!(d.allowed, "a new window starts after the old one ends");
        assert_eq!((w.start_ms, w.count), (60_000, 1));
    }
}
