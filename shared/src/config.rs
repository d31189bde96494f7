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
    /// Whether this provider's verified emails are trusted to link an identity to an existing
    /// account with that (verified) email (`OIDC_<NAME>_TRUST_EMAIL`, default off).
    pub trust_email: bool,
}

#[derive(Clone)]
pub struct Config {
    pub keys: SigningKeys,
    pub argon2: Argon2Params,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// How long after a refresh token is spent presenting it again is taken for a client that
    /// lost the answer (it gets the same successor) rather than for theft (the session ends).
    pub refresh_reuse_interval: Duration,
    /// How recent a sign-in must be for the sensitive changes ("sudo mode"); 10 minutes.
    pub sudo_window: Duration,
    /// The base URL users reach this service at, for links in mail, OAuth redirects and the
    /// device page. Required, and never taken from a request: a `Host` header is the client's
    /// to choose, and would otherwise decide where a mailed token leads.
    pub public_url: String,
    /// Proxies whose `X-Forwarded-For` / `Forwarded` is believed about the client's address.
    pub trusted_proxies: Vec<ipnet::IpNet>,
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
    /// `MAIL_FROM`, `BOOTSTRAP_ADMIN_EMAIL`, the `RATE_LIMIT_*` counts, `REFRESH_REUSE_INTERVAL_S`, `SUDO_WINDOW_S`,
    /// `TRUSTED_PROXIES`, and `OIDC_PROVIDERS` (comma-separated names) with `OIDC_<NAME>_ISSUER`,
    /// `_CLIENT_ID`, `_CLIENT_SECRET` and `_TRUST_EMAIL` each.
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
            refresh_reuse_interval: Duration::from_secs(number("REFRESH_REUSE_INTERVAL_S", 10)?.into()),
            sudo_window: Duration::from_secs(number("SUDO_WINDOW_S", 600)?.into()),
            public_url: public_url(get("PUBLIC_URL"))?,
            trusted_proxies: trusted_proxies(get("TRUSTED_PROXIES").as_deref())?,
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
                reset_per_ip: rule("RATE_LIMIT_RESET_PER_HOUR_PER_IP", limits.reset_per_ip)?,
                starts_per_ip: rule("RATE_LIMIT_STARTS_PER_MINUTE_PER_IP", limits.starts_per_ip)?,
            },
        })
    }
}

/// `PUBLIC_URL`: an absolute http(s) URL, kept without a trailing slash.
fn public_url(value: Option<String>) -> Result<String, ConfigError> {
    let url = value.ok_or(ConfigError::Missing("PUBLIC_URL"))?;
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    if rest.is_none_or(|host| host.is_empty() || host.contains(char::is_whitespace)) {
        return Err(ConfigError::Invalid { name: "PUBLIC_URL", reason: format!("{url} is not an http(s) URL") });
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// `TRUSTED_PROXIES`: comma-separated CIDRs (or single addresses); none by default.
fn trusted_proxies(list: Option<&str>) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    list.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<ipnet::IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| ConfigError::Invalid { name: "TRUSTED_PROXIES", reason: format!("{item} is not a CIDR or an address") })
        })
        .collect()
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
                trust_email: match get(&key("TRUST_EMAIL")).as_deref() {
                    None | Some("false" | "0") => false,
                    Some("true" | "1") => true,
                    Some(other) => {
                        return Err(ConfigError::Invalid {
                            name: "OIDC_PROVIDERS",
                            reason: format!("{}: {other} is not true or false", key("TRUST_EMAIL")),
                        });
                    }
                },
            })
        })
        .collect()
}
