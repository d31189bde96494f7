//! Device authorization for the TUI (RFC 8628): the TUI asks for a code pair, shows the user
//! code, and polls with the device code while a signed-in person approves the user code.

use std::time::Duration;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use tui_shared::{
    ApiError, AppState,
    auth::tokens::{random_token, sha256_hex},
    http::extract::session_revoked,
    repo::{
        audit::Event,
        sessions::{self, ClientInfo},
        users,
    },
    stmt, time,
};

use crate::service::accounts::{self, Tokens};

const LIFETIME: Duration = Duration::from_secs(600);
const INTERVAL_S: i64 = 5;
/// Letters that cannot be mistaken for one another or spell much (RFC 8628 §6.1): 20^8 codes.
const ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceCode {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: u64,
    pub interval: i64,
}

/// Why a poll did not yield tokens, in RFC 8628's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[expect(clippy::enum_variant_names, reason = "the variants are RFC 8628's error codes")]
pub enum Pending {
    AuthorizationPending,
    SlowDown,
    AccessDenied,
    ExpiredToken,
    InvalidGrant,
}

impl Pending {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::AccessDenied => "access_denied",
            Self::ExpiredToken => "expired_token",
            Self::InvalidGrant => "invalid_grant",
        }
    }
}

fn user_code() -> String {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes).expect("the platform provides randomness");
    // 256 is not a multiple of 20; the bias this leaves (under 1 in 12) does not matter for a
    // code that lives ten minutes and is rate limited by its poll interval.
    let letters: String = bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect();
    format!("{}-{}", &letters[..4], &letters[4..])
}

/// Accepts user codes as people type them: any case, with or without the dash or spaces, and
/// nothing else (the pattern the OpenAPI document gives `device_user_code`).
pub fn normalize_user_code(input: &str) -> Option<String> {
    if !input.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ' ') {
        return None;
    }
    let letters: String = input.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
    (letters.len() == 8 && letters.bytes().all(|b| ALPHABET.contains(&b))).then(|| format!("{}-{}", &letters[..4], &letters[4..]))
}

/// A new code pair. Who asked (address, user agent, when) is kept, to be shown to the person
/// asked to approve it.
pub async fn start(state: &AppState, base_url: &str, client: &ClientInfo) -> Result<DeviceCode, ApiError> {
    let now = state.clock.now();
    let device_code = random_token("tui_dc_");
    let user_code = user_code();
    state
        .db
        .execute(stmt!(
            "INSERT INTO device_codes (device_code_hash, user_code, interval_s, created_at, expires_at, client_ip, client_user_agent) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            sha256_hex(device_code.as_bytes()),
            user_code.as_str(),
            INTERVAL_S,
            time::format(now),
            time::format(now + LIFETIME),
            client.ip.clone(),
            client.user_agent.clone(),
        ))
        .await?;
    Ok(DeviceCode {
        verification_uri: format!("{base_url}/device"),
        verification_uri_complete: format!("{base_url}/device?user_code={user_code}"),
        device_code,
        user_code,
        expires_in: LIFETIME.as_secs(),
        interval: INTERVAL_S,
    })
}

/// One poll: tokens once approved (exactly once), otherwise why not.
pub async fn poll(state: &AppState, device_code: &str, client: &ClientInfo) -> Result<Result<Tokens, Pending>, ApiError> {
    let db = state.db.as_ref();
    let now = state.clock.now();
    let stamp = time::format(now);
    let hash = sha256_hex(device_code.as_bytes());
    let row = db
        .query_opt(stmt!(
            "SELECT status, user_id, interval_s, last_polled_at, expires_at FROM device_codes WHERE device_code_hash = ?1",
            hash.as_str(),
        ))
        .await?;
    #[derive(serde::Deserialize)]
    struct CodeRow {
        status: String,
        user_id: Option<Uuid>,
        interval_s: i64,
        last_polled_at: Option<String>,
        expires_at: String,
    }
    let Some(row) = row else { return Ok(Err(Pending::InvalidGrant)) };
    let CodeRow { status, user_id, interval_s: interval, last_polled_at: last_polled, expires_at: expires } = row.decode()?;
    if expires <= stamp {
        return Ok(Err(Pending::ExpiredToken));
    }
    match status.as_str() {
        "denied" => Ok(Err(Pending::AccessDenied)),
        "consumed" => Ok(Err(Pending::InvalidGrant)),
        "approved" => {
            let Some(user_id) = user_id else { return Err(ApiError::internal("approved device code without a user")) };
            let roles = users::current_roles(db, user_id).await?;
            // Consuming the code and opening the session are one batch: a poll that loses a
            // race opens nothing, and no failure between the two can burn an approved code.
            let consume = stmt!(
                "UPDATE device_codes SET status = 'consumed' WHERE device_code_hash = ?1 AND status = 'approved' AND expires_at > ?2",
                hash.as_str(),
                stamp.as_str(),
            );
            let event = Event::new("login.device", Some(user_id)).target(user_id);
            // A device login's session never counts as freshly signed in: approving a code is
            // no way into sudo mode, for a stale session or for a phished person's approval.
            let tokens = accounts::sign_in_if(state, consume, user_id, roles, client, event).await?;
            Ok(tokens.ok_or(Pending::InvalidGrant))
        }
        _ => {
            let too_soon =
                last_polled.as_deref().and_then(time::parse).is_some_and(|last| now - last < Duration::from_secs(interval.unsigned_abs()));
            let next_interval = if too_soon { interval + 5 } else { interval };
            db.execute(stmt!(
                "UPDATE device_codes SET last_polled_at = ?2, interval_s = ?3 WHERE device_code_hash = ?1",
                hash.as_str(),
                stamp.as_str(),
                next_interval,
            ))
            .await?;
            Ok(Err(if too_soon { Pending::SlowDown } else { Pending::AuthorizationPending }))
        }
    }
}

/// The status a decision sets, and the audit action that records it.
fn decision(approve: bool) -> (&'static str, &'static str) {
    if approve { ("approved", "device.approved") } else { ("denied", "device.denied") }
}

/// A signed-in person approves (or denies) the device showing `user_code`: in `session`, which
/// must still be live when the decision is written (a session revoked meanwhile decides
/// nothing), or with the password just checked (`None`, the page).
pub async fn decide(
    state: &AppState,
    user_id: Uuid,
    session: Option<Uuid>,
    user_code: &str,
    approve: bool,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let unknown = || ApiError::field("user_code", "is not a code waiting for approval, or it expired");
    let code = normalize_user_code(user_code).ok_or_else(unknown)?;
    let stamp = time::format(state.clock.now());
    let (status, action) = decision(approve);
    let changed = state
        .db
        .batch(vec![
            stmt!(
                "UPDATE device_codes SET status = ?2, user_id = ?3 WHERE user_code = ?1 AND status = 'pending' AND expires_at > ?4 \
                 AND (?5 IS NULL OR EXISTS (SELECT 1 FROM sessions WHERE id = ?5 AND user_id = ?3 AND revoked_at IS NULL AND expires_at > ?4))",
                code.as_str(),
                status,
                user_id,
                stamp.as_str(),
                session,
            ),
            Event::new(action, Some(user_id)).target(code.as_str()).record_if_changed(client, &stamp),
        ])
        .await?;
    if !tui_shared::db::changed(&changed, 0) {
        if let Some(session) = session {
            sessions::live(state.db.as_ref(), session, user_id, &stamp).await?.ok_or_else(session_revoked)?;
        }
        return Err(unknown());
    }
    Ok(())
}

/// A device login waiting for its approval, as the confirmation page shows it.
#[derive(Debug, Clone)]
pub struct Request {
    pub user_code: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub requested_at: String,
}

/// After single sign-on started for a device login: binds the pending code to the user who
/// signed in and to their browser (the hash of `browser_secret`, which goes into a cookie), so
/// that only an explicit confirmation from that browser approves it; a code already bound to
/// another sign-in stays bound to it. Returns what the page shows.
pub async fn await_confirmation(state: &AppState, user_id: Uuid, user_code: &str, browser_secret: &str) -> Result<Request, ApiError> {
    let stamp = time::format(state.clock.now());
    let row = state
        .db
        .query_opt(stmt!(
            "UPDATE device_codes SET confirm_user_id = ?2, confirm_hash = ?3 \
             WHERE user_code = ?1 AND status = 'pending' AND expires_at > ?4 AND confirm_hash IS NULL \
             RETURNING user_code, client_ip, client_user_agent, created_at",
            user_code,
            user_id,
            sha256_hex(browser_secret.as_bytes()),
            stamp.as_str(),
        ))
        .await?
        .ok_or_else(|| ApiError::field("user_code", "is not a code waiting for approval, or it expired"))?;
    let (user_code, ip, user_agent, requested_at) = row.decode()?;
    Ok(Request { user_code, ip, user_agent, requested_at })
}

/// The explicit confirmation, from the browser that finished single sign-on for the code.
pub async fn confirm(state: &AppState, user_code: &str, browser_secret: &str, approve: bool, client: &ClientInfo) -> Result<(), ApiError> {
    let unknown = || ApiError::field("user_code", "is not a code waiting for your confirmation, or it expired");
    let code = normalize_user_code(user_code).ok_or_else(unknown)?;
    let stamp = time::format(state.clock.now());
    let (status, action) = decision(approve);
    let changed = state
        .db
        .batch(vec![
            stmt!(
                "UPDATE device_codes SET status = ?2, user_id = confirm_user_id WHERE user_code = ?1 AND confirm_hash = ?3 \
                 AND confirm_user_id IS NOT NULL AND status = 'pending' AND expires_at > ?4",
                code.as_str(),
                status,
                sha256_hex(browser_secret.as_bytes()),
                stamp.as_str(),
            ),
            stmt!(
                format!(
                    "INSERT INTO audit_log (id, at, actor_id, action, target, ip, request_id, detail) \
                     SELECT ?1, ?2, confirm_user_id, ?3, user_code, ?4, ?5, '{{\"via\":\"sso\"}}' FROM device_codes \
                     WHERE user_code = ?6 AND changes() > 0"
                ),
                Uuid::now_v7(),
                stamp.as_str(),
                action,
                client.ip.clone(),
                client.request_id.clone(),
                code.as_str(),
            ),
        ])
        .await?;
    if !tui_shared::db::changed(&changed, 0) {
        return Err(unknown());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_two_groups_of_four_unambiguous_letters() {
        let code = user_code();
        assert_eq!(code.len(), 9);
        assert_eq!(normalize_user_code(&code), Some(code.clone()));
        assert_eq!(normalize_user_code(&code.to_lowercase().replace('-', " ")), Some(code));
        assert_eq!(normalize_user_code("AAAA-AAAA"), None, "vowels are not in the alphabet");
        assert_eq!(normalize_user_code("BCDF"), None);
    }

    #[test]
    fn pending_reasons_use_rfc_8628_words() {
        assert_eq!(Pending::SlowDown.as_str(), "slow_down");
        assert_eq!(Pending::ExpiredToken.as_str(), "expired_token");
    }
}
