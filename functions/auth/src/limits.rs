//! The limits of each limited auth route, keyed as the contract says, counted by the kernel's
//! rate limiter.

use tui_shared::{
    ApiError, AppState,
    ratelimit::{Decision, check},
    repo::{sessions::ClientInfo, users},
};

use crate::config::{AuthConfig, Limits};

fn limits(state: &AppState) -> Result<Limits, ApiError> {
    Ok(state.section::<AuthConfig>()?.limits)
}

fn now_ms(state: &AppState) -> i64 {
    tui_shared::time::to_unix_ms(state.clock.now())
}

/// The client's address as a limit counts it: an IPv6 client is its /64, which one
/// subscriber usually holds whole and could otherwise rotate through.
fn ip(client: &ClientInfo) -> String {
    match client.ip.as_deref().map(|ip| ip.parse::<std::net::IpAddr>().map(|ip| ip.to_canonical())) {
        Some(Ok(std::net::IpAddr::V6(v6))) => ipnet::Ipv6Net::new_assert(v6, 64).trunc().to_string(),
        Some(Ok(v4)) => v4.to_string(),
        Some(Err(_)) => client.ip.clone().unwrap_or_default(),
        None => "unknown".to_owned(),
    }
}

/// Sign-ins: per client address, and per account name. A device signed in to the very account
/// it names (`known_device`: the user and live session of the request's access token) counts
/// under its session instead, at the same rate: strangers failing sign-ins for the account do
/// not make that device wait, and still share the account's allowance among themselves.
pub async fn login(
    state: &AppState,
    client: &ClientInfo,
    login: &str,
    known_device: Option<(uuid::Uuid, uuid::Uuid)>,
) -> Result<Decision, ApiError> {
    let limits = limits(state)?;
    let account = match known_device {
        Some((user, session)) if users::credentials(state.db.as_ref(), login).await?.is_some_and(|c| c.id == user) => {
            format!("login:session:{session}")
        }
        _ => format!("login:account:{}", login.to_lowercase()),
    };
    let hits = [(format!("login:ip:{}", ip(client)), limits.login_per_ip), (account, limits.login_per_account)];
    check(state.limiter.as_ref(), &hits, now_ms(state)).await
}

/// Sign-ups: per client address.
pub async fn register(state: &AppState, client: &ClientInfo) -> Result<Decision, ApiError> {
    let hits = [(format!("register:ip:{}", ip(client)), limits(state)?.register_per_ip)];
    check(state.limiter.as_ref(), &hits, now_ms(state)).await
}

/// Password-reset mail: per client address, and per email address.
pub async fn reset(state: &AppState, client: &ClientInfo, email: &str) -> Result<Decision, ApiError> {
    let limits = limits(state)?;
    let hits = [(format!("reset:ip:{}", ip(client)), limits.reset_per_ip), (format!("reset:email:{email}"), limits.reset_per_email)];
    check(state.limiter.as_ref(), &hits, now_ms(state)).await
}

/// Email changes: per account changed, then per new address (whoever asks for it), so that
/// neither an account's current address nor anyone's mailbox can be flooded with mail.
pub async fn email_change(state: &AppState, user_id: uuid::Uuid, email: &str) -> Result<Decision, ApiError> {
    let limits = limits(state)?;
    let hits = [
        (format!("email_change:account:{user_id}"), limits.email_change_per_account),
        (format!("email_change:email:{}", email.to_lowercase()), limits.email_change_per_email),
    ];
    check(state.limiter.as_ref(), &hits, now_ms(state)).await
}

/// Password changes: as sign-ins are limited per account, since both check a password.
pub async fn password_change(state: &AppState, user_id: uuid::Uuid) -> Result<Decision, ApiError> {
    per_account(state, "password", user_id).await
}

/// Device approvals by a signed-in user: a user code is short, so guessing one must be slow.
pub async fn approve(state: &AppState, user_id: uuid::Uuid) -> Result<Decision, ApiError> {
    per_account(state, "approve", user_id).await
}

/// `what` a signed-in user does, at the sign-in rate.
async fn per_account(state: &AppState, what: &str, user_id: uuid::Uuid) -> Result<Decision, ApiError> {
    let hits = [(format!("{what}:account:{user_id}"), limits(state)?.login_per_account)];
    check(state.limiter.as_ref(), &hits, now_ms(state)).await
}

/// Unauthenticated requests that store something (a device code, an SSO state): per address.
pub async fn start(state: &AppState, client: &ClientInfo) -> Result<Decision, ApiError> {
    let hits = [(format!("start:ip:{}", ip(client)), limits(state)?.starts_per_ip)];
    check(state.limiter.as_ref(), &hits, now_ms(state)).await
}
