//! Failed password checks, and the lockout they lead to.
//!
//! A check takes one of the window's remaining tries before the password is verified, in the
//! same statement that checks the lock, so that concurrent guesses cannot all pass a check
//! made before any of them is counted: of twenty racing wrong passwords, at most five are
//! tried. A success gives its try back (correct passwords, however many at once, never lock),
//! a failure turns it into a failure, and the one that makes the fifth failure sets the lock. Sign-ins count per login
//! as typed (a hash of it), whether or not it names an account, so a lockout neither tells that
//! an account exists nor which email and username belong together. A signed-in session that
//! checks the password (sudo mode, a password change) or signs in again from its device counts
//! under its own id, apart from strangers' guesses, so a thief of one session can lock only that
//! session, never its owner's others.

use tui_shared::{
    ApiError,
    auth::tokens::sha256_hex,
    db::{Database, Query, Statement},
    stmt,
};

/// The counter of sign-ins with `login` (an email or username, in any case).
pub fn login_key(login: &str) -> String {
    format!("login:{}", sha256_hex(login.to_lowercase().as_bytes()))
}

/// The counter of password checks made by one signed-in session (and its device's sign-ins).
pub fn session_key(session_id: uuid::Uuid) -> String {
    format!("session:{session_id}")
}

/// Forgets the counters and locks of a user's logins (an admin's unlock), if `guard` holds: SQL
/// that `guard` writes, binding its own values to the statement.
pub fn clear_user_if(email: &str, username: &str, guard: impl FnOnce(&mut Query) -> String) -> Statement {
    let mut q = Query::default();
    let (email, username) = (q.bind(login_key(email)), q.bind(login_key(username)));
    let guard = guard(&mut q);
    q.push(format!("DELETE FROM login_attempts WHERE key IN ({email}, {username}) AND {guard}"));
    q.finish()
}

/// As [`clear_user_if`], if the user's password hash is now `hash` (a reset its batch made).
pub fn clear_user_if_password(user_id: uuid::Uuid, email: &str, username: &str, hash: &str) -> Statement {
    stmt!(
        "DELETE FROM login_attempts WHERE key IN (?1, ?2) AND EXISTS (SELECT 1 FROM users WHERE id = ?3 AND password_hash = ?4)",
        login_key(email),
        login_key(username),
        user_id,
        hash,
    )
}

/// Takes one try of `key`'s window for a check under way: no row while a lock holds or every
/// remaining try is taken, by failures or by checks under way. A try that is never given back
/// (a request cancelled during its check, a crash) stays taken until the window ends, so an
/// abandoned check counts like a failure. A window that ended, or a lock that ran out, starts
/// over.
pub fn attempt(key: &str, now: &str, window_start: &str, limit: i64) -> Statement {
    stmt!(
        "INSERT INTO login_attempts (key, failures, window_start, locked_until, in_flight) VALUES (?1, 0, ?2, NULL, 1) \
         ON CONFLICT (key) DO UPDATE SET \
           failures = CASE WHEN window_start < ?3 OR locked_until IS NOT NULL THEN 0 ELSE failures END, \
           in_flight = CASE WHEN window_start < ?3 OR locked_until IS NOT NULL THEN 1 ELSE in_flight + 1 END, \
           window_start = CASE WHEN window_start < ?3 OR locked_until IS NOT NULL THEN ?2 ELSE window_start END, \
           locked_until = NULL \
         WHERE (locked_until IS NULL OR locked_until <= ?2) \
           AND (CASE WHEN window_start < ?3 OR locked_until IS NOT NULL THEN 0 ELSE failures + in_flight END) < ?4 \
         RETURNING failures",
        key,
        now,
        window_start,
        limit,
    )
}

/// A check that failed: its try becomes a failure, and the failure that reaches `limit` locks
/// `key` until `lock_until` (later ones, of checks that were under way, leave that lock as is).
pub fn failed(key: &str, limit: i64, lock_until: &str) -> Statement {
    stmt!(
        "UPDATE login_attempts SET in_flight = max(in_flight - 1, 0), failures = failures + 1, \
         locked_until = CASE WHEN locked_until IS NULL AND failures + 1 >= ?2 THEN ?3 ELSE locked_until END WHERE key = ?1",
        key,
        limit,
        lock_until,
    )
}

/// A check that passed: its try is given back, and the failures and any lock are forgotten (the
/// password is known; a lock that strangers' guesses set meanwhile protects nothing more).
pub fn succeeded(key: &str) -> Statement {
    stmt!("UPDATE login_attempts SET in_flight = max(in_flight - 1, 0), failures = 0, locked_until = NULL WHERE key = ?1", key)
}

/// Until when `key` is locked, if it is.
pub async fn locked_until(db: &dyn Database, key: &str, now: &str) -> Result<Option<String>, ApiError> {
    let row = db.query_opt(stmt!("SELECT locked_until FROM login_attempts WHERE key = ?1 AND locked_until > ?2", key, now)).await?;
    Ok(row.map(|r| r.decode().map(|(value,)| value)).transpose()?)
}

#[cfg(test)]
mod tests {
    use tui_shared::{
        adapters::native::Sqlite,
        db::{Database, migrate},
    };

    use super::*;

    #[tokio::test]
    async fn a_login_gets_five_tries_a_window_and_an_abandoned_one_stays_taken() {
        let db = Sqlite::open(":memory:", 4).unwrap();
        migrate::migrate(&db, "2026-01-01T00:00:00.000Z").await.unwrap();
        let (now, window) = ("2026-01-01T00:10:00.000Z", "2026-01-01T00:00:00.000Z");
        let mut taken = 0;
        while db.query_opt(attempt("k", now, window, 5)).await.unwrap().is_some() {
            taken += 1;
            assert!(taken <= 5, "more than five tries under way");
        }
        assert_eq!(taken, 5);
        // Two of them come back as failures, one succeeds, two are never reported back: the
        // success gives its try back and forgets the failures, the abandoned ones stay taken.
        for _ in 0..2 {
            db.execute(failed("k", 5, "2026-01-01T00:40:00.000Z")).await.unwrap();
        }
        db.execute(succeeded("k")).await.unwrap();
        let mut more = 0;
        for _ in 0..4 {
            if db.query_opt(attempt("k", now, window, 5)).await.unwrap().is_some() {
                more += 1;
            }
        }
        assert_eq!(more, 3, "five tries less the two abandoned ones");
        // A new window gives every try back.
        assert!(db.query_opt(attempt("k", "2026-01-01T00:30:00.000Z", "2026-01-01T00:15:00.000Z", 5)).await.unwrap().is_some());
    }
}
