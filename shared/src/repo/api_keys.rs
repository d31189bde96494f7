//! Personal API keys: long-lived bearer tokens with scopes, stored only as hashes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::decode;
use crate::{ApiError, db::Database, domain::Role, stmt};

/// What a key may do: `read` allows safe methods only; `write` allows changes too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Read,
    Write,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }

    fn parse_list(text: &str) -> Vec<Scope> {
        text.split(',')
            .filter_map(|s| match s {
                "read" => Some(Self::Read),
                "write" => Some(Self::Write),
                _ => None,
            })
            .collect()
    }

    pub fn join(scopes: &[Scope]) -> String {
        scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: String,
    pub expires_at: Option<String>,
}

pub struct NewKey<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: &'a str,
    pub prefix: &'a str,
    pub hash: &'a str,
    pub scopes: &'a [Scope],
    pub now: &'a str,
    pub expires_at: Option<&'a str>,
}

pub fn insert(key: &NewKey<'_>) -> crate::db::Statement {
    stmt!(
        "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, scopes, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        key.id,
        key.user_id,
        key.name,
        key.prefix,
        key.hash,
        Scope::join(key.scopes),
        key.now,
        key.expires_at,
    )
}

/// The live keys of a user.
pub async fn list(db: &dyn Database, user_id: Uuid) -> Result<Vec<ApiKey>, ApiError> {
    let rows = db
        .query(stmt!(
            "SELECT id, name, prefix, scopes, created_at, expires_at FROM api_keys \
             WHERE user_id = ?1 AND revoked_at IS NULL ORDER BY id DESC",
            user_id,
        ))
        .await?;
    #[derive(Deserialize)]
    struct KeyRow {
        id: Uuid,
        name: String,
        prefix: String,
        scopes: String,
        created_at: String,
        expires_at: Option<String>,
    }
    decode(rows, |row| {
        let KeyRow { id, name, prefix, scopes, created_at, expires_at } = row.decode()?;
        Ok(ApiKey { id, name, prefix, scopes: Scope::parse_list(&scopes), created_at, expires_at })
    })
}

pub fn revoke(user_id: Uuid, id: Uuid, now: &str) -> crate::db::Statement {
    stmt!("UPDATE api_keys SET revoked_at = ?3 WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL", id, user_id, now)
}

/// Revokes every live key of a user.
pub fn revoke_all(user_id: Uuid, now: &str) -> crate::db::Statement {
    stmt!("UPDATE api_keys SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL", user_id, now)
}

/// As [`revoke_all`], if the user's password hash is now `hash` (the change its batch made).
pub fn revoke_all_if(user_id: Uuid, now: &str, hash: &str) -> crate::db::Statement {
    stmt!(
        "UPDATE api_keys SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL \
         AND EXISTS (SELECT 1 FROM users WHERE id = ?1 AND password_hash = ?3)",
        user_id,
        now,
        hash,
    )
}

/// Who a presented key belongs to, if it is live: (key id, user, scopes, current roles).
pub async fn authenticate(db: &dyn Database, hash: &str, now: &str) -> Result<Option<(Uuid, Uuid, Vec<Scope>, Vec<Role>)>, ApiError> {
    let row = db
        .query_opt(stmt!(
            "SELECT k.id, k.user_id, k.scopes, (SELECT group_concat(role) FROM user_roles r WHERE r.user_id = k.user_id) \
             FROM api_keys k WHERE k.key_hash = ?1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ?2)",
            hash,
            now,
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let (key, user, scopes, roles): (_, _, String, _) = row.decode()?;
    Ok(Some((key, user, Scope::parse_list(&scopes), super::users::parse_roles(roles))))
}
