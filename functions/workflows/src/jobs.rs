//! The durable jobs table (see the migration): claiming a due job with a lease, and finishing,
//! releasing or extending it only while that lease is still the one this worker set.

use std::time::Duration;

use tui_shared::{
    ApiError,
    db::{Database, Query, Statement},
    stmt,
    time::{self, Timestamp},
};

/// A claimed job: the step it is for, the lease that proves the claim, and how many wakes it
/// had when it was claimed.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Job {
    pub id: i64,
    pub run_id: uuid::Uuid,
    pub step_key: String,
    pub lease: String,
    pub wakes: i64,
}

/// A job whose step waits without end is due then: when something moves it (a task finishing, an
/// event arriving) it is made due at once.
pub const NEVER: &str = "9999-12-31T23:59:59.999Z";

/// Claims the job due longest ago, if any is due, not leased, and of a project that holds fewer
/// than `per_project` claims, for `lease` from `now` (long enough for any step but `http`, which
/// extends its claim to its timeout before calling). One statement decides, so two workers never
/// hold one job.
pub async fn claim(db: &dyn Database, now: Timestamp, lease: Duration, per_project: u32) -> Result<Option<Job>, ApiError> {
    let stamp = time::format(now);
    let lease = time::format(now + lease);
    let row = db
        .query_opt(stmt!(
            "UPDATE jobs SET lease_until = ?2, deliveries = deliveries + 1 \
             WHERE id = (SELECT j.id FROM jobs j WHERE j.due_at <= ?1 AND j.lease_until <= ?1 \
                 AND j.project_id NOT IN (SELECT project_id FROM jobs WHERE lease_until > ?1 GROUP BY project_id HAVING count(*) >= ?3) \
                 ORDER BY j.due_at LIMIT 1) \
             AND lease_until <= ?1 \
             RETURNING id, run_id, step_key, lease_until AS lease, wakes",
            stamp.as_str(),
            lease.as_str(),
            per_project
        ))
        .await?;
    Ok(row.map(|row| row.decode::<Job>()).transpose()?)
}

impl Job {
    /// SQL that holds while this worker still holds the job, its id and lease bound to `q`: what
    /// a step's move is conditional on besides its state, so that a worker whose lease ran out
    /// cannot move the step under the one that took the job over.
    pub fn held(&self, q: &mut Query) -> String {
        let (id, lease) = (q.bind(self.id), q.bind(self.lease.as_str()));
        format!("EXISTS (SELECT 1 FROM jobs WHERE id = {id} AND lease_until = {lease})")
    }

    /// Drops the job, its work done.
    pub fn finish(&self) -> Statement {
        stmt!("DELETE FROM jobs WHERE id = ?1 AND lease_until = ?2", self.id, self.lease.as_str())
    }

    /// Gives the job back, due at `due`; or at `now`, if something the step waits for happened
    /// since the job was claimed (the step looked before it did).
    pub fn release(&self, due: &str, now: &str) -> Statement {
        stmt!(
            "UPDATE jobs SET due_at = CASE WHEN wakes = ?5 THEN ?3 ELSE ?4 END, lease_until = '' WHERE id = ?1 AND lease_until = ?2",
            self.id,
            self.lease.as_str(),
            due,
            now,
            self.wakes
        )
    }
}

/// When the next job falls due (or its lease runs out), if there is any: when the native pool
/// looks next, and what a drain on Workers sets the alarm for.
pub async fn next_due(db: &dyn Database) -> Result<Option<Timestamp>, ApiError> {
    let row = db.query_opt(stmt!("SELECT min(max(due_at, lease_until)) FROM jobs")).await?;
    Ok(row.and_then(|row| row.decode::<(Option<String>,)>().ok()).and_then(|(at,)| at).and_then(|at| time::parse(&at)))
}
