//! Accounts and sessions: sign-up, sign-in with lockout, refresh-token rotation with reuse
//! detection, sign-out, and passwords (change, and reset by mail).

use std::time::Duration;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    ApiError, AppState, ErrorCode,
    auth::tokens::{AccessGrant, random_token, sha256_hex},
    db::Statement,
    domain::{Email, NewPassword, Password, Role, Username},
    ports::Mail,
    repo::{
        audit::Event,
        sessions::{self, ClientInfo, NewSession},
        users::{self, User},
    },
    time::{self, Timestamp},
};

/// A fresh token pair.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

pub const REFRESH_PREFIX: &str = "tui_rt_";
const RESET_PREFIX: &str = "tui_pr_";

/// Failed sign-ins allowed within `FAILURE_WINDOW` before the account locks for `LOCKOUT`.
const MAX_FAILURES: i64 = 5;
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
const LOCKOUT: Duration = Duration::from_secs(30 * 60);
const RESET_TTL: Duration = Duration::from_secs(3600);

fn issue(
    state: &AppState,
    user_id: Uuid,
    session_id: Uuid,
    roles: Vec<Role>,
    refresh_token: String,
    now: Timestamp,
) -> Result<Tokens, ApiError> {
    let grant = AccessGrant { user_id, session_id, roles };
    let access_token = state.config.keys.issue(&grant, now, state.config.access_ttl).map_err(ApiError::internal)?;
    Ok(Tokens { access_token, refresh_token, token_type: "Bearer", expires_in: state.config.access_ttl.as_secs() })
}

/// The statements of a new session and the tokens that go with it; the caller batches the
/// statements with whatever else must be atomic with them.
fn new_session(
    state: &AppState,
    user_id: Uuid,
    roles: Vec<Role>,
    client: &ClientInfo,
    now: Timestamp,
) -> Result<(Vec<Statement>, Tokens), ApiError> {
    let session_id = Uuid::now_v7();
    let refresh_token = random_token(REFRESH_PREFIX);
    let statements = sessions::open(&NewSession {
        id: session_id,
        user_id,
        refresh_hash: &sha256_hex(refresh_token.as_bytes()),
        client,
        now: &time::format(now),
        expires_at: &time::format(now + state.config.refresh_ttl),
    });
    Ok((statements, issue(state, user_id, session_id, roles, refresh_token, now)?))
}

/// Creates an account and signs it in, in one transaction. The configured bootstrap email
/// becomes an admin.
pub async fn register(
    state: &AppState,
    email: Email,
    username: Username,
    password: NewPassword,
    client: &ClientInfo,
) -> Result<(User, Tokens), ApiError> {
    let hash = state.passwords.hash(password.into()).await.map_err(ApiError::internal)?;
    let now = state.clock.now();
    let stamp = time::format(now);
    let id = Uuid::now_v7();
    let mut batch = users::insert(id, &email, &username, &hash, &stamp);
    let mut roles = vec![Role::Member];
    if state.config.bootstrap_admin_email.as_deref() == Some(email.as_str()) {
        batch.push(users::grant_role(id, Role::Admin, &stamp));
        batch.push(
            Event::new("role.granted", None)
                .target(id)
                .detail(serde_json::json!({"role": "admin", "bootstrap": true}))
                .record(client, &stamp),
        );
        roles.push(Role::Admin);
    }
    batch.push(Event::new("user.registered", Some(id)).target(id).record(client, &stamp));
    let (session, tokens) = new_session(state, id, roles, client, now)?;
    batch.extend(session);
    state.db.batch(batch).await.map_err(users::insert_conflict)?;
    let user = users::get(state.db.as_ref(), id).await?.ok_or_else(|| ApiError::internal("new user vanished"))?;
    Ok((user, tokens))
}

fn locked(until: &str, now: Timestamp) -> Option<ApiError> {
    let until = time::parse(until)?;
    let left = (until - now).whole_seconds();
    (left > 0).then(|| {
        ApiError::new(ErrorCode::AccountLocked, "Too many failed sign-ins; the account is locked for a while.")
            .with_retry_after(left.unsigned_abs())
    })
}

/// Checks a login and password, with the lockout rules: unknown users cost as much time as
/// wrong passwords, and both get the same answer; five failures within 15 minutes lock the
/// account for 30. Returns who it is.
pub async fn authenticate(state: &AppState, login: &str, password: Password, client: &ClientInfo) -> Result<(Uuid, Vec<Role>), ApiError> {
    let db = state.db.as_ref();
    let now = state.clock.now();
    let stamp = time::format(now);
    let found = users::credentials(db, login).await?;
    if let Some(error) = found.as_ref().and_then(|c| c.locked_until.as_deref()).and_then(|until| locked(until, now)) {
        let id = found.as_ref().map(|c| c.id);
        db.execute(Event::new("login.refused_locked", id).target(login).record(client, &stamp)).await?;
        return Err(error);
    }
    let hash = match found.as_ref().and_then(|c| c.password_hash.clone()) {
        Some(hash) => hash,
        None => dummy_hash(state).await?,
    };
    let valid = state.passwords.verify(password.into(), hash).await;
    let id = found.as_ref().map(|c| c.id);
    let Some(credentials) = found.filter(|c| valid && c.password_hash.is_some()) else {
        let mut batch = vec![Event::new("login.failed", id).target(login).record(client, &stamp)];
        if let Some(id) = id {
            let window_start = time::format(now - FAILURE_WINDOW);
            let lock_until = time::format(now + LOCKOUT);
            batch.push(users::record_failure(id, &stamp, &window_start, MAX_FAILURES, &lock_until));
            // The lock is audited when this very failure set it.
            batch.push(
                Event::new("account.locked", Some(id))
                    .target(login)
                    .detail(serde_json::json!({"minutes": LOCKOUT.as_secs() / 60}))
                    .record_if(
                        client,
                        &stamp,
                        "EXISTS (SELECT 1 FROM users WHERE id = ?9 AND locked_until = ?10)",
                        vec![id.into(), lock_until.into()],
                    ),
            );
        }
        db.batch(batch).await?;
        return Err(ApiError::unauthorized("Wrong login or password."));
    };
    if credentials.failed_logins > 0 || credentials.locked_until.is_some() {
        db.execute(users::clear_failures(credentials.id)).await?;
    }
    Ok((credentials.id, credentials.roles))
}

/// Signs in with email or username and password.
pub async fn login(state: &AppState, login: &str, password: Password, client: &ClientInfo) -> Result<Tokens, ApiError> {
    let (id, roles) = authenticate(state, login, password, client).await?;
    sign_in(state, id, roles, client, Event::new("login", Some(id)).target(id)).await
}

/// Opens a session for a user whose identity is established (a password, an approved device
/// code), recording `event` with it.
pub async fn sign_in(state: &AppState, user_id: Uuid, roles: Vec<Role>, client: &ClientInfo, event: Event<'_>) -> Result<Tokens, ApiError> {
    let now = state.clock.now();
    let (mut batch, tokens) = new_session(state, user_id, roles, client, now)?;
    batch.push(event.record(client, &time::format(now)));
    state.db.batch(batch).await?;
    Ok(tokens)
}

/// A hash with the configured cost, to verify against when the user does not exist.
async fn dummy_hash(state: &AppState) -> Result<String, ApiError> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash.clone());
    }
    let hash = state.passwords.hash(random_token("")).await.map_err(ApiError::internal)?;
    Ok(DUMMY.get_or_init(|| hash).clone())
}

fn invalid_refresh() -> ApiError {
    ApiError::unauthorized("The refresh token is invalid, expired or already used; sign in again.")
}

/// Trades a refresh token for a new pair. A token that was already spent means someone else
/// has it: the whole session is revoked (and that is committed although the request fails).
pub async fn refresh(state: &AppState, token: &str, client: &ClientInfo) -> Result<Tokens, ApiError> {
    let db = state.db.as_ref();
    let now = state.clock.now();
    let stamp = time::format(now);
    let old = sha256_hex(token.as_bytes());
    let presented = sessions::presented(db, &old, &stamp).await?.ok_or_else(invalid_refresh)?;
    if presented.session_over {
        return Err(invalid_refresh());
    }
    let reuse = |reason: &'static str| {
        vec![
            sessions::revoke(presented.session_id, &stamp),
            Event::new("session.refresh_reuse", Some(presented.user_id))
                .target(presented.session_id)
                .detail(serde_json::json!({"reason": reason}))
                .record(client, &stamp),
        ]
    };
    if presented.spent {
        db.batch(reuse("a spent refresh token was presented")).await?;
        return Err(invalid_refresh());
    }
    let refresh_token = random_token(REFRESH_PREFIX);
    let changed = db.batch(sessions::rotate(presented.session_id, &old, &sha256_hex(refresh_token.as_bytes()), &stamp)).await?;
    if changed.last() != Some(&1) {
        db.batch(reuse("two rotations of one refresh token raced")).await?;
        return Err(invalid_refresh());
    }
    issue(state, presented.user_id, presented.session_id, presented.roles, refresh_token, now)
}

pub async fn logout(state: &AppState, user_id: Uuid, session_id: Uuid, client: &ClientInfo) -> Result<(), ApiError> {
    let stamp = time::format(state.clock.now());
    state
        .db
        .batch(vec![sessions::revoke(session_id, &stamp), Event::new("logout", Some(user_id)).target(session_id).record(client, &stamp)])
        .await?;
    Ok(())
}

pub async fn logout_all(state: &AppState, user_id: Uuid, client: &ClientInfo) -> Result<(), ApiError> {
    let stamp = time::format(state.clock.now());
    state
        .db
        .batch(vec![sessions::revoke_all(user_id, &stamp), Event::new("logout.all", Some(user_id)).target(user_id).record(client, &stamp)])
        .await?;
    Ok(())
}

/// Revokes one of the caller's own sessions; anyone else's does not exist for them.
pub async fn revoke_session(state: &AppState, user_id: Uuid, session_id: Uuid, client: &ClientInfo) -> Result<(), ApiError> {
    let stamp = time::format(state.clock.now());
    if !sessions::is_live(state.db.as_ref(), user_id, session_id, &stamp).await? {
        return Err(ApiError::not_found());
    }
    logout(state, user_id, session_id, client).await
}

/// Changes the password; every other session ends.
pub async fn change_password(
    state: &AppState,
    user_id: Uuid,
    session_id: Uuid,
    current: Password,
    new: NewPassword,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let db = state.db.as_ref();
    let hash = users::password_hash(db, user_id).await?.ok_or_else(|| ApiError::field("current_password", "is wrong"))?;
    if !state.passwords.verify(current.into(), hash).await {
        return Err(ApiError::field("current_password", "is wrong"));
    }
    let new_hash = state.passwords.hash(new.into()).await.map_err(ApiError::internal)?;
    let stamp = time::format(state.clock.now());
    db.batch(vec![
        users::set_password(user_id, &new_hash, &stamp),
        sessions::revoke_others(user_id, session_id, &stamp),
        Event::new("password.changed", Some(user_id)).target(user_id).record(client, &stamp),
    ])
    .await?;
    Ok(())
}

/// Mails a single-use reset token valid for an hour, if the email belongs to someone. The
/// caller answers 202 either way, so that the answer does not tell who has an account.
pub async fn request_reset(state: &AppState, email: &Email, base_url: &str, client: &ClientInfo) -> Result<(), ApiError> {
    let db = state.db.as_ref();
    let Some(user_id) = users::id_by_email(db, email.as_str()).await? else {
        tracing::info!("password reset for an unknown email");
        return Ok(());
    };
    let now = state.clock.now();
    let stamp = time::format(now);
    let token = random_token(RESET_PREFIX);
    db.batch(vec![
        crate::stmt!(
            "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            sha256_hex(token.as_bytes()),
            user_id,
            stamp.as_str(),
            time::format(now + RESET_TTL),
        ),
        Event::new("password.reset_requested", Some(user_id)).target(user_id).record(client, &stamp),
    ])
    .await?;
    let link = format!("{base_url}/reset-password?token={token}");
    let mail = Mail {
        to: email.as_str().to_owned(),
        subject: "Reset your Claude TUI password".into(),
        text: format!(
            "Someone asked to reset the password of your Claude TUI account.\n\n\
             To choose a new one, open {link}\nor use this token: {token}\n\n\
             It works once, within an hour. If it was not you, ignore this mail."
        ),
    };
    if let Err(error) = state.mailer.send(mail).await {
        tracing::error!(%error, "password reset mail not sent");
    }
    Ok(())
}

/// Sets a new password with a reset token: the token is spent, failures and locks are cleared,
/// and every session ends.
pub async fn confirm_reset(state: &AppState, token: &str, new: NewPassword, client: &ClientInfo) -> Result<(), ApiError> {
    let db = state.db.as_ref();
    let now = state.clock.now();
    let stamp = time::format(now);
    let hash = sha256_hex(token.as_bytes());
    let invalid = || ApiError::field("token", "is invalid, expired or already used");
    let row = db
        .query_opt(crate::stmt!(
            "SELECT user_id FROM password_resets WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
            hash.as_str(),
            stamp.as_str(),
        ))
        .await?
        .ok_or_else(invalid)?;
    let user_id: Uuid = row.get(0)?;
    let new_hash = state.passwords.hash(new.into()).await.map_err(ApiError::internal)?;
    // The password changes only while the token is unspent, inside the batch's transaction, so
    // of two racing requests one wins; the loser's audit entry is kept out by the new hash,
    // whose salt is its own.
    let changed = db
        .batch(vec![
            crate::stmt!(
                "UPDATE users SET password_hash = ?2, failed_logins = 0, failed_since = NULL, locked_until = NULL, \
                 updated_at = ?3, version = version + 1 \
                 WHERE id = ?1 AND EXISTS (SELECT 1 FROM password_resets WHERE token_hash = ?4 AND used_at IS NULL)",
                user_id,
                new_hash.as_str(),
                stamp.as_str(),
                hash.as_str(),
            ),
            crate::stmt!(
                "UPDATE password_resets SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS NULL",
                hash.as_str(),
                stamp.as_str()
            ),
            sessions::revoke_all(user_id, &stamp),
            Event::new("password.reset", Some(user_id)).target(user_id).record_if(
                client,
                &stamp,
                "EXISTS (SELECT 1 FROM users WHERE id = ?9 AND password_hash = ?10)",
                vec![user_id.into(), new_hash.as_str().into()],
            ),
        ])
        .await?;
    if changed.first() != Some(&1) {
        return Err(invalid());
    }
    Ok(())
}
