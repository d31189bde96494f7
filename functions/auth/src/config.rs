//! The auth group's own settings: token lifetimes, sudo mode, the first admin, single sign-on
//! providers and the rate limits of its routes. Read once, through the settings every runtime
//! provides (`tui_shared::config::Section`).

use std::time::Duration;

use tui_shared::{
    config::{ConfigError, Lookup, Section},
    ratelimit::Rule,
};

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

/// The limits of the auth routes (defaults are the contract's).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub login_per_ip: Rule,
    pub login_per_account: Rule,
    pub register_per_ip: Rule,
    pub reset_per_email: Rule,
    pub reset_per_ip: Rule,
    /// Unauthenticated starts that insert a row (device codes, SSO sign-ins).
    pub starts_per_ip: Rule,
    /// Email changes of one account, whoever asks: the notices its current address gets.
    pub email_change_per_account: Rule,
    /// Email changes towards one address, from any account: the mail that address gets.
    pub email_change_per_email: Rule,
}

#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// How long after a refresh token is spent presenting it again is taken for a client that
    /// lost the answer (it gets the same successor) rather than for theft (the session ends).
    pub refresh_reuse_interval: Duration,
    /// How recent a sign-in must be for the sensitive changes ("sudo mode"); 10 minutes.
    pub sudo_window: Duration,
    /// Whoever registers with this email is made an admin: how the first admin comes to be.
    pub bootstrap_admin_email: Option<String>,
    pub oidc: Vec<OidcProvider>,
    pub limits: Limits,
}

impl Section for AuthConfig {
    /// Reads `REFRESH_REUSE_INTERVAL_S`, `SUDO_WINDOW_S`, `BOOTSTRAP_ADMIN_EMAIL`, the
    /// `RATE_LIMIT_*` counts, and `OIDC_PROVIDERS` (comma-separated names) with
    /// `OIDC_<NAME>_ISSUER`, `_CLIENT_ID`, `_CLIENT_SECRET` and `_TRUST_EMAIL` each.
    fn read(lookup: &Lookup<'_>) -> Result<Self, ConfigError> {
        let (minute, hour) = (Duration::from_secs(60), Duration::from_secs(3600));
        let rule = |name: &'static str, limit: u32, window: Duration| -> Result<Rule, ConfigError> {
            Ok(Rule { limit: lookup.number(name, limit)?, window })
        };
        Ok(Self {
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            refresh_reuse_interval: lookup.seconds("REFRESH_REUSE_INTERVAL_S", 10)?,
            sudo_window: lookup.seconds("SUDO_WINDOW_S", 600)?,
            bootstrap_admin_email: lookup.get("BOOTSTRAP_ADMIN_EMAIL").map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty()),
            oidc: oidc_providers(lookup)?,
            limits: Limits {
                login_per_ip: rule("RATE_LIMIT_LOGIN_PER_MINUTE_PER_IP", 10, minute)?,
                login_per_account: rule("RATE_LIMIT_LOGIN_PER_MINUTE_PER_ACCOUNT", 10, minute)?,
                register_per_ip: rule("RATE_LIMIT_REGISTER_PER_HOUR_PER_IP", 3, hour)?,
                reset_per_email: rule("RATE_LIMIT_RESET_PER_HOUR_PER_EMAIL", 3, hour)?,
                reset_per_ip: rule("RATE_LIMIT_RESET_PER_HOUR_PER_IP", 10, hour)?,
                starts_per_ip: rule("RATE_LIMIT_STARTS_PER_MINUTE_PER_IP", 10, minute)?,
                email_change_per_account: rule("RATE_LIMIT_EMAIL_CHANGE_PER_HOUR_PER_ACCOUNT", 5, hour)?,
                email_change_per_email: rule("RATE_LIMIT_EMAIL_CHANGE_PER_HOUR_PER_EMAIL", 3, hour)?,
            },
        })
    }
}

fn oidc_providers(lookup: &Lookup<'_>) -> Result<Vec<OidcProvider>, ConfigError> {
    let get = |name: &str| lookup.get(name);
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
