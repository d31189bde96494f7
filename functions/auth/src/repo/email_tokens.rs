//! Single-use links mailed to an address: proving the account's email (`verify`), or making a
//! new address the account's email (`change`). Only hashes are stored; each lives 24 hours.

use uuid::Uuid;

use tui_shared::{ApiError, db::Database, db::Statement, stmt};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Verify,
    Change,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Change => "change",
        }
    }
}

/// Stores a link. A change link is stored only while no account has the address, decided in
/// this statement: the owner of an address that has an account is never sent a link that would
/// hand it to another account (it would work the day the address is freed, within its 24 hours).
pub fn insert(hash: &str, user_id: Uuid, purpose: Purpose, email: &str, now: &str, expires_at: &str) -> Statement {
    stmt!(
        "INSERT INTO email_tokens (token_hash, user_id, purpose, email, created_at, expires_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6 \
         WHERE ?3 = 'verify' OR NOT EXISTS (SELECT 1 FROM users WHERE email = ?4)",
        hash,
        user_id,
        purpose.as_str(),
        email,
        now,
        expires_at,
    )
}

/// An unspent, unexpired token: whose, for what, and which address.
pub async fn find(db: &dyn Database, hash: &str, now: &str) -> Result<Option<(Uuid, Purpose, String)>, ApiError> {
    let row = db
        .query_opt(stmt!(
            "SELECT user_id, purpose, email FROM email_tokens WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
            hash,
            now
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let (user, purpose, email): (_, String, _) = row.decode()?;
    let purpose = if purpose == "change" { Purpose::Change } else { Purpose::Verify };
    Ok(Some((user, purpose, email)))
}

/// Spends the token; the statements after it in a batch go on only if this one changed a row
/// (`changes() > 0`), so a token spent by a racing request changes nothing.
pub fn spend(hash: &str, now: &str) -> Statement {
    stmt!("UPDATE email_tokens SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2", hash, now)
}

/// Spends the user's other links of `purpose`: a newer request replaces them.
pub fn spend_others(user_id: Uuid, purpose: Purpose, now: &str) -> Statement {
    stmt!("UPDATE email_tokens SET used_at = ?3 WHERE user_id = ?1 AND purpose = ?2 AND used_at IS NULL", user_id, purpose.as_str(), now)
}
