//! Configuration and secrets, read the same way on every runtime from a lookup function:
//! environment variables natively, vars and secrets on Workers, variables on Spin.

use std::time::Duration;

use crate::{
    auth::tokens::SigningKeys,
    ratelimit::{AuthLimits, Rule},
};

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

/// Where password-reset mail goes: a mail API endpoint, its key, and the sender.
#[derive(Clone, Debug)]
pub struct MailConfig {
    pub endpoint: String,
    pub key: String,
    pub from: String,
}

/// An OpenID Connect provider: its issuer URL (discovery is `{issuer}/.well-known/openid-configuration`)
/// and this service's client credentials there.
#[derive(Clone, Debug)]
pub struct OidcProvider {
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
}

#[derive(Clone)]
pub struct Config {
    pub keys: SigningKeys,
    pub argon2: Argon2Params,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// The base URL users reach this service at, for links in mail and OAuth redirects; when
    /// unset, the base the request came in on.
    pub public_url: Option<String>,
    pub oidc: Vec<OidcProvider>,
    /// Mail is logged, not sent, when this is unset.
    pub mail: Option<MailConfig>,
    /// Whoever registers with this email is made an admin: how the first admin comes to be.
    pub bootstrap_admin_email: Option<String>,
    pub limits: AuthLimits,
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
    /// expire), the `ARGON2_*` parameters, `PUBLIC_URL`, `MAIL_API_URL` / `MAIL_API_KEY` /
    /// `MAIL_FROM`, `BOOTSTRAP_ADMIN_EMAIL`, the `RATE_LIMIT_*` counts, and `OIDC_PROVIDERS`
    /// (comma-separated names) with `OIDC_<NAME>_ISSUER`, `_CLIENT_ID` and `_CLIENT_SECRET` each.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        // An empty setting is an unset one: platforms differ in whether they can unset a value.
        let get = |name: &str| lookup(name).filter(|value| !value.is_empty());
        let secret = get("JWT_SECRET").ok_or(ConfigError::Missing("JWT_SECRET"))?;
        let previous = get("JWT_PREVIOUS_SECRETS").unwrap_or_default();
        let previous: Vec<&str> = previous.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        let keys = SigningKeys::new(&secret, &previous).map_err(|reason| ConfigError::Invalid { name: "JWT_SECRET", reason })?;
        let number = |name: &'static str, default: u32| -> Result<u32, ConfigError> {
            get(name).map_or(Ok(default), |v| {
                v.parse().map_err(|e: std::num::ParseIntError| ConfigError::Invalid { name, reason: e.to_string() })
            })
        };
        let defaults = Argon2Params::default();
        let limits = AuthLimits::default();
        let rule = |name: &'static str, default: Rule| -> Result<Rule, ConfigError> {
            Ok(Rule { limit: number(name, default.limit)?, window: default.window })
        };
        Ok(Self {
            keys,
            argon2: Argon2Params {
                memory_kib: number("ARGON2_MEMORY_KIB", defaults.memory_kib)?,
                iterations: number("ARGON2_ITERATIONS", defaults.iterations)?,
                parallelism: number("ARGON2_PARALLELISM", defaults.parallelism)?,
            },
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            public_url: get("PUBLIC_URL").map(|u| u.trim_end_matches('/').to_owned()),
            oidc: oidc_providers(&get)?,
            mail: get("MAIL_API_URL").map(|endpoint| MailConfig {
                endpoint,
                key: get("MAIL_API_KEY").unwrap_or_default(),
                from: get("MAIL_FROM").unwrap_or_else(|| "Claude TUI <no-reply@localhost>".into()),
            }),
            bootstrap_admin_email: get("BOOTSTRAP_ADMIN_EMAIL").map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty()),
            limits: AuthLimits {
                login_per_ip: rule("RATE_LIMIT_LOGIN_PER_MINUTE_PER_IP", limits.login_per_ip)?,
                login_per_account: rule("RATE_LIMIT_LOGIN_PER_MINUTE_PER_ACCOUNT", limits.login_per_account)?,
                register_per_ip: rule("RATE_LIMIT_REGISTER_PER_HOUR_PER_IP", limits.register_per_ip)?,
                reset_per_email: rule("RATE_LIMIT_RESET_PER_HOUR_PER_EMAIL", limits.reset_per_email)?,
            },
        })
    }
}

fn oidc_providers(get: &impl Fn(&str) -> Option<String>) -> Result<Vec<OidcProvider>, ConfigError> {
    let names = get("OIDC_PROVIDERS").unwrap_or_default();
    names
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|name| {
            let valid = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !valid {
                return Err(ConfigError::Invalid { name: "OIDC_PROVIDERS", reason: format!("{name}: use a-z, 0-9 and -") });
            }
            let key = |suffix: &str| format!("OIDC_{}_{suffix}", name.to_ascii_uppercase().replace('-', "_"));
            let required = |suffix: &str| {
                get(&key(suffix))
                    .ok_or_else(|| ConfigError::Invalid { name: "OIDC_PROVIDERS", reason: format!("{} is not set", key(suffix)) })
            };
            Ok(OidcProvider {
                name: name.to_owned(),
                issuer: required("ISSUER")?.trim_end_matches('/').to_owned(),
                client_id: required("CLIENT_ID")?,
                client_secret: required("CLIENT_SECRET")?,
            })
        })
        .collect()
}
