//! Users and their site-wide roles.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    ApiError,
    db::{Database, DbError, Query, Row, Statement},
    domain::{Email, Role, Username},
    stmt,
};

/// A user as the API shows them to themselves and to admins.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    /// Whether the owner of `email` has used a link mailed to it.
    pub email_verified: bool,
    /// An address this account is changing to, once the link mailed there is used.
    pub pending_email: Option<String>,
    pub username: String,
    pub roles: Vec<Role>,
    pub created_at: String,
    pub updated_at: String,
}

const SELECT_USER: &str = "SELECT u.id, u.email, u.username, u.created_at, u.updated_at, \
     (SELECT group_concat(role) FROM user_roles r WHERE r.user_id = u.id) AS roles, u.email_verified, u.pending_email FROM users u";

/// A row of [`SELECT_USER`].
#[derive(serde::Deserialize)]
struct UserRow {
    id: Uuid,
    email: String,
    username: String,
    created_at: String,
    updated_at: String,
    roles: Option<String>,
    email_verified: bool,
    pending_email: Option<String>,
}

fn user(row: &Row) -> crate::db::DbResult<User> {
    let UserRow { id, email, username, created_at, updated_at, roles, email_verified, pending_email } = row.decode()?;
    let mut roles = parse_roles(roles);
    roles.sort_by_key(|r| r.as_str());
    Ok(User { id, email, email_verified, pending_email, username, roles, created_at, updated_at })
}

pub async fn get(db: &dyn Database, id: Uuid) -> Result<Option<User>, ApiError> {
    let row = db.query_opt(stmt!(format!("{SELECT_USER} WHERE u.id = ?1"), id)).await?;
    row.as_ref().map(user).transpose().map_err(ApiError::from)
}

/// The statements that create a user with the `member` role; the caller batches them with
/// whatever else must happen atomically (the first session).
pub fn insert(id: Uuid, email: &Email, username: &Username, password_hash: &str, now: &str) -> Vec<Statement> {
    insert_with(id, email, username, Some(password_hash), false, now)
}

/// As [`insert`], for an account that signs in only through an identity provider, whose
/// email is verified if the provider is trusted to vouch for it.
pub fn insert_without_password(id: Uuid, email: &Email, username: &Username, verified: bool, now: &str) -> Vec<Statement> {
    insert_with(id, email, username, None, verified, now)
}

fn insert_with(id: Uuid, email: &Email, username: &Username, password_hash: Option<&str>, verified: bool, now: &str) -> Vec<Statement> {
    vec![
        stmt!(
            "INSERT INTO users (id, email, username, password_hash, email_verified, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            id,
            email.as_str(),
            username.as_str(),
            password_hash,
            verified,
            now,
        ),
        stmt!("INSERT INTO user_roles (user_id, role, granted_at) VALUES (?1, 'member', ?2)", id, now),
    ]
}

/// Turns a unique violation from [`insert`] into the contract's 409 with the field named.
pub fn insert_conflict(error: DbError) -> ApiError {
    for (column, field) in [("users.email", "email"), ("users.username", "username")] {
        if error.is_unique(column) {
            return taken(field);
        }
    }
    error.into()
}

/// The 409 for an email or username that another account has.
pub fn taken(field: &str) -> ApiError {
    let mut conflict = ApiError::conflict(format!("That {field} is already registered."));
    conflict.errors.push(crate::error::FieldError { field: field.into(), message: "is already taken".into() });
    conflict
}

/// What sign-in needs to know about the user who signs in as some login.
pub struct Credentials {
    pub id: Uuid,
    pub password_hash: Option<String>,
    pub roles: Vec<Role>,
}

/// Roles as `group_concat` lists them.
pub(crate) fn parse_roles(text: Option<String>) -> Vec<Role> {
    text.unwrap_or_default().split(',').filter_map(Role::parse).collect()
}

/// The credentials of the user who signs in as `login` (email or username).
pub async fn credentials(db: &dyn Database, login: &str) -> Result<Option<Credentials>, ApiError> {
    let row = db
        .query_opt(stmt!(
            "SELECT u.id, u.password_hash, (SELECT group_concat(role) FROM user_roles r WHERE r.user_id = u.id) \
             FROM users u WHERE u.email = ?1 OR u.username = ?1",
            login,
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let (id, password_hash, roles) = row.decode()?;
    Ok(Some(Credentials { id, password_hash, roles: parse_roles(roles) }))
}

/// The stored password hash of a user.
pub async fn password_hash(db: &dyn Database, id: Uuid) -> Result<Option<String>, ApiError> {
    let row = db.query_opt(stmt!("SELECT password_hash FROM users WHERE id = ?1", id)).await?;
    Ok(row.map(|r| r.decode().map(|(hash,)| hash)).transpose()?.flatten())
}

/// The current site-wide roles of a user (tokens carry a snapshot; admin checks read these).
pub async fn current_roles(db: &dyn Database, id: Uuid) -> Result<Vec<Role>, ApiError> {
    let row = db.query_opt(stmt!("SELECT group_concat(role) FROM user_roles WHERE user_id = ?1", id)).await?;
    Ok(parse_roles(row.map(|r| r.decode().map(|(roles,)| roles)).transpose()?.flatten()))
}

/// The account whose email this is, and whether that email is verified.
pub async fn by_email(db: &dyn Database, email: &str) -> Result<Option<(Uuid, bool)>, ApiError> {
    let row = db.query_opt(stmt!("SELECT id, email_verified FROM users WHERE email = ?1", email)).await?;
    Ok(row.map(|r| r.decode()).transpose()?)
}

/// Users, newest first, one more than `limit`.
pub async fn list(db: &dyn Database, q: Option<&str>, before: Option<Uuid>, limit: usize) -> Result<Vec<User>, ApiError> {
    let mut sql = Query::new(format!("{SELECT_USER} WHERE 1 = 1"));
    if let Some(q) = q {
        let text = sql.bind(q.to_ascii_lowercase());
        sql.push(format!(" AND ({} OR {})", super::contains("u.email", text), super::contains("u.username", text)));
    }
    if let Some(before) = before {
        sql.push(" AND u.id < ").push_bind(before);
    }
    sql.push(" ORDER BY u.id DESC LIMIT ").push_bind(i64::try_from(limit + 1).unwrap_or(i64::MAX));
    super::decode(db.query(sql.finish()).await?, user)
}

/// Changes the username.
pub fn set_username(id: Uuid, username: &Username, now: &str) -> Statement {
    stmt!("UPDATE users SET username = ?2, updated_at = ?3, version = version + 1 WHERE id = ?1", id, username.as_str(), now)
}

/// Records an email change waiting for its link.
pub fn set_pending_email(id: Uuid, email: &Email, now: &str) -> Statement {
    stmt!("UPDATE users SET pending_email = ?2, updated_at = ?3, version = version + 1 WHERE id = ?1", id, email.as_str(), now)
}

/// The first admin: the account becomes admin if its email is the configured bootstrap email,
/// verified, no admin exists yet, and `proof` holds: the verification link (`token_hash`) that
/// this batch spent for that very email, or, for an account an identity provider trusted for
/// emails has just made, nothing more (`None`). All of it is decided in the statement.
pub fn grant_bootstrap_admin(id: Uuid, bootstrap_email: Option<&str>, now: &str, proof: Option<&str>) -> Statement {
    stmt!(
        "INSERT INTO user_roles (user_id, role, granted_at) SELECT u.id, 'admin', ?3 FROM users u \
         WHERE u.id = ?1 AND u.email_verified = 1 AND u.email = ?2 \
         AND NOT EXISTS (SELECT 1 FROM user_roles WHERE role = 'admin') \
         AND (?4 IS NULL OR EXISTS (SELECT 1 FROM email_tokens t WHERE t.token_hash = ?4 AND t.used_at = ?3 \
              AND t.purpose = 'verify' AND t.email = u.email)) \
         ON CONFLICT DO NOTHING",
        id,
        bootstrap_email,
        now,
        proof,
    )
}

pub fn grant_role(id: Uuid, role: Role, now: &str) -> Statement {
    stmt!("INSERT INTO user_roles (user_id, role, granted_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING", id, role.as_str(), now)
}

/// As [`grant_role`], only if `guard` holds: SQL that `guard` writes, binding its own values to
/// the statement (who may grant, decided in the write).
pub fn grant_role_if(id: Uuid, role: Role, now: &str, guard: impl FnOnce(&mut Query) -> String) -> Statement {
    let mut q = Query::default();
    let (user, role, now) = (q.bind(id), q.bind(role.as_str()), q.bind(now));
    let guard = guard(&mut q);
    q.push(format!("INSERT INTO user_roles (user_id, role, granted_at) SELECT {user}, {role}, {now} WHERE {guard} ON CONFLICT DO NOTHING"));
    q.finish()
}

/// Takes a role away, if `guard` holds (as for [`grant_role_if`]); the last admin keeps theirs,
/// so the site always has one.
pub fn revoke_role(id: Uuid, role: Role, guard: impl FnOnce(&mut Query) -> String) -> Statement {
    let mut q = Query::default();
    let (user, role) = (q.bind(id), q.bind(role.as_str()));
    let guard = guard(&mut q);
    q.push(format!(
        "DELETE FROM user_roles WHERE user_id = {user} AND role = {role} \
         AND ({role} != 'admin' OR (SELECT count(*) FROM user_roles WHERE role = 'admin') > 1) AND {guard}"
    ));
    q.finish()
}

pub async fn exists(db: &dyn Database, id: Uuid) -> Result<bool, ApiError> {
    Ok(db.query_opt(stmt!("SELECT 1 FROM users WHERE id = ?1", id)).await?.is_some())
}
