//! Tickets: a WebSocket cannot carry an `Authorization` header from a browser or many clients,
//! so a signed-in client trades its access token for a ticket that opens one socket. A ticket
//! is single use, lives 30 seconds, and is bound to the session that asked for it; only its
//! hash is stored.

use std::time::Duration;

use tui_shared::{
    ApiError,
    auth::tokens::{random_token, sha256_hex},
    db::{Database, Operand, Query},
    repo::sessions,
    stmt,
    time::{self, Timestamp},
};
use uuid::Uuid;

pub const TICKET_TTL: Duration = Duration::from_secs(30);
/// Unspent tickets a session may hold at once: enough for a TUI reconnecting several sockets,
/// not enough to fill the table.
const LIVE_TICKETS: i64 = 10;

/// Who a redeemed ticket lets in, and until when their session lives.
#[derive(Debug, Clone, PartialEq)]
pub struct Holder {
    pub user: Uuid,
    pub session: Uuid,
    pub session_expires_at: String,
}

/// A new ticket for `session` of `user`.
pub async fn issue(db: &dyn Database, user: Uuid, session: Uuid, now: Timestamp) -> Result<String, ApiError> {
    let ticket = random_token("rt_");
    let written = db
        .execute(stmt!(
            "INSERT INTO realtime_tickets (hash, user_id, session_id, expires_at) SELECT ?1, ?2, ?3, ?4 \
             WHERE EXISTS (SELECT 1 FROM sessions WHERE id = ?3 AND user_id = ?2 AND revoked_at IS NULL AND expires_at > ?5) \
             AND (SELECT count(*) FROM realtime_tickets WHERE session_id = ?3 AND expires_at > ?5) < ?6",
            sha256_hex(ticket.as_bytes()),
            user,
            session,
            time::format(now + TICKET_TTL),
            time::format(now),
            LIVE_TICKETS,
        ))
        .await?;
    if written == 0 {
        if sessions::live(db, session, user, &time::format(now)).await?.is_none() {
            return Err(tui_shared::http::extract::session_revoked());
        }
        return Err(ApiError::new(tui_shared::ErrorCode::RateLimited, "This session holds as many unspent tickets as it may.")
            .with_retry_after(TICKET_TTL.as_secs()));
    }
    Ok(ticket)
}

/// Spends `ticket`: whose it was, if it was unspent, unexpired and its session still lives.
/// Decided in the one statement that spends it, so two sockets racing with one ticket cannot
/// both get in.
#[cfg_attr(
    not(any(feature = "native", feature = "cloudflare")),
    expect(dead_code, reason = "Spin serves no WebSockets: only the sockets of the other runtimes use this")
)]
pub async fn redeem(db: &dyn Database, ticket: &str, now: Timestamp) -> Result<Option<Holder>, ApiError> {
    let now = time::format(now);
    let mut q = Query::default();
    let (hash, now) = (q.bind(sha256_hex(ticket.as_bytes())), q.bind(now));
    q.push(format!(
        "DELETE FROM realtime_tickets WHERE hash = {hash} AND expires_at > {now} \
         AND EXISTS (SELECT 1 FROM (SELECT 1) AS one {} WHERE s.id IS NOT NULL) \
         RETURNING user_id, session_id, (SELECT expires_at FROM sessions WHERE id = realtime_tickets.session_id)",
        sessions::live_join(Operand::Column("realtime_tickets.user_id"), Operand::Column("realtime_tickets.session_id"), now)
    ));
    let row = db.query_opt(q.finish()).await?;
    let Some(row) = row else { return Ok(None) };
    let (user, session, session_expires_at) = row.decode()?;
    Ok(Some(Holder { user, session, session_expires_at }))
}

/// The holder of a live `session` of `user`, for a stream opened with an access token.
pub async fn holder(db: &dyn Database, user: Uuid, session: Uuid) -> Result<Holder, ApiError> {
    let row = db.query_opt(stmt!("SELECT expires_at FROM sessions WHERE id = ?1 AND user_id = ?2", session, user)).await?;
    let (session_expires_at,) = row.ok_or_else(tui_shared::http::extract::session_revoked)?.decode()?;
    Ok(Holder { user, session, session_expires_at })
}
