//! Open event streams where no hub counts a user's connections (Server-Sent Events on Workers
//! and Spin). A stream cannot say when its client went away, so each refreshes its row while it
//! runs, and a row not refreshed within `LIVE` no longer counts.

use std::time::Duration;

use tui_shared::{
    ApiError,
    db::Database,
    stmt,
    time::{self, Timestamp},
};
use uuid::Uuid;

/// How often a running stream says so.
pub const REFRESH: Duration = Duration::from_secs(15);
/// How long a stream counts without saying so: three refreshes.
const LIVE: Duration = Duration::from_secs(45);

/// Counts a new stream `id` of `user` if they hold fewer than `limit` live ones; decided in the
/// insert, so streams opened at once cannot all slip under the limit.
pub async fn open(db: &dyn Database, id: Uuid, user: Uuid, now: Timestamp, limit: usize) -> Result<bool, ApiError> {
    let written = db
        .execute(stmt!(
            "INSERT INTO realtime_streams (id, user_id, seen_at) SELECT ?1, ?2, ?3 \
             WHERE (SELECT count(*) FROM realtime_streams WHERE user_id = ?2 AND seen_at > ?4) < ?5",
            id,
            user,
            time::format(now),
            time::format(now - LIVE),
            i64::try_from(limit).unwrap_or(i64::MAX),
        ))
        .await?;
    Ok(written > 0)
}

pub async fn refresh(db: &dyn Database, id: Uuid, now: Timestamp) -> Result<(), ApiError> {
    db.execute(stmt!("UPDATE realtime_streams SET seen_at = ?2 WHERE id = ?1", id, time::format(now))).await?;
    Ok(())
}

pub async fn close(db: &dyn Database, id: Uuid) -> Result<(), ApiError> {
    db.execute(stmt!("DELETE FROM realtime_streams WHERE id = ?1", id)).await?;
    Ok(())
}
