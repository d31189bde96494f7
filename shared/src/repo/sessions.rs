//! Sessions and the hashed refresh tokens that renew them. Each rotation spends a token and
//! adds its child; presenting a spent token again means it was stolen or replayed, and the
//! whole session (the token family) is revoked.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::decode;
use crate::{
    ApiError,
    db::{Database, Operand, Param, Statement, Value},
    domain::Role,
    stmt,
    time::Timestamp,
};

/// Who made a request, as far as it tells: for sessions and the audit log.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

pub struct NewSession<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub refresh_hash: &'a str,
    pub client: &'a ClientInfo,
    pub now: &'a str,
    pub expires_at: &'a str,
    /// When the person last proved who they are: now for a password or an identity provider,
    /// the approver's time for a device login.
    pub authenticated_at: &'a str,
}

/// The statements that open a session with its first refresh token.
pub fn open(session: &NewSession<'_>) -> Vec<Statement> {
    open_with(session, "VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)", "VALUES (?1, ?2, ?3)")
}

/// As [`open`], only if the statement before them in their batch changed a row (a device code
/// consumed): the code and the session it turns into are one atomic step.
pub fn open_after_change(session: &NewSession<'_>) -> Vec<Statement> {
    open_with(
        session,
        "SELECT ?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7 WHERE changes() > 0",
        "SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM sessions WHERE id = ?2)",
    )
}

fn open_with(session: &NewSession<'_>, session_values: &str, token_values: &str) -> Vec<Statement> {
    vec![
        stmt!(
            format!(
                "INSERT INTO sessions (id, user_id, user_agent, ip, created_at, last_seen_at, expires_at, authenticated_at) {session_values}"
            ),
            session.id,
            session.user_id,
            session.client.user_agent.clone(),
            session.client.ip.clone(),
            session.now,
            session.expires_at,
            session.authenticated_at,
        ),
        stmt!(
            format!("INSERT INTO refresh_tokens (token_hash, session_id, created_at) {token_values}"),
            session.refresh_hash,
            session.id,
            session.now,
        ),
    ]
}

/// A refresh token as found, with the state of its session.
pub struct Presented {
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub spent: bool,
    /// Revoked or expired.
    pub session_over: bool,
    /// The user's current roles, for the tokens a rotation issues.
    pub roles: Vec<Role>,
}

pub async fn presented(db: &dyn Database, token_hash: &str, now: &str) -> Result<Option<Presented>, ApiError> {
    let row = db
        .query_opt(stmt!(
            "SELECT t.session_id, s.user_id, t.spent_at IS NOT NULL AS spent, \
             (s.revoked_at IS NOT NULL OR s.expires_at <= ?2) AS session_over, \
             (SELECT group_concat(role) FROM user_roles r WHERE r.user_id = s.user_id) AS roles \
             FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.token_hash = ?1",
            token_hash,
            now,
        ))
        .await?;
    #[derive(Deserialize)]
    struct TokenRow {
        session_id: Uuid,
        user_id: Uuid,
        spent: bool,
        session_over: bool,
        roles: Option<String>,
    }
    let Some(row) = row else { return Ok(None) };
    let TokenRow { session_id, user_id, spent, session_over, roles } = row.decode()?;
    Ok(Some(Presented { session_id, user_id, spent, session_over, roles: super::users::parse_roles(roles) }))
}

/// Spends `old` and adds `new` in its place. The child is inserted only if this rotation is
/// the one that spent the parent, so of two racing rotations of one token (which name the same
/// child) the last statement changes one row for the winner and none for the loser.
pub fn rotate(session_id: Uuid, old: &str, new: &str, now: &str) -> Vec<Statement> {
    vec![
        stmt!("UPDATE refresh_tokens SET spent_at = ?3, child_hash = ?2 WHERE token_hash = ?1 AND spent_at IS NULL", old, new, now,),
        stmt!("UPDATE sessions SET last_seen_at = ?2 WHERE id = ?1", session_id, now),
        stmt!(
            "INSERT OR IGNORE INTO refresh_tokens (token_hash, session_id, parent_hash, created_at) \
             SELECT ?2, ?3, ?1, ?4 WHERE EXISTS \
             (SELECT 1 FROM refresh_tokens WHERE token_hash = ?1 AND child_hash = ?2)",
            old,
            new,
            session_id,
            now,
        ),
    ]
}

pub fn revoke(session_id: Uuid, now: &str) -> Statement {
    stmt!("UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL", session_id, now)
}

/// Whether `old` was spent after `since` by the rotation that made `child`, and `child` is
/// still unspent: a client that lost the answer to its refresh, not a thief replaying it.
pub async fn lost_answer(db: &dyn Database, old: &str, child: &str, since: &str) -> Result<bool, ApiError> {
    let row = db
        .query_opt(stmt!(
            "SELECT 1 FROM refresh_tokens p JOIN refresh_tokens c ON c.token_hash = p.child_hash \
             WHERE p.token_hash = ?1 AND p.child_hash = ?2 AND p.spent_at > ?3 AND c.spent_at IS NULL",
            old,
            child,
            since,
        ))
        .await?;
    Ok(row.is_some())
}

/// Revokes `session_id` if it is a live session of `user_id`.
pub fn revoke_own(user_id: Uuid, session_id: Uuid, now: &str) -> Statement {
    stmt!(
        "UPDATE sessions SET revoked_at = ?3 WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL AND expires_at > ?3",
        session_id,
        user_id,
        now,
    )
}

pub fn revoke_all(user_id: Uuid, now: &str) -> Statement {
    stmt!("UPDATE sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL", user_id, now)
}

/// Revokes every session of `user_id`, if their password hash is now `hash` (the change this
/// batch made: a batch whose change lost a race revokes nothing).
pub fn revoke_all_if(user_id: Uuid, now: &str, hash: &str) -> Statement {
    stmt!(
        "UPDATE sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL \
         AND EXISTS (SELECT 1 FROM users WHERE id = ?1 AND password_hash = ?3)",
        user_id,
        now,
        hash,
    )
}

/// As [`revoke_all_if`], sparing `keep`.
pub fn revoke_others_if(user_id: Uuid, keep: Uuid, now: &str, hash: &str) -> Statement {
    stmt!(
        "UPDATE sessions SET revoked_at = ?3 WHERE user_id = ?1 AND id != ?2 AND revoked_at IS NULL \
         AND EXISTS (SELECT 1 FROM users WHERE id = ?1 AND password_hash = ?4)",
        user_id,
        keep,
        now,
        hash,
    )
}

/// What a live session says about its user: when they last proved who they are, and their
/// roles now.
pub struct Live {
    pub signed_in_at: Timestamp,
    pub roles: Vec<Role>,
}

/// `LEFT JOIN sessions s` on the session `session` of `user` being live at `now` (values bound
/// to the statement it goes into, or its own qualified columns): a read that folds the session
/// check into its own statement selects `s.id IS NOT NULL` and joins the rest only when it holds.
pub fn live_join(user: impl Into<Operand>, session: impl Into<Operand>, now: Param) -> String {
    let (user, session) = (user.into(), session.into());
    format!("LEFT JOIN sessions s ON s.id = {session} AND s.user_id = {user} AND s.revoked_at IS NULL AND s.expires_at > {now}")
}

/// The session, if it is a live session of `user_id`: one point read by primary key, made
/// for every request with an access token.
pub async fn live(db: &dyn Database, session_id: Uuid, user_id: Uuid, now: &str) -> Result<Option<Live>, ApiError> {
    let row = db
        .query_opt(stmt!(
            "SELECT coalesce(s.authenticated_at, s.created_at), (SELECT group_concat(role) FROM user_roles r WHERE r.user_id = s.user_id) \
             FROM sessions s WHERE s.id = ?1 AND s.user_id = ?2 AND s.revoked_at IS NULL AND s.expires_at > ?3",
            session_id,
            user_id,
            now,
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let (created, roles): (String, _) = row.decode()?;
    let signed_in_at = crate::time::parse(&created).ok_or_else(|| ApiError::internal(format!("unreadable session time {created}")))?;
    Ok(Some(Live { signed_in_at, roles: super::users::parse_roles(roles) }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    pub id: Uuid,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub created_at: String,
    pub last_seen_at: String,
    pub expires_at: String,
    /// Whether this is the session of the token that asked.
    pub current: bool,
}

/// The live sessions of a user, newest first, after the one with id `after`, fetching one more
/// than `limit`. Ordered by when they began, not by use, so that a session used while a client
/// pages through them keeps its place.
pub async fn list(
    db: &dyn Database,
    user_id: Uuid,
    current: Uuid,
    now: &str,
    after: Option<Uuid>,
    limit: usize,
) -> Result<Vec<Session>, ApiError> {
    let rows = db
        .query(stmt!(
            "SELECT id, user_agent, ip, created_at, last_seen_at, expires_at FROM sessions \
             WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2 AND (?3 IS NULL OR id < ?3) ORDER BY id DESC LIMIT ?4",
            user_id,
            now,
            after.map_or(Value::Null, Value::from),
            i64::try_from(limit + 1).unwrap_or(i64::MAX),
        ))
        .await?;
    #[derive(Deserialize)]
    struct SessionRow {
        id: Uuid,
        user_agent: Option<String>,
        ip: Option<String>,
        created_at: String,
        last_seen_at: String,
        expires_at: String,
    }
    decode(rows, |row| {
        let SessionRow { id, user_agent, ip, created_at, last_seen_at, expires_at } = row.decode()?;
        Ok(Session { id, user_agent, ip, created_at, last_seen_at, expires_at, current: id == current })
    })
}
