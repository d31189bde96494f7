//! The swarms group's settings (Claude's own are `tui_shared::claude::ClaudeSettings`).

use std::time::Duration;

use tui_shared::config::{ConfigError, Lookup, Section};

#[derive(Debug, Clone)]
pub struct SwarmsConfig {
    /// Tokens (input and output) a user's calls may use per UTC day.
    pub daily_tokens: u64,
    /// `max_tokens` of a call when the orchestration does not say.
    pub max_tokens: u32,
    /// How long one agent step's attempt may take, its calls and their retries included.
    pub step_timeout: Duration,
    /// The most bytes of one agent's result.
    pub result_bytes: usize,
    /// Orchestrations a user may start per minute.
    pub orchestrations_per_minute: u32,
    /// Entries a swarm's shared memory may hold, and bytes in all.
    pub memory_entries: u32,
    pub memory_bytes: u32,
    /// Entries a user may have written across all swarms' memory (those they wrote last), and
    /// bytes in all: what one account can add to the index every swarm shares.
    pub user_memory_entries: u32,
    pub user_memory_bytes: u32,
    /// Swarms a project may have.
    pub per_project: u32,
}

/// The most `max_tokens` an orchestration may ask for.
pub const MAX_TOKENS_LIMIT: u32 = 64_000;
/// From this `max_tokens` on, answers are streamed.
pub const STREAM_FROM: u32 = 8_192;

impl Section for SwarmsConfig {
    /// `SWARMS_DAILY_TOKENS` (2,000,000 per user), `SWARMS_MAX_TOKENS` (4096),
    /// `SWARMS_STEP_TIMEOUT_S` (600), `SWARMS_RESULT_BYTES` (32768),
    /// `SWARMS_ORCHESTRATIONS_PER_MINUTE` (30 per user), `SWARMS_MEMORY_ENTRIES` (10,000 per swarm),
    /// `SWARMS_MEMORY_BYTES` (64 MiB per swarm), `SWARMS_USER_MEMORY_ENTRIES` (50,000 per user),
    /// `SWARMS_USER_MEMORY_BYTES` (256 MiB per user), `SWARMS_PER_PROJECT` (100).
    fn read(lookup: &Lookup<'_>) -> Result<Self, ConfigError> {
        let daily_tokens = match lookup.get("SWARMS_DAILY_TOKENS") {
            None => 2_000_000,
            Some(v) => v
                .parse()
                .map_err(|e: std::num::ParseIntError| ConfigError::Invalid { name: "SWARMS_DAILY_TOKENS", reason: e.to_string() })?,
        };
        let max_tokens = lookup.number("SWARMS_MAX_TOKENS", 4096)?;
        if max_tokens == 0 || max_tokens > MAX_TOKENS_LIMIT {
            return Err(ConfigError::Invalid { name: "SWARMS_MAX_TOKENS", reason: format!("must be 1 to {MAX_TOKENS_LIMIT}") });
        }
        let step_timeout = lookup.seconds("SWARMS_STEP_TIMEOUT_S", 600)?;
        if step_timeout.is_zero() {
            return Err(ConfigError::Invalid { name: "SWARMS_STEP_TIMEOUT_S", reason: "must be at least 1".into() });
        }
        let result_bytes = lookup.number("SWARMS_RESULT_BYTES", 32 * 1024)? as usize;
        let orchestrations_per_minute = lookup.number("SWARMS_ORCHESTRATIONS_PER_MINUTE", 30)?;
        let memory_entries = lookup.number("SWARMS_MEMORY_ENTRIES", 10_000)?;
        let memory_bytes = lookup.number("SWARMS_MEMORY_BYTES", 64 << 20)?;
        let user_memory_entries = lookup.number("SWARMS_USER_MEMORY_ENTRIES", 50_000)?;
        let user_memory_bytes = lookup.number("SWARMS_USER_MEMORY_BYTES", 256 << 20)?;
        let per_project = lookup.number("SWARMS_PER_PROJECT", 100)?;
        Ok(Self {
            daily_tokens,
            max_tokens,
            step_timeout,
            result_bytes,
            orchestrations_per_minute,
            memory_entries,
            memory_bytes,
            user_memory_entries,
            user_memory_bytes,
            per_project,
        })
    }
}
