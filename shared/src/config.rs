//! Configuration and secrets, read the same way on every runtime from a lookup function:
//! environment variables natively, vars and secrets on Workers, variables on Spin.

use std::time::Duration;

use crate::auth::tokens::SigningKeys;

#[derive(Clone, Debug)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Params {
    /// OWASP's minimum for argon2id: 19 MiB, two passes, one lane.
    fn default() -> Self {
        Self { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 }
    }
}

#[derive(Clone)]
pub struct Config {
    pub keys: SigningKeys,
    pub argon2: Argon2Params,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl Config {
    /// Reads `JWT_SECRET` (the active signing secret, at least 32 bytes), `JWT_PREVIOUS_SECRETS`
    /// (comma-separated secrets still accepted for verification while tokens signed with them
    /// expire) and the `ARGON2_*` parameters.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let secret = get("JWT_SECRET").filter(|s| !s.is_empty()).ok_or(ConfigError::Missing("JWT_SECRET"))?;
        let previous = get("JWT_PREVIOUS_SECRETS").unwrap_or_default();
        let previous: Vec<&str> = previous.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        let keys = SigningKeys::new(&secret, &previous)
            .map_err(|reason| ConfigError::Invalid { name: "JWT_SECRET", reason })?;
        let number = |name: &'static str, default: u32| -> Result<u32, ConfigError> {
            get(name).filter(|s| !s.is_empty()).map_or(Ok(default), |v| {
                v.parse().map_err(|e: std::num::ParseIntError| ConfigError::Invalid { name, reason: e.to_string() })
            })
        };
        let defaults = Argon2Params::default();
        Ok(Self {
            keys,
            argon2: Argon2Params {
                memory_kib: number("ARGON2_MEMORY_KIB", defaults.memory_kib)?,
                iterations: number("ARGON2_ITERATIONS", defaults.iterations)?,
                parallelism: number("ARGON2_PARALLELISM", defaults.parallelism)?,
            },
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
        })
    }
}
