//! Users and their site-wide roles.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    ApiError,
    db::{Database, DbError, Row, Statement},
    domain::{Email, Role, Username},
    stmt,
};

/// A user as the API shows them to themselves and to admins.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub username: String,
    pub roles: Vec<Role>,
    pub created_at: String,
    pub updated_at: String,
}

const SELECT_USER: &str = "SELECT u.id, u.email, u.username, u.created_at, u.updated_at, \
     (SELECT group_concat(role) FROM user_roles r WHERE r.user_id = u.id) FROM users u";

fn user(row: &Row) -> crate::db::DbResult<User> {
    let roles: Option<String> = row.get(5)?;
    let mut roles: Vec<Role> = roles.unwrap_or_default().split(',').filter_map(Role::parse).collect();
    roles.sort_by_key(|r| r.as_str());
    Ok(User {
        id: row.get(0)?,
        email: row.get(1)?,
        username: row.get(2)?,
        roles,
        created_at: row.get(3)?,
        updated_at: row.get(4)?,
    })
}

pub async fn get(db: &dyn Database, id: Uuid) -> Result<Option<User>, ApiError> {
    let row = db.query_opt(stmt!(format!("{SELECT_USER} WHERE u.id = ?1"), id)).await?;
    row.as_ref().map(user).transpose().map_err(ApiError::from)
}

/// The statements that create a user with the `member` role; the caller batches them with
/// whatever else must happen atomically (the first session).
pub fn insert(id: Uuid, email: &Email, username: &Username, password_hash: &str, now: &str) -> Vec<Statement> {
    vec![
        stmt!(
            "INSERT INTO users (id, email, username, password_hash, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            id,
            email.as_str(),
            username.as_str(),
            password_hash,
            now,
        ),
        stmt!("INSERT INTO user_roles (user_id, role, granted_at) VALUES (?1, 'member', ?2)", id, now),
    ]
}

/// Turns a unique violation from [`insert`] into the contract's 409 with the field named.
pub fn insert_conflict(error: DbError) -> ApiError {
    for (column, field) in [("users.email", "email"), ("users.username", "username")] {
        if error.is_unique(column) {
            let mut conflict = ApiError::conflict(format!("That {field} is already registered."));
            conflict.errors.push(crate::error::FieldError { field: field.into(), message: "is already taken".into() });
            return conflict;
        }
    }
    error.into()
}

/// The id, password hash and roles of the user who signs in as `login` (email or username).
pub async fn credentials(db: &dyn Database, login: &str) -> Result<Option<(Uuid, Option<String>, Vec<Role>)>, ApiError> {
    let row = db
        .query_opt(stmt!(
            "SELECT u.id, u.password_hash, (SELECT group_concat(role) FROM user_roles r WHERE r.user_id = u.id) \
             FROM users u WHERE u.email = ?1 OR u.username = ?1",
            login,
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let roles: Option<String> = row.get(2)?;
    let roles = roles.unwrap_or_default().split(',').filter_map(Role::parse).collect();
    Ok(Some((row.get(0)?, row.get(1)?, roles)))
}

/// The user id behind a username, for adding members by name.
pub async fn id_by_username(db: &dyn Database, username: &str) -> Result<Option<Uuid>, ApiError> {
    let row = db.query_opt(stmt!("SELECT id FROM users WHERE username = ?1", username)).await?;
    Ok(row.map(|r| r.get(0)).transpose()?)
}

pub async fn exists(db: &dyn Database, id: Uuid) -> Result<bool, ApiError> {
    Ok(db.query_opt(stmt!("SELECT 1 FROM users WHERE id = ?1", id)).await?.is_some())
}
