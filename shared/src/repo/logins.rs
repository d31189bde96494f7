//! Failed password checks, and the lockout they lead to.
//!
//! The attempt is counted before the password is checked, by the same statement that checks
//! the lock, so that concurrent guesses cannot all pass a check made before any of them is
//! counted: of twenty racing wrong passwords, at most five are tried. Sign-ins count per login
//! as typed (a hash of it), whether or not it names an account, so a lockout neither tells that
//! an account exists nor which email and username belong together. A signed-in session that
//! checks the password (sudo mode, a password change) or signs in again from its device counts
//! under its own id, apart from strangers' guesses, so a thief of one session can lock only that
//! session, never its owner's others.

use crate::{ApiError, auth::tokens::sha256_hex, db::Database, db::Statement, stmt};

/// The counter of sign-ins with `login` (an email or username, in any case).
pub fn login_key(login: &str) -> String {
    format!("login:{}", sha256_hex(login.to_lowercase().as_bytes()))
}

/// The counter of password checks made by one signed-in session (and its device's sign-ins).
pub fn session_key(session_id: uuid::Uuid) -> String {
    format!("session:{session_id}")
}

/// Forgets the counters and locks of a user's logins (an admin's unlock).
pub fn clear_user(email: &str, username: &str) -> Statement {
    stmt!("DELETE FROM login_attempts WHERE key IN (?1, ?2)", login_key(email), login_key(username))
}

/// As [`clear_user`], if the user's password hash is now `hash` (a reset its batch made).
pub fn clear_user_if_password(user_id: uuid::Uuid, email: &str, username: &str, hash: &str) -> Statement {
    stmt!(
        "DELETE FROM login_attempts WHERE key IN (?1, ?2) AND EXISTS (SELECT 1 FROM users WHERE id = ?3 AND password_hash = ?4)",
        login_key(email),
        login_key(username),
        user_id,
        hash,
    )
}

/// Counts one attempt, unless the login is locked: returns the failures counted in the window
/// (this attempt included), or no row while a lock holds. The attempt that reaches `limit`
/// within the window sets the lock, until `lock_until`; a lock that has run out starts a new
/// window.
pub fn attempt(key: &str, now: &str, window_start: &str, limit: i64, lock_until: &str) -> Statement {
    stmt!(
        "INSERT INTO login_attempts (key, failures, window_start, locked_until) VALUES (?1, 1, ?2, NULL) \
         ON CONFLICT (key) DO UPDATE SET \
           failures = CASE WHEN window_start < ?3 OR locked_until IS NOT NULL THEN 1 ELSE failures + 1 END, \
           window_start = CASE WHEN window_start < ?3 OR locked_until IS NOT NULL THEN ?2 ELSE window_start END, \
           locked_until = CASE WHEN window_start >= ?3 AND locked_until IS NULL AND failures + 1 >= ?4 THEN ?5 ELSE NULL END \
         WHERE locked_until IS NULL OR locked_until <= ?2 \
         RETURNING failures",
        key,
        now,
        window_start,
        limit,
        lock_until,
    )
}

/// Until when `key` is locked, if it is.
pub async fn locked_until(db: &dyn Database, key: &str, now: &str) -> Result<Option<String>, ApiError> {
    let row = db.query_opt(stmt!("SELECT locked_until FROM login_attempts WHERE key = ?1 AND locked_until > ?2", key, now)).await?;
    Ok(row.map(|r| r.get(0)).transpose()?)
}

/// Forgets the failures and any lock of `key` (a successful sign-in, a reset, an admin's unlock).
pub fn clear(key: &str) -> Statement {
    stmt!("DELETE FROM login_attempts WHERE key = ?1", key)
}
