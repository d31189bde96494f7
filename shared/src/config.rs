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

/// Where password-reset mail goes: a mail API endpoint, its key, and the sender.
#[derive(Clone, Debug)]
pub struct MailConfig {
    pub endpoint: String,
    pub key: String,
    pub from: String,
}

/// What every group reads: how tokens are signed and checked, how passwords are hashed, where
/// users reach the service, which proxies to believe, and where mail goes. A group's own
/// settings are its [`Section`], read through the same lookup.
#[derive(Clone)]
pub struct Config {
    pub keys: SigningKeys,
    pub argon2: Argon2Params,
    /// The base URL users reach this service at, for links in mail, OAuth redirects and the
    /// device page. Required, and never taken from a request: a `Host` header is the client's
    /// to choose, and would otherwise decide where a mailed token leads.
    pub public_url: String,
    /// Proxies whose `X-Forwarded-For` / `Forwarded` is believed about the client's address.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Mail is logged, not sent, when this is unset.
    pub mail: Option<MailConfig>,
}

/// The settings a runtime provides by name (environment variables, Workers vars and secrets,
/// Spin variables), an empty value read as unset: platforms differ in whether they can unset one.
pub struct Lookup<'a>(pub &'a dyn Fn(&str) -> Option<String>);

impl Lookup<'_> {
    pub fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|value| !value.is_empty())
    }

    /// A whole number, `default` when unset.
    pub fn number(&self, name: &'static str, default: u32) -> Result<u32, ConfigError> {
        self.get(name)
            .map_or(Ok(default), |v| v.parse().map_err(|e: std::num::ParseIntError| ConfigError::Invalid { name, reason: e.to_string() }))
    }

    /// A number of seconds, `default` when unset.
    pub fn seconds(&self, name: &'static str, default: u32) -> Result<Duration, ConfigError> {
        self.number(name, default).map(|s| Duration::from_secs(s.into()))
    }
}

/// A group's own settings, read once from the lookup the first time the group asks for them
/// ([`crate::state::Services::section`]).
pub trait Section: Sized + Send + Sync + 'static {
    fn read(lookup: &Lookup<'_>) -> Result<Self, ConfigError>;
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
    /// expire), the `ARGON2_*` parameters, `PUBLIC_URL`, `TRUSTED_PROXIES`, and `MAIL_API_URL` /
    /// `MAIL_API_KEY` / `MAIL_FROM`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let lookup = Lookup(&lookup);
        let get = |name: &str| lookup.get(name);
        let secret = get("JWT_SECRET").ok_or(ConfigError::Missing("JWT_SECRET"))?;
        let previous = get("JWT_PREVIOUS_SECRETS").unwrap_or_default();
        let previous: Vec<&str> = previous.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        let keys =
            SigningKeys::new(&secret, &previous).map_err(|short| ConfigError::Invalid { name: "JWT_SECRET", reason: short.to_string() })?;
        let defaults = Argon2Params::default();
        Ok(Self {
            keys,
            argon2: Argon2Params {
                memory_kib: lookup.number("ARGON2_MEMORY_KIB", defaults.memory_kib)?,
                iterations: lookup.number("ARGON2_ITERATIONS", defaults.iterations)?,
                parallelism: lookup.number("ARGON2_PARALLELISM", defaults.parallelism)?,
            },
            public_url: public_url(get("PUBLIC_URL"))?,
            trusted_proxies: trusted_proxies(get("TRUSTED_PROXIES").as_deref())?,
            mail: get("MAIL_API_URL").map(|endpoint| MailConfig {
                endpoint,
                key: get("MAIL_API_KEY").unwrap_or_default(),
                from: get("MAIL_FROM").unwrap_or_else(|| "Claude TUI <no-reply@localhost>".into()),
            }),
        })
    }
}

/// `PUBLIC_URL`: an absolute http(s) URL with a host, kept as written without a trailing slash:
/// links are that text with a path appended, so it must be the URL itself, without the spaces
/// the URL parser would forgive.
fn public_url(value: Option<String>) -> Result<String, ConfigError> {
    let text = value.ok_or(ConfigError::Missing("PUBLIC_URL"))?;
    let web = url::Url::parse(&text).is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host());
    if !web || text.contains(char::is_whitespace) {
        return Err(ConfigError::Invalid { name: "PUBLIC_URL", reason: format!("{text} is not an http(s) URL") });
    }
    Ok(text.trim_end_matches('/').to_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_url_is_an_http_url_kept_without_its_trailing_slash() {
        let public = |text: &str| public_url(Some(text.to_owned()));
        assert_eq!(public("https://tui.example.com/").unwrap(), "https://tui.example.com");
        assert_eq!(public("http://127.0.0.1:8787/app").unwrap(), "http://127.0.0.1:8787/app");
        for wrong in ["tui.example.com", "ftp://tui.example.com", "https://", " https://x", "https://x/a b"] {
            assert!(public(wrong).is_err(), "{wrong}");
        }
        assert!(matches!(public_url(None), Err(ConfigError::Missing("PUBLIC_URL"))));
    }
}
