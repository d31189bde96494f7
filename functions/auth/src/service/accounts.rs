//! Accounts and sessions: sign-up, sign-in with lockout, refresh-token rotation with reuse
//! detection, sign-out, passwords (change, and reset by mail), and emails (verification, and
//! changes that take effect through a link mailed to the new address).
//!
//! Whatever ends a session or proves a compromise ends the credentials with it: sign-out and
//! revocation end the session's access tokens at once (they are checked against the session
//! on every request), and a password change or reset also revokes every personal API key.

use std::time::Duration;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use tui_shared::{
    ApiError, AppState, ErrorCode,
    auth::tokens::{AccessGrant, random_token, sha256_hex},
    db::{Param, Query, Statement},
    domain::{Email, NewPassword, Password, Role, Username},
    http::extract::AuthUser,
    ports::Mail,
    repo::{
        audit::Event,
        sessions::{self, ClientInfo, NewSession},
        users::{self, User},
    },
    stmt,
    time::{self, Timestamp},
};

use crate::{
    config::AuthConfig,
    repo::{
        email_tokens::{self, Purpose},
        logins,
    },
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
const EMAIL_PREFIX: &str = "tui_ev_";

/// Failed sign-ins allowed within `FAILURE_WINDOW` before the account locks for `LOCKOUT`.
const MAX_FAILURES: i64 = 5;
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
const LOCKOUT: Duration = Duration::from_secs(30 * 60);
const RESET_TTL: Duration = Duration::from_secs(3600);
const EMAIL_LINK_TTL: Duration = Duration::from_secs(24 * 3600);

fn issue(
    state: &AppState,
    user_id: Uuid,
    session_id: Uuid,
    roles: Vec<Role>,
    refresh_token: String,
    now: Timestamp,
) -> Result<Tokens, ApiError> {
    let grant = AccessGrant { user_id, session_id, roles };
    let ttl = state.section::<AuthConfig>()?.access_ttl;
    let access_token = state.config.keys.issue(&grant, now, ttl)?;
    Ok(Tokens { access_token, refresh_token, token_type: "Bearer", expires_in: ttl.as_secs() })
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
    new_session_with(state, user_id, roles, client, now, &time::format(now), sessions::open)
}

fn new_session_with(
    state: &AppState,
    user_id: Uuid,
    roles: Vec<Role>,
    client: &ClientInfo,
    now: Timestamp,
    authenticated_at: &str,
    open: fn(&NewSession<'_>) -> Vec<Statement>,
) -> Result<(Vec<Statement>, Tokens), ApiError> {
    let session_id = Uuid::now_v7();
    let refresh_token = random_token(REFRESH_PREFIX);
    let statements = open(&NewSession {
        id: session_id,
        user_id,
        refresh_hash: &sha256_hex(refresh_token.as_bytes()),
        client,
        now: &time::format(now),
        expires_at: &time::format(now + state.section::<AuthConfig>()?.refresh_ttl),
        authenticated_at,
    });
    Ok((statements, issue(state, user_id, session_id, roles, refresh_token, now)?))
}

/// Opens a session only if `gate`, the first statement of the batch, changes a row (consuming
/// a device code): the tokens, or `None` when the gate changed nothing (a racing poll won).
/// Such a session never counts as freshly signed in (see [`require_recent_sign_in`]).
pub async fn sign_in_if(
    state: &AppState,
    gate: Statement,
    user_id: Uuid,
    roles: Vec<Role>,
    client: &ClientInfo,
    event: Event<'_>,
) -> Result<Option<Tokens>, ApiError> {
    let now = state.clock.now();
    let never = time::format(time::from_unix_ms(0));
    let (session, tokens) = new_session_with(state, user_id, roles, client, now, &never, sessions::open_after_change)?;
    let mut batch = vec![gate];
    batch.extend(session);
    batch.push(event.record_if_changed(client, &time::format(now)));
    let changed = state.db.batch(batch).await?;
    Ok((tui_shared::db::changed(&changed, 0) && tui_shared::db::changed(&changed, 1)).then_some(tokens))
}

/// Sends a mail; a mail API that fails is logged, not the request's failure: the change the
/// mail reports has been made, and the log says which mail is missing.
pub(crate) async fn deliver(state: &AppState, mail: Mail) {
    let (kind, to) = (mail.kind, mail.to.clone());
    if let Err(error) = state.mailer.send(mail).await {
        tracing::error!(%error, kind, %to, "mail not sent");
    }
}

/// Creates an account and signs it in, in one transaction, and mails a link that verifies its
/// email. The bootstrap admin comes to be only when that email is verified.
pub async fn register(
    state: &AppState,
    email: Email,
    username: Username,
    password: NewPassword,
    base_url: &str,
    client: &ClientInfo,
) -> Result<(User, Tokens), ApiError> {
    let hash = state.passwords.hash(password.into()).await?;
    let now = state.clock.now();
    let stamp = time::format(now);
    let id = Uuid::now_v7();
    let mut batch = users::insert(id, &email, &username, &hash, &stamp);
    batch.push(Event::new("user.registered", Some(id)).target(id).record(client, &stamp));
    let (session, tokens) = new_session(state, id, vec![Role::Member], client, now)?;
    batch.extend(session);
    let (link_statement, mail) = email_link(id, username.as_str(), Purpose::Verify, email.as_str(), base_url, now);
    batch.push(link_statement);
    state.db.batch(batch).await.map_err(users::insert_conflict)?;
    deliver(state, mail).await;
    let user = users::get(state.db.as_ref(), id).await?.ok_or_else(|| ApiError::internal("new user vanished"))?;
    Ok((user, tokens))
}

/// A new single-use link for `email`: the statement that stores it, and the mail that carries it.
/// The mail names the account (`username`), so that whoever gets it can tell whose it is.
fn email_link(user_id: Uuid, username: &str, purpose: Purpose, email: &str, base_url: &str, now: Timestamp) -> (Statement, Mail) {
    let token = random_token(EMAIL_PREFIX);
    let statement = email_tokens::insert(
        &sha256_hex(token.as_bytes()),
        user_id,
        purpose,
        email,
        &time::format(now),
        &time::format(now + EMAIL_LINK_TTL),
    );
    let link = format!("{base_url}/verify-email?token={token}");
    let (kind, subject, text) = match purpose {
        Purpose::Verify => (
            "email_verification",
            "Verify your Claude TUI email",
            format!(
                "Open {link}\nor use this token: {token}\n\nto confirm that this address belongs to the Claude TUI account \
                 {username}. It works once, within 24 hours. If you did not sign up, ignore this mail."
            ),
        ),
        Purpose::Change => (
            "email_change",
            "Confirm your new Claude TUI email",
            format!(
                "Someone asked to make this the email of the Claude TUI account {username}.\n\nTo confirm, open {link}\n\
                 or use this token: {token}\n\nIt works once, within 24 hours. If it was not you, ignore this mail: nothing changes."
            ),
        ),
    };
    (statement, Mail { kind, to: email.to_owned(), subject: subject.into(), text })
}

fn locked(until: &str, now: Timestamp) -> ApiError {
    let left = time::parse(until).map_or(1, |until| (until - now).whole_seconds().max(1));
    ApiError::new(ErrorCode::AccountLocked, "Too many failed sign-ins; this login is locked for a while.")
        .with_retry_after(left.unsigned_abs())
}

/// Who a checked login and password belong to; `settle` gives the try back and forgets the
/// failures, and is to be batched with whatever the sign-in writes.
pub struct Authenticated {
    pub id: Uuid,
    pub roles: Vec<Role>,
    pub settle: Statement,
}

/// Takes a try of `key`'s window for a password check about to run, in the statement that
/// checks the lock: 423 while the key is locked, 429 while its remaining tries are all taken by
/// checks under way (audited, since checks abandoned on purpose hold them until the window ends).
async fn take_try(state: &AppState, key: &str, now: Timestamp, audit: Event<'_>, client: &ClientInfo) -> Result<(), ApiError> {
    let db = state.db.as_ref();
    let stamp = time::format(now);
    let attempt = logins::attempt(key, &stamp, &time::format(now - FAILURE_WINDOW), MAX_FAILURES);
    if db.query_opt(attempt).await?.is_some() {
        return Ok(());
    }
    match logins::locked_until(db, key, &stamp).await? {
        Some(until) => {
            db.execute(audit.record(client, &stamp)).await?;
            Err(locked(&until, now))
        }
        None => {
            Err(ApiError::new(ErrorCode::RateLimited, "Too many sign-ins under way at once; try again in a moment.").with_retry_after(1))
        }
    }
}

/// The statements of a failed check: its failure counted (the fifth locks `key`), and the
/// lock audited (`lock_action`) when this failure set it.
fn failure(
    key: &str,
    now: Timestamp,
    event: Event<'_>,
    lock_action: &'static str,
    target: &str,
    actor: Option<Uuid>,
    client: &ClientInfo,
) -> Vec<Statement> {
    let stamp = time::format(now);
    let lock_until = time::format(now + LOCKOUT);
    let detail = serde_json::json!({"minutes": LOCKOUT.as_secs() / 60});
    vec![
        event.record(client, &stamp),
        logins::failed(key, MAX_FAILURES, &lock_until),
        Event::new(lock_action, actor).target(target).detail(detail).record_if(
            client,
            &stamp,
            "EXISTS (SELECT 1 FROM login_attempts WHERE key = ?9 AND locked_until = ?10)",
            vec![key.into(), lock_until.as_str().into()],
        ),
    ]
}

/// Checks a login and password, with the lockout rules: the check takes a try before the
/// password is verified, in the statement that checks the lock; five failures within 15
/// minutes lock the login for 30. Logins count as typed, whether or not they name an account,
/// cost the same hashing, and get the same answers. A device that holds a live session of the
/// account (`known_device`: the user and the session) counts under that session instead, so
/// strangers' guesses do not lock it out, while its own guesses still lock it.
pub async fn authenticate(
    state: &AppState,
    login: &str,
    password: Password,
    known_device: Option<(Uuid, Uuid)>,
    client: &ClientInfo,
) -> Result<Authenticated, ApiError> {
    let db = state.db.as_ref();
    let now = state.clock.now();
    let found = users::credentials(db, login).await?;
    let id = found.as_ref().map(|c| c.id);
    let (key, lock) = match known_device {
        Some((user, session)) if id == Some(user) => (logins::session_key(session), "session.locked"),
        _ => (logins::login_key(login), "account.locked"),
    };
    take_try(state, &key, now, Event::new("login.refused_locked", id).target(login), client).await?;
    let hash = match found.as_ref().and_then(|c| c.password_hash.clone()) {
        Some(hash) => hash,
        None => dummy_hash(state).await?,
    };
    let valid = state.passwords.verify(password.into(), hash).await;
    let Some(credentials) = found.filter(|c| valid && c.password_hash.is_some()) else {
        db.batch(failure(&key, now, Event::new("login.failed", id).target(login), lock, login, id, client)).await?;
        return Err(ApiError::unauthorized("Wrong login or password."));
    };
    Ok(Authenticated { id: credentials.id, roles: credentials.roles, settle: logins::succeeded(&key) })
}

/// Checks the signed-in user's own password (sudo mode, a password change): limited like a
/// sign-in per account, and counted towards a lock of the asking session, so a stolen session
/// cannot guess it, nor lock its owner's other sessions out of changing it.
async fn check_own_password(
    state: &AppState,
    user_id: Uuid,
    session_id: Uuid,
    password: Password,
    client: &ClientInfo,
) -> Result<String, ApiError> {
    crate::limits::password_change(state, user_id).await?;
    let key = logins::session_key(session_id);
    let now = state.clock.now();
    take_try(state, &key, now, Event::new("password.refused_locked", Some(user_id)).target(user_id), client).await?;
    let hash = users::password_hash(state.db.as_ref(), user_id).await?;
    let valid = match &hash {
        Some(hash) => state.passwords.verify(password.into(), hash.clone()).await,
        None => false,
    };
    let Some(hash) = hash.filter(|_| valid) else {
        let event = Event::new("password.check_failed", Some(user_id)).target(user_id);
        state.db.batch(failure(&key, now, event, "session.locked", &user_id.to_string(), Some(user_id), client)).await?;
        return Err(ApiError::field("current_password", "is wrong"));
    };
    state.db.execute(logins::succeeded(&key)).await?;
    Ok(hash)
}

/// Signs in with email or username and password.
pub async fn login(
    state: &AppState,
    login: &str,
    password: Password,
    known_device: Option<(Uuid, Uuid)>,
    client: &ClientInfo,
) -> Result<Tokens, ApiError> {
    let who = authenticate(state, login, password, known_device, client).await?;
    let event = Event::new("login", Some(who.id)).target(who.id);
    sign_in(state, who.id, who.roles, client, event, vec![who.settle]).await
}

/// Opens a session for a user whose identity is established (a password, an approved device
/// code, an identity provider), recording `event` with it, and batching `also` with it.
pub async fn sign_in(
    state: &AppState,
    user_id: Uuid,
    roles: Vec<Role>,
    client: &ClientInfo,
    event: Event<'_>,
    also: Vec<Statement>,
) -> Result<Tokens, ApiError> {
    let now = state.clock.now();
    let (mut batch, tokens) = new_session(state, user_id, roles, client, now)?;
    batch.push(event.record(client, &time::format(now)));
    batch.extend(also);
    state.db.batch(batch).await?;
    Ok(tokens)
}

/// A hash with the configured cost, to verify against when the user does not exist.
async fn dummy_hash(state: &AppState) -> Result<String, ApiError> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash.clone());
    }
    let hash = state.passwords.hash(random_token("")).await?;
    Ok(DUMMY.get_or_init(|| hash).clone())
}

fn invalid_refresh() -> ApiError {
    ApiError::unauthorized("The refresh token is invalid, expired or already used; sign in again.")
}

/// Trades a refresh token for a new pair. The successor of a token is fixed by it (see
/// [`tui_shared::auth::tokens::SigningKeys::child_refresh_token`]), so two racing refreshes of one
/// token, or a client that lost the answer and asks again within the reuse interval, get the
/// same successor. A spent token presented after that, or once its successor has been used,
/// means someone else has it: the whole session is revoked (and that is committed although
/// the request fails).
pub async fn refresh(state: &AppState, token: &str, client: &ClientInfo) -> Result<Tokens, ApiError> {
    let db = state.db.as_ref();
    // The settings before any write: a refresh never stops half-way for want of them.
    let settings = state.section::<AuthConfig>()?;
    let now = state.clock.now();
    let stamp = time::format(now);
    let old = sha256_hex(token.as_bytes());
    let presented = sessions::presented(db, &old, &stamp).await?.ok_or_else(invalid_refresh)?;
    if presented.session_over {
        return Err(invalid_refresh());
    }
    let child = state.config.keys.child_refresh_token(REFRESH_PREFIX, token);
    let child_hash = sha256_hex(child.as_bytes());
    let issue_child = |child: String| issue(state, presented.user_id, presented.session_id, presented.roles.clone(), child, now);
    if !presented.spent {
        let changed = db.batch(sessions::rotate(presented.session_id, &old, &child_hash, &stamp)).await?;
        if changed.last().is_some_and(|n| *n > 0) {
            return issue_child(child);
        }
    }
    let since = time::format(now - settings.refresh_reuse_interval);
    if sessions::lost_answer(db, &old, &child_hash, &since).await? {
        return issue_child(child);
    }
    db.batch(vec![
        sessions::revoke(presented.session_id, &stamp),
        Event::new("session.refresh_reuse", Some(presented.user_id))
            .target(presented.session_id)
            .detail(serde_json::json!({"reason": "a spent refresh token was presented again"}))
            .record_if_changed(client, &stamp),
    ])
    .await?;
    Err(invalid_refresh())
}

pub async fn logout(state: &AppState, user_id: Uuid, session_id: Uuid, client: &ClientInfo) -> Result<(), ApiError> {
    let stamp = time::format(state.clock.now());
    state
        .db
        .batch(vec![
            sessions::revoke(session_id, &stamp),
            Event::new("logout", Some(user_id)).target(session_id).record_if_changed(client, &stamp),
        ])
        .await?;
    Ok(())
}

/// Ends every session of the user, and with `api_keys` every personal API key too.
pub async fn logout_all(state: &AppState, user_id: Uuid, api_keys: bool, client: &ClientInfo) -> Result<(), ApiError> {
    let stamp = time::format(state.clock.now());
    let mut batch = vec![sessions::revoke_all(user_id, &stamp)];
    if api_keys {
        batch.push(tui_shared::repo::api_keys::revoke_all(user_id, &stamp));
    }
    batch.extend(end_pending(user_id, &stamp, None));
    batch.push(
        Event::new("logout.all", Some(user_id)).target(user_id).detail(serde_json::json!({"api_keys": api_keys})).record(client, &stamp),
    );
    state.db.batch(batch).await?;
    Ok(())
}

/// Revokes one of the caller's own live sessions; anyone else's does not exist for them.
pub async fn revoke_session(state: &AppState, user_id: Uuid, session_id: Uuid, client: &ClientInfo) -> Result<(), ApiError> {
    let stamp = time::format(state.clock.now());
    let changed = state
        .db
        .batch(vec![
            sessions::revoke_own(user_id, session_id, &stamp),
            Event::new("session.revoked", Some(user_id)).target(session_id).record_if_changed(client, &stamp),
        ])
        .await?;
    if !tui_shared::db::changed(&changed, 0) {
        return Err(ApiError::not_found());
    }
    Ok(())
}

/// Sudo mode, as GitHub has it: the sensitive changes (minting an API key, changing the email)
/// need a session that signed in within the last ten minutes, or the current password with
/// the request. Never an API key.
pub async fn require_recent_sign_in(
    state: &AppState,
    caller: &AuthUser,
    current_password: Option<Password>,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let session_id = caller.session()?;
    if caller.signed_in_recently(state.clock.now(), state.section::<AuthConfig>()?.sudo_window) {
        return Ok(());
    }
    let Some(password) = current_password else {
        return Err(ApiError::forbidden("This needs a recent sign-in, or current_password with the request."));
    };
    check_own_password(state, caller.id, session_id, password, client).await.map(drop)
}

/// Changes the password; every other session ends, and every personal API key with them (a
/// password change is what people do when they suspect a compromise).
pub async fn change_password(
    state: &AppState,
    user_id: Uuid,
    session_id: Uuid,
    current: Password,
    new: NewPassword,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let db = state.db.as_ref();
    let hash = check_own_password(state, user_id, session_id, current, client).await?;
    let new_hash = state.passwords.hash(new.into()).await?;
    let stamp = time::format(state.clock.now());
    // Only over the hash that was checked: a racing change or reset wins, and this one does nothing.
    let changed = db
        .batch(
            vec![
                stmt!(
                    "UPDATE users SET password_hash = ?2, updated_at = ?3, version = version + 1 WHERE id = ?1 AND password_hash = ?4",
                    user_id,
                    new_hash.as_str(),
                    stamp.as_str(),
                    hash.as_str(),
                ),
                Event::new("password.changed", Some(user_id)).target(user_id).record_if_changed(client, &stamp),
                sessions::revoke_others_if(user_id, session_id, &stamp, new_hash.as_str()),
                tui_shared::repo::api_keys::revoke_all_if(user_id, &stamp, new_hash.as_str()),
            ]
            .into_iter()
            .chain(end_pending(user_id, &stamp, Some(new_hash.as_str())))
            .collect::<Vec<_>>(),
        )
        .await?;
    if !tui_shared::db::changed(&changed, 0) {
        return Err(ApiError::conflict("The password changed meanwhile; sign in again."));
    }
    Ok(())
}

/// What a suspected compromise also ends, besides sessions and keys: a pending email change
/// (it may be the attacker's address), and device logins approved but not yet collected or
/// waiting for the confirmation of a browser that signed in as the user. With `new_hash`, only
/// if the user's password hash is now that one: a batch whose password change lost a race ends
/// nothing.
fn end_pending(user_id: Uuid, stamp: &str, new_hash: Option<&str>) -> Vec<Statement> {
    let statement = |write: &dyn Fn(&mut Query, Param) -> String| {
        let mut q = Query::default();
        let user = q.bind(user_id);
        let sql = write(&mut q, user);
        q.push(sql);
        if let Some(hash) = new_hash {
            let hash = q.bind(hash);
            q.push(format!(" AND EXISTS (SELECT 1 FROM users WHERE id = {user} AND password_hash = {hash})"));
        }
        q.finish()
    };
    vec![
        statement(&|_, user| format!("UPDATE users SET pending_email = NULL WHERE id = {user} AND pending_email IS NOT NULL")),
        statement(&|q, user| {
            let stamp = q.bind(stamp);
            format!("UPDATE email_tokens SET used_at = {stamp} WHERE user_id = {user} AND purpose = 'change' AND used_at IS NULL")
        }),
        statement(&|_, user| {
            format!(
                "UPDATE device_codes SET status = 'denied' \
                 WHERE ((user_id = {user} AND status = 'approved') OR (confirm_user_id = {user} AND status = 'pending'))"
            )
        }),
    ]
}

/// Mails a single-use reset token valid for an hour, if the email belongs to someone. The
/// caller answers 202 either way, so that the answer does not tell who has an account.
pub async fn request_reset(state: &AppState, email: &Email, base_url: &str, client: &ClientInfo) -> Result<(), ApiError> {
    let db = state.db.as_ref();
    let Some((user_id, _)) = users::by_email(db, email.as_str()).await? else {
        tracing::info!("password reset for an unknown email");
        return Ok(());
    };
    let now = state.clock.now();
    let stamp = time::format(now);
    let token = random_token(RESET_PREFIX);
    db.batch(vec![
        stmt!(
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
    let text = format!(
        "Someone asked to reset the password of your Claude TUI account.\n\n\
         To choose a new one, open {link}\nor use this token: {token}\n\n\
         It works once, within an hour. If it was not you, ignore this mail."
    );
    deliver(state, Mail { kind: "password_reset", to: email.as_str().to_owned(), subject: "Reset your Claude TUI password".into(), text })
        .await;
    Ok(())
}

/// Sets a new password with a reset token: the token is spent, failures and locks are cleared,
/// and every session and personal API key ends.
pub async fn confirm_reset(state: &AppState, token: &str, new: NewPassword, client: &ClientInfo) -> Result<(), ApiError> {
    let db = state.db.as_ref();
    let now = state.clock.now();
    let stamp = time::format(now);
    let hash = sha256_hex(token.as_bytes());
    let invalid = || ApiError::field("token", "is invalid, expired or already used");
    let row = db
        .query_opt(stmt!(
            "SELECT user_id FROM password_resets WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
            hash.as_str(),
            stamp.as_str(),
        ))
        .await?
        .ok_or_else(invalid)?;
    let (user_id,): (Uuid,) = row.decode()?;
    let user = users::get(db, user_id).await?.ok_or_else(invalid)?;
    let new_hash = state.passwords.hash(new.into()).await?;
    // The token is spent first, and everything after it happens only if this request spent
    // it (the new hash, whose salt is its own, is stored only then), so of two racing requests
    // one wins and the loser changes nothing.
    let if_reset = "EXISTS (SELECT 1 FROM users WHERE id = ?1 AND password_hash = ?2)";
    let mut batch = vec![
        stmt!(
            "UPDATE password_resets SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
            hash.as_str(),
            stamp.as_str()
        ),
        stmt!(
            "UPDATE users SET password_hash = ?2, updated_at = ?3, version = version + 1 WHERE id = ?1 AND changes() > 0",
            user_id,
            new_hash.as_str(),
            stamp.as_str(),
        ),
        Event::new("password.reset", Some(user_id)).target(user_id).record_if_changed(client, &stamp),
        sessions::revoke_all_if(user_id, &stamp, new_hash.as_str()),
        tui_shared::repo::api_keys::revoke_all_if(user_id, &stamp, new_hash.as_str()),
        stmt!(
            format!("UPDATE password_resets SET used_at = ?3 WHERE user_id = ?1 AND used_at IS NULL AND {if_reset}"),
            user_id,
            new_hash.as_str(),
            stamp.as_str(),
        ),
        // Whoever proved the mailbox owns the account: links made without that proof go.
        stmt!(format!("DELETE FROM user_identities WHERE user_id = ?1 AND email_proven = 0 AND {if_reset}"), user_id, new_hash.as_str()),
    ];
    batch.push(logins::clear_user_if_password(user_id, &user.email, &user.username, &new_hash));
    batch.extend(end_pending(user_id, &stamp, Some(new_hash.as_str())));
    let changed = db.batch(batch).await?;
    if !tui_shared::db::changed(&changed, 0) {
        return Err(invalid());
    }
    Ok(())
}

/// Mails a new verification link for the account's email.
pub async fn request_verification(state: &AppState, user_id: Uuid, base_url: &str, client: &ClientInfo) -> Result<(), ApiError> {
    let user = users::get(state.db.as_ref(), user_id).await?.ok_or_else(ApiError::not_found)?;
    if user.email_verified {
        return Err(ApiError::conflict("The email is already verified."));
    }
    let now = state.clock.now();
    let stamp = time::format(now);
    let (link, mail) = email_link(user_id, &user.username, Purpose::Verify, &user.email, base_url, now);
    state
        .db
        .batch(vec![
            email_tokens::spend_others(user_id, Purpose::Verify, &stamp),
            link,
            Event::new("email.verification_requested", Some(user_id)).target(user_id).record(client, &stamp),
        ])
        .await?;
    deliver(state, mail).await;
    Ok(())
}

/// Uses a mailed link: verifies the account's email, or makes the new address its email (and
/// ends pending password resets, which went to the old one, and tells the old address).
/// Proving the mailbox also drops identity links made without that proof. The bootstrap admin
/// is granted here, by a verification link of the email the account registered with (never
/// by a change, which would let an account adopt that address), and only while no admin exists.
pub async fn confirm_email(state: &AppState, token: &str, client: &ClientInfo) -> Result<(), ApiError> {
    let db = state.db.as_ref();
    let stamp = time::format(state.clock.now());
    let hash = sha256_hex(token.as_bytes());
    let invalid = || ApiError::field("token", "is invalid, expired or already used");
    let (user_id, purpose, email) = email_tokens::find(db, &hash, &stamp).await?.ok_or_else(invalid)?;
    // The address a change leaves, to tell it afterwards.
    let before = match purpose {
        Purpose::Change => users::get(db, user_id).await?,
        Purpose::Verify => None,
    };
    let apply = match purpose {
        Purpose::Verify => stmt!(
            "UPDATE users SET email_verified = 1, updated_at = ?3, version = version + 1 WHERE id = ?1 AND email = ?2 AND changes() > 0",
            user_id,
            email.as_str(),
            stamp.as_str(),
        ),
        Purpose::Change => stmt!(
            "UPDATE users SET email = ?2, email_verified = 1, pending_email = NULL, updated_at = ?3, version = version + 1 \
             WHERE id = ?1 AND pending_email = ?2 AND changes() > 0",
            user_id,
            email.as_str(),
            stamp.as_str(),
        ),
    };
    let action = if purpose == Purpose::Change { "email.changed" } else { "email.verified" };
    // What follows the change happens only if this request spent the token and the account's
    // email is now the token's, verified: a stale or raced link changes nothing at all.
    let applied = "EXISTS (SELECT 1 FROM email_tokens WHERE token_hash = ?3 AND used_at = ?2) \
         AND EXISTS (SELECT 1 FROM users WHERE id = ?1 AND email = ?4 AND email_verified = 1)";
    let after = |sql: &str| stmt!(format!("{sql} AND {applied}"), user_id, stamp.as_str(), hash.as_str(), email.as_str());
    let mut batch = vec![
        email_tokens::spend(&hash, &stamp),
        apply,
        Event::new(action, Some(user_id)).target(user_id).detail(serde_json::json!({"email": email})).record_if_changed(client, &stamp),
        // Proving the mailbox ends identity links made without that proof.
        after("DELETE FROM user_identities WHERE user_id = ?1 AND email_proven = 0"),
    ];
    match purpose {
        Purpose::Change => {
            // Reset links went to the old address, and verification links to an address that is
            // no longer the account's.
            batch.push(after("UPDATE password_resets SET used_at = ?2 WHERE user_id = ?1 AND used_at IS NULL"));
            batch.push(after("UPDATE email_tokens SET used_at = ?2 WHERE user_id = ?1 AND used_at IS NULL AND purpose = 'verify'"));
        }
        Purpose::Verify => {
            // Only through a verification link this very request spent, for the account's own
            // registered email (never an email change, nor a stale link).
            batch.extend(bootstrap_admin(state, user_id, Some(hash.as_str()), client, &stamp)?);
        }
    }
    let changed = db.batch(batch).await.map_err(users::insert_conflict)?;
    if !tui_shared::db::changed(&changed, 1) {
        return Err(invalid());
    }
    if let Some(before) = before {
        let text = format!(
            "The email of your Claude TUI account {} is now {email}; mail for the account no longer comes here.\n\n\
             If it was not you, tell the operator of this service at once.",
            before.username
        );
        let mail = Mail { kind: "email_changed_notice", to: before.email, subject: "Your Claude TUI email was changed".into(), text };
        deliver(state, mail).await;
    }
    Ok(())
}

/// The grant of the first admin (see [`users::grant_bootstrap_admin`]) and its audit entry,
/// written only if the grant happened.
pub(crate) fn bootstrap_admin(
    state: &AppState,
    user_id: Uuid,
    proof: Option<&str>,
    client: &ClientInfo,
    stamp: &str,
) -> Result<[Statement; 2], ApiError> {
    Ok([
        users::grant_bootstrap_admin(user_id, state.section::<AuthConfig>()?.bootstrap_admin_email.as_deref(), stamp, proof),
        Event::new("role.granted", None)
            .target(user_id)
            .detail(serde_json::json!({"role": "admin", "bootstrap": true}))
            .record_if_changed(client, stamp),
    ])
}

/// Whether `email` can become the account's: not its own already. Whether another account has
/// it is not told here (see [`request_email_change`]).
pub fn check_new_email(user: &User, email: &Email) -> Result<(), ApiError> {
    if user.email.eq_ignore_ascii_case(email.as_str()) {
        return Err(ApiError::field("email", "is already this account's email"));
    }
    Ok(())
}

/// Starts an email change: the new address is pending until the link mailed to it is used,
/// and the old address is told. Needs sudo mode (see [`require_recent_sign_in`]).
///
/// The answer, the pending address, the audit entry and the notice to the old address are the
/// same whether or not another account has the new address, so the change does not tell who
/// has an account. An address that has one gets no link (decided in the statement that stores
/// it, [`email_tokens::insert`]) but a notice that nothing changes: its owner is never invited
/// to hand it to another account, and each request still sends two mails. A free address taken
/// after its link was mailed makes the link's use fail (409), changing nothing.
pub async fn request_email_change(
    state: &AppState,
    user: &User,
    email: &Email,
    base_url: &str,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    check_new_email(user, email)?;
    let now = state.clock.now();
    let stamp = time::format(now);
    let (link, mail) = email_link(user.id, &user.username, Purpose::Change, email.as_str(), base_url, now);
    let changed = state
        .db
        .batch(vec![
            email_tokens::spend_others(user.id, Purpose::Change, &stamp),
            users::set_pending_email(user.id, email, &stamp),
            link,
            Event::new("email.change_requested", Some(user.id))
                .target(user.id)
                .detail(serde_json::json!({"email": email.as_str()}))
                .record(client, &stamp),
        ])
        .await?;
    if tui_shared::db::changed(&changed, 2) {
        deliver(state, mail).await;
    } else {
        let text = format!(
            "Someone asked to make this address the email of the Claude TUI account {}. This address already \
             belongs to a Claude TUI account, so nothing changes and no link was sent.\n\n\
             If it was you, sign in to the account this address belongs to (or reset its password). \
             If it was not, ignore this mail.",
            user.username
        );
        let subject = "This address already has a Claude TUI account".into();
        deliver(state, Mail { kind: "email_change_taken", to: email.as_str().to_owned(), subject, text }).await;
    }
    let text = format!(
        "Someone asked to change the email of your Claude TUI account ({}) to {}.\n\n\
         It changes only when the link sent to the new address is used. If it was not you, \
         change your password now: that also signs out every session and revokes your API keys.",
        user.username,
        email.as_str()
    );
    deliver(
        state,
        Mail { kind: "email_change_notice", to: user.email.clone(), subject: "Your Claude TUI email is being changed".into(), text },
    )
    .await;
    Ok(())
}
